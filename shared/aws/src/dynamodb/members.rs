//! The member-set port (`list_mode: changes`) on the state table.
//!
//! | pk | sk | attributes |
//! |---|---|---|
//! | `INTEGRATION#<id>` | `MEMBER_SET` | `generation` (S: the execution whose staged set is committed) |
//! | `MEMBERS#<integration id>` | `<generation>#<lo>` | `ids` (B: sorted 16-byte big-endian member keys), `subs` (SS, on a range's first chunk when the range took more than one) |
//!
//! A generation is one execution's staged set. Each page stages its fixed id range
//! `(after, until]` as one chunk (more when it holds over [`CHUNK_IDS`] members, so an
//! item stays far below DynamoDB's 400 KB), keyed by the chunk's exclusive lower bound
//! `lo` as 32 hex digits (`-` for the open start, which sorts first), so chunks sort in
//! key order, cover disjoint intervals and a range read is at most two `Query`s: the last
//! chunk starting at or before `after` and the chunks starting inside the range.
//! Promotion is one conditional `PutItem` of the pointer; the previous generation is then
//! deleted (best effort: a chunk left behind is never read, since reads follow the
//! pointer).
//!
//! Requests: per page one `GetItem` (pointer) and one or two `Query`s to read, one
//! `PutItem` to stage; per execution one `PutItem` to promote and one `DeleteItem` per
//! chunk of the previous generation.

use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use dynsync_domain::ports::{MemberKey, MemberRange, MemberSets, PortError};

use super::DynamoDbStateStore;
use super::schema::{Item, PK, SK, integration_pk, key, s};
use crate::error::AwsError;

/// Members per chunk item: 16 bytes each, 320,000 bytes, well below 400 KB.
pub const CHUNK_IDS: usize = 20_000;
const SK_MEMBER_SET: &str = "MEMBER_SET";
const GENERATION: &str = "generation";
const IDS: &str = "ids";
const SUBS: &str = "subs";

fn members_pk(integration_id: &str) -> String {
    format!("MEMBERS#{integration_id}")
}

/// A chunk's lower bound as sort-key text: `-` (open) sorts before any hex digit.
fn bound(lo: Option<MemberKey>) -> String {
    match lo {
        Some(k) => format!("{k:032x}"),
        None => "-".to_owned(),
    }
}

fn chunk_sk(generation: &str, lo: Option<MemberKey>) -> String {
    format!("{generation}#{}", bound(lo))
}

fn pack(ids: &[MemberKey]) -> Vec<u8> {
    ids.iter().flat_map(|k| k.to_be_bytes()).collect()
}

fn unpack(bytes: &[u8]) -> Option<Vec<MemberKey>> {
    if !bytes.len().is_multiple_of(16) {
        return None;
    }
    Some(
        bytes
            .chunks_exact(16)
            .filter_map(|c| <[u8; 16]>::try_from(c).ok())
            .map(u128::from_be_bytes)
            .collect(),
    )
}

impl DynamoDbStateStore {
    fn put_error(&self, e: SdkError<PutItemError, HttpResponse>) -> AwsError {
        AwsError::from_sdk("dynamodb:PutItem", &self.resource, e)
    }

    async fn committed_generation(&self, integration_id: &str) -> Result<Option<String>, AwsError> {
        let item = self
            .get_item(key(integration_pk(integration_id), SK_MEMBER_SET), &[])
            .await?;
        Ok(item.and_then(|i| match i.get(GENERATION) {
            Some(AttributeValue::S(g)) => Some(g.clone()),
            _ => None,
        }))
    }

    /// The ids of chunk items, checked.
    fn chunk_ids(&self, item: &Item) -> Result<Vec<MemberKey>, AwsError> {
        let corrupt = |detail: &str| AwsError::Corrupt {
            resource: self.resource.clone(),
            key: match item.get(SK) {
                Some(AttributeValue::S(sk)) => sk.clone(),
                _ => "?".to_owned(),
            },
            detail: detail.to_owned(),
        };
        match item.get(IDS) {
            Some(AttributeValue::B(blob)) => {
                unpack(blob.as_ref()).ok_or_else(|| corrupt("ids is not a multiple of 16 bytes"))
            }
            None => Ok(Vec::new()),
            Some(_) => Err(corrupt("ids is not binary")),
        }
    }

    async fn chunks_between(
        &self,
        pk: &str,
        from: String,
        to: String,
        last_only: bool,
    ) -> Result<Vec<Item>, AwsError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .consistent_read(true)
            .key_condition_expression("#pk = :pk AND #sk BETWEEN :from AND :to")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#sk", SK)
            .expression_attribute_values(":pk", s(pk))
            .expression_attribute_values(":from", s(from))
            .expression_attribute_values(":to", s(to))
            .scan_index_forward(!last_only);
        self.query_all(query, last_only.then_some(1)).await
    }

    async fn delete_generation(
        &self,
        integration_id: &str,
        generation: &str,
    ) -> Result<(), AwsError> {
        let pk = members_pk(integration_id);
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :pk AND begins_with(#sk, :g)")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#sk", SK)
            .expression_attribute_values(":pk", s(&pk))
            .expression_attribute_values(":g", s(format!("{generation}#")))
            .projection_expression("#pk, #sk");
        for item in self.query_all(query, None).await? {
            let Some(AttributeValue::S(sk)) = item.get(SK) else {
                continue;
            };
            self.client
                .delete_item()
                .table_name(&self.table)
                .set_key(Some(key(pk.clone(), sk.clone())))
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("dynamodb:DeleteItem", &self.resource, e))?;
        }
        Ok(())
    }

    async fn put_chunk(&self, item: Item, old: bool) -> Result<Option<Item>, AwsError> {
        let mut request = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item));
        if old {
            request = request.return_values(ReturnValue::AllOld);
        }
        let out = request.send().await.map_err(|e| self.put_error(e))?;
        Ok(out.attributes)
    }
}

#[async_trait::async_trait]
impl MemberSets for DynamoDbStateStore {
    async fn committed_members(
        &self,
        integration_id: &str,
        range: MemberRange,
    ) -> Result<Option<Vec<MemberKey>>, PortError> {
        let Some(generation) = self.committed_generation(integration_id).await? else {
            return Ok(None);
        };
        let pk = members_pk(integration_id);
        let start = chunk_sk(&generation, range.after);
        let end = match range.until {
            Some(until) => chunk_sk(&generation, Some(until)),
            // `~` sorts after every hex digit.
            None => format!("{generation}#~"),
        };
        let mut items = Vec::new();
        if range.after.is_some() {
            // The chunk that starts at or before `after` may reach into the range.
            items.extend(
                self.chunks_between(&pk, format!("{generation}#"), start.clone(), true)
                    .await?,
            );
        }
        items.extend(self.chunks_between(&pk, start, end, false).await?);
        let mut ids = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for item in &items {
            if let Some(AttributeValue::S(sk)) = item.get(SK)
                && !seen.insert(sk.clone())
            {
                continue;
            }
            ids.extend(self.chunk_ids(item)?);
        }
        Ok(Some(range.members_among(ids)))
    }

    async fn stage_members(
        &self,
        integration_id: &str,
        execution_id: &str,
        range: MemberRange,
        ids: &[MemberKey],
    ) -> Result<(), PortError> {
        let sorted = range.members_among(ids.iter().copied());
        let pk = members_pk(integration_id);
        // Chunk i covers (lo_i, lo_{i+1}]: lo_0 is the range's start, lo_i the last id of
        // chunk i-1.
        let mut chunks: Vec<(Option<MemberKey>, &[MemberKey])> = Vec::new();
        let mut lo = range.after;
        for part in sorted.chunks(CHUNK_IDS) {
            chunks.push((lo, part));
            lo = part.last().copied();
        }
        if chunks.is_empty() {
            chunks.push((range.after, &[]));
        }
        let subs: Vec<String> = chunks
            .iter()
            .skip(1)
            .map(|(lo, _)| chunk_sk(execution_id, *lo))
            .collect();
        for (i, (lo, part)) in chunks.iter().enumerate().rev() {
            let mut item = key(pk.clone(), chunk_sk(execution_id, *lo));
            item.insert(IDS.to_owned(), AttributeValue::B(Blob::new(pack(part))));
            if i > 0 {
                self.put_chunk(item, false).await?;
                continue;
            }
            if !subs.is_empty() {
                item.insert(SUBS.to_owned(), AttributeValue::Ss(subs.clone()));
            }
            // The range's first chunk is written last and names the others: a restage
            // (a redelivery) drops the extra chunks of the previous staging.
            let old = self.put_chunk(item, true).await?;
            let stale: Vec<String> = match old.as_ref().and_then(|o| o.get(SUBS)) {
                Some(AttributeValue::Ss(old_subs)) => old_subs
                    .iter()
                    .filter(|sk| !subs.contains(sk))
                    .cloned()
                    .collect(),
                _ => Vec::new(),
            };
            for sk in stale {
                self.client
                    .delete_item()
                    .table_name(&self.table)
                    .set_key(Some(key(pk.clone(), sk)))
                    .send()
                    .await
                    .map_err(|e| AwsError::from_sdk("dynamodb:DeleteItem", &self.resource, e))?;
            }
        }
        Ok(())
    }

    async fn promote_members(
        &self,
        integration_id: &str,
        execution_id: &str,
    ) -> Result<(), PortError> {
        let mut item = key(integration_pk(integration_id), SK_MEMBER_SET);
        item.insert(GENERATION.to_owned(), s(execution_id));
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#g) OR #g <> :g")
            .expression_attribute_names("#g", GENERATION)
            .expression_attribute_values(":g", s(execution_id))
            .return_values(ReturnValue::AllOld)
            .send()
            .await;
        let old = match result {
            Ok(out) => out.attributes,
            Err(e)
                if matches!(
                    e.as_service_error(),
                    Some(PutItemError::ConditionalCheckFailedException(_))
                ) =>
            {
                // Promoted already (a retried finish).
                return Ok(());
            }
            Err(e) => return Err(self.put_error(e).into()),
        };
        if let Some(AttributeValue::S(previous)) = old.as_ref().and_then(|o| o.get(GENERATION))
            && let Err(error) = self.delete_generation(integration_id, previous).await
        {
            tracing::warn!(integration_id = %integration_id, error = %error, "could not delete the previous member set (never read again)");
        }
        Ok(())
    }

    async fn discard_members(
        &self,
        integration_id: &str,
        execution_id: &str,
    ) -> Result<(), PortError> {
        if self.committed_generation(integration_id).await?.as_deref() == Some(execution_id) {
            return Ok(());
        }
        Ok(self.delete_generation(integration_id, execution_id).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_sort_like_keys_and_the_open_start_first() {
        let keys = [0u128, 1, 0xff, 1 << 64, u128::MAX];
        let mut texts: Vec<String> = keys.iter().map(|k| bound(Some(*k))).collect();
        texts.insert(0, bound(None));
        let mut sorted = texts.clone();
        sorted.sort();
        assert_eq!(texts, sorted);
        assert!(bound(Some(u128::MAX)).as_str() < "~");
    }

    #[test]
    fn packed_ids_round_trip_and_a_chunk_stays_below_400_kb() {
        let ids = vec![3u128, 1 << 100, u128::MAX];
        assert_eq!(unpack(&pack(&ids)), Some(ids));
        assert_eq!(unpack(&[1, 2, 3]), None);
        const { assert!(CHUNK_IDS * 16 < 400 * 1024 - 4 * 1024) };
    }
}
