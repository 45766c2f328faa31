//! Property tests of the keyset partitions, judged by the emulator's own (independent)
//! implementation of SQL Server uniqueidentifier order: our comparison agrees with it, and
//! every GUID falls in exactly one partition.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use dynsync_domain::execution::Partition;
use dynsync_emulators::dataverse::{SqlGuid, sql_guid_cmp};
use dynsync_fetchxml::{partitions, sql_server_cmp};
use proptest::prelude::*;
use uuid::Uuid;

/// Membership as the emulator orders GUIDs: `> after` and `<= until`.
fn contains(partition: &Partition, id: Uuid) -> bool {
    let key = SqlGuid::new(id);
    let bound = |b: &Option<String>| {
        b.as_deref()
            .map(|s| SqlGuid::new(Uuid::parse_str(s).unwrap()))
    };
    bound(&partition.after).is_none_or(|after| key > after)
        && bound(&partition.until).is_none_or(|until| key <= until)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn our_order_is_the_emulators_sql_server_order(a in any::<[u8; 16]>(), b in any::<[u8; 16]>()) {
        let (a, b) = (Uuid::from_bytes(a), Uuid::from_bytes(b));
        prop_assert_eq!(sql_server_cmp(&a, &b), sql_guid_cmp(&a, &b));
    }

    #[test]
    fn every_guid_falls_in_exactly_one_partition(ids in proptest::collection::vec(any::<[u8; 16]>(), 1..50), n in 1u32..=64) {
        let parts = partitions(n);
        prop_assert_eq!(parts.len(), n as usize);
        for id in ids {
            let id = Uuid::from_bytes(id);
            prop_assert_eq!(parts.iter().filter(|p| contains(p, id)).count(), 1);
        }
        // The extremes too.
        for id in [Uuid::nil(), Uuid::max()] {
            prop_assert_eq!(parts.iter().filter(|p| contains(p, id)).count(), 1);
        }
    }
}
