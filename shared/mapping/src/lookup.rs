//! Reading a record's mapped fields without a hash lookup per field. A [`Lookup`] lists the
//! distinct fields a [`crate::Mapper`] reads; each rule reads its field by index from a
//! [`Fields`] view. Records of one page carry their fields in the same order (Dataverse writes
//! them so, and a record keeps its JSON order), so the lookup remembers at which position
//! each field was seen last and finds a record's fields in one pass over it, comparing names
//! instead of hashing them. A position whose name does not match, or a field not found where
//! expected, falls back to the record's own lookup, so the values found are always exactly
//! `record.get(field)`, whatever the order.

use std::sync::atomic::{AtomicU32, Ordering};

use dynsync_domain::Record;
use serde_json::Value;

/// Positions remembered; fields further down a record are found by hashing.
const POSITIONS: usize = 256;
/// Fields read from a stack array; more than this are read into a vector.
const STACK_FIELDS: usize = 48;

/// The fields a mapper reads, and where records had them.
#[derive(Debug)]
pub(crate) struct Lookup {
    fields: Vec<String>,
    /// Position in a record -> 1 + the index of the field seen there, 0 for none. Hints
    /// only: a stale or racing value is caught by the name comparison.
    positions: Box<[AtomicU32]>,
}

impl Clone for Lookup {
    fn clone(&self) -> Self {
        Self {
            fields: self.fields.clone(),
            positions: self
                .positions
                .iter()
                .map(|p| AtomicU32::new(p.load(Ordering::Relaxed)))
                .collect(),
        }
    }
}

impl Default for Lookup {
    fn default() -> Self {
        Self {
            fields: Vec::new(),
            positions: (0..POSITIONS).map(|_| AtomicU32::new(0)).collect(),
        }
    }
}

/// A record's mapped fields, by the index [`Lookup::index`] gave.
pub(crate) struct Fields<'r> {
    pub(crate) record: &'r Record,
    values: &'r [Option<&'r Value>],
}

impl<'r> Fields<'r> {
    /// The field's value, exactly `record.get(field)`.
    pub(crate) fn get(&self, index: usize) -> Option<&'r Value> {
        self.values.get(index).copied().flatten()
    }
}

impl Lookup {
    /// The index of `field`, added when new.
    pub(crate) fn index(&mut self, field: &str) -> usize {
        match self.fields.iter().position(|f| f == field) {
            Some(index) => index,
            None => {
                self.fields.push(field.to_owned());
                self.fields.len() - 1
            }
        }
    }

    /// Calls `f` with the view of `record`'s fields.
    pub(crate) fn with<R>(&self, record: &Record, f: impl FnOnce(&Fields<'_>) -> R) -> R {
        let count = self.fields.len();
        let mut stack: [Option<&Value>; STACK_FIELDS] = [None; STACK_FIELDS];
        let mut heap: Vec<Option<&Value>>;
        let values: &mut [Option<&Value>] = if count <= STACK_FIELDS {
            stack.get_mut(..count).unwrap_or_default()
        } else {
            heap = vec![None; count];
            &mut heap
        };
        self.fill(record, values);
        f(&Fields { record, values })
    }

    fn fill<'r>(&self, record: &'r Record, values: &mut [Option<&'r Value>]) {
        let mut missing = values.len();
        let mut stale = false;
        for ((key, value), position) in record.iter().zip(self.positions.iter()) {
            if missing == 0 {
                return;
            }
            let hint = position.load(Ordering::Relaxed) as usize;
            let Some(index) = hint.checked_sub(1) else {
                continue;
            };
            match (self.fields.get(index), values.get_mut(index)) {
                (Some(field), Some(slot)) if field == key && slot.is_none() => {
                    *slot = Some(value);
                    missing -= 1;
                }
                _ => stale = true,
            }
        }
        if missing == 0 {
            return;
        }
        for (field, slot) in self.fields.iter().zip(values.iter_mut()) {
            if slot.is_none() {
                *slot = record.get(field);
                // Present but not where remembered: the positions are relearned.
                stale |= slot.is_some();
            }
        }
        if stale {
            self.learn(record);
        }
    }

    /// Remembers where `record` has each field.
    fn learn(&self, record: &Record) {
        let mut keys = record.keys();
        for position in self.positions.iter() {
            let index = keys
                .next()
                .and_then(|key| self.fields.iter().position(|f| f == key))
                .map_or(0, |i| i + 1);
            position.store(u32::try_from(index).unwrap_or(0), Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record(value: Value) -> Record {
        match value {
            Value::Object(map) => map,
            _ => Record::new(),
        }
    }

    fn read(lookup: &Lookup, record: &Record) -> Vec<Option<Value>> {
        lookup.with(record, |fields| {
            (0..lookup.fields.len())
                .map(|i| fields.get(i).cloned())
                .collect()
        })
    }

    #[test]
    fn values_are_the_records_own_whatever_the_order() {
        let mut lookup = Lookup::default();
        for field in ["b", "a", "d", "a", "z"] {
            lookup.index(field);
        }
        assert_eq!(lookup.fields, ["b", "a", "d", "z"]);
        let records = [
            json!({"a": 1, "b": 2, "c": 3, "d": 4}),
            json!({"a": 5, "b": 6, "c": 7, "d": 8}),
            json!({"d": 9, "c": 10, "b": 11}),
            json!({"x": 0, "a": 12, "b": 13, "c": 14, "d": 15, "z": 16}),
            json!({}),
            json!({"a": null, "b": [1], "d": {"k": 1}}),
            json!({"a": 1, "b": 2, "c": 3, "d": 4}),
        ];
        for value in records {
            let record = record(value);
            let want: Vec<Option<Value>> = lookup
                .fields
                .iter()
                .map(|f| record.get(f).cloned())
                .collect();
            assert_eq!(read(&lookup, &record), want, "{record:?}");
            // A second read uses the positions learned from the first.
            assert_eq!(read(&lookup, &record), want, "{record:?}");
        }
    }

    #[test]
    fn many_fields_and_long_records_read_the_same() {
        let mut lookup = Lookup::default();
        let names: Vec<String> = (0..300).map(|i| format!("f{i}")).collect();
        for name in names.iter().step_by(5) {
            lookup.index(name);
        }
        let record: Record = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.clone(), json!(i)))
            .collect();
        let want: Vec<Option<Value>> = lookup
            .fields
            .iter()
            .map(|f| record.get(f).cloned())
            .collect();
        assert_eq!(read(&lookup, &record), want);
        assert_eq!(read(&lookup, &record), want);
        assert_eq!(read(&lookup.clone(), &record), want);
    }
}
