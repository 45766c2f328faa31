//! `dynsync entities FILE`, `dynsync fields FILE [ENTITY]` and `dynsync lists FILE`: the
//! guide's dropdowns (entities, their fields with types and option-set labels, marketing
//! lists) read from the organization the definition points at.

use std::collections::BTreeMap;
use std::process::ExitCode;

use dynsync_domain::definition::{FetchMode, Method};
use dynsync_dynamics::{DataverseClient, DataverseSource, DynamicsError};
use serde::Serialize;

use crate::context::{CommonArgs, Context, Failure, block_on, finish, print_json, print_table};

/// List the organization's entities (tables).
#[derive(Debug, clap::Args)]
pub struct EntitiesArgs {
    #[command(flatten)]
    pub common: CommonArgs,
}

/// List an entity's fields with their types and option-set labels.
#[derive(Debug, clap::Args)]
pub struct FieldsArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Entity logical name; default: the definition's entity (or its list's member type).
    #[arg(value_name = "ENTITY")]
    pub entity: Option<String>,
}

/// List the organization's active marketing lists.
#[derive(Debug, clap::Args)]
pub struct ListsArgs {
    #[command(flatten)]
    pub common: CommonArgs,
}

pub fn entities(args: &EntitiesArgs) -> ExitCode {
    listing(
        &args.common,
        async |client| client.entities().await,
        &[
            "Logical name",
            "Display name",
            "Entity set",
            "Primary id",
            "Kind",
        ],
        |e| {
            vec![
                e.logical_name.clone(),
                e.display_name.clone(),
                e.entity_set.clone(),
                e.primary_id.clone(),
                if e.custom { "custom" } else { "system" }.to_owned(),
            ]
        },
    )
}

#[derive(Debug, Serialize)]
struct Field {
    logical_name: String,
    attribute_type: String,
    display_name: String,
    /// Option value -> label, for choice, state, status, boolean and multi-select fields.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    options: BTreeMap<i64, String>,
}

#[derive(Debug, Serialize)]
struct Fields {
    entity: String,
    fields: Vec<Field>,
}

pub fn fields(args: &FieldsArgs) -> ExitCode {
    finish(block_on(async {
        let ctx = Context::load(&args.common)?;
        let entity = match &args.entity {
            Some(entity) => entity.clone(),
            None => default_entity(&ctx).await?,
        };
        let attributes = ctx
            .client
            .attributes(&entity)
            .await
            .map_err(|e| ctx.fail(&e))?;
        let mut labels = ctx
            .client
            .option_labels(&entity, &[])
            .await
            .map_err(|e| ctx.fail(&e))?;
        // fetch_mode changes needs the table's "Track changes": listed, then refused.
        let definition = ctx.integration.definition();
        let tracking = if definition.method == Method::Entity
            && definition.source.fetch_mode() == FetchMode::Changes
            && definition.source.entity.as_deref() == Some(entity.as_str())
        {
            DataverseSource::new(ctx.client.clone())
                .require_change_tracking(&entity)
                .await
                .map_err(|e| ctx.fail(&e))
        } else {
            Ok(())
        };
        let fields: Vec<Field> = attributes
            .into_iter()
            .map(|a| Field {
                options: labels.remove(&a.logical_name).unwrap_or_default(),
                logical_name: a.logical_name,
                attribute_type: a.attribute_type,
                display_name: a.display_name,
            })
            .collect();
        if args.common.json {
            print_json(&Fields { entity, fields })?;
            return tracking;
        }
        let rows = fields
            .iter()
            .map(|f| {
                let options: Vec<String> =
                    f.options.iter().map(|(v, l)| format!("{v}={l}")).collect();
                vec![
                    f.logical_name.clone(),
                    f.attribute_type.clone(),
                    f.display_name.clone(),
                    options.join(", "),
                ]
            })
            .collect();
        println!("Fields of {entity}:");
        print_table(
            &[
                "Logical name",
                "Type",
                "Display name",
                "Options (code=label)",
            ],
            rows,
        );
        tracking
    }))
}

/// The definition's entity, or the member type of its marketing list.
async fn default_entity(ctx: &Context) -> Result<String, Failure> {
    let source = &ctx.integration.definition().source;
    match ctx.integration.definition().method {
        Method::Entity => source.entity.clone().ok_or_else(|| {
            Failure::Input("the definition names no source.entity: give ENTITY".to_owned())
        }),
        Method::MarketingList => {
            let name = source.list.as_deref().ok_or_else(|| {
                Failure::Input("the definition names no source.list: give ENTITY".to_owned())
            })?;
            let list = ctx
                .client
                .resolve_list(name)
                .await
                .map_err(|e| ctx.fail(&e))?;
            Ok(list.member_type)
        }
    }
}

pub fn lists(args: &ListsArgs) -> ExitCode {
    listing(
        &args.common,
        async |client| client.lists().await,
        &["Name", "Id", "Type", "Members", "Count"],
        |l| {
            vec![
                l.name.clone(),
                l.id.clone(),
                if l.dynamic { "dynamic" } else { "static" }.to_owned(),
                l.member_type.clone(),
                l.member_count.map(|c| c.to_string()).unwrap_or_default(),
            ]
        },
    )
}

/// `entities` and `lists`: one read of the organization, printed as JSON (`--json`) or as
/// a table of `header` with one `row` per item.
fn listing<T: Serialize>(
    common: &CommonArgs,
    read: impl AsyncFnOnce(&DataverseClient) -> Result<Vec<T>, DynamicsError>,
    header: &[&str],
    row: impl Fn(&T) -> Vec<String>,
) -> ExitCode {
    finish(block_on(async {
        let ctx = Context::load(common)?;
        let items = read(&ctx.client).await.map_err(|e| ctx.fail(&e))?;
        if common.json {
            return print_json(&items);
        }
        print_table(header, items.iter().map(row).collect());
        Ok(())
    }))
}
