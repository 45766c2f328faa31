//! Insider's answer to one batch, turned into counts: which users it rejected (attributed
//! to their records), how many it upserted, how many events went with them.

use dynsync_domain::InsiderUser;
use dynsync_domain::execution::{MAX_RECORDED_FAILURES, RecordFailure};
use dynsync_domain::ports::{BatchOutcome, BatchRecord};

/// Turns Insider's answer into counts: rejected users (by index) failed, the rest upserted
/// with their events sent. A repeated index counts once. A rejection that names no user (an
/// index outside the batch: Insider counted more rejections than it attributed) fails every
/// user without an attributed rejection, since Insider did not say which were upserted
/// ([`BatchOutcome::failed_users`]): upserted + failed is always the batch size.
pub(crate) fn attribute(
    index: u32,
    batch: &[InsiderUser],
    ids: &[String],
    outcome: &BatchOutcome,
) -> BatchRecord {
    let unattributed = outcome
        .failures
        .iter()
        .filter(|f| f.index >= batch.len())
        .count();
    let rejected = outcome.failed_users(batch.len());
    if unattributed > 0 {
        tracing::warn!(
            batch = index,
            batch_size = batch.len(),
            unattributed,
            failed = rejected.len(),
            "Insider reported rejections without saying which users; every user it did not \
             confirm is counted failed"
        );
    }
    let events_sent = batch
        .iter()
        .enumerate()
        .filter(|(i, _)| !rejected.contains_key(i))
        .map(|(_, user)| user.events.len() as u64)
        .sum();
    let failures = rejected
        .iter()
        .take(MAX_RECORDED_FAILURES)
        .map(|(i, reason)| RecordFailure {
            record_id: ids.get(*i).cloned().unwrap_or_default(),
            // The sink's reason already says who rejected the user and why.
            reason: reason.clone(),
        })
        .collect();
    BatchRecord {
        index,
        upserted: batch.len().saturating_sub(rejected.len()) as u64,
        failed: rejected.len() as u64,
        events_sent,
        failures,
        record_ids: ids.to_vec(),
        removal: false,
        stop: None,
    }
}

pub(crate) fn whole_batch_failed(index: u32, ids: &[String], error: &str) -> BatchRecord {
    BatchRecord {
        index,
        upserted: 0,
        failed: ids.len() as u64,
        events_sent: 0,
        failures: ids
            .iter()
            .take(MAX_RECORDED_FAILURES)
            .map(|id| RecordFailure {
                record_id: id.clone(),
                reason: format!("Insider failed the whole batch: {error}"),
            })
            .collect(),
        record_ids: ids.to_vec(),
        removal: false,
        stop: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dynsync_domain::ports::UserFailure;

    fn users(n: usize) -> (Vec<InsiderUser>, Vec<String>) {
        let users = (0..n)
            .map(|_| InsiderUser {
                events: vec![dynsync_domain::InsiderEvent {
                    event_name: "purchase".into(),
                    timestamp: "2026-11-27T10:00:00Z".into(),
                    event_params: dynsync_domain::Attributes::default(),
                }],
                ..InsiderUser::default()
            })
            .collect();
        (users, (0..n).map(|i| format!("r{i}")).collect())
    }

    #[test]
    fn rejected_users_are_attributed_to_their_records_and_their_events_not_counted() {
        let (batch, ids) = users(4);
        let outcome = BatchOutcome {
            accepted: 2,
            failures: vec![
                UserFailure {
                    index: 1,
                    reason: "bad email".into(),
                },
                UserFailure {
                    index: 3,
                    reason: "bad phone".into(),
                },
                UserFailure {
                    index: 3,
                    reason: "again".into(),
                },
            ],
        };
        let record = attribute(0, &batch, &ids, &outcome);
        assert_eq!(
            (record.upserted, record.failed, record.events_sent),
            (2, 2, 2)
        );
        let failed: Vec<&str> = record
            .failures
            .iter()
            .map(|f| f.record_id.as_str())
            .collect();
        assert_eq!(failed, ["r1", "r3"]);
        assert!(record.failures.iter().all(|f| f.reason.contains("bad")));
    }

    #[test]
    fn rejections_insider_does_not_attribute_fail_the_unattributed_remainder() {
        let (batch, ids) = users(4);
        // Insider counted 3 rejections (fail.count 3) but named only user 1's.
        let outcome = BatchOutcome {
            accepted: 1,
            failures: vec![
                UserFailure {
                    index: 1,
                    reason: "bad email".into(),
                },
                UserFailure::unattributed("users: rejected"),
                UserFailure {
                    index: 7,
                    reason: "an index outside the batch".into(),
                },
            ],
        };
        let record = attribute(0, &batch, &ids, &outcome);
        assert_eq!(
            (record.upserted, record.failed, record.events_sent),
            (0, 4, 0),
            "no user Insider did not confirm is counted upserted, nor its events sent"
        );
        assert_eq!(record.upserted + record.failed, batch.len() as u64);
        let failed: Vec<&str> = record
            .failures
            .iter()
            .map(|f| f.record_id.as_str())
            .collect();
        assert_eq!(failed, ["r0", "r1", "r2", "r3"]);
        assert_eq!(record.failures[1].reason, "bad email");
        for failure in [
            &record.failures[0],
            &record.failures[2],
            &record.failures[3],
        ] {
            assert!(
                failure
                    .reason
                    .contains("Insider reported 2 rejections without saying which users"),
                "{}",
                failure.reason
            );
            assert!(
                failure.reason.contains("users: rejected"),
                "{}",
                failure.reason
            );
        }
    }

    #[test]
    fn without_unattributed_rejections_the_counts_add_up_as_before() {
        let (batch, ids) = users(3);
        let outcome = BatchOutcome {
            accepted: 3,
            failures: Vec::new(),
        };
        let record = attribute(1, &batch, &ids, &outcome);
        assert_eq!(
            (record.upserted, record.failed, record.events_sent),
            (3, 0, 3)
        );
        // Every user already rejected by index: an unattributed rejection changes nothing.
        let outcome = BatchOutcome {
            accepted: 0,
            failures: (0..3)
                .map(|index| UserFailure {
                    index,
                    reason: "bad".into(),
                })
                .chain([UserFailure::unattributed("users: rejected")])
                .collect(),
        };
        let record = attribute(1, &batch, &ids, &outcome);
        assert_eq!((record.upserted, record.failed), (0, 3));
        assert!(record.failures.iter().all(|f| f.reason == "bad"));
    }

    #[test]
    fn a_whole_failed_batch_counts_every_user_failed_with_the_error() {
        let (_, ids) = users(3);
        let record = whole_batch_failed(2, &ids, "401: check the token");
        assert_eq!(
            (record.upserted, record.failed, record.events_sent),
            (0, 3, 0)
        );
        assert!(
            record
                .failures
                .iter()
                .all(|f| f.reason.contains("check the token"))
        );
    }
}
