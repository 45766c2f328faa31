//! The definition format of issues 11 and 12: `source.fetch_mode: changes`,
//! `source.list_mode`, and the top-level `removals` setting, as typed values and as the
//! validation messages a user reads.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::{Path, PathBuf};

use dynsync_domain::Integration;
use dynsync_domain::definition::{FetchMode, IdentifierType, ListMode, Removals};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(path: &str) -> String {
    fs::read_to_string(repo().join(path)).unwrap()
}

fn problems(path: &str) -> Vec<String> {
    Integration::from_yaml(&read(path))
        .unwrap_err()
        .0
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[test]
fn the_changes_example_deletes_profiles_through_the_uuid_on_the_primary_id() {
    let integration =
        Integration::from_yaml(&read("examples/contacts-changes-with-deletes.yaml")).unwrap();
    let d = integration.definition();
    assert_eq!(d.source.fetch_mode(), FetchMode::Changes);
    assert_eq!(d.removals(), &Removals::DeleteProfile);
    assert_eq!(d.primary_id_fields(), ["contactid"]);
    let identifier = d.removal_identifier().unwrap();
    assert_eq!(
        (identifier.kind, identifier.field.as_str()),
        (IdentifierType::Uuid, "contactid")
    );
}

#[test]
fn the_incremental_list_example_sets_an_attribute_on_leavers() {
    let integration =
        Integration::from_yaml(&read("examples/marketing-list-changes.yaml")).unwrap();
    let d = integration.definition();
    assert_eq!(d.source.list_mode(), ListMode::Changes);
    assert_eq!(
        d.removals(),
        &Removals::SetAttribute {
            attribute: "custom.vip_segment".to_owned(),
            value: serde_json::Value::Bool(false),
        }
    );
    assert_eq!(d.primary_id_fields(), ["contactid", "leadid", "accountid"]);
    let identifier = d.removal_identifier().unwrap();
    assert_eq!(
        (identifier.kind, identifier.name.as_deref()),
        (IdentifierType::Custom, Some("crm_id"))
    );
}

#[test]
fn lists_default_to_full_and_removals_to_ignore() {
    let integration =
        Integration::from_yaml(&read("examples/marketing-list-client-credentials.yaml")).unwrap();
    let d = integration.definition();
    assert_eq!(d.source.list_mode(), ListMode::Full);
    assert_eq!(d.removals(), &Removals::Ignore);
    assert!(d.removals().is_ignore());
}

#[test]
fn removals_round_trip_through_serde_in_the_yaml_spelling() {
    let cases = [
        ("ignore", Removals::Ignore),
        ("delete_profile", Removals::DeleteProfile),
        (
            "{ attribute: custom.crm_deleted, value: true }",
            Removals::SetAttribute {
                attribute: "custom.crm_deleted".to_owned(),
                value: serde_json::Value::Bool(true),
            },
        ),
    ];
    for (yaml, expected) in cases {
        let parsed: Removals = serde_norway::from_str(yaml).unwrap();
        assert_eq!(parsed, expected, "{yaml}");
        let json = serde_json::to_value(&parsed).unwrap();
        assert_eq!(serde_json::from_value::<Removals>(json).unwrap(), expected);
    }
    let modes: Vec<ListMode> = serde_norway::from_str("[full, changes]").unwrap();
    assert_eq!(modes, [ListMode::Full, ListMode::Changes]);
    let mode: FetchMode = serde_norway::from_str("changes").unwrap();
    assert_eq!(mode, FetchMode::Changes);
}

#[test]
fn removals_that_cannot_be_seen_say_which_modes_support_them() {
    let found = problems("tests/fixtures/invalid/removals-with-fetch-mode-all.yaml");
    assert_eq!(
        found,
        [
            "removals: with fetch_mode: all a run cannot see records deleted in Dynamics; removals apply only with source.fetch_mode: changes (method: entity) or source.list_mode: changes (method: marketing_list); set one of them or remove removals"
        ]
    );
    let found = problems("tests/fixtures/invalid/removals-with-list-mode-full.yaml");
    assert_eq!(
        found,
        [
            "removals: with list_mode: full a run cannot see members who left the list; removals apply only with source.list_mode: changes (method: marketing_list) or source.fetch_mode: changes (method: entity); set list_mode: changes or remove removals"
        ]
    );
}

#[test]
fn removals_without_a_primary_id_identifier_get_a_hint() {
    let found = problems("tests/fixtures/invalid/removals-without-primary-id-identifier.yaml");
    assert_eq!(
        found,
        [
            "removals: a removed record arrives with only its primary id, so delete_profile needs an identifier taken from it; add - { type: uuid, field: contactid } to identifiers (or a custom identifier on contactid), with contactid in source.fields"
        ]
    );
    let found = problems("tests/fixtures/invalid/removals-list-identifier-not-a-member-id.yaml");
    assert_eq!(
        found,
        [
            "removals: a removed member arrives with only its primary id, so delete_profile needs an identifier taken from it; add - { type: uuid, field: contactid } to identifiers (or a custom identifier on contactid; leadid or accountid for lists of leads or accounts), with that field in source.fields"
        ]
    );
}

#[test]
fn the_attribute_form_checks_key_and_value_like_fixed_attributes() {
    let found = problems("tests/fixtures/invalid/removals-attribute-key-not-standard.yaml");
    assert_eq!(
        found,
        [
            "removals.attribute: 'crm_deleted' is not an Insider standard attribute; write custom.crm_deleted for a custom attribute"
        ]
    );
    let found = problems("tests/fixtures/invalid/removals-value-null.yaml");
    assert_eq!(
        found,
        [
            "removals.value: write the value to set on a removed user: a string, number or boolean, e.g. value: true"
        ]
    );
    let found = problems("tests/fixtures/invalid/removals-value-missing.yaml");
    assert_eq!(
        found,
        ["removals: write ignore, delete_profile or { attribute: KEY, value: VALUE }"]
    );
    let found = problems("tests/fixtures/invalid/removals-unknown-keyword.yaml");
    assert_eq!(
        found,
        ["removals: write ignore, delete_profile or { attribute: KEY, value: VALUE }"]
    );
}

#[test]
fn list_mode_and_fetch_mode_each_belong_to_their_method() {
    let found = problems("tests/fixtures/invalid/list-mode-on-entity.yaml");
    assert_eq!(
        found,
        [
            "source.list_mode: applies only to method: marketing_list; remove it (method: entity chooses source.fetch_mode)"
        ]
    );
    let found = problems("tests/fixtures/invalid/fetch-mode-changes-on-marketing-list.yaml");
    assert_eq!(
        found,
        [
            "source.fetch_mode: applies only to method: entity; remove it (a marketing list reads its members; for joiners and leavers only, write list_mode: changes)"
        ]
    );
}
