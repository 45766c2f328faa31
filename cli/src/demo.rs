//! `dynsync demo`: the whole product on one machine in well under a minute. It starts the
//! Dataverse + Entra and Insider emulators in this process, writes a sample definition
//! (contacts with three identifiers, option-set labels, an inverted boolean, a fixed value
//! and an event), runs it with the local engine and SQLite state exactly as `dynsync run`
//! does, changes a few records in "Dynamics", runs again incrementally, and says what
//! happened and where to look.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use dynsync_domain::execution::Execution;
use dynsync_domain::ports::{Secret, SecretStore};
use dynsync_emulators::dataverse::{self, DataverseEmulator, Record, Seed};
use dynsync_emulators::insider::{self, InsiderConfig, InsiderEmulator};
use dynsync_local::LocalSecretStore;

use crate::context::{self, CommonArgs, Failure};
use crate::run::{self, RunArgs};

const DEFINITION_FILE: &str = "demo-contacts.yaml";
const DYNAMICS_SECRET: &str = "demo/dynamics";
const INSIDER_SECRET: &str = "demo/insider";

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Folder for the demo's definition, secrets and state (emptied first).
    #[arg(long, value_name = "DIR", default_value = ".dynsync-demo")]
    pub state: PathBuf,
    /// Keep both emulators running after the demo (until Ctrl-C), to explore them with
    /// `dynsync entities/fields/lists/preview/run` and their inspection URLs.
    #[arg(long)]
    pub serve: bool,
}

pub fn run(args: &DemoArgs) -> ExitCode {
    context::finish(context::block_on(demo(args)))
}

async fn demo(args: &DemoArgs) -> Result<(), Failure> {
    prepare_folder(&args.state)?;
    let dynamics = DataverseEmulator::start(Seed::demo())
        .await
        .map_err(|e| Failure::Remote(format!("cannot start the Dataverse emulator: {e}")))?;
    let insider = InsiderEmulator::start(InsiderConfig::default())
        .await
        .map_err(|e| Failure::Remote(format!("cannot start the Insider emulator: {e}")))?;
    println!("dynsync demo");
    println!("  Dataverse emulator  {}", dynamics.web_api_url());
    println!("  Insider emulator    {}", insider.upsert_url());

    let file = args.state.join(DEFINITION_FILE);
    std::fs::write(&file, definition(&dynamics, &insider))
        .map_err(|e| Failure::Input(format!("cannot write {}: {e}", file.display())))?;
    let secrets = LocalSecretStore::new(&args.state);
    for (name, value) in [
        (DYNAMICS_SECRET, dataverse::CLIENT_SECRET),
        (INSIDER_SECRET, insider::TOKEN),
    ] {
        secrets
            .put(name, &Secret::new(value))
            .await
            .map_err(|e| Failure::Remote(e.to_string()))?;
    }
    println!("  definition          {}", file.display());
    println!("  state and secrets   {}", args.state.display());

    let run_args = RunArgs {
        common: CommonArgs {
            file: file.clone(),
            state: args.state.clone(),
            json: false,
        },
        concurrency: 4,
        dry_run: None,
        // The demo changes records seconds after the first run; a production run keeps
        // the default lag for late-committing transactions.
        safety_lag: 0,
    };

    println!("\n1. First run: every contact (fetch mode new_and_updated, no watermark yet)");
    let first = run::execute(&run_args).await?;
    print_run(&first);
    println!(
        "   Insider now holds {} profiles and {} events.",
        insider.profiles().len(),
        insider.events().len()
    );

    // Changes land strictly after the first window's end (timestamps have whole seconds).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (updated, created) = change_records(&dynamics)?;
    println!("\n2. In Dynamics: {updated} contacts edited, {created} contacts created");

    // And the second run's window ends after them.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let events_before = insider.events().len();
    println!("\n3. Second run: only what changed since the first run's window");
    let second = run::execute(&run_args).await?;
    print_run(&second);
    println!(
        "   Insider now holds {} profiles and {} events ({} new events: one per changed contact, none resent).",
        insider.profiles().len(),
        insider.events().len(),
        insider.events().len().saturating_sub(events_before)
    );

    let state = args.state.display();
    println!("\nWhere to look:");
    println!("  dynsync executions --state {state}");
    println!("  dynsync executions show {} --state {state}", second.id);
    println!("  dynsync validate {}", file.display());
    println!("  the definition: {}", file.display());
    if args.serve {
        println!("\nEmulators keep running (Ctrl-C to stop):");
        println!("  dynsync run {} --state {state}", file.display());
        println!(
            "  curl {}/_emulator/profiles   curl {}/_emulator/events",
            insider.base_url(),
            insider.base_url()
        );
        tokio::signal::ctrl_c()
            .await
            .map_err(|e| Failure::Remote(format!("cannot wait for Ctrl-C: {e}")))?;
    }
    dynamics.shutdown().await;
    Ok(())
}

/// Empties the demo's state (a previous demo's emulators are gone, so is its data).
fn prepare_folder(dir: &Path) -> Result<(), Failure> {
    std::fs::create_dir_all(dir)
        .map_err(|e| Failure::Input(format!("cannot create {}: {e}", dir.display())))?;
    for name in [
        dynsync_local::STATE_FILE.to_owned(),
        format!("{}-wal", dynsync_local::STATE_FILE),
        format!("{}-shm", dynsync_local::STATE_FILE),
        "secrets.json".to_owned(),
        DEFINITION_FILE.to_owned(),
    ] {
        let path = dir.join(&name);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(Failure::Input(format!(
                    "cannot reset {}: {e}",
                    path.display()
                )));
            }
        }
    }
    Ok(())
}

/// The sample integration, pointing at the emulators.
fn definition(dynamics: &DataverseEmulator, insider: &InsiderEmulator) -> String {
    format!(
        r#"# dynsync demo: contacts from the Dataverse emulator to the Insider emulator.
id: demo-contacts
name: Demo contacts
method: entity
schedule: "0 * * * *"
dynamics:
  web_api_url: {web_api}
  auth:
    method: client_credentials
    token_url: {token_url}
    scopes: ["{scope}"]
    client_id: {client_id}
    client_secret: {{ secret: {dynamics_secret} }}
  page_size: 50
source:
  entity: contact
  fetch_mode: new_and_updated
  fields: [contactid, emailaddress1, mobilephone, firstname, lastname, gendercode, donotbulkemail, birthdate]
  filter: <condition attribute='statecode' operator='eq' value='0' />
identifiers:
  - {{ type: email, field: emailaddress1 }}
  - {{ type: phone_number, field: mobilephone }}
  - {{ type: uuid, field: contactid }}
invalid_identifier: skip_identifier
phone:
  international_format: true
  country_code: "90"
attributes:
  - {{ key: name, field: firstname }}
  - {{ key: surname, field: lastname }}
  - {{ key: birthday, field: birthdate }}
  - {{ key: gender, field: gendercode, code_to_label: true }}
  - {{ key: email_optin, field: donotbulkemail, invert_boolean: true }}
fixed_attributes:
  - {{ key: custom.data_source, value: dynamics }}
events:
  name: {{ fixed: crm_contact_synced }}
  timestamp: processing_time
  fixed_params:
    - {{ key: custom.channel, value: crm }}
insider:
  api_url: {upsert_url}
  partner: {partner}
  token: {{ secret: {insider_secret} }}
  unknown_code: skip_attribute
"#,
        web_api = dynamics.web_api_url(),
        token_url = dynamics.token_url(),
        scope = dynamics.scope(),
        client_id = dataverse::CLIENT_ID,
        dynamics_secret = DYNAMICS_SECRET,
        upsert_url = insider.upsert_url(),
        partner = insider::PARTNER,
        insider_secret = INSIDER_SECRET,
    )
}

/// Edits five contacts and creates three, as a CRM user would between two syncs.
fn change_records(dynamics: &DataverseEmulator) -> Result<(usize, usize), Failure> {
    let store = dynamics.store();
    let fail = |e: dataverse::StoreError| Failure::Remote(format!("demo data: {e}"));
    // Active contacts only: the definition's record filter leaves inactive ones out.
    let active = |id: &uuid::Uuid| {
        store
            .get("contact", *id)
            .is_some_and(|record| record.0.get("statecode") == Some(&dataverse::FieldValue::Int(0)))
    };
    let ids = store.ids("contact");
    let edited: Vec<_> = ids
        .iter()
        .filter(|id| active(id))
        .step_by(40)
        .take(5)
        .collect();
    for (n, id) in edited.iter().enumerate() {
        let changes = Record::new().with("lastname", format!("Edited{n}"));
        store.update("contact", **id, changes).map_err(fail)?;
    }
    let created = 3;
    for n in 0..created {
        let record = Record::new()
            .with("firstname", "New")
            .with("lastname", format!("Contact{n}"))
            .with("emailaddress1", format!("new.contact{n}@example.com"))
            .with("mobilephone", format!("0532 000 00 0{n}"))
            .with("statecode", 0);
        store.insert("contact", record).map_err(fail)?;
    }
    Ok((edited.len(), created))
}

fn print_run(execution: &Execution) {
    let c = &execution.counters;
    println!(
        "   {}: read {}, upserted {}, skipped {} (no valid identifier), failed {}, events sent {}, pages {}",
        crate::report::status_text(execution.status),
        c.records_read,
        c.upserted,
        c.skipped,
        c.failed,
        c.events_sent,
        c.pages
    );
    if let Some(error) = &execution.error {
        println!("   error: {error}");
    }
}
