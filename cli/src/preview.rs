//! `dynsync preview FILE [--limit N] [--json]`: a dry run that sends nothing. It reads the
//! first N records (default 10) the way a run would (fields, filter, list, option-set
//! labels) and prints the Insider users they would become, with the reason for every
//! skipped or failed record and the notes of every mapped one (dropped identifiers, omitted
//! attributes, events not sent). Exit 0 on success, 1 when Dataverse fails, 2 for invalid
//! input.

use std::process::ExitCode;

use chrono::Utc;
use dynsync_domain::execution::{Partition, SourcePlan};
use dynsync_domain::ports::PageRequest;
use dynsync_domain::{Integration, Record};
use dynsync_dynamics::DataverseSource;
use dynsync_mapping::{MappedRecord, Mapper, Outcome};
use serde::Serialize;
use serde_json::Value;

use crate::context::{CommonArgs, Context, Failure, block_on, finish, print_json};

/// Show the Insider users the first records would become, without sending anything.
#[derive(Debug, clap::Args)]
pub struct PreviewArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// How many records to read (the first ones in primary-id order).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=5000))]
    pub limit: u32,
}

#[derive(Debug, Serialize)]
struct Preview {
    records_read: usize,
    users: usize,
    skipped: usize,
    failed: usize,
    events_not_sent: u32,
    records: Vec<PreviewRecord>,
}

#[derive(Debug, Serialize)]
struct PreviewRecord {
    record_id: String,
    /// `user`, `skipped` or `failed`.
    outcome: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    events_not_sent: u32,
    notes: Vec<String>,
}

impl From<MappedRecord> for PreviewRecord {
    fn from(mapped: MappedRecord) -> Self {
        let (outcome, user, reason) = match mapped.outcome {
            Outcome::User(user) => ("user", serde_json::to_value(user).ok(), None),
            Outcome::Skipped { reason } => ("skipped", None, Some(reason)),
            Outcome::Failed { reason } => ("failed", None, Some(reason)),
        };
        Self {
            record_id: mapped.record_id,
            outcome,
            user,
            reason,
            events_not_sent: mapped.events_not_sent,
            notes: mapped.notes,
        }
    }
}

pub fn run(args: &PreviewArgs) -> ExitCode {
    finish(block_on(async {
        let ctx = Context::load(&args.common)?;
        let source = DataverseSource::new(ctx.client.clone());
        let plan = source
            .plan_typed(&ctx.integration)
            .await
            .map_err(|e| ctx.fail(&e))?;
        // Ask Dataverse for no more than the preview shows.
        let mut definition = ctx.integration.definition().clone();
        definition.dynamics.page_size = definition.dynamics.page_size.min(args.limit);
        let integration = Integration::new(definition).map_err(|problems| {
            Failure::Input(format!("the definition is invalid: {problems:?}"))
        })?;
        let records = read(&ctx, &integration, &source, &plan, args.limit as usize).await?;
        let mapper = Mapper::new(&ctx.integration, &plan.labels, &plan.primary_id);
        let processing_time = Utc::now();
        let mapped: Vec<PreviewRecord> = records
            .iter()
            .map(|record| mapper.map(record, processing_time).into())
            .collect();
        let count = |outcome: &str| mapped.iter().filter(|r| r.outcome == outcome).count();
        let preview = Preview {
            records_read: mapped.len(),
            users: count("user"),
            skipped: count("skipped"),
            failed: count("failed"),
            events_not_sent: mapped.iter().map(|r| r.events_not_sent).sum(),
            records: mapped,
        };
        if args.common.json {
            print_json(&preview)
        } else {
            print_text(&preview)
        }
    }))
}

/// The first `limit` records in primary-id order, across pages when needed.
async fn read(
    ctx: &Context,
    integration: &Integration,
    source: &DataverseSource,
    plan: &SourcePlan,
    limit: usize,
) -> Result<Vec<Record>, Failure> {
    let partition = Partition {
        index: 0,
        after: None,
        until: None,
    };
    let mut records = Vec::new();
    let mut cursor: Option<String> = None;
    while records.len() < limit {
        let page = source
            .fetch_page_typed(PageRequest {
                integration,
                plan,
                window: None,
                partition: &partition,
                cursor: cursor.as_deref(),
            })
            .await
            .map_err(|e| ctx.fail(&e))?;
        let wanted = limit - records.len();
        records.extend(page.records.into_iter().take(wanted));
        match page.next_cursor {
            Some(next) if Some(&next) != cursor.as_ref() => cursor = Some(next),
            _ => break,
        }
    }
    Ok(records)
}

fn print_text(preview: &Preview) -> Result<(), Failure> {
    for record in &preview.records {
        match (&record.user, &record.reason) {
            (Some(user), _) => {
                let text = serde_json::to_string_pretty(user)
                    .map_err(|e| Failure::Remote(format!("cannot encode a user: {e}")))?;
                println!("record {}: would upsert\n{text}", record.record_id);
            }
            (None, Some(reason)) => {
                println!("record {}: {}: {reason}", record.record_id, record.outcome);
            }
            (None, None) => println!("record {}: {}", record.record_id, record.outcome),
        }
        for note in &record.notes {
            println!("  note: {note}");
        }
    }
    println!(
        "{} record(s) read: {} user(s) would be upserted, {} skipped, {} failed, {} event(s) not sent. Nothing was sent.",
        preview.records_read,
        preview.users,
        preview.skipped,
        preview.failed,
        preview.events_not_sent
    );
    Ok(())
}
