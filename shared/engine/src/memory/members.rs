//! An in-memory member-set store: one generation of staged ranges per execution, and per
//! integration a pointer to the committed generation, as the DynamoDB adapter keeps them.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};

use dynsync_domain::ports::{MemberKey, MemberRange, MemberSets, PortError};

/// A generation: the ranges one execution staged, by `(after, until)`.
type Generation = BTreeMap<(Option<MemberKey>, Option<MemberKey>), Vec<MemberKey>>;

#[derive(Default)]
pub struct MemoryMemberSets {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// By (integration, execution).
    generations: HashMap<(String, String), Generation>,
    /// The committed generation's execution, by integration.
    committed: HashMap<String, String>,
}

impl MemoryMemberSets {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait::async_trait]
impl MemberSets for MemoryMemberSets {
    async fn committed_members(
        &self,
        integration_id: &str,
        range: MemberRange,
    ) -> Result<Option<Vec<MemberKey>>, PortError> {
        let inner = self.lock();
        let Some(execution) = inner.committed.get(integration_id) else {
            return Ok(None);
        };
        let key = (integration_id.to_owned(), execution.clone());
        let staged = inner
            .generations
            .get(&key)
            .into_iter()
            .flat_map(|g| g.values().flatten().copied());
        Ok(Some(range.members_among(staged)))
    }

    async fn stage_members(
        &self,
        integration_id: &str,
        execution_id: &str,
        range: MemberRange,
        ids: &[MemberKey],
    ) -> Result<(), PortError> {
        let sorted = range.members_among(ids.iter().copied());
        self.lock()
            .generations
            .entry((integration_id.to_owned(), execution_id.to_owned()))
            .or_default()
            .insert((range.after, range.until), sorted);
        Ok(())
    }

    async fn promote_members(
        &self,
        integration_id: &str,
        execution_id: &str,
    ) -> Result<(), PortError> {
        let mut inner = self.lock();
        let previous = inner
            .committed
            .insert(integration_id.to_owned(), execution_id.to_owned());
        inner
            .generations
            .entry((integration_id.to_owned(), execution_id.to_owned()))
            .or_default();
        if let Some(previous) = previous.filter(|p| p != execution_id) {
            inner
                .generations
                .remove(&(integration_id.to_owned(), previous));
        }
        Ok(())
    }

    async fn discard_members(
        &self,
        integration_id: &str,
        execution_id: &str,
    ) -> Result<(), PortError> {
        let mut inner = self.lock();
        if inner.committed.get(integration_id).map(String::as_str) != Some(execution_id) {
            inner
                .generations
                .remove(&(integration_id.to_owned(), execution_id.to_owned()));
        }
        Ok(())
    }
}
