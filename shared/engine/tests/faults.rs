//! Faults on the page path, injected with the engine's failpoints (`fail` crate) and the
//! fake sink: a failure at each step of a page, a last page completed before its finish
//! was lost, and a property test of random deliveries, redeliveries, failures and source
//! edits between deliveries. The oracle: every record that stayed put is upserted exactly
//! once, none twice, no event twice, the counters add up, the execution succeeds.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use dynsync_domain::execution::{Execution, ExecutionStatus};
use dynsync_domain::ports::{Executions, PageQueue, SyncState};
use dynsync_engine::PageDisposition;
use proptest::prelude::*;
use support::source::{contact, contacts};
use support::{Harness, ScriptedSource, Spec, assert_counters_add_up, at};

fn old() -> chrono::DateTime<chrono::Utc> {
    at("2020-01-01T00:00:00Z")
}

fn email(n: u64) -> String {
    format!("user{n}@example.com")
}

const POINTS: [&str; 4] = [
    "page.after_fetch",
    "page.after_next",
    "page.after_batch",
    "page.after_complete",
];

#[tokio::test(start_paused = true)]
async fn a_last_page_completed_before_a_failure_still_finishes_its_execution() {
    let _scenario = fail::FailScenario::setup();
    let harness = Harness::new(ScriptedSource::new(contacts(0, 8, old())));
    let started = harness.start(&Spec::default().integration()).await;
    let task = harness.queue.pending().remove(0);
    fail::cfg("page.after_complete", "1*return").unwrap();

    let first = harness.engine.process_page(&task, 1).await;
    assert!(first.is_err_and(|e| e.is_transient()));
    let running = harness.state.get_execution(&started.id).await.unwrap();
    assert_eq!(running.unwrap().status, ExecutionStatus::Running);

    let again = harness.engine.process_page(&task, 2).await.unwrap();
    assert_eq!(again.disposition, PageDisposition::AlreadyDone);
    let finished = again
        .finished
        .expect("the redelivery finishes the execution");
    assert_eq!(finished.status, ExecutionStatus::Succeeded);
    assert_eq!(finished.counters.upserted, 8);
    assert_eq!(harness.sink.calls(), 1, "nothing sent again");
}

/// A failure at each point of the page path, at its first, second or third hit, in a run
/// of two partitions whose pages have two batches each.
#[tokio::test(start_paused = true)]
async fn a_failure_at_any_step_of_a_page_loses_nothing_and_sends_nothing_twice() {
    let _scenario = fail::FailScenario::setup();
    for point in POINTS {
        for hit in 1..=3 {
            let harness = Harness::new(ScriptedSource::new(contacts(0, 2_600, old())));
            let integration = Spec {
                page_size: 1_200,
                partitions: 2,
                fetch_mode: Some("new_and_updated"),
                ..Spec::default()
            }
            .integration();
            fail::cfg(point, &format!("{}*off->1*return", hit - 1)).unwrap();
            let execution = harness.run(&integration).await;
            fail::remove(point);

            let at = format!("{point} at hit {hit}");
            assert_eq!(execution.status, ExecutionStatus::Succeeded, "{at}");
            assert_eq!(execution.counters.records_read, 2_600, "{at}");
            assert_counters_add_up(&execution);
            let accepted = harness.sink.accepted();
            assert_eq!(accepted.len(), 2_600, "{at}");
            assert!(
                accepted.values().all(|n| *n == 1),
                "{at}: a user sent twice"
            );
            assert_eq!(harness.sink.max_events_per_user(), 1, "{at}");
        }
    }
}

/// One step of a random schedule.
#[derive(Debug, Clone)]
enum Step {
    /// Deliver a visible task (the `pick`th) and acknowledge it when it succeeds.
    Deliver {
        pick: usize,
        ack: bool,
    },
    /// Deliver one while Insider fails its next call transiently.
    DeliverWithInsiderFailure {
        pick: usize,
    },
    /// Deliver one with a failpoint set to fire once.
    DeliverWithFailure {
        pick: usize,
        point: usize,
    },
    /// Every task in flight comes back (the receiving process died).
    Crash,
    /// A record moves past the window's end (or is touched, without a window).
    Modify(usize),
    Delete(usize),
    Create(u64),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0..4usize, any::<bool>()).prop_map(|(pick, ack)| Step::Deliver { pick, ack }),
        1 => (0..4usize).prop_map(|pick| Step::DeliverWithInsiderFailure { pick }),
        1 => (0..4usize, 0..POINTS.len()).prop_map(|(pick, point)| Step::DeliverWithFailure { pick, point }),
        1 => Just(Step::Crash),
        1 => (0..10_000usize).prop_map(Step::Modify),
        1 => (0..10_000usize).prop_map(Step::Delete),
        1 => (10_000..20_000u64).prop_map(Step::Create),
    ]
}

/// What the steps did to the source.
#[derive(Default)]
struct Moved {
    /// Numbers of records modified or deleted during the run.
    touched: BTreeSet<u64>,
    created: BTreeSet<u64>,
}

struct Driver {
    harness: Harness,
    execution_id: String,
    numbers: Vec<u64>,
}

impl Driver {
    /// Delivers the `pick`th visible task; `true` if there was one.
    async fn deliver(&self, pick: usize, ack: bool) -> bool {
        let queue = &self.harness.queue;
        let mut visible = queue.receive(4, Duration::ZERO).await.unwrap();
        if visible.is_empty() {
            return false;
        }
        let delivery = visible.remove(pick % visible.len());
        for other in visible {
            queue.release(&other.receipt, Duration::ZERO).await.unwrap();
        }
        let engine = &self.harness.engine;
        match engine
            .process_page(&delivery.task, delivery.receive_count)
            .await
        {
            Ok(outcome) if outcome.disposition == PageDisposition::HeldElsewhere => {
                let wait = outcome.retry_after.unwrap_or_default();
                self.harness
                    .advance(chrono::Duration::from_std(wait).unwrap());
                queue
                    .release(&delivery.receipt, Duration::ZERO)
                    .await
                    .unwrap();
            }
            Ok(_) if ack => queue.ack(&delivery.receipt).await.unwrap(),
            // Not acknowledged: it comes back after a crash (or the visibility timeout).
            Ok(_) => {}
            Err(error) => {
                assert!(error.is_transient(), "a permanent error: {error}");
                queue
                    .release(&delivery.receipt, Duration::ZERO)
                    .await
                    .unwrap();
            }
        }
        true
    }

    async fn execution(&self) -> Execution {
        self.harness
            .state
            .get_execution(&self.execution_id)
            .await
            .unwrap()
            .unwrap()
    }

    async fn run(&self, steps: &[Step], incremental: bool) -> Moved {
        let mut moved = Moved::default();
        let source = &self.harness.source;
        for step in steps {
            match step {
                Step::Deliver { pick, ack } => {
                    self.deliver(*pick, *ack).await;
                }
                Step::DeliverWithInsiderFailure { pick } => {
                    self.harness.sink.fail_next_transiently(1);
                    self.deliver(*pick, true).await;
                    self.harness.sink.fail_next_transiently(0);
                }
                Step::DeliverWithFailure { pick, point } => {
                    fail::cfg(POINTS[*point], "1*return").unwrap();
                    self.deliver(*pick, true).await;
                    fail::remove(POINTS[*point]);
                }
                Step::Crash => self.harness.queue.make_all_visible(),
                Step::Modify(i) => {
                    let n = self.numbers[i % self.numbers.len()];
                    let modified = if incremental {
                        at("2026-11-27T11:00:00Z")
                    } else {
                        at("2021-01-01T00:00:00Z")
                    };
                    source.put(vec![contact(n, Some(&email(n)), old(), modified)]);
                    moved.touched.insert(n);
                }
                Step::Delete(i) => {
                    let n = self.numbers[i % self.numbers.len()];
                    source.remove(&contact(n, None, old(), old()).id);
                    moved.touched.insert(n);
                }
                Step::Create(n) => {
                    source.put(vec![contact(*n, Some(&email(*n)), old(), old())]);
                    moved.created.insert(*n);
                }
            }
        }
        moved
    }

    /// Delivers and acknowledges until the execution ends.
    async fn drain(&self) -> Execution {
        for _ in 0..10_000 {
            let execution = self.execution().await;
            if execution.status.is_final() {
                return execution;
            }
            if !self.deliver(0, true).await {
                self.harness.queue.make_all_visible();
                if self.harness.queue.is_empty() {
                    panic!("the execution is running with no task left: {execution:?}");
                }
            }
        }
        panic!("the execution did not finish");
    }
}

fn check(
    records: u64,
    page_size: u32,
    partitions: u32,
    incremental: bool,
    steps: &[Step],
) -> Result<(), TestCaseError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    runtime.block_on(async {
        let harness = Harness::new(ScriptedSource::new(contacts(0, records, old())));
        let integration = Spec {
            page_size,
            partitions,
            fetch_mode: Some(if incremental {
                "new_and_updated"
            } else {
                "all"
            }),
            ..Spec::default()
        }
        .integration();
        let started = harness.start(&integration).await;
        let driver = Driver {
            harness,
            execution_id: started.id,
            numbers: (0..records).collect(),
        };
        let moved = driver.run(steps, incremental).await;
        let execution = driver.drain().await;

        prop_assert_eq!(execution.status, ExecutionStatus::Succeeded);
        let c = execution.counters;
        prop_assert_eq!(c.records_read, c.upserted + c.skipped + c.failed);
        let accepted = driver.harness.sink.accepted();
        for n in 0..records {
            let times = accepted.get(&email(n)).copied().unwrap_or(0);
            if moved.touched.contains(&n) {
                prop_assert!(
                    times <= 1,
                    "record {} moved and was sent {} times",
                    n,
                    times
                );
            } else {
                prop_assert_eq!(
                    times,
                    1,
                    "record {} stayed put and was sent {} times",
                    n,
                    times
                );
            }
        }
        for n in &moved.created {
            let times = accepted.get(&email(*n)).copied().unwrap_or(0);
            prop_assert!(times <= 1, "created record {} sent {} times", n, times);
        }
        prop_assert!(
            driver.harness.sink.max_events_per_user() <= 1,
            "an event sent twice"
        );
        prop_assert_eq!(
            c.upserted,
            accepted.values().map(|n| u64::from(*n)).sum::<u64>()
        );
        Ok(())
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn random_deliveries_failures_and_source_edits_lose_nothing_and_send_no_event_twice(
        records in 1_100u64..2_700,
        page_size in prop::sample::select(vec![700u32, 1_200, 2_000]),
        partitions in 1u32..3,
        incremental in any::<bool>(),
        steps in prop::collection::vec(step(), 1..60),
    ) {
        let _scenario = fail::FailScenario::setup();
        check(records, page_size, partitions, incremental, &steps)?;
    }
}

/// A batch Insider refuses as a whole (a wrong token) stops its execution. The delivery
/// that met it dies at `point`; the redelivery must fail the execution too (keeping the
/// watermark), never finish it as `completed_with_failures` from a done page or from the
/// refused batch it reads back.
#[tokio::test(start_paused = true)]
async fn a_refused_batch_fails_its_execution_whatever_step_its_delivery_dies_at() {
    let _scenario = fail::FailScenario::setup();
    for point in ["page.after_batch", "page.after_complete"] {
        let harness = Harness::new(ScriptedSource::new(contacts(0, 8, old())));
        let integration = Spec {
            fetch_mode: Some("new_and_updated"),
            ..Spec::default()
        }
        .integration();
        let started = harness.start(&integration).await;
        let task = harness.queue.pending().remove(0);
        harness
            .sink
            .fail_permanently("Partner token authentication failed");
        fail::cfg(point, "1*return").unwrap();
        let first = harness.engine.process_page(&task, 1).await;
        fail::remove(point);
        assert!(first.is_err_and(|e| e.is_transient()), "{point}");

        harness.sink.heal();
        let _ = harness.engine.process_page(&task, 2).await.unwrap();
        let execution = harness
            .state
            .get_execution(&started.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(execution.status, ExecutionStatus::Failed, "{point}");
        let error = execution.error.clone().unwrap_or_default();
        assert!(error.contains("Partner token"), "{point}: {error}");
        assert_eq!(
            harness.sink.accepted_users(),
            0,
            "{point}: nothing sent again"
        );
        assert_eq!(
            harness.state.watermark("contacts").await.unwrap(),
            None,
            "{point}: the watermark stays"
        );
    }
}
