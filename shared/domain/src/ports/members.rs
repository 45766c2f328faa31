//! The member-set port (`source.list_mode: changes`, issue 12): the members of a marketing
//! list that an integration's last successful run saw, and the set the running execution
//! is building page by page. A member is its record's primary id as a [`MemberKey`], its
//! position in SQL Server `uniqueidentifier` order (Dataverse's keyset order), so the id
//! range of a page, `(after, until]`, is a range of keys.
//!
//! Lifecycle: each page stages the ids it holds for its fixed range under its execution
//! (a redelivery stages the same range again, replacing it); when the execution succeeds or
//! completes with record failures, its staged set becomes the integration's committed set
//! in one step; a failed or killed execution leaves the committed set as it was, and its
//! staged ranges are discarded (best effort).

use crate::ports::PortError;

/// A member's primary id as its position in SQL Server order (the big-endian reading of
/// the GUID's bytes in the order SQL Server weighs them): integer order is Dataverse's.
pub type MemberKey = u128;

/// A range of member keys: `> after` (open when `None`) and `<= until` (open when `None`),
/// like a page's fixed range or a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MemberRange {
    pub after: Option<MemberKey>,
    pub until: Option<MemberKey>,
}

impl MemberRange {
    /// Whether `key` lies in the range.
    pub fn contains(&self, key: MemberKey) -> bool {
        self.after.is_none_or(|a| key > a) && self.until.is_none_or(|u| key <= u)
    }

    /// The keys of `keys` that lie in the range, ascending and each once: what a page stages
    /// for its range, and what a read of the range answers, in every adapter.
    pub fn members_among(&self, keys: impl IntoIterator<Item = MemberKey>) -> Vec<MemberKey> {
        let mut inside: Vec<MemberKey> = keys.into_iter().filter(|k| self.contains(*k)).collect();
        inside.sort_unstable();
        inside.dedup();
        inside
    }
}

#[async_trait::async_trait]
pub trait MemberSets: Send + Sync {
    /// The integration's committed members inside `range`, ascending; `None` when the
    /// integration has no committed set (no run of the list in `changes` mode succeeded).
    async fn committed_members(
        &self,
        integration_id: &str,
        range: MemberRange,
    ) -> Result<Option<Vec<MemberKey>>, PortError>;

    /// Stages the members a page of `execution_id` holds for its fixed `range`, replacing
    /// whatever the execution staged for that very range before (a redelivery). `ids` are
    /// inside `range`; the order does not matter. Ranges staged by one execution are
    /// disjoint (they are its pages' fixed ranges).
    async fn stage_members(
        &self,
        integration_id: &str,
        execution_id: &str,
        range: MemberRange,
        ids: &[MemberKey],
    ) -> Result<(), PortError>;

    /// Makes everything `execution_id` staged the integration's committed set, in one step
    /// (an execution that staged nothing commits the empty set). Idempotent.
    async fn promote_members(
        &self,
        integration_id: &str,
        execution_id: &str,
    ) -> Result<(), PortError>;

    /// Forgets what a failed execution staged (best effort: the committed set is not
    /// touched either way).
    async fn discard_members(
        &self,
        integration_id: &str,
        execution_id: &str,
    ) -> Result<(), PortError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_range_keeps_its_own_keys_sorted_and_once() {
        let range = MemberRange {
            after: Some(10),
            until: Some(20),
        };
        assert_eq!(
            range.members_among([20, 5, 11, 10, 11, 21, 15]),
            [11, 15, 20]
        );
        assert_eq!(range.members_among([]), Vec::<MemberKey>::new());
        let open = MemberRange::default();
        assert_eq!(open.members_among([u128::MAX, 0, 0]), [0, u128::MAX]);
        let from = MemberRange {
            after: Some(0),
            until: None,
        };
        assert_eq!(from.members_among([0, 1, u128::MAX]), [1, u128::MAX]);
    }
}
