//! The page ledger's values as DynamoDB attributes and back: a batch (a map under the page
//! item's `batches`, its record ids packed into a binary) and a page's fixed end. Reading
//! never panics: an item of the wrong shape is an `AwsError::Corrupt` naming the item.

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use dynsync_domain::ports::{BatchRecord, FixedPage};

use super::codec::{Reader, failure_list, reader_map};
use super::schema::*;
use crate::error::AwsError;

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
