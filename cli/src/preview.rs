//! `dynsync preview FILE [--limit N] [--json]`: a dry run that sends nothing. It reads the
//! first N records (default 10) the way a run would (fields, filter, list, option-set
//! labels) and prints the Insider users they would become, with the reason for every
//! skipped or failed record and the notes of every mapped one (dropped identifiers, omitted
//! attributes, events not sent). Exit 0 on success, 1 when Dataverse fails, 2 for invalid
//! input.
//!
//! With `fetch_mode: changes` it reads what the next run would: the changes since the
//! token the last successful run left in the state folder (a full read when there is none
//! or it expired, said in a note), and shows each record deleted in Dynamics as what
//! `removals` would do with it: ignored, "would delete profile uuid=<id>", or "would set
//! custom.crm_deleted=true on uuid=<id>".

use std::process::ExitCode;

use chrono::Utc;
use dynsync_domain::definition::{FetchMode, IdentifierType, Removals};
use dynsync_domain::execution::{Partition, SourcePlan};
use dynsync_domain::ports::{ChangesReply, ChangesRequest, PageRequest, SyncState};
use dynsync_domain::{Definition, Integration, Record};
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
    /// Fetch mode `changes`: records deleted in Dynamics, each shown as what `removals`
    /// would do.
    #[serde(skip_serializing_if = "Option::is_none")]
    deleted: Option<usize>,
    /// What the preview read: for `changes`, from which token.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    notes: Vec<String>,
    records: Vec<PreviewRecord>,
}

#[derive(Debug, Serialize)]
struct PreviewRecord {
    record_id: String,
    /// `user`, `skipped`, `failed`, or `deleted` (deleted in Dynamics; `action` says what
    /// `removals` would do).
    outcome: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    action: Option<String>,
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
            action: None,
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
        let limit = args.limit as usize;
        let changes = if integration.definition().source.fetch_mode() == FetchMode::Changes {
            Some(
                read_changes(
                    &ctx,
                    &integration,
                    &source,
                    &plan,
                    &args.common.state,
                    limit,
                )
                .await?,
            )
        } else {
            None
        };
        let records = match &changes {
            Some(read) => read.records.clone(),
            None => read(&ctx, &integration, &source, &plan, limit).await?,
        };
        let mapper = Mapper::new(&ctx.integration, &plan.labels, &plan.primary_id);
        let processing_time = Utc::now();
        let mut mapped: Vec<PreviewRecord> = records
            .iter()
            .map(|record| mapper.map(record, processing_time).into())
            .collect();
        let mut notes = Vec::new();
        let mut deleted = None;
        if let Some(read) = changes {
            notes = read.notes;
            mapped.extend(read.filtered_out.into_iter().map(|id| PreviewRecord {
                record_id: id,
                outcome: "skipped",
                action: None,
                user: None,
                reason: Some("changed, but source.filter no longer selects it".to_owned()),
                events_not_sent: 0,
                notes: Vec::new(),
            }));
            deleted = Some(read.deleted.len());
            let definition = ctx.integration.definition();
            mapped.extend(read.deleted.into_iter().map(|id| PreviewRecord {
                action: Some(removal_action(definition, &id)),
                record_id: id,
                outcome: "deleted",
                user: None,
                reason: None,
                events_not_sent: 0,
                notes: Vec::new(),
            }));
        }
        let count = |outcome: &str| mapped.iter().filter(|r| r.outcome == outcome).count();
        let preview = Preview {
            records_read: mapped.iter().filter(|r| r.outcome != "deleted").count(),
            users: count("user"),
            skipped: count("skipped"),
            failed: count("failed"),
            events_not_sent: mapped.iter().map(|r| r.events_not_sent).sum(),
            deleted,
            notes,
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

/// What a change-tracking preview read: the changed records the filter selects, the ids of
/// those it no longer selects, the deleted ids, and where the read started.
struct ChangeRead {
    records: Vec<Record>,
    filtered_out: Vec<String>,
    deleted: Vec<String>,
    notes: Vec<String>,
}

/// The token the last successful run left in the state folder (none without a state).
pub(crate) async fn stored_token(
    state_dir: &std::path::Path,
    id: &str,
) -> Result<Option<String>, Failure> {
    if !state_dir.join(dynsync_local::STATE_FILE).exists() {
        return Ok(None);
    }
    let state = dynsync_local::SqliteStateStore::open(state_dir).map_err(|e| {
        Failure::Remote(format!(
            "cannot open the local state in {}: {e}",
            state_dir.display()
        ))
    })?;
    state
        .sync_token(id)
        .await
        .map_err(|e| Failure::Remote(format!("cannot read the change-tracking token: {e}")))
}

/// Up to `limit` entries (changed records and deletions) of what the next run would read.
async fn read_changes(
    ctx: &Context,
    integration: &Integration,
    source: &DataverseSource,
    plan: &SourcePlan,
    state_dir: &std::path::Path,
    limit: usize,
) -> Result<ChangeRead, Failure> {
    let token = stored_token(state_dir, integration.id()).await?;
    let mut read = ChangeRead {
        records: Vec::new(),
        filtered_out: Vec::new(),
        deleted: Vec::new(),
        notes: vec![match &token {
            Some(_) => "fetch_mode changes: what changed since the last successful run".to_owned(),
            None => format!(
                "fetch_mode changes: no change-tracking token in {}, so the next run is a full read; records deleted in Dynamics are seen from the run after it",
                state_dir.display()
            ),
        }],
    };
    let mut link = token;
    let mut taken = 0;
    loop {
        let request = ChangesRequest {
            integration,
            plan,
            link: link.as_deref(),
        };
        let page = match source
            .fetch_changes_typed(request)
            .await
            .map_err(|e| ctx.fail(&e))?
        {
            ChangesReply::Page(page) => page,
            ChangesReply::TokenExpired(_) if link.is_some() => {
                read.notes.push("the change-tracking token has expired (older than the organization keeps changes): the next run reads every record again, and records deleted since the last successful run cannot be seen".to_owned());
                link = None;
                continue;
            }
            ChangesReply::TokenExpired(message) => {
                return Err(Failure::Remote(format!(
                    "Dataverse refused a full change-tracking read: {message}"
                )));
            }
        };
        for record in page.records {
            if taken < limit {
                read.records.push(record);
                taken += 1;
            }
        }
        for (list, ids) in [
            (&mut read.filtered_out, page.filtered_out),
            (&mut read.deleted, page.deleted),
        ] {
            for id in ids {
                if taken < limit {
                    list.push(id);
                    taken += 1;
                }
            }
        }
        match page.next_link {
            Some(next) if taken < limit && Some(&next) != link.as_ref() => link = Some(next),
            _ => break,
        }
    }
    Ok(read)
}

/// What `removals` would do with the Insider profile of the record `id` deleted in
/// Dynamics.
fn removal_action(definition: &Definition, id: &str) -> String {
    let removals = definition.removals();
    if removals.is_ignore() {
        return "ignored (removals: ignore): the Insider profile stays".to_owned();
    }
    let Some(identifier) = definition.removal_identifier() else {
        return "cannot be applied: removals needs an identifier taken from the primary id"
            .to_owned();
    };
    let who = match (identifier.kind, &identifier.name) {
        (IdentifierType::Custom, Some(name)) => format!("custom.{name}={id}"),
        _ => format!("uuid={id}"),
    };
    match removals {
        Removals::SetAttribute { attribute, value } => {
            format!("would set {attribute}={value} on {who}")
        }
        _ => format!("would delete profile {who}"),
    }
}

fn print_text(preview: &Preview) -> Result<(), Failure> {
    for note in &preview.notes {
        println!("note: {note}");
    }
    for record in &preview.records {
        if let Some(action) = &record.action {
            println!("record {}: deleted in Dynamics: {action}", record.record_id);
            continue;
        }
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
    if let Some(deleted) = preview.deleted {
        println!("{deleted} record(s) deleted in Dynamics (shown with what removals would do).");
    }
    Ok(())
}
