//! Validation against real files: every example in `examples/` is valid, and every broken
//! definition in `tests/fixtures/invalid/` reports exactly the paths its first line
//! (`# expect: PATH...`, `(document)` for the whole file) promises.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use dynsync_domain::Integration;
use dynsync_domain::definition::{EventName, TimestampSource};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_example_is_a_valid_definition() {
    let files = yaml_files(&repo().join("examples"));
    assert!(
        files.len() >= 5,
        "expected the five examples, found {files:?}"
    );
    for file in files {
        let text = fs::read_to_string(&file).unwrap();
        if let Err(problems) = Integration::from_yaml(&text) {
            panic!("{} is invalid: {:#?}", file.display(), problems.0);
        }
    }
}

#[test]
fn every_broken_definition_reports_exactly_its_expected_paths() {
    let files = yaml_files(&repo().join("tests/fixtures/invalid"));
    assert!(files.len() >= 45, "the corpus holds {} files", files.len());
    let mut failures = Vec::new();
    for file in files {
        let text = fs::read_to_string(&file).unwrap();
        let expect_line = text.lines().next().unwrap_or_default();
        let expected: BTreeSet<String> = expect_line
            .strip_prefix("# expect:")
            .unwrap_or_else(|| panic!("{} lacks a '# expect:' first line", file.display()))
            .split_whitespace()
            .map(|p| {
                if p == "(document)" {
                    String::new()
                } else {
                    p.to_owned()
                }
            })
            .collect();
        let found: BTreeSet<String> = match Integration::from_yaml(&text) {
            Ok(_) => BTreeSet::new(),
            Err(problems) => problems.0.into_iter().map(|p| p.path).collect(),
        };
        if found != expected {
            failures.push(format!(
                "{}: expected {expected:?}, found {found:?}",
                file.display()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_typo_in_a_mapped_field_suggests_the_selected_field() {
    let text = fs::read_to_string(repo().join("tests/fixtures/invalid/attribute-field-typo.yaml"))
        .unwrap();
    let problems = Integration::from_yaml(&text).unwrap_err().0;
    assert_eq!(
        problems[0].to_string(),
        "attributes[2].field: 'gendercod' is not in source.fields; did you mean 'gendercode'?"
    );
}

#[test]
fn an_inline_secret_is_reported_without_echoing_its_value() {
    let text = fs::read_to_string(repo().join("tests/fixtures/invalid/inline-client-secret.yaml"))
        .unwrap();
    let problems = Integration::from_yaml(&text).unwrap_err().0;
    let all = format!("{problems:?}");
    assert!(!all.contains("abc123"), "the secret leaked: {all}");
    assert!(problems[0].message.contains("{ secret: NAME }"));
}

#[test]
fn an_uppercase_partner_gets_the_lowercase_spelling_as_a_hint() {
    let text =
        fs::read_to_string(repo().join("tests/fixtures/invalid/partner-uppercase.yaml")).unwrap();
    let problems = Integration::from_yaml(&text).unwrap_err().0;
    assert_eq!(
        problems[0].message,
        "the partner name must be lowercase; write 'acme'"
    );
}

#[test]
fn a_yaml_syntax_error_names_line_and_column() {
    let problems = Integration::from_yaml("id: x\nmethod: [entity\n")
        .unwrap_err()
        .0;
    assert_eq!(problems.len(), 1);
    assert!(
        problems[0].message.contains("line 3"),
        "{}",
        problems[0].message
    );
    assert!(
        problems[0].message.contains("column"),
        "{}",
        problems[0].message
    );
}

#[test]
fn a_filter_problem_is_reported_at_source_filter_with_its_position() {
    let text =
        fs::read_to_string(repo().join("tests/fixtures/invalid/filter-unescaped-ampersand.yaml"))
            .unwrap();
    let problems = Integration::from_yaml(&text).unwrap_err().0;
    assert_eq!(problems[0].path, "source.filter");
    assert_eq!(
        problems[0].message,
        "unescaped '&' at line 1, column 60: write &amp;"
    );
}

#[test]
fn the_events_example_exposes_mapped_names_field_timestamps_and_a_parsed_filter() {
    let text = fs::read_to_string(repo().join("examples/purchases-with-events.yaml")).unwrap();
    let integration = Integration::from_yaml(&text).unwrap();
    let events = integration.definition().events.as_ref().unwrap();
    assert!(matches!(&events.name, EventName::FromField { mappings, .. } if mappings.len() == 2));
    assert_eq!(
        events.timestamp,
        TimestampSource::Field("new_purchasedate".to_owned())
    );
    assert_eq!(integration.filter().unwrap().root().items.len(), 2);
    assert_eq!(integration.schedule().expression(), "*/20 * * * *");
    assert_eq!(integration.definition().dynamics.partitions, 4);
}

#[test]
fn defaults_follow_the_guide() {
    let text =
        fs::read_to_string(repo().join("examples/marketing-list-client-credentials.yaml")).unwrap();
    let integration = Integration::from_yaml(&text).unwrap();
    let d = integration.definition();
    assert_eq!(
        (
            d.dynamics.request_timeout_ms,
            d.dynamics.retries,
            d.dynamics.partitions
        ),
        (60_000, 3, 1)
    );
    assert!(d.enabled && !d.insider.skip_hook && !d.insider.fast_fail);
    assert_eq!(
        d.insider.api_url,
        "https://unification.useinsider.com/api/user/v1/upsert"
    );
    assert_eq!(integration.authorize_url(), None);
}

#[test]
fn authorization_code_derives_the_authorize_url_and_tolerates_a_plus_in_the_dial_code() {
    let text =
        fs::read_to_string(repo().join("examples/contacts-authorization-code.yaml")).unwrap();
    let integration = Integration::from_yaml(&text).unwrap();
    assert_eq!(
        integration.authorize_url().unwrap(),
        "https://login.microsoftonline.com/00000000-0000-0000-0000-000000000000/oauth2/v2.0/authorize"
    );
    let text =
        fs::read_to_string(repo().join("examples/marketing-list-authorization-code.yaml")).unwrap();
    assert_eq!(
        Integration::from_yaml(&text).unwrap().country_code(),
        Some("1")
    );
}

#[test]
fn integration_new_applies_the_same_rules_to_a_definition_built_in_code() {
    let text =
        fs::read_to_string(repo().join("examples/contacts-client-credentials.yaml")).unwrap();
    let mut definition = Integration::from_yaml(&text).unwrap().definition().clone();
    definition.dynamics.page_size = 0;
    definition.insider.partner = "Acme".to_owned();
    let problems = Integration::new(definition).unwrap_err().0;
    let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(paths, ["dynamics.page_size", "insider.partner"]);
}
