//! Domain values to DynamoDB attributes and back. Counters are numbers (so `ADD` can update
//! them), failures are a list of maps (so `list_append` can extend it), definitions, plans
//! and windows are JSON strings (read and written whole). Reading never panics: an item of
//! the wrong shape is an `AwsError::Corrupt` naming the item.

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use dynsync_domain::execution::{
    Counters, Execution, ExecutionStatus, RecordFailure, Trigger, Window,
};
use dynsync_domain::ports::{BatchRecord, FixedPage};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::schema::*;
use crate::error::AwsError;

/// Reads attributes of one item, naming it in every error.
pub struct Reader<'a> {
    item: &'a Item,
    resource: &'a str,
}

impl<'a> Reader<'a> {
    pub fn new(item: &'a Item, resource: &'a str) -> Self {
        Self { item, resource }
    }

    pub fn corrupt(&self, detail: impl Into<String>) -> AwsError {
        let part = |name| match self.item.get(name) {
            Some(AttributeValue::S(v)) => v.as_str(),
            _ => "?",
        };
        AwsError::Corrupt {
            resource: self.resource.to_owned(),
            key: format!("{}/{}", part(PK), part(SK)),
            detail: detail.into(),
        }
    }

    pub fn opt_s(&self, name: &str) -> Result<Option<&'a str>, AwsError> {
        match self.item.get(name) {
            None | Some(AttributeValue::Null(_)) => Ok(None),
            Some(AttributeValue::S(v)) => Ok(Some(v.as_str())),
            Some(_) => Err(self.corrupt(format!("'{name}' is not a string"))),
        }
    }

    pub fn s(&self, name: &str) -> Result<&'a str, AwsError> {
        self.opt_s(name)?
            .ok_or_else(|| self.corrupt(format!("'{name}' is missing")))
    }

    pub fn u64(&self, name: &str) -> Result<u64, AwsError> {
        Ok(u64::try_from(self.i64(name)?.max(0)).unwrap_or(0))
    }

    /// A number attribute; absent counts as 0 (counters start absent in older items).
    pub fn i64(&self, name: &str) -> Result<i64, AwsError> {
        match self.item.get(name) {
            None => Ok(0),
            Some(AttributeValue::N(v)) => v
                .parse()
                .map_err(|_| self.corrupt(format!("'{name}' is not an integer"))),
            Some(_) => Err(self.corrupt(format!("'{name}' is not a number"))),
        }
    }

    /// A string set; absent is empty.
    pub fn string_set(&self, name: &str) -> Result<&'a [String], AwsError> {
        match self.item.get(name) {
            None => Ok(&[]),
            Some(AttributeValue::Ss(v)) => Ok(v.as_slice()),
            Some(_) => Err(self.corrupt(format!("'{name}' is not a string set"))),
        }
    }

    pub fn bool(&self, name: &str) -> Result<bool, AwsError> {
        match self.item.get(name) {
            Some(AttributeValue::Bool(v)) => Ok(*v),
            _ => Err(self.corrupt(format!("'{name}' is not a boolean"))),
        }
    }

    pub fn opt_time(&self, name: &str) -> Result<Option<DateTime<Utc>>, AwsError> {
        self.opt_s(name)?
            .map(|text| {
                parse_timestamp(text)
                    .ok_or_else(|| self.corrupt(format!("'{name}' is not an RFC 3339 time")))
            })
            .transpose()
    }

    pub fn time(&self, name: &str) -> Result<DateTime<Utc>, AwsError> {
        self.opt_time(name)?
            .ok_or_else(|| self.corrupt(format!("'{name}' is missing")))
    }

    pub fn json<T: DeserializeOwned>(&self, name: &str) -> Result<T, AwsError> {
        serde_json::from_str(self.s(name)?)
            .map_err(|e| self.corrupt(format!("'{name}' does not hold valid JSON: {e}")))
    }

    pub fn opt_json<T: DeserializeOwned>(&self, name: &str) -> Result<Option<T>, AwsError> {
        match self.opt_s(name)? {
            None => Ok(None),
            Some(_) => self.json(name).map(Some),
        }
    }

    pub fn list(&self, name: &str) -> Result<&'a [AttributeValue], AwsError> {
        match self.item.get(name) {
            None => Ok(&[]),
            Some(AttributeValue::L(v)) => Ok(v.as_slice()),
            Some(_) => Err(self.corrupt(format!("'{name}' is not a list"))),
        }
    }

    pub fn failures(&self, name: &str) -> Result<Vec<RecordFailure>, AwsError> {
        self.list(name)?
            .iter()
            .map(|value| match value {
                AttributeValue::M(map) => {
                    let entry = Reader::new(map, self.resource);
                    Ok(RecordFailure {
                        record_id: entry.s(RECORD_ID)?.to_owned(),
                        reason: entry.s(REASON)?.to_owned(),
                    })
                }
                _ => Err(self.corrupt(format!("'{name}' holds a non-map entry"))),
            })
            .collect()
    }
}

/// A JSON string attribute.
pub fn json_attr<T: Serialize>(value: &T) -> Result<AttributeValue, serde_json::Error> {
    serde_json::to_string(value).map(s)
}

/// The snake_case name serde gives a unit enum variant (`completed_with_failures`).
pub fn enum_name<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(name)) => name,
        _ => String::new(),
    }
}

fn parse_enum<T: DeserializeOwned>(reader: &Reader<'_>, name: &str) -> Result<T, AwsError> {
    let text = reader.s(name)?;
    serde_json::from_value(serde_json::Value::String(text.to_owned()))
        .map_err(|_| reader.corrupt(format!("'{name}' has the unknown value '{text}'")))
}

pub fn failure_list(failures: &[RecordFailure]) -> AttributeValue {
    AttributeValue::L(
        failures
            .iter()
            .map(|f| {
                AttributeValue::M(Item::from([
                    (RECORD_ID.to_owned(), s(f.record_id.clone())),
                    (REASON.to_owned(), s(f.reason.clone())),
                ]))
            })
            .collect(),
    )
}

/// The counters as `(attribute, value)` pairs, in a fixed order.
pub fn counter_fields(c: &Counters) -> [(&'static str, u64); 11] {
    [
        (RECORDS_READ, c.records_read),
        (UPSERTED, c.upserted),
        (FAILED, c.failed),
        (SKIPPED, c.skipped),
        (EVENTS_SENT, c.events_sent),
        (PAGES, c.pages),
        (DELETED, c.deleted),
        (JOINED, c.joined),
        (LEFT, c.left),
        (REMOVALS_APPLIED, c.removals_applied),
        (RESYNCED, c.resynced),
    ]
}

/// The execution item as first written (GSI keys included; `running_pk` only while running).
pub fn execution_item(
    execution: &Execution,
    open_pages: &[&String],
) -> Result<Item, serde_json::Error> {
    let mut item = key(execution_pk(&execution.id), SK_EXECUTION);
    let mut put = |name: &str, value: AttributeValue| {
        item.insert(name.to_owned(), value);
    };
    put(ID, s(execution.id.clone()));
    put(INTEGRATION_ID, s(execution.integration_id.clone()));
    put(TRIGGER, s(enum_name(&execution.trigger)));
    put(STATUS, s(enum_name(&execution.status)));
    put(STARTED_AT, s(timestamp(execution.started_at)));
    if let Some(finished) = execution.finished_at {
        put(FINISHED_AT, s(timestamp(finished)));
    }
    if let Some(window) = &execution.window {
        put(WINDOW, json_attr(window)?);
    }
    for (name, value) in counter_fields(&execution.counters) {
        put(name, n(value));
    }
    put(FAILURES, failure_list(&execution.failures));
    if let Some(error) = &execution.error {
        put(ERROR, s(error.clone()));
    }
    if !open_pages.is_empty() {
        // A string set cannot be empty: no pages, no attribute.
        put(
            OPEN_PAGES,
            AttributeValue::Ss(open_pages.iter().map(|p| (*p).clone()).collect()),
        );
    }
    put(LAST_PROGRESS, s(timestamp(execution.started_at)));
    put(INTEGRATION_PK, s(execution.integration_id.clone()));
    put(ALL_PK, s(ALL_EXECUTIONS));
    put(
        STARTED_SK,
        s(started_sk(execution.started_at, &execution.id)),
    );
    if execution.status == ExecutionStatus::Running {
        put(RUNNING_PK, s(RUNNING));
    }
    Ok(item)
}

pub fn read_execution(reader: &Reader<'_>) -> Result<Execution, AwsError> {
    Ok(Execution {
        id: reader.s(ID)?.to_owned(),
        integration_id: reader.s(INTEGRATION_ID)?.to_owned(),
        trigger: parse_enum::<Trigger>(reader, TRIGGER)?,
        status: parse_enum::<ExecutionStatus>(reader, STATUS)?,
        started_at: reader.time(STARTED_AT)?,
        finished_at: reader.opt_time(FINISHED_AT)?,
        window: reader.opt_json::<Window>(WINDOW)?,
        counters: Counters {
            records_read: reader.u64(RECORDS_READ)?,
            upserted: reader.u64(UPSERTED)?,
            failed: reader.u64(FAILED)?,
            skipped: reader.u64(SKIPPED)?,
            events_sent: reader.u64(EVENTS_SENT)?,
            pages: reader.u64(PAGES)?,
            deleted: reader.u64(DELETED)?,
            joined: reader.u64(JOINED)?,
            left: reader.u64(LEFT)?,
            removals_applied: reader.u64(REMOVALS_APPLIED)?,
            resynced: reader.u64(RESYNCED)?,
        },
        failures: reader.failures(FAILURES)?,
        error: reader.opt_s(ERROR)?.map(str::to_owned),
    })
}

pub fn batch_value(batch: &BatchRecord) -> AttributeValue {
    let mut item = Item::from([
        (INDEX.to_owned(), n(batch.index)),
        (UPSERTED.to_owned(), n(batch.upserted)),
        (FAILED.to_owned(), n(batch.failed)),
        (EVENTS_SENT.to_owned(), n(batch.events_sent)),
        (FAILURES.to_owned(), failure_list(&batch.failures)),
        (
            RECORD_IDS.to_owned(),
            AttributeValue::B(Blob::new(pack_ids(&batch.record_ids))),
        ),
        (REMOVAL.to_owned(), AttributeValue::Bool(batch.removal)),
    ]);
    if let Some(stop) = &batch.stop {
        item.insert(STOP.to_owned(), AttributeValue::S(stop.clone()));
    }
    AttributeValue::M(item)
}

/// Record ids packed for a page item (a 5,000-record page must stay far below the 400 KB
/// item limit): `1` then 16 bytes per id when every id is a lowercase GUID (Dataverse's
/// primary ids), else `0` then a JSON array of strings.
pub fn pack_ids(ids: &[String]) -> Vec<u8> {
    let guids: Option<Vec<[u8; 16]>> = ids.iter().map(|id| guid_bytes(id)).collect();
    match guids {
        Some(guids) => {
            let mut packed = Vec::with_capacity(1 + 16 * guids.len());
            packed.push(1);
            for guid in guids {
                packed.extend_from_slice(&guid);
            }
            packed
        }
        None => {
            let mut packed = vec![0];
            packed.extend(serde_json::to_vec(ids).unwrap_or_else(|_| b"[]".to_vec()));
            packed
        }
    }
}

/// The ids [`pack_ids`] packed; `None` for bytes it did not write.
pub fn unpack_ids(packed: &[u8]) -> Option<Vec<String>> {
    match packed.split_first() {
        None => Some(Vec::new()),
        Some((1, guids)) if guids.len() % 16 == 0 => {
            Some(guids.chunks_exact(16).map(guid_text).collect())
        }
        Some((0, json)) => serde_json::from_slice(json).ok(),
        Some(_) => None,
    }
}

/// The 16 bytes of a GUID in lowercase canonical form (`8-4-4-4-12` hex digits), so that
/// [`guid_text`] gives the same text back.
fn guid_bytes(id: &str) -> Option<[u8; 16]> {
    let text = id.as_bytes();
    if text.len() != 36 {
        return None;
    }
    let mut bytes = [0u8; 16];
    let mut digits = text
        .iter()
        .enumerate()
        .filter(|(i, _)| !matches!(i, 8 | 13 | 18 | 23));
    if [8, 13, 18, 23].iter().any(|&i| text[i] != b'-') {
        return None;
    }
    for byte in &mut bytes {
        let mut value = 0u8;
        for _ in 0..2 {
            let (_, &digit) = digits.next()?;
            let nibble = match digit {
                b'0'..=b'9' => digit - b'0',
                b'a'..=b'f' => digit - b'a' + 10,
                _ => return None,
            };
            value = value << 4 | nibble;
        }
        *byte = value;
    }
    Some(bytes)
}

fn guid_text(bytes: &[u8]) -> String {
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// A page item's fixed end: `fixed` is a map holding `next_cursor` (a string, or absent on a
/// partition's last page).
pub fn fixed_value(page: &FixedPage) -> AttributeValue {
    let mut map = Item::new();
    if let Some(next) = &page.next_cursor {
        map.insert(NEXT_CURSOR.to_owned(), s(next.clone()));
    }
    if let Some(token) = &page.sync_token {
        map.insert(SYNC_TOKEN.to_owned(), s(token.clone()));
    }
    AttributeValue::M(map)
}

pub fn read_fixed(reader: &Reader<'_>) -> Result<Option<FixedPage>, AwsError> {
    match reader_map(reader, FIXED)? {
        None => Ok(None),
        Some(map) => {
            let fixed = Reader::new(map, reader.resource);
            Ok(Some(FixedPage {
                next_cursor: fixed.opt_s(NEXT_CURSOR)?.map(str::to_owned),
                sync_token: fixed.opt_s(SYNC_TOKEN)?.map(str::to_owned),
            }))
        }
    }
}

/// The batches of a page item, by index.
pub fn read_batches(reader: &Reader<'_>) -> Result<Vec<BatchRecord>, AwsError> {
    let map = match reader_map(reader, BATCHES)? {
        Some(map) => map,
        None => return Ok(Vec::new()),
    };
    let mut batches = map
        .values()
        .map(|value| match value {
            AttributeValue::M(entry) => {
                let entry = Reader::new(entry, reader.resource);
                Ok(BatchRecord {
                    index: u32::try_from(entry.u64(INDEX)?)
                        .map_err(|_| reader.corrupt("a batch index is out of range"))?,
                    upserted: entry.u64(UPSERTED)?,
                    failed: entry.u64(FAILED)?,
                    events_sent: entry.u64(EVENTS_SENT)?,
                    failures: entry.failures(FAILURES)?,
                    record_ids: match entry.item.get(RECORD_IDS) {
                        None => Vec::new(),
                        Some(AttributeValue::B(blob)) => unpack_ids(blob.as_ref())
                            .ok_or_else(|| reader.corrupt("a batch's record ids are garbled"))?,
                        Some(_) => {
                            return Err(reader.corrupt("a batch's record ids are not binary"));
                        }
                    },
                    removal: matches!(entry.item.get(REMOVAL), Some(AttributeValue::Bool(true))),
                    stop: match entry.item.get(STOP) {
                        None => None,
                        Some(AttributeValue::S(stop)) => Some(stop.clone()),
                        Some(_) => return Err(reader.corrupt("a batch's stop is not a string")),
                    },
                })
            }
            _ => Err(reader.corrupt("'batches' holds a non-map entry")),
        })
        .collect::<Result<Vec<_>, _>>()?;
    batches.sort_by_key(|b| b.index);
    Ok(batches)
}

fn reader_map<'a>(reader: &Reader<'a>, name: &str) -> Result<Option<&'a Item>, AwsError> {
    match reader.item.get(name) {
        None => Ok(None),
        Some(AttributeValue::M(map)) => Ok(Some(map)),
        Some(_) => Err(reader.corrupt(format!("'{name}' is not a map"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn execution() -> Execution {
        Execution {
            id: "e1".into(),
            integration_id: "contacts".into(),
            trigger: Trigger::Manual,
            status: ExecutionStatus::CompletedWithFailures,
            started_at: Utc::now(),
            finished_at: Some(Utc::now()),
            window: Some(Window {
                from: None,
                to: Some(Utc::now()),
            }),
            counters: Counters {
                records_read: 5,
                upserted: 3,
                failed: 1,
                skipped: 1,
                events_sent: 7,
                pages: 1,
                deleted: 4,
                joined: 3,
                left: 2,
                removals_applied: 5,
                resynced: 1,
            },
            failures: vec![RecordFailure {
                record_id: "r1".into(),
                reason: "bad email".into(),
            }],
            error: None,
        }
    }

    #[test]
    fn an_execution_survives_the_round_trip_through_an_item() {
        let original = execution();
        let item = execution_item(&original, &[]).unwrap_or_default();
        let back = read_execution(&Reader::new(&item, "table 't'"));
        assert_eq!(back.ok(), Some(original));
        assert!(
            !item.contains_key(RUNNING_PK),
            "only running executions are indexed"
        );
    }

    #[test]
    fn batches_come_back_in_index_order() {
        let batch = |index| BatchRecord {
            index,
            upserted: 1,
            failed: 0,
            events_sent: 2,
            failures: vec![],
            record_ids: vec!["00000000-0000-0000-0000-00000000000a".into()],
            removal: false,
            stop: None,
        };
        let map = Item::from([
            (batch_key(10), batch_value(&batch(10))),
            (batch_key(2), batch_value(&batch(2))),
        ]);
        let item = Item::from([(BATCHES.to_owned(), AttributeValue::M(map))]);
        let batches = read_batches(&Reader::new(&item, "t")).unwrap_or_default();
        assert_eq!(batches, vec![batch(2), batch(10)]);
    }

    #[test]
    fn record_ids_pack_to_16_bytes_a_guid_and_come_back_as_they_were() {
        let guids: Vec<String> = (0..5_000u32)
            .map(|i| format!("{i:08x}-1111-2222-3333-44445555{i:04x}"))
            .collect();
        let packed = pack_ids(&guids);
        assert_eq!(packed.len(), 1 + 16 * 5_000);
        assert_eq!(unpack_ids(&packed), Some(guids));
        for odd in [
            vec!["ABCDEF00-1111-2222-3333-444455556666".to_owned()],
            vec!["42".to_owned(), "<unknown>".to_owned()],
            vec!["00000000-0000-0000-0000-00000000000g".to_owned()],
            vec!["00000000+0000-0000-0000-000000000000".to_owned()],
        ] {
            assert_eq!(unpack_ids(&pack_ids(&odd)), Some(odd));
        }
        assert_eq!(unpack_ids(&[1, 2, 3]), None);
        assert_eq!(unpack_ids(&[7]), None);
    }

    #[test]
    fn a_wrongly_typed_attribute_is_reported_not_panicked_on() {
        let item = Item::from([
            (PK.to_owned(), s("EXECUTION#e1")),
            (SK.to_owned(), s("EXECUTION")),
            (ID.to_owned(), n(3)),
        ]);
        let error = read_execution(&Reader::new(&item, "table 't'")).err();
        assert!(error.is_some_and(|e| e.to_string().contains("EXECUTION#e1/EXECUTION")));
    }
}
