//! The measurements that need a fresh process: the benchmark runs itself again in a child
//! mode, with the functions' environment (`DYNSYNC_TABLE`, `DYNSYNC_QUEUE_URL`, the SDK's
//! `AWS_*`), so neither the emulators nor the parent's warm state count.
//!
//! * `--cold-start`: what the worker's `main` does before the Lambda runtime loop, timed
//!   from the first line of `main`: the tokio runtime, `AwsConfig::from_env`,
//!   `AwsPorts::build` (SDK config from the environment, the three clients, the secret
//!   cache, the live connectors, the engine) and `Worker::new`; then, apart, the first
//!   DynamoDB request (connection set-up and credentials, which the SDK defers to it).
//! * `--sync-worker`: the worker of the whole sync (`sync.rs`).
//! * `--page-memory`: the same wiring, then one worker invocation on the one page task
//!   waiting in `DYNSYNC_QUEUE_URL`; prints VmHWM (the process's RSS high-water mark,
//!   from /proc/self/status) once ready and after the page.
//!
//! Each child prints one line `BENCH key=value ...` on stdout; the parent parses it.

use std::collections::HashMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use aws_sdk_sqs::types::MessageSystemAttributeName;
use dynsync_telemetry::Metrics;
use dynsync_tests::bench::status_kb;
use dynsync_wiring::{AwsConfig, AwsPorts};
use dynsync_worker::Worker;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::sync::{lambda_event, worker_deadline};

pub const COLD_START: &str = "--cold-start";
pub const SYNC_WORKER: &str = "--sync-worker";
pub const PAGE_MEMORY: &str = "--page-memory";

/// Child `--cold-start`: `main_started` is taken on the first line of `main`.
pub fn cold_start(main_started: Instant) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let config = AwsConfig::from_env("worker")?;
        let ports = AwsPorts::build(&config).await;
        let worker = Worker::new(
            ports.engine.clone(),
            ports.queue.clone(),
            config.time_reserve,
        );
        let ready = main_started.elapsed();
        let first = Instant::now();
        ports
            .engine
            .state()
            .get_execution("cold-start-probe")
            .await?;
        let first_request = first.elapsed();
        drop(worker);
        println!(
            "BENCH ready_us={} first_request_us={} hwm_kb={}",
            ready.as_micros(),
            first_request.as_micros(),
            status_kb("VmHWM")
        );
        Ok(())
    })
}

/// Child `--page-memory`.
pub fn page_memory() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let config = AwsConfig::from_env("worker")?;
        let ports = AwsPorts::build(&config).await;
        let worker = Worker::new(ports.engine.clone(), ports.queue.clone(), config.time_reserve);
        let ready_kb = status_kb("VmHWM");
        // Lambda's poller receives outside the function's process; receive before timing.
        let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await;
        let received = aws_sdk_sqs::Client::new(&sdk)
            .receive_message()
            .queue_url(&config.queue_url)
            .max_number_of_messages(1)
            .wait_time_seconds(5)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await?;
        let messages = received.messages.unwrap_or_default();
        ensure!(messages.len() == 1, "expected one page task, received {}", messages.len());
        let after_receive_kb = status_kb("VmHWM");
        let metrics = Metrics::new("worker");
        let started = Instant::now();
        let response = worker.handle(lambda_event(&messages), worker_deadline(), &metrics).await;
        let seconds = started.elapsed().as_secs_f64();
        ensure!(
            response.batch_item_failures.is_empty(),
            "the page was reported as failed"
        );
        let documents = metrics.take_documents(0);
        let records: f64 = documents
            .iter()
            .filter_map(|d| d.get("RecordsRead").and_then(serde_json::Value::as_f64))
            .sum();
        println!(
            "BENCH ready_kb={ready_kb} receive_kb={after_receive_kb} page_kb={} records={records} page_ms={:.0}",
            status_kb("VmHWM"),
            seconds * 1000.0
        );
        Ok(())
    })
}

/// What a child printed, and how long from spawning it to its `BENCH` line.
pub struct ChildReport {
    pub values: HashMap<String, f64>,
    pub spawn_to_line: Duration,
}

impl ChildReport {
    pub fn get(&self, key: &str) -> anyhow::Result<f64> {
        self.values
            .get(key)
            .copied()
            .with_context(|| format!("the child did not report {key}"))
    }
}

/// Runs this benchmark again as `mode` with `env` added to the environment.
pub async fn spawn(mode: &str, env: &[(&str, &str)]) -> anyhow::Result<ChildReport> {
    let exe = std::env::current_exe()?;
    let mut command = tokio::process::Command::new(exe);
    command
        .arg(mode)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    let spawned = Instant::now();
    let mut child = command
        .spawn()
        .context("cannot run the benchmark as a child")?;
    let stdout = child.stdout.take().context("no stdout of the child")?;
    let mut lines = BufReader::new(stdout).lines();
    let mut found = None;
    while let Some(line) = lines.next_line().await? {
        if let Some(rest) = line.strip_prefix("BENCH ") {
            found = Some((spawned.elapsed(), rest.to_owned()));
            break;
        }
    }
    let output = child.wait_with_output().await?;
    let Some((spawn_to_line, rest)) = found else {
        bail!(
            "the {mode} child reported nothing ({}); its errors are above",
            output.status
        );
    };
    ensure!(
        output.status.success(),
        "the {mode} child failed: {}",
        output.status
    );
    let values = rest
        .split_whitespace()
        .filter_map(|pair| {
            let (key, value) = pair.split_once('=')?;
            Some((key.to_owned(), value.parse().ok()?))
        })
        .collect();
    Ok(ChildReport {
        values,
        spawn_to_line,
    })
}
