//! Field mappings (the guide's Step 7, reused for event parameters in Step 8): where a value
//! goes (`key` at the root or `custom.<key>` under `custom`), "convert code to label" with
//! per-mapping overrides winning over Dataverse's labels, the unknown-code behaviour,
//! "invert boolean", and fixed values.

use std::collections::HashMap;

use dynsync_domain::definition::{FieldMapping, FixedValue, UnknownCodeBehavior};
use dynsync_domain::record::FORMATTED_VALUE_SUFFIX;
use dynsync_domain::{Attributes, Key, OptionLabels, Record};
use serde_json::Value;

use crate::lookup::{Fields, Lookup};
use crate::values::{Coercion, parse_bool};

/// Where a key lands in the attributes or event parameters object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Slot {
    Root(Key),
    Custom(Key),
}

impl Slot {
    pub(crate) fn parse(key: &str) -> Self {
        match key.strip_prefix("custom.") {
            Some(name) => Slot::Custom(Key::from(name)),
            None => Slot::Root(Key::from(key)),
        }
    }

    #[cfg(test)]
    fn name(&self) -> &str {
        match self {
            Slot::Root(name) | Slot::Custom(name) => name,
        }
    }

    /// Writes `value` into `target` (custom keys inside `custom`).
    pub(crate) fn put(&self, target: &mut Attributes, value: Value) {
        match self {
            Slot::Root(name) => target.set(name, value),
            Slot::Custom(name) => target.set_custom(name, value),
        }
    }

    pub(crate) fn is_custom(&self) -> bool {
        matches!(self, Slot::Custom(_))
    }
}

/// The rules that fill one object, a user's attributes or an event's parameters: field
/// mappings, then fixed values. How many standard and custom keys they write is counted once
/// per execution, so each record's object is allocated at its size.
#[derive(Debug, Clone)]
pub(crate) struct ObjectRules {
    fields: Vec<FieldRule>,
    fixed: Vec<FixedRule>,
    root_keys: usize,
    custom_keys: usize,
}

impl ObjectRules {
    pub(crate) fn new(
        mappings: &[FieldMapping],
        fixed: &[FixedValue],
        target: Target,
        labels: &OptionLabels,
        unknown_code: UnknownCodeBehavior,
        lookup: &mut Lookup,
    ) -> Self {
        let fields: Vec<FieldRule> = mappings
            .iter()
            .map(|m| FieldRule::new(m, target, labels, unknown_code, lookup))
            .collect();
        let fixed: Vec<FixedRule> = fixed.iter().map(|f| FixedRule::new(f, target)).collect();
        let slots = fields
            .iter()
            .map(|r| &r.slot)
            .chain(fixed.iter().map(|f| &f.slot));
        let custom_keys = slots.clone().filter(|slot| slot.is_custom()).count();
        Self {
            root_keys: slots.count() - custom_keys,
            custom_keys,
            fields,
            fixed,
        }
    }

    /// The object for one record; values that cannot be written add notes.
    pub(crate) fn apply(&self, fields: &Fields<'_>, notes: &mut Vec<String>) -> Attributes {
        let mut target = Attributes::with_capacity(self.root_keys, self.custom_keys);
        for rule in &self.fields {
            rule.apply(fields, &mut target, notes);
        }
        for fixed in &self.fixed {
            fixed.apply(&mut target, notes);
        }
        target
    }
}

/// Which kind of object a mapping writes into (decides the standard-key coercions).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Target {
    Attribute,
    EventParam,
}

fn coercion_for(slot: &Slot, target: Target) -> Coercion {
    match (slot, target) {
        (Slot::Custom(_), _) => Coercion::PassThrough,
        (Slot::Root(key), Target::Attribute) => Coercion::for_attribute(key),
        (Slot::Root(key), Target::EventParam) => Coercion::for_event_param(key),
    }
}

/// One field mapping, compiled once per execution.
#[derive(Debug, Clone)]
struct FieldRule {
    key: String,
    slot: Slot,
    field: String,
    /// The field's index in the mapper's [`Lookup`].
    index: usize,
    formatted_field: String,
    coercion: Coercion,
    /// `code_to_label` only: code (as Dataverse's integer, in decimal) -> label, with the
    /// mapping's own `labels` already laid over Dataverse's.
    labels: Option<HashMap<String, String>>,
    /// The same labels keyed by integer code: Dataverse sends choices as numbers, and this
    /// lookup needs no allocation.
    int_labels: HashMap<i64, String>,
    unknown_code: UnknownCodeBehavior,
    invert_boolean: bool,
}

impl FieldRule {
    fn new(
        mapping: &FieldMapping,
        target: Target,
        option_labels: &OptionLabels,
        unknown_code: UnknownCodeBehavior,
        lookup: &mut Lookup,
    ) -> Self {
        let slot = Slot::parse(&mapping.key);
        let labels = mapping.code_to_label.then(|| {
            let mut labels: HashMap<String, String> = option_labels
                .get(&mapping.field)
                .map(|by_code| {
                    by_code
                        .iter()
                        .map(|(code, label)| (code.to_string(), label.clone()))
                        .collect()
                })
                .unwrap_or_default();
            for (code, label) in &mapping.labels {
                labels.insert(code.trim().to_owned(), label.clone());
            }
            labels
        });
        let int_labels = labels
            .iter()
            .flatten()
            .filter_map(|(code, label)| Some((code.parse::<i64>().ok()?, label.clone())))
            .collect();
        Self {
            index: lookup.index(&mapping.field),
            int_labels,
            key: mapping.key.clone(),
            coercion: coercion_for(&slot, target),
            slot,
            formatted_field: format!("{}{FORMATTED_VALUE_SUFFIX}", mapping.field),
            field: mapping.field.clone(),
            labels,
            unknown_code,
            invert_boolean: mapping.invert_boolean,
        }
    }

    /// Maps this field of `record` into `target`. A null or missing value writes nothing;
    /// a value that cannot be coerced writes nothing and adds a note.
    fn apply(&self, fields: &Fields<'_>, target: &mut Attributes, notes: &mut Vec<String>) {
        let record = fields.record;
        let Some(raw) = fields.get(self.index).filter(|v| !v.is_null()) else {
            return;
        };
        // The value to coerce: a label (owned), or the record's own value (borrowed, so it
        // is copied at most once, by the coercion).
        let label = match &self.labels {
            Some(labels) => match self.label_of(raw, labels, record) {
                Some(label) => Some(Value::String(label)),
                None => match self.unknown_code {
                    // The number exactly as Dataverse returned it, not coerced to the key's type.
                    UnknownCodeBehavior::Raw if !self.invert_boolean => {
                        self.slot.put(target, raw.clone());
                        return;
                    }
                    UnknownCodeBehavior::Raw => None,
                    UnknownCodeBehavior::SkipAttribute => {
                        notes.push(format!(
                            "{}: code in '{}' has no label; omitted (unknown_code: skip_attribute)",
                            self.key, self.field
                        ));
                        return;
                    }
                },
            },
            None => None,
        };
        let coerced = if self.invert_boolean {
            match parse_bool(label.as_ref().unwrap_or(raw)) {
                Some(b) => self.coercion.apply(Value::Bool(!b)),
                None => {
                    notes.push(format!(
                        "{}: '{}' is not a boolean, cannot invert; omitted",
                        self.key, self.field
                    ));
                    return;
                }
            }
        } else {
            match label {
                Some(label) => self.coercion.apply(label),
                None => self.coercion.apply_ref(raw),
            }
        };
        match coerced {
            Some(coerced) => self.slot.put(target, coerced),
            None => notes.push(format!(
                "{}: '{}' is not {}; omitted",
                self.key,
                self.field,
                self.coercion.expected()
            )),
        }
    }

    /// The label of a code: the mapping's and Dataverse's labels, then the formatted value
    /// Dataverse sent beside the field. Multi-select values (`"1,2"`) become `"A,B"` only
    /// when every code has a label.
    fn label_of(
        &self,
        raw: &Value,
        labels: &HashMap<String, String>,
        record: &Record,
    ) -> Option<String> {
        if let Some(label) = raw.as_i64().and_then(|code| self.int_labels.get(&code)) {
            return Some(label.clone());
        }
        let code = match raw {
            Value::Number(n) => match (n.as_i64(), n.as_f64()) {
                (Some(i), _) => i.to_string(),
                (None, Some(f)) if f.fract() == 0.0 && f.abs() < 9.0e15 => format!("{f:.0}"),
                _ => n.to_string(),
            },
            Value::Bool(b) => u8::from(*b).to_string(),
            Value::String(s) => s.trim().to_owned(),
            _ => return None,
        };
        if let Some(label) = labels.get(&code) {
            return Some(label.clone());
        }
        if code.contains(',') {
            let parts: Option<Vec<&str>> = code
                .split(',')
                .map(|part| labels.get(part.trim()).map(String::as_str))
                .collect();
            if let Some(parts) = parts {
                return Some(parts.join(","));
            }
        }
        match record.get(&self.formatted_field) {
            Some(Value::String(formatted)) if !formatted.is_empty() => Some(formatted.clone()),
            _ => None,
        }
    }
}

/// A constant attribute or event parameter, coerced once at compile time.
#[derive(Debug, Clone)]
struct FixedRule {
    slot: Slot,
    value: Option<Value>,
    key: String,
}

impl FixedRule {
    fn new(fixed: &FixedValue, target: Target) -> Self {
        let slot = Slot::parse(&fixed.key);
        let value = coercion_for(&slot, target).apply(fixed.value.clone());
        Self {
            key: fixed.key.clone(),
            slot,
            value,
        }
    }

    fn apply(&self, target: &mut Attributes, notes: &mut Vec<String>) {
        match &self.value {
            Some(value) => self.slot.put(target, value.clone()),
            None => notes.push(format!(
                "{}: fixed value does not fit the key's type; omitted",
                self.key
            )),
        }
    }

    #[cfg(test)]
    fn slot_name(&self) -> &str {
        self.slot.name()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn custom_keys_go_under_custom_and_standard_ones_at_the_root() {
        let mut target = Attributes::default();
        Slot::parse("name").put(&mut target, Value::from("Ada"));
        Slot::parse("custom.tier").put(&mut target, Value::from("gold"));
        assert_eq!(
            serde_json::to_value(&target).unwrap_or_default(),
            serde_json::json!({"name": "Ada", "custom": {"tier": "gold"}})
        );
        let fixed = FixedRule::new(
            &FixedValue {
                key: "custom.source".into(),
                value: Value::from("Dynamics"),
            },
            Target::Attribute,
        );
        assert_eq!(fixed.slot_name(), "source");
    }
}
