//! The member-set port (`list_mode: changes`): committed sets read by id range, staged
//! sets replaced per range, promoted in one step and never touched by a failed execution.

use std::sync::Arc;

use dynsync_domain::ports::{MemberKey, MemberRange, MemberSets};

use crate::Fut;
use crate::fixtures::unique;

pub trait MakeMemberSets: Fn() -> Fut<Arc<dyn MemberSets>> {}
impl<F: Fn() -> Fut<Arc<dyn MemberSets>>> MakeMemberSets for F {}

fn range(after: Option<MemberKey>, until: Option<MemberKey>) -> MemberRange {
    MemberRange { after, until }
}

const ALL: MemberRange = MemberRange {
    after: None,
    until: None,
};

async fn committed(sets: &dyn MemberSets, id: &str, r: MemberRange) -> Option<Vec<MemberKey>> {
    sets.committed_members(id, r).await.unwrap()
}

pub async fn a_staged_set_is_committed_only_when_promoted(make: &impl MakeMemberSets) {
    let sets = make().await;
    let (integration, execution) = (unique("list"), unique("exec"));
    assert_eq!(committed(sets.as_ref(), &integration, ALL).await, None);
    sets.stage_members(&integration, &execution, range(None, Some(10)), &[3, 1, 10])
        .await
        .unwrap();
    sets.stage_members(
        &integration,
        &execution,
        range(Some(10), None),
        &[11, u128::MAX],
    )
    .await
    .unwrap();
    assert_eq!(committed(sets.as_ref(), &integration, ALL).await, None);
    sets.promote_members(&integration, &execution)
        .await
        .unwrap();
    assert_eq!(
        committed(sets.as_ref(), &integration, ALL).await,
        Some(vec![1, 3, 10, 11, u128::MAX])
    );
    // Promoting again changes nothing.
    sets.promote_members(&integration, &execution)
        .await
        .unwrap();
    assert_eq!(
        committed(sets.as_ref(), &integration, ALL).await,
        Some(vec![1, 3, 10, 11, u128::MAX])
    );
    // Another integration has no set.
    assert_eq!(committed(sets.as_ref(), &unique("list"), ALL).await, None);
}

pub async fn range_reads_exclude_the_start_and_include_the_end(make: &impl MakeMemberSets) {
    let sets = make().await;
    let (integration, execution) = (unique("list"), unique("exec"));
    // Staged in ranges that differ from the ranges read, as the previous run's pages do.
    let ids: Vec<MemberKey> = (0..50u128).map(|i| i * 10).collect();
    for (after, until) in [(None, Some(95)), (Some(95), Some(300)), (Some(300), None)] {
        let part: Vec<MemberKey> = ids
            .iter()
            .copied()
            .filter(|k| range(after, until).contains(*k))
            .collect();
        sets.stage_members(&integration, &execution, range(after, until), &part)
            .await
            .unwrap();
    }
    sets.promote_members(&integration, &execution)
        .await
        .unwrap();
    let read = |a, u| {
        let sets = sets.clone();
        let integration = integration.clone();
        async move { committed(sets.as_ref(), &integration, range(a, u)).await }
    };
    assert_eq!(read(Some(90), Some(110)).await, Some(vec![100, 110]));
    assert_eq!(read(None, Some(0)).await, Some(vec![0]));
    assert_eq!(read(Some(0), Some(10)).await, Some(vec![10]));
    assert_eq!(read(Some(480), None).await, Some(vec![490]));
    assert_eq!(read(Some(490), None).await, Some(vec![]));
    assert_eq!(read(Some(91), Some(99)).await, Some(vec![]));
    assert_eq!(
        read(Some(280), Some(320)).await,
        Some(vec![290, 300, 310, 320])
    );
    assert_eq!(read(None, None).await, Some(ids));
}

pub async fn restaging_a_range_replaces_it_and_leaves_the_others(make: &impl MakeMemberSets) {
    let sets = make().await;
    let (integration, execution) = (unique("list"), unique("exec"));
    sets.stage_members(
        &integration,
        &execution,
        range(None, Some(100)),
        &[5, 50, 100],
    )
    .await
    .unwrap();
    sets.stage_members(&integration, &execution, range(Some(100), None), &[150])
        .await
        .unwrap();
    // A redelivery of the first page sees other members.
    sets.stage_members(&integration, &execution, range(None, Some(100)), &[7])
        .await
        .unwrap();
    sets.promote_members(&integration, &execution)
        .await
        .unwrap();
    assert_eq!(
        committed(sets.as_ref(), &integration, ALL).await,
        Some(vec![7, 150])
    );
}

pub async fn a_new_generation_replaces_the_committed_set_whole(make: &impl MakeMemberSets) {
    let sets = make().await;
    let integration = unique("list");
    let (first, second, failed) = (unique("exec"), unique("exec"), unique("exec"));
    sets.stage_members(&integration, &first, ALL, &[1, 2, 3])
        .await
        .unwrap();
    sets.promote_members(&integration, &first).await.unwrap();
    sets.stage_members(&integration, &second, range(None, Some(2)), &[2])
        .await
        .unwrap();
    sets.stage_members(&integration, &second, range(Some(2), None), &[4])
        .await
        .unwrap();
    // A failed execution's staging never shows, and discarding it leaves the set.
    sets.stage_members(&integration, &failed, ALL, &[9])
        .await
        .unwrap();
    sets.discard_members(&integration, &failed).await.unwrap();
    assert_eq!(
        committed(sets.as_ref(), &integration, ALL).await,
        Some(vec![1, 2, 3])
    );
    sets.promote_members(&integration, &second).await.unwrap();
    assert_eq!(
        committed(sets.as_ref(), &integration, ALL).await,
        Some(vec![2, 4])
    );
    // Discarding the committed generation's execution does nothing.
    sets.discard_members(&integration, &second).await.unwrap();
    assert_eq!(
        committed(sets.as_ref(), &integration, ALL).await,
        Some(vec![2, 4])
    );
    // An execution that staged nothing commits the empty set.
    let empty = unique("exec");
    sets.promote_members(&integration, &empty).await.unwrap();
    assert_eq!(
        committed(sets.as_ref(), &integration, ALL).await,
        Some(vec![])
    );
}

pub async fn a_large_range_is_stored_and_restaged_exactly(make: &impl MakeMemberSets) {
    let sets = make().await;
    let (integration, execution) = (unique("list"), unique("exec"));
    // More than one DynamoDB chunk (20,000 ids), staged, then restaged with fewer.
    let big: Vec<MemberKey> = (1..=45_000u128).map(|i| i * 7 + (i << 90)).collect();
    sets.stage_members(&integration, &execution, ALL, &big)
        .await
        .unwrap();
    let fewer: Vec<MemberKey> = big.iter().copied().step_by(3).collect();
    sets.stage_members(&integration, &execution, ALL, &fewer)
        .await
        .unwrap();
    sets.promote_members(&integration, &execution)
        .await
        .unwrap();
    assert_eq!(
        committed(sets.as_ref(), &integration, ALL).await,
        Some(fewer.clone())
    );
    let (a, u) = (fewer[100], fewer[14_000]);
    let inside: Vec<MemberKey> = fewer
        .iter()
        .copied()
        .filter(|k| *k > a && *k <= u)
        .collect();
    assert_eq!(
        committed(sets.as_ref(), &integration, range(Some(a), Some(u))).await,
        Some(inside)
    );
}
