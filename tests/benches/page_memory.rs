//! Where one page's memory goes. The parent starts both emulators; for each page size a
//! fresh child process (this bench re-run with `--child`) wires the real Dataverse client,
//! mapper and Insider client, warms them up on one page, then fetches, maps and upserts one
//! more page of 5,000 (or 500) contacts, reading its own RSS (`/proc/self/status`) after
//! each step: RSS after the warm-up, the growth the fetched records hold, the growth the
//! mapped users add, the growth while the upsert bodies are written and sent, and VmHWM
//! (the process's peak). Only the client's process is measured; the emulators are in the
//! parent.
//!
//! Run: `cargo bench -p dynsync-tests --bench page_memory`.

use std::process::ExitCode;
use std::sync::Arc;

use chrono::Utc;
use dynsync_domain::batch;
use dynsync_domain::ports::Secret;
use dynsync_domain::{Integration, OptionLabels};
use dynsync_dynamics::DataverseClient;
use dynsync_emulators::dataverse::{CLIENT_ID, CLIENT_SECRET, DataverseEmulator, Seed};
use dynsync_emulators::insider::{InsiderConfig, InsiderEmulator, PARTNER, TOKEN};
use dynsync_engine::memory::MemorySecretStore;
use dynsync_insider::InsiderClient;
use dynsync_mapping::{Mapper, Outcome};
use dynsync_tests::bench::{CONTACT_MAPPING, status_kb};

/// A `kB` line of `/proc/self/status`, in bytes.
fn status_bytes(key: &str) -> isize {
    status_kb(key) as isize * 1024
}

fn rss() -> isize {
    status_bytes("VmRSS")
}

fn mb(bytes: isize) -> f64 {
    bytes as f64 / 1_048_576.0
}

fn definition(web: &str, token: &str, scope: &str, insider: &str, page_size: u32) -> String {
    format!(
        "id: page-memory
dynamics:
  web_api_url: {web}
  auth:
    method: client_credentials
    token_url: {token}
    scopes: [\"{scope}\"]
    client_id: {CLIENT_ID}
    client_secret: {{ secret: bench/dynamics }}
  page_size: {page_size}
{CONTACT_MAPPING}insider:
  api_url: {insider}
  partner: {PARTNER}
  token: {{ secret: bench/insider }}
"
    )
}

struct Endpoints {
    web: String,
    token: String,
    scope: String,
    insider: String,
}

const CHILD: &str = "--child";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|a| a == CHILD) {
        return child(&args[at + 1..]);
    }
    let Ok(runtime) = tokio::runtime::Runtime::new() else {
        return ExitCode::FAILURE;
    };
    let started = runtime.block_on(async {
        let dataverse = DataverseEmulator::start(Seed::contacts(10_000, 11)).await?;
        let insider = InsiderEmulator::start(InsiderConfig::default()).await?;
        anyhow::Ok((dataverse, insider))
    });
    let (dataverse, insider) = match started {
        Ok(pair) => pair,
        Err(error) => {
            eprintln!("cannot start the emulators: {error:#}");
            return ExitCode::FAILURE;
        }
    };
    let Ok(exe) = std::env::current_exe() else {
        return ExitCode::FAILURE;
    };
    println!(
        "one page through the real clients and mapper, in a fresh child process (emulators in the parent); RSS in MB"
    );
    println!(
        "{:>5} {:>10} {:>9} {:>10} {:>9} {:>9} {:>10} {:>8}",
        "page", "RSS ready", "+records", "B/record", "+users", "+send", "RSS after", "VmHWM"
    );
    let mut code = ExitCode::SUCCESS;
    for page_size in ["5000", "500"] {
        let output = std::process::Command::new(&exe)
            .args([
                CHILD,
                page_size,
                &dataverse.web_api_url(),
                &dataverse.token_url(),
                &dataverse.scope(),
                &insider.upsert_url(),
            ])
            .output();
        match output {
            Ok(out) if out.status.success() => {
                print!("{}", String::from_utf8_lossy(&out.stdout));
            }
            Ok(out) => {
                eprintln!(
                    "page size {page_size}: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                code = ExitCode::FAILURE;
            }
            Err(error) => {
                eprintln!("page size {page_size}: cannot run the child: {error}");
                code = ExitCode::FAILURE;
            }
        }
    }
    println!(
        "(+records: RSS growth once the page is fetched and decoded; +users: once mapped; +send: while the upsert bodies are written and sent; target: VmHWM < 32 MB at 5,000)"
    );
    runtime.block_on(dataverse.shutdown());
    code
}

fn child(args: &[String]) -> ExitCode {
    let [page_size, web, token, scope, insider] = args else {
        eprintln!("usage: page_memory --child PAGE_SIZE WEB TOKEN SCOPE INSIDER");
        return ExitCode::from(2);
    };
    let Ok(page_size) = page_size.parse::<u32>() else {
        return ExitCode::from(2);
    };
    let endpoints = Endpoints {
        web: web.clone(),
        token: token.clone(),
        scope: scope.clone(),
        insider: insider.clone(),
    };
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return ExitCode::FAILURE;
    };
    match runtime.block_on(one_page(&endpoints, page_size)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn one_page(endpoints: &Endpoints, page_size: u32) -> anyhow::Result<()> {
    let text = definition(
        &endpoints.web,
        &endpoints.token,
        &endpoints.scope,
        &endpoints.insider,
        page_size,
    );
    let integration = Integration::from_yaml(&text)
        .map_err(|e| anyhow::anyhow!("the bench definition is invalid: {e:?}"))?;
    let secrets = Arc::new(
        MemorySecretStore::new()
            .with("bench/dynamics", CLIENT_SECRET)
            .with("bench/insider", TOKEN),
    );
    let client = DataverseClient::new(&integration.definition().dynamics, secrets)?;
    let insider = InsiderClient::new(
        &integration.definition().insider,
        &Secret::new(TOKEN),
        dynsync_insider::DEFAULT_TIMEOUT,
        0,
    )?;
    let attributes: String = integration
        .definition()
        .source
        .fields
        .iter()
        .map(|f| format!("<attribute name=\"{f}\" />"))
        .collect();
    let query = |after: Option<&str>| {
        let condition = after.map_or(String::new(), |id| {
            format!("<filter><condition attribute=\"contactid\" operator=\"gt\" value=\"{id}\" /></filter>")
        });
        format!(
            "<fetch count=\"{page_size}\"><entity name=\"contact\">{attributes}{condition}<order attribute=\"contactid\" /></entity></fetch>"
        )
    };
    let mut labels = OptionLabels::new();
    labels.insert(
        "gendercode".into(),
        [(1, "Male".into()), (2, "Female".into())].into(),
    );
    let mapper = Mapper::new(&integration, &labels, "contactid");
    let now = Utc::now();
    // Warm up on the first page (the token, connection pools, lazily built statics), then
    // measure the next one.
    let warm = client.fetch("contacts", &query(None), false).await?;
    let last = warm
        .records
        .last()
        .and_then(|r| r.get("contactid"))
        .and_then(|v| v.as_str())
        .map(str::to_owned);
    let users: Vec<_> = warm
        .records
        .iter()
        .filter_map(|record| match mapper.map(record, now).outcome {
            Outcome::User(user) => Some(user),
            _ => None,
        })
        .collect();
    if let Some(range) = batch::split(&users, false).into_iter().next() {
        insider
            .send_batch(users.get(range).unwrap_or_default(), false)
            .await?;
    }
    drop(users);
    drop(warm);

    let ready = rss();
    let page = client
        .fetch("contacts", &query(last.as_deref()), false)
        .await?;
    let fetched = rss();
    let count = page.records.len();
    anyhow::ensure!(
        count == page_size as usize,
        "fetched {count} records, not {page_size}"
    );
    let users: Vec<_> = page
        .records
        .iter()
        .filter_map(|record| match mapper.map(record, now).outcome {
            Outcome::User(user) => Some(user),
            _ => None,
        })
        .collect();
    let mapped = rss();
    let mut upserted = 0u64;
    for range in batch::split(&users, false) {
        let outcome = insider
            .send_batch(users.get(range).unwrap_or_default(), false)
            .await?;
        upserted += outcome.accepted;
    }
    let sent = rss();
    anyhow::ensure!(
        upserted == count as u64,
        "upserted {upserted} of {count} users"
    );
    println!(
        "{page_size:>5} {:>10.1} {:>9.1} {:>10.0} {:>9.1} {:>9.1} {:>10.1} {:>8.1}",
        mb(ready),
        mb(fetched - ready),
        (fetched - ready) as f64 / count as f64,
        mb(mapped - fetched),
        mb(sent - mapped),
        mb(sent),
        mb(status_bytes("VmHWM")),
    );
    drop(users);
    drop(page);
    Ok(())
}
