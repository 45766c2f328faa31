//! `dynsync schema`: its JSON Schema accepts every example and rejects clearly wrong
//! definitions, and the committed reference `docs/definition-reference.md` is exactly
//! what `dynsync schema --format markdown` generates (`DYNSYNC_BLESS=1` rewrites it).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn dynsync(args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_dynsync"))
        .args(args)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    String::from_utf8(output.stdout).unwrap()
}

fn validator() -> jsonschema::Validator {
    let schema: Value = serde_json::from_str(&dynsync(&["schema"])).unwrap();
    jsonschema::validator_for(&schema).unwrap()
}

fn yaml(text: &str) -> Value {
    serde_norway::from_str(text).unwrap()
}

fn example(name: &str) -> String {
    std::fs::read_to_string(repo().join("examples").join(name)).unwrap()
}

#[test]
fn the_schema_accepts_every_example() {
    let validator = validator();
    let mut count = 0;
    for entry in std::fs::read_dir(repo().join("examples")).unwrap() {
        let path = entry.unwrap().path();
        let instance = yaml(&std::fs::read_to_string(&path).unwrap());
        let errors: Vec<String> = validator
            .iter_errors(&instance)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{}: {errors:?}", path.display());
        count += 1;
    }
    assert!(count >= 5);
}

#[test]
fn the_schema_rejects_clearly_wrong_definitions() {
    let validator = validator();
    let base = example("contacts-client-credentials.yaml");
    let wrong = [
        base.replace(
            "client_secret: { secret: dynsync/active-contacts/dynamics }",
            "client_secret: abc123",
        ),
        base.replace("page_size: 500", "page_size: 0"),
        base.replace("retries: 3", "retries: 11"),
        base.replace("id: active-contacts", "id: Active Contacts"),
        base.replace("method: entity", "method: everything"),
        base.replace("schedule:", "schedul:"),
        base.replace("insider:", "insidr:"),
    ];
    for (i, text) in wrong.iter().enumerate() {
        assert_ne!(text, &base, "case {i} changed nothing");
        assert!(!validator.is_valid(&yaml(text)), "case {i} was accepted");
    }
}

#[test]
fn the_committed_reference_matches_the_schema() {
    let generated = dynsync(&["schema", "--format", "markdown"]);
    let path = repo().join("docs/definition-reference.md");
    if std::env::var_os("DYNSYNC_BLESS").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/definition-reference.md is out of date; regenerate it with DYNSYNC_BLESS=1 cargo nextest run -p dynsync --test schema"
    );
}

#[test]
fn the_reference_documents_every_top_level_key_with_defaults_and_limits() {
    let reference = dynsync(&["schema", "--format", "markdown"]);
    for key in [
        "id",
        "method",
        "schedule",
        "dynamics",
        "source",
        "identifiers",
        "invalid_identifier",
        "phone",
        "attributes",
        "fixed_attributes",
        "events",
        "insider",
        "removals",
        "list_mode",
    ] {
        assert!(
            reference.contains(&format!("| `{key}` |")),
            "{key} is missing"
        );
    }
    assert!(reference.contains("| `page_size` | integer | no | `500` | 1..5000 |"));
    assert!(reference.contains("| `request_timeout_ms` | integer | no | `60000` | 1000..300000 |"));
    assert!(reference.contains("| `removals` | [Removals](#removals) | no |  |  |"));
    assert!(reference.contains("`ignore` (the default)"));
    assert!(reference.contains("`changes`"));
}

#[test]
fn the_schema_knows_changes_list_mode_and_removals() {
    let validator = validator();
    let base = example("contacts-changes-with-deletes.yaml");
    let wrong = [
        base.replace("removals: delete_profile", "removals: delete"),
        base.replace(
            "removals: delete_profile",
            "removals: { attribute: custom.crm_deleted }",
        ),
        base.replace("fetch_mode: changes", "fetch_mode: deltas"),
        example("marketing-list-changes.yaml").replace("list_mode: changes", "list_mode: partial"),
    ];
    for (i, text) in wrong.iter().enumerate() {
        assert!(!validator.is_valid(&yaml(text)), "case {i} was accepted");
    }
}
