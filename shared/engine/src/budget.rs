//! The memory bound on the pages a local run holds at once (issue 13). `--concurrency`
//! bounds how many pages are in flight; this bounds how many bytes of records they hold:
//! a worker is admitted to its next page only once the pages already in flight leave room
//! for it, before it receives the page's task (so a task never waits out its visibility
//! timeout in a worker's hands). A page's size is estimated from the last page the runner
//! processed ([`records_bytes`], recorded by the mapping step); before any page has been
//! mapped, a page is admitted alone. A page larger than the whole budget is admitted
//! alone, never refused.
//!
//! With the default budget (`EngineConfig::pages_in_flight_bytes`, 6 MiB) four pages of
//! 500 typical contacts are in flight at once, and pages of 5,000 one at a time.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use dynsync_domain::Record;
use serde_json::Value;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The budget is counted in these units (the semaphore's permits).
const UNIT: usize = 1024;

/// Heap bytes of one `serde_json` map entry besides its key's and value's own heap: the
/// key `String` and the `Value` in the map's node, with the node's share of overhead.
const ENTRY: usize = 72;
/// malloc's bookkeeping for one heap allocation (a `String`'s or a `Vec`'s buffer).
const ALLOCATION: usize = 16;
/// One record's own share: the map's root and the `Vec<Record>` slot.
const RECORD: usize = 64;

/// An estimate of the heap a page's records hold: strings by their length, nested values
/// recursively, each map entry and allocation at a fixed cost. Cheap (one pass, no
/// allocation) and within a factor of two of the allocator's figure for Dataverse records.
pub fn records_bytes(records: &[Record]) -> usize {
    records
        .iter()
        .map(|record| {
            RECORD
                + record
                    .iter()
                    .map(|(key, value)| ENTRY + ALLOCATION + key.len() + value_bytes(value))
                    .sum::<usize>()
        })
        .sum()
}

fn value_bytes(value: &Value) -> usize {
    match value {
        Value::Null | Value::Bool(_) | Value::Number(_) => 0,
        Value::String(text) => ALLOCATION + text.len(),
        Value::Array(items) => {
            ALLOCATION
                + items
                    .iter()
                    .map(|item| 32 + value_bytes(item))
                    .sum::<usize>()
        }
        Value::Object(map) => {
            ALLOCATION
                + map
                    .iter()
                    .map(|(key, value)| ENTRY + ALLOCATION + key.len() + value_bytes(value))
                    .sum::<usize>()
        }
    }
}

/// The bytes of records the pages in flight may hold together.
#[derive(Clone)]
pub(crate) struct PageBudget {
    permits: Arc<Semaphore>,
    capacity: u32,
    /// The estimated bytes of the last page processed (0: none yet).
    last_page: Arc<AtomicUsize>,
}

impl PageBudget {
    pub(crate) fn new(bytes: usize) -> Self {
        let capacity = u32::try_from(bytes.div_ceil(UNIT))
            .unwrap_or(u32::MAX)
            .clamp(1, u32::try_from(Semaphore::MAX_PERMITS).unwrap_or(u32::MAX));
        Self {
            permits: Arc::new(Semaphore::new(capacity as usize)),
            capacity,
            last_page: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Remembers the estimated size of a page just processed (`None`: it mapped nothing
    /// new, e.g. a skipped redelivery).
    pub(crate) fn learn(&self, page_bytes: Option<usize>) {
        if let Some(bytes) = page_bytes {
            self.last_page.store(bytes, Ordering::Relaxed);
        }
    }

    /// Waits until one more page the size of the last one fits beside the pages in flight.
    pub(crate) async fn admit_next(&self) -> Option<OwnedSemaphorePermit> {
        let last = self.last_page.load(Ordering::Relaxed);
        self.admit((last > 0).then_some(last)).await
    }

    /// Waits until a page of `estimate` bytes fits beside the pages in flight (`None`: its
    /// size is not known yet, so it runs alone); the page holds its share until the
    /// returned permit is dropped. (`None` back only if the semaphore were closed, which
    /// it never is: the page then runs unbounded rather than not at all.)
    pub(crate) async fn admit(&self, estimate: Option<usize>) -> Option<OwnedSemaphorePermit> {
        let wanted = match estimate {
            Some(bytes) => u32::try_from(bytes.div_ceil(UNIT))
                .unwrap_or(u32::MAX)
                .clamp(1, self.capacity),
            None => self.capacity,
        };
        self.permits.clone().acquire_many_owned(wanted).await.ok()
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

    #[test]
    fn the_estimate_grows_with_the_values_and_the_fields() {
        let small = record(json!({"contactid": "1", "firstname": "A"}));
        let longer = record(json!({"contactid": "1", "firstname": "A much longer first name"}));
        let more = record(json!({"contactid": "1", "firstname": "A", "lastname": "B"}));
        let bytes = |r: &Record| records_bytes(std::slice::from_ref(r));
        assert!(bytes(&longer) > bytes(&small));
        assert!(bytes(&more) > bytes(&small));
        assert_eq!(
            records_bytes(&[small.clone(), small.clone()]),
            2 * bytes(&small)
        );
        assert_eq!(records_bytes(&[]), 0);
    }

    #[tokio::test]
    async fn pages_are_admitted_while_they_fit_and_an_unknown_or_oversized_page_runs_alone() {
        let budget = PageBudget::new(10 * UNIT);
        let first = budget.admit(Some(4 * UNIT)).await;
        let second = budget.admit(Some(4 * UNIT)).await;
        // A third of 4 KiB does not fit beside two (8 of 10 KiB held).
        let third = tokio::time::timeout(
            std::time::Duration::from_millis(50),
            budget.admit(Some(4 * UNIT)),
        )
        .await;
        assert!(third.is_err(), "a page that does not fit must wait");
        drop(first);
        let third = budget.admit(Some(4 * UNIT)).await;
        drop((second, third));
        // Unknown size and a page over the whole budget: each takes all of it.
        let alone = budget.admit(None).await;
        assert_eq!(budget.permits.available_permits(), 0);
        drop(alone);
        let huge = budget.admit(Some(100 * UNIT)).await;
        assert_eq!(budget.permits.available_permits(), 0);
        drop(huge);
        assert_eq!(budget.permits.available_permits(), 10);
        // admit_next: alone until a page size is learned, then by that size.
        let alone = budget.admit_next().await;
        assert_eq!(budget.permits.available_permits(), 0);
        drop(alone);
        budget.learn(Some(3 * UNIT));
        budget.learn(None);
        let next = budget.admit_next().await;
        assert_eq!(budget.permits.available_permits(), 7);
        drop(next);
    }
}
