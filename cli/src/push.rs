//! `dynsync push FILE --aws`: validates a definition and stores it in a deployed stack's
//! state table, where the dispatcher's schedule and manual runs read it. An invalid file
//! stores nothing and exits 2 with `validate`'s problem lines. Also says when the schedule
//! fires next (UTC), which `resume` reuses: a definition's first dispatcher tick only
//! records its latest slot (the guide's "First sync: runs at the next scheduled time"), and
//! a slot missed while paused runs once at the next tick.

use std::path::PathBuf;
use std::process::ExitCode;

use chrono::{DateTime, Utc};
use dynsync_domain::{Definition, Integration, Schedule};

use crate::aws::{AwsArgs, AwsStack};
use crate::context::{self, Failure};

/// On a deployed stack (--aws): validate a definition and store it in the state table.
#[derive(Debug, clap::Args)]
#[command(
    long_about = "Validate an integration definition and store it in a deployed stack's state table (replacing the stored one with the same id).\n\nThe dispatcher reads stored definitions on every tick and runs each enabled one on its cron (UTC); the file's `enabled: false` stores it paused. An invalid file stores nothing: its problems are printed as `dynsync validate` prints them and the exit status is 2.\nSecrets are not pushed: create them in Secrets Manager under the names the definition gives (README, \"Deploying to AWS\")."
)]
pub struct PushArgs {
    /// The integration definition (YAML).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    #[command(flatten)]
    pub aws: AwsArgs,
}

pub fn run(args: &PushArgs) -> ExitCode {
    context::finish(context::block_on(push(args)))
}

async fn push(args: &PushArgs) -> Result<(), Failure> {
    crate::aws::require("push", &args.aws)?;
    let integration = load(&args.file)?;
    let stack = AwsStack::connect("push", &args.aws, None).await?;
    let definition = integration.definition();
    let state = stack.state();
    let before = state
        .get_definition(&definition.id)
        .await
        .map_err(|e| stack.failed("read the stored definition", e))?;
    state
        .put_definition(definition)
        .await
        .map_err(|e| stack.failed("store the definition", e))?;
    let last_slot = state
        .last_slot(&definition.id)
        .await
        .map_err(|e| stack.failed("read the last schedule slot", e))?;
    let verb = if before.is_some() {
        "replaced"
    } else {
        "stored"
    };
    println!(
        "{verb} '{}' ({}) in {}",
        definition.id,
        definition.name.as_deref().unwrap_or(&definition.id),
        stack.table()
    );
    if before.is_some_and(|b| !b.enabled) && definition.enabled {
        println!("note: it was paused; this file's `enabled: true` resumes it");
    }
    println!(
        "schedule '{}' (UTC): {}",
        definition.schedule,
        next_run(definition, last_slot, Utc::now())
    );
    Ok(())
}

/// Reads and validates a definition file; problems become `validate`'s lines (exit 2).
pub fn load(file: &std::path::Path) -> Result<Integration, Failure> {
    let shown = file.display();
    let text = std::fs::read_to_string(file)
        .map_err(|e| Failure::Input(format!("{shown}: (file): cannot read the file: {e}")))?;
    Integration::from_yaml(&text).map_err(|problems| {
        Failure::Input(format!(
            "the definition is invalid; nothing was stored:\n{}",
            crate::context::problem_lines(&shown, &problems).join("\n")
        ))
    })
}

/// When the dispatcher will next start a scheduled execution, in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NextRun {
    /// `enabled: false`: ticks skip it.
    Paused,
    /// A slot passed since the last one that fired: the next tick runs it once.
    NextTick {
        missed: DateTime<Utc>,
    },
    At(DateTime<Utc>),
    /// The expression has no future slot.
    Never,
    /// The expression cannot be read (validation normally catches this).
    Unreadable(String),
}

impl std::fmt::Display for NextRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let time = |t: &DateTime<Utc>| t.format("%Y-%m-%d %H:%M UTC").to_string();
        match self {
            NextRun::Paused => write!(
                f,
                "paused, the schedule skips it (`dynsync resume ID --aws` resumes it)"
            ),
            NextRun::NextTick { missed } => write!(
                f,
                "the slot of {} was missed; the next dispatcher tick runs it once",
                time(missed)
            ),
            NextRun::At(at) => write!(f, "next run {}", time(at)),
            NextRun::Never => write!(f, "it has no future slot, so it never runs by schedule"),
            NextRun::Unreadable(error) => write!(f, "{error}"),
        }
    }
}

/// The next scheduled run of `definition` given the last slot that fired, at `now`.
pub fn next_run(
    definition: &Definition,
    last_slot: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> NextRun {
    if !definition.enabled {
        return NextRun::Paused;
    }
    let schedule = match Schedule::parse(&definition.schedule) {
        Ok(schedule) => schedule,
        Err(error) => return NextRun::Unreadable(format!("schedule {error}")),
    };
    if let (Some(last), Some(latest)) = (
        last_slot,
        schedule.latest_due(DateTime::<Utc>::MIN_UTC, now),
    ) && latest > last
    {
        return NextRun::NextTick { missed: latest };
    }
    schedule.next_after(now).map_or(NextRun::Never, NextRun::At)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn definition(schedule: &str, enabled: bool) -> Definition {
        let yaml = format!(
            "id: d
enabled: {enabled}
schedule: \"{schedule}\"
method: entity
dynamics:
  web_api_url: https://contoso.crm4.dynamics.com/api/data/v9.2
  auth:
    method: client_credentials
    token_url: https://login.microsoftonline.com/t/oauth2/v2.0/token
    scopes: [\"https://contoso.crm4.dynamics.com/.default\"]
    client_id: c
    client_secret: {{ secret: dynsync/d/dynamics }}
source: {{ entity: contact, fields: [contactid, emailaddress1] }}
identifiers: [{{ type: email, field: emailaddress1 }}]
insider: {{ partner: acme, token: {{ secret: dynsync/d/insider }} }}
"
        );
        Integration::from_yaml(&yaml).unwrap().definition().clone()
    }

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    #[test]
    fn a_new_definition_runs_at_the_next_slot_after_now() {
        let next = next_run(
            &definition("0 * * * *", true),
            None,
            at("2026-11-27T10:20:00Z"),
        );
        assert_eq!(next, NextRun::At(at("2026-11-27T11:00:00Z")));
        assert_eq!(next.to_string(), "next run 2026-11-27 11:00 UTC");
    }

    #[test]
    fn a_slot_missed_since_the_last_fired_one_runs_at_the_next_tick() {
        let next = next_run(
            &definition("0 * * * *", true),
            Some(at("2026-11-27T08:00:00Z")),
            at("2026-11-27T10:20:00Z"),
        );
        assert_eq!(
            next,
            NextRun::NextTick {
                missed: at("2026-11-27T10:00:00Z")
            }
        );
    }

    #[test]
    fn a_slot_already_fired_waits_for_the_next_one() {
        let next = next_run(
            &definition("*/15 * * * *", true),
            Some(at("2026-11-27T10:15:00Z")),
            at("2026-11-27T10:20:00Z"),
        );
        assert_eq!(next, NextRun::At(at("2026-11-27T10:30:00Z")));
    }

    #[test]
    fn a_paused_definition_has_no_next_run() {
        let next = next_run(
            &definition("0 * * * *", false),
            None,
            at("2026-11-27T10:20:00Z"),
        );
        assert_eq!(next, NextRun::Paused);
    }
}
