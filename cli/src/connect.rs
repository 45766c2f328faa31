//! `dynsync connect FILE`: checks, in order, that the definition's credentials get a token,
//! that Dataverse accepts it (WhoAmI), that the entity or marketing list resolves, and that
//! its records can be read with the definition's fields and filter. Stops at the first
//! failure and says exactly what is wrong. Exit 0 when every check passes, 1 when a remote
//! check fails, 2 for invalid input.

use std::process::ExitCode;

use dynsync_domain::execution::SourcePlan;
use dynsync_domain::ports::SecretStore;
use dynsync_dynamics::{DataverseSource, DynamicsError};
use dynsync_fetchxml::PageQuery;
use dynsync_insider::InsiderClient;
use serde::Serialize;

use crate::context::{CommonArgs, Context, Failure, block_on, finish, print_json, print_table};

/// Check the Dataverse (and Insider) credentials and access of a definition.
#[derive(Debug, clap::Args)]
pub struct ConnectArgs {
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: String,
    pub ok: bool,
    pub detail: String,
}

#[derive(Debug, Serialize)]
struct Report {
    ok: bool,
    checks: Vec<Check>,
}

pub fn run(args: &ConnectArgs) -> ExitCode {
    finish(block_on(async {
        let ctx = Context::load(&args.common)?;
        let (mut checks, failure) = match check_dataverse(&ctx).await {
            Ok(checks) => (checks, None),
            Err((checks, failure)) => (checks, Some(failure)),
        };
        if failure.is_none() {
            checks.extend(check_insider(&ctx).await);
        }
        let ok = failure.is_none() && checks.iter().all(|c| c.ok);
        let failed_check = checks
            .iter()
            .find(|c| !c.ok)
            .map(|c| format!("{}: {}", c.name, c.detail));
        if args.common.json {
            print_json(&Report { ok, checks })?;
        } else {
            let rows = checks
                .iter()
                .map(|c| {
                    vec![
                        c.name.clone(),
                        if c.ok { "ok" } else { "FAILED" }.to_owned(),
                        c.detail.clone(),
                    ]
                })
                .collect();
            print_table(&["Check", "Result", "Detail"], rows);
        }
        match failure {
            Some(failure) => Err(failure),
            None => match failed_check {
                Some(message) => Err(Failure::Remote(message)),
                None => Ok(()),
            },
        }
    }))
}

type Partial = (Vec<Check>, Failure);

/// The Dataverse checks; on a failure, the checks so far (the failed one last) and why.
async fn check_dataverse(ctx: &Context) -> Result<Vec<Check>, Partial> {
    let mut checks = Vec::new();
    let auth = &ctx.integration.definition().dynamics.auth;
    let method = serde_json::to_value(auth.method)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    step(
        ctx,
        &mut checks,
        "Dataverse token",
        ctx.client.tokens().access_token().await,
        |_| format!("{method} token for client {}", auth.client_id),
    )?;
    step(
        ctx,
        &mut checks,
        "Dataverse WhoAmI",
        ctx.client.who_am_i().await,
        |w| {
            format!(
                "signed in as user {} (organization {})",
                w.user_id, w.organization_id
            )
        },
    )?;
    let source = DataverseSource::new(ctx.client.clone());
    let plan = step(
        ctx,
        &mut checks,
        "Source",
        source.plan_typed(&ctx.integration).await,
        describe_plan,
    )?;
    let read = read_one(ctx, &plan).await;
    step(ctx, &mut checks, "Read access", read, |n| {
        format!("fields and filter accepted; {n} record(s) in the first page of 1")
    })?;
    Ok(checks)
}

/// Records one check's outcome; an error ends the checks.
fn step<T>(
    ctx: &Context,
    checks: &mut Vec<Check>,
    name: &str,
    outcome: Result<T, DynamicsError>,
    detail: impl FnOnce(&T) -> String,
) -> Result<T, Partial> {
    match outcome {
        Ok(value) => {
            checks.push(Check {
                name: name.to_owned(),
                ok: true,
                detail: detail(&value),
            });
            Ok(value)
        }
        Err(error) => {
            let failure = ctx.fail(&error);
            let message = match &failure {
                Failure::Input(m) | Failure::Remote(m) => m.clone(),
            };
            checks.push(Check {
                name: name.to_owned(),
                ok: false,
                detail: message,
            });
            Err((std::mem::take(checks), failure))
        }
    }
}

fn describe_plan(plan: &SourcePlan) -> String {
    match &plan.list {
        Some(list) => format!(
            "marketing list '{}' ({}, {} members, id {})",
            list.name,
            if list.dynamic { "dynamic" } else { "static" },
            plan.entity,
            list.id
        ),
        None => format!(
            "entity {} (set {}, primary id {})",
            plan.entity, plan.entity_set, plan.primary_id
        ),
    }
}

/// Reads one record the way a run would (fields, filter, list), proving read access.
async fn read_one(ctx: &Context, plan: &SourcePlan) -> Result<usize, DynamicsError> {
    let definition = ctx.integration.definition();
    let fetchxml = PageQuery {
        entity: &plan.entity,
        primary_id: &plan.primary_id,
        fields: &definition.source.fields,
        page_size: 1,
        filter: ctx.integration.filter().map(|f| f.xml()),
        fetch_mode: definition.source.fetch_mode(),
        window: None,
        list: plan.list.as_ref(),
        partition: None,
        cursor: None,
    }
    .to_fetchxml()?;
    let page = ctx.client.fetch(&plan.entity_set, &fetchxml, false).await?;
    Ok(page.records.len())
}

/// Insider's half of `connect`: reads the token secret and proves the partner/token pair
/// with [`InsiderClient::check_credentials`], a request that cannot write data.
async fn check_insider(ctx: &Context) -> Vec<Check> {
    let insider = &ctx.integration.definition().insider;
    let check = |ok: bool, detail: String| {
        vec![Check {
            name: "Insider credentials".to_owned(),
            ok,
            detail,
        }]
    };
    let token = match ctx.secrets.get(&insider.token.secret).await {
        Ok(token) => token,
        Err(error) => return check(false, format!("cannot read insider.token: {error}")),
    };
    let client = match InsiderClient::for_integration(&ctx.integration, &token) {
        Ok(client) => client,
        Err(error) => return check(false, error.to_string()),
    };
    match client.check_credentials().await {
        Ok(()) => check(
            true,
            format!(
                "partner '{}' and token accepted by {}",
                insider.partner, insider.api_url
            ),
        ),
        Err(error) => check(false, error.to_string()),
    }
}
