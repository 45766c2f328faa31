//! `dynsync connect`, `entities`, `fields` and `lists` run as a user would: the real binary
//! against the Dataverse emulator, with a definition in a temp folder and the client
//! secret passed as a `DYNSYNC_SECRET_*` variable.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use dynsync_emulators::dataverse::{CLIENT_SECRET, DataverseEmulator, Seed};
use dynsync_emulators::insider::{InsiderConfig, InsiderEmulator, TOKEN};
use dynsync_tests::definition::Endpoints;
use serde_json::Value;

const SECRET_VAR: &str = "DYNSYNC_SECRET_DYNSYNC_TEST_DYNAMICS";

fn definition(emu: &DataverseEmulator, insider: &InsiderEmulator, source: &str) -> String {
    let at = Endpoints::of(emu, insider);
    let method = if source.contains("list:") {
        "marketing_list"
    } else {
        "entity"
    };
    format!(
        "id: cli-test
method: {method}
{dynamics}  request_timeout_ms: 5000
  retries: 1
source:
{source}
identifiers:
  - {{ type: uuid, field: contactid }}
{insider}",
        dynamics = at.dynamics("dynsync/test/dynamics"),
        insider = at.insider("dynsync/insider"),
    )
}

const CONTACTS: &str = "  entity: contact\n  fields: [contactid, emailaddress1, gendercode]\n  filter: \"<condition attribute='statecode' operator='eq' value='0'/>\"";

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

async fn dynsync(dir: &Path, yaml: &str, args: &[&str], secret: &str) -> Run {
    let file = dir.join("integration.yaml");
    std::fs::write(&file, yaml).unwrap();
    let state: PathBuf = dir.join("state");
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_dynsync"));
    command
        .arg(args[0])
        .arg(&file)
        .args(&args[1..])
        .arg("--state")
        .arg(&state)
        .env(SECRET_VAR, secret)
        .env("DYNSYNC_SECRET_DYNSYNC_INSIDER", TOKEN)
        .env_remove("RUST_LOG");
    let output = command.output().await.unwrap();
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

async fn demo() -> (DataverseEmulator, InsiderEmulator, tempfile::TempDir) {
    (
        DataverseEmulator::start(Seed::demo()).await.unwrap(),
        InsiderEmulator::start(InsiderConfig::default())
            .await
            .unwrap(),
        tempfile::tempdir().unwrap(),
    )
}

fn json(run: &Run) -> Value {
    serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("one JSON document ({e}): {}\n{}", run.stdout, run.stderr))
}

#[tokio::test(flavor = "multi_thread")]
async fn connect_passes_every_dataverse_check() {
    let (emu, ins, dir) = demo().await;
    let run = dynsync(
        dir.path(),
        &definition(&emu, &ins, CONTACTS),
        &["connect"],
        CLIENT_SECRET,
    )
    .await;
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    for check in [
        "Dataverse token",
        "Dataverse WhoAmI",
        "Source",
        "Read access",
    ] {
        assert!(run.stdout.contains(check), "{}", run.stdout);
    }
    assert!(
        run.stdout
            .contains("entity contact (set contacts, primary id contactid)")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn connect_json_is_one_document_with_each_check() {
    let (emu, ins, dir) = demo().await;
    let source = "  list: VIP Segment\n  fields: [contactid, emailaddress1]";
    let run = dynsync(
        dir.path(),
        &definition(&emu, &ins, source),
        &["connect", "--json"],
        CLIENT_SECRET,
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report = json(&run);
    assert_eq!(report["ok"], true);
    assert_eq!(report["checks"].as_array().unwrap().len(), 5);
    assert!(
        report["checks"][2]["detail"]
            .as_str()
            .unwrap()
            .contains("marketing list 'VIP Segment' (static")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn connect_with_the_secret_id_instead_of_its_value_says_so_and_exits_1() {
    let (emu, ins, dir) = demo().await;
    let run = dynsync(
        dir.path(),
        &definition(&emu, &ins, CONTACTS),
        &["connect"],
        "3f2b1c0d-aaaa-bbbb-cccc-000000000000",
    )
    .await;
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("not its Secret ID"), "{}", run.stderr);
    assert!(run.stdout.contains("FAILED"));
    assert!(!run.stdout.contains("3f2b1c0d") && !run.stderr.contains("3f2b1c0d"));
}

#[tokio::test(flavor = "multi_thread")]
async fn connect_names_a_misspelt_field() {
    let (emu, ins, dir) = demo().await;
    let source = "  entity: contact\n  fields: [contactid, emailadress1]";
    let run = dynsync(
        dir.path(),
        &definition(&emu, &ins, source),
        &["connect", "--json"],
        CLIENT_SECRET,
    )
    .await;
    assert_eq!(run.code, 1);
    let report = json(&run);
    assert_eq!(report["ok"], false);
    assert!(
        report["checks"][3]["detail"]
            .as_str()
            .unwrap()
            .contains("'emailadress1'")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn connect_to_an_unreachable_organization_exits_1_and_says_to_check_the_url() {
    let (emu, ins, dir) = demo().await;
    let yaml = definition(&emu, &ins, CONTACTS)
        .replace(&emu.web_api_url(), "http://127.0.0.1:9/api/data/v9.2");
    let run = dynsync(dir.path(), &yaml, &["connect"], CLIENT_SECRET).await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("cannot reach Dataverse"),
        "{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_invalid_definition_exits_2_with_nothing_on_stdout() {
    let (emu, ins, dir) = demo().await;
    let yaml = definition(&emu, &ins, CONTACTS)
        .replace("page_size", "x")
        .replace("method: client_credentials", "method: password");
    for command in ["connect", "entities", "fields", "lists"] {
        let run = dynsync(dir.path(), &yaml, &[command, "--json"], CLIENT_SECRET).await;
        assert_eq!(run.code, 2, "{command}: {}", run.stderr);
        assert!(run.stdout.is_empty());
        assert!(
            run.stderr.contains("dynamics.auth.method"),
            "{}",
            run.stderr
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn entities_lists_tables_for_people_and_json_for_scripts() {
    let (emu, ins, dir) = demo().await;
    let yaml = definition(&emu, &ins, CONTACTS);
    let table = dynsync(dir.path(), &yaml, &["entities"], CLIENT_SECRET).await;
    assert_eq!(table.code, 0, "{}", table.stderr);
    assert!(table.stdout.contains("Entity set") && table.stdout.contains("contacts"));
    let run = dynsync(dir.path(), &yaml, &["entities", "--json"], CLIENT_SECRET).await;
    let entities = json(&run);
    let contact = entities
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["logical_name"] == "contact")
        .unwrap();
    assert_eq!(contact["entity_set"], "contacts");
    assert_eq!(contact["primary_id"], "contactid");
}

#[tokio::test(flavor = "multi_thread")]
async fn fields_show_types_and_option_labels_of_the_definitions_entity_or_the_one_given() {
    let (emu, ins, dir) = demo().await;
    let yaml = definition(&emu, &ins, CONTACTS);
    let run = dynsync(dir.path(), &yaml, &["fields", "--json"], CLIENT_SECRET).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let fields = json(&run);
    assert_eq!(fields["entity"], "contact");
    let gender = fields["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["logical_name"] == "gendercode")
        .unwrap();
    assert_eq!(gender["attribute_type"], "Picklist");
    assert_eq!(gender["options"]["1"], "Male");
    let bulk = fields["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["logical_name"] == "donotbulkemail")
        .unwrap();
    assert_eq!(bulk["options"].as_object().unwrap().len(), 2);

    let table = dynsync(dir.path(), &yaml, &["fields", "lead"], CLIENT_SECRET).await;
    assert_eq!(table.code, 0, "{}", table.stderr);
    assert!(
        table.stdout.contains("Fields of lead")
            && table.stdout.contains("statecode")
            && table.stdout.contains("0="),
        "{}",
        table.stdout
    );
    let unknown = dynsync(dir.path(), &yaml, &["fields", "contcat"], CLIENT_SECRET).await;
    assert_eq!(unknown.code, 1);
    assert!(unknown.stderr.contains("contcat"));
}

#[tokio::test(flavor = "multi_thread")]
async fn lists_show_static_and_dynamic_lists_with_their_members() {
    let (emu, ins, dir) = demo().await;
    let yaml = definition(&emu, &ins, CONTACTS);
    let table = dynsync(dir.path(), &yaml, &["lists"], CLIENT_SECRET).await;
    assert_eq!(table.code, 0, "{}", table.stderr);
    assert!(table.stdout.contains("VIP Segment") && table.stdout.contains("dynamic"));
    let lists = json(&dynsync(dir.path(), &yaml, &["lists", "--json"], CLIENT_SECRET).await);
    let gold = lists
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["name"] == "Gold Members")
        .unwrap();
    assert_eq!(
        (gold["dynamic"].as_bool(), gold["member_type"].as_str()),
        (Some(true), Some("contact"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn fields_of_a_marketing_list_definition_are_those_of_its_member_type() {
    let (emu, ins, dir) = demo().await;
    let yaml = definition(
        &emu,
        &ins,
        "  list: Trade Show Leads\n  fields: [contactid]",
    );
    let run = dynsync(dir.path(), &yaml, &["fields", "--json"], CLIENT_SECRET).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(json(&run)["entity"], "lead");
}

#[tokio::test(flavor = "multi_thread")]
async fn connect_without_a_stored_refresh_token_says_to_run_auth_login_on_this_file() {
    let (emu, ins, dir) = demo().await;
    let yaml = definition(&emu, &ins, CONTACTS)
        .replace("method: client_credentials", "method: authorization_code")
        .replace(
            &format!("[\"{}\"]", emu.scope()),
            &format!(
                "[\"{}/user_impersonation\", offline_access]\n    refresh_token: {{ secret: dynsync/test/refresh }}",
                emu.base_url()
            ),
        );
    let run = dynsync(dir.path(), &yaml, &["connect"], CLIENT_SECRET).await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    let file = dir.path().join("integration.yaml");
    assert!(
        run.stderr
            .contains(&format!("run `dynsync auth login {}`", file.display())),
        "{}",
        run.stderr
    );
}
