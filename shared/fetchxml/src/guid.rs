//! SQL Server `uniqueidentifier` order (ARCHITECTURE.md section 8 "GUID order") and the
//! partitions of the primary-id space that large backfills page through in parallel.
//!
//! In `AABBCCDD-EEFF-GGHH-IIJJ-KKLLMMNNOOPP` the bytes weigh, most significant first:
//! `KK LL MM NN OO PP`, `II JJ`, `HH GG`, `FF EE`, `DD CC BB AA`. Reading them in that order
//! as a big-endian `u128` gives a key whose integer order is Dataverse's order.

use std::cmp::Ordering;

use dynsync_domain::execution::Partition;
use uuid::Uuid;

use crate::error::FetchXmlError;

/// Positions in `Uuid::as_bytes` (string order), most significant first.
const ORDER: [usize; 16] = [10, 11, 12, 13, 14, 15, 8, 9, 7, 6, 5, 4, 3, 2, 1, 0];

/// The id's position in SQL Server order.
pub fn sql_server_key(id: &Uuid) -> u128 {
    let bytes = id.as_bytes();
    ORDER.iter().fold(0u128, |key, &pos| {
        (key << 8) | u128::from(bytes.get(pos).copied().unwrap_or(0))
    })
}

/// The id at a position in SQL Server order (inverse of [`sql_server_key`]).
pub fn uuid_from_key(key: u128) -> Uuid {
    let mut bytes = [0u8; 16];
    for (i, &pos) in ORDER.iter().enumerate() {
        let shift = 8 * (15 - i);
        if let Some(slot) = bytes.get_mut(pos) {
            // Truncation to the low byte is the point.
            *slot = (key >> shift) as u8;
        }
    }
    Uuid::from_bytes(bytes)
}

/// Compares two ids as SQL Server (and so Dataverse) does.
pub fn sql_server_cmp(a: &Uuid, b: &Uuid) -> Ordering {
    sql_server_key(a).cmp(&sql_server_key(b))
}

/// Parses a cursor or bound; `what` names it in the error.
pub fn parse_guid(what: &'static str, value: &str) -> Result<Uuid, FetchXmlError> {
    Uuid::parse_str(value.trim_matches(|c| c == '{' || c == '}')).map_err(|_| {
        FetchXmlError::InvalidGuid {
            what,
            value: value.to_owned(),
        }
    })
}

/// Splits the id space into `n` contiguous ranges (`n` = 0 counts as 1), in SQL Server
/// order: partition `i` holds ids `> after` and `<= until`, the first has no `after`, the
/// last no `until`, and each `after` is the previous partition's `until`, so every id falls
/// in exactly one partition.
pub fn partitions(n: u32) -> Vec<Partition> {
    let n = n.max(1);
    let step = u128::MAX / u128::from(n);
    let bound = |k: u32| uuid_from_key(step * u128::from(k)).hyphenated().to_string();
    (0..n)
        .map(|i| Partition {
            index: i,
            after: (i > 0).then(|| bound(i)),
            until: (i + 1 < n).then(|| bound(i + 1)),
        })
        .collect()
}

/// Whether `id` lies in the partition (`> after`, `<= until`). Bounds that are not GUIDs
/// make it an error.
pub fn partition_contains(partition: &Partition, id: &Uuid) -> Result<bool, FetchXmlError> {
    let key = sql_server_key(id);
    if let Some(after) = &partition.after
        && key <= sql_server_key(&parse_guid("partition start", after)?)
    {
        return Ok(false);
    }
    if let Some(until) = &partition.until
        && key > sql_server_key(&parse_guid("partition end", until)?)
    {
        return Ok(false);
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    fn g(s: &str) -> Uuid {
        Uuid::parse_str(s).unwrap()
    }

    #[test]
    fn the_last_six_bytes_weigh_most_then_the_groups_in_documented_order() {
        let ordered = [
            "00000000-0000-0000-0000-000000000000",
            "01000000-0000-0000-0000-000000000000", // AA weighs least
            "00000001-0000-0000-0000-000000000000", // DD
            "00000000-0100-0000-0000-000000000000", // EE
            "00000000-0001-0000-0000-000000000000", // FF
            "00000000-0000-0100-0000-000000000000", // GG
            "00000000-0000-0001-0000-000000000000", // HH
            "00000000-0000-0000-0001-000000000000", // JJ
            "00000000-0000-0000-0100-000000000000", // II
            "00000000-0000-0000-0000-000000000001", // PP
            "00000000-0000-0000-0000-010000000000", // KK weighs most
            "ffffffff-ffff-ffff-ffff-ffffffffffff",
        ];
        for pair in ordered.windows(2) {
            assert_eq!(
                sql_server_cmp(&g(pair[0]), &g(pair[1])),
                Ordering::Less,
                "{} < {}",
                pair[0],
                pair[1]
            );
        }
    }

    #[test]
    fn one_partition_is_the_whole_space_and_zero_counts_as_one() {
        let expected = vec![Partition {
            index: 0,
            after: None,
            until: None,
        }];
        assert_eq!(partitions(1), expected);
        assert_eq!(partitions(0), expected);
    }

    #[test]
    fn neighbouring_partitions_share_their_bound() {
        let parts = partitions(4);
        assert_eq!(parts.len(), 4);
        for pair in parts.windows(2) {
            assert_eq!(pair[0].until, pair[1].after);
        }
        assert!(parts[0].after.is_none() && parts[3].until.is_none());
    }

    #[test]
    fn bounds_that_are_not_guids_are_errors() {
        let bad = Partition {
            index: 0,
            after: Some("x".to_owned()),
            until: None,
        };
        assert!(partition_contains(&bad, &Uuid::nil()).is_err());
        assert!(parse_guid("cursor", "{00000000-0000-0000-0000-000000000001}").is_ok());
    }

    proptest! {
        #[test]
        fn every_guid_falls_in_exactly_one_partition(bytes in any::<[u8; 16]>(), n in 1u32..=64) {
            let id = Uuid::from_bytes(bytes);
            let hits = partitions(n)
                .iter()
                .filter(|p| partition_contains(p, &id).unwrap())
                .count();
            prop_assert_eq!(hits, 1);
        }

        #[test]
        fn keys_round_trip_and_order_matches_comparison(a in any::<[u8; 16]>(), b in any::<[u8; 16]>()) {
            let (a, b) = (Uuid::from_bytes(a), Uuid::from_bytes(b));
            prop_assert_eq!(uuid_from_key(sql_server_key(&a)), a);
            prop_assert_eq!(sql_server_cmp(&a, &b), sql_server_key(&a).cmp(&sql_server_key(&b)));
            prop_assert_eq!(sql_server_cmp(&a, &b), sql_server_cmp(&b, &a).reverse());
        }

        #[test]
        fn partitions_are_in_ascending_order(n in 2u32..=64) {
            let parts = partitions(n);
            for pair in parts.windows(2) {
                let (a, b) = (pair[0].until.as_deref().unwrap(), pair[1].until.as_deref());
                if let Some(b) = b {
                    prop_assert_eq!(sql_server_cmp(&g(a), &g(b)), Ordering::Less);
                }
            }
        }
    }
}
