//! SQL Server `uniqueidentifier` ordering, which Dataverse uses to compare and sort GUIDs.
//!
//! In the string form `AABBCCDD-EEFF-GGHH-IIJJ-KKLLMMNNOOPP` the bytes are compared in this
//! order: `KK LL MM NN OO PP`, then `II JJ`, then `HH GG`, then `FF EE`, then `DD CC BB AA`.
//! Records are indexed by [`SqlGuid`] so keyset queries (`contactid gt X`) are range scans.

use std::cmp::Ordering;
use uuid::Uuid;

/// A GUID whose `Ord` is SQL Server's order. Converts losslessly to and from [`Uuid`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct SqlGuid([u8; 16]);

/// Positions of the string-order bytes (`Uuid::as_bytes`) in comparison order.
const ORDER: [usize; 16] = [10, 11, 12, 13, 14, 15, 8, 9, 7, 6, 5, 4, 3, 2, 1, 0];

impl SqlGuid {
    /// The sort key of `id`.
    pub fn new(id: Uuid) -> Self {
        let b = id.as_bytes();
        let mut key = [0u8; 16];
        for (slot, &pos) in key.iter_mut().zip(ORDER.iter()) {
            *slot = b.get(pos).copied().unwrap_or(0);
        }
        SqlGuid(key)
    }

    /// The GUID this key was made from.
    pub fn uuid(&self) -> Uuid {
        let mut b = [0u8; 16];
        for (&v, &pos) in self.0.iter().zip(ORDER.iter()) {
            if let Some(slot) = b.get_mut(pos) {
                *slot = v;
            }
        }
        Uuid::from_bytes(b)
    }

    /// The smallest key.
    pub const MIN: SqlGuid = SqlGuid([0; 16]);
}

impl From<Uuid> for SqlGuid {
    fn from(id: Uuid) -> Self {
        SqlGuid::new(id)
    }
}

/// Compares two GUIDs as SQL Server (and so Dataverse) does.
pub fn sql_guid_cmp(a: &Uuid, b: &Uuid) -> Ordering {
    SqlGuid::new(*a).cmp(&SqlGuid::new(*b))
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
    fn last_six_bytes_weigh_most() {
        let a = g("ffffffff-ffff-ffff-ffff-000000000000");
        let b = g("00000000-0000-0000-0000-000000000001");
        assert_eq!(sql_guid_cmp(&a, &b), Ordering::Less);
    }

    #[test]
    fn groups_compare_in_the_documented_order() {
        // Each pair differs in exactly one byte; the earlier group in the rule must dominate.
        let base = "00000000-0000-0000-0000-000000000000";
        let ij = g("00000000-0000-0000-0100-000000000000");
        let gh = g("00000000-0000-0001-0000-000000000000");
        let hh_first = g("00000000-0000-0100-0000-000000000000");
        let ef = g("00000000-0001-0000-0000-000000000000");
        let aa = g("01000000-0000-0000-0000-000000000000");
        let dd = g("00000001-0000-0000-0000-000000000000");
        let zero = g(base);
        for x in [ij, gh, hh_first, ef, aa, dd] {
            assert_eq!(sql_guid_cmp(&zero, &x), Ordering::Less);
        }
        assert_eq!(sql_guid_cmp(&gh, &ij), Ordering::Less);
        // HH is compared before GG.
        assert_eq!(sql_guid_cmp(&hh_first, &gh), Ordering::Less);
        assert_eq!(sql_guid_cmp(&ef, &hh_first), Ordering::Less);
        // DD is compared before AA.
        assert_eq!(sql_guid_cmp(&aa, &dd), Ordering::Less);
    }

    proptest! {
        #[test]
        fn key_round_trips_to_the_same_guid(bytes in any::<[u8; 16]>()) {
            let id = Uuid::from_bytes(bytes);
            prop_assert_eq!(SqlGuid::new(id).uuid(), id);
        }

        #[test]
        fn order_is_total_and_matches_the_byte_rule(a in any::<[u8; 16]>(), b in any::<[u8; 16]>(), c in any::<[u8; 16]>()) {
            let (ua, ub, uc) = (Uuid::from_bytes(a), Uuid::from_bytes(b), Uuid::from_bytes(c));
            let ab = sql_guid_cmp(&ua, &ub);
            prop_assert_eq!(ab, sql_guid_cmp(&ub, &ua).reverse());
            prop_assert_eq!(ab == Ordering::Equal, ua == ub);
            if ab != Ordering::Greater && sql_guid_cmp(&ub, &uc) != Ordering::Greater {
                prop_assert_ne!(sql_guid_cmp(&ua, &uc), Ordering::Greater);
            }
            // Independent statement of the rule: compare groups one after another.
            let groups: [&[usize]; 5] = [&[10, 11, 12, 13, 14, 15], &[8, 9], &[7, 6], &[5, 4], &[3, 2, 1, 0]];
            let mut expected = Ordering::Equal;
            'outer: for grp in groups {
                for &i in grp {
                    let o = a[i].cmp(&b[i]);
                    if o != Ordering::Equal { expected = o; break 'outer; }
                }
            }
            prop_assert_eq!(ab, expected);
        }
    }
}
