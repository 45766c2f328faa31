//! The key a method needs in `source` (`list` for `marketing_list`, `entity` for `entity`)
//! is always named at its own path when it is missing: also when the other one was given
//! instead, and also when a type error elsewhere stops the other rules.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use dynsync_domain::Integration;

fn definition(method: &str, source: &str, extra: &str) -> String {
    format!(
        r#"id: needs-source
method: {method}
{extra}
dynamics:
  web_api_url: https://contoso.crm4.dynamics.com/api/data/v9.2
  auth:
    method: client_credentials
    token_url: https://login.microsoftonline.com/tenant/oauth2/v2.0/token
    scopes: ["https://contoso.crm4.dynamics.com/.default"]
    client_id: 11111111-2222-3333-4444-555555555555
    client_secret: {{ secret: dynsync/needs-source/dynamics }}
source:
  fields: [contactid, emailaddress1]
{source}
identifiers:
  - {{ type: email, field: emailaddress1 }}
insider:
  partner: acme
  token: {{ secret: dynsync/insider }}
"#
    )
}

fn problems(yaml: &str) -> Vec<String> {
    Integration::from_yaml(yaml)
        .unwrap_err()
        .0
        .iter()
        .map(ToString::to_string)
        .collect()
}

fn names(problems: &[String], path: &str, words: &str) -> bool {
    problems
        .iter()
        .any(|p| p.starts_with(&format!("{path}: ")) && p.contains(words))
}

#[test]
fn a_marketing_list_without_list_names_source_list_in_every_case() {
    for (source, extra) in [
        ("", ""),
        ("  entity: contact", ""),
        ("  fetch_mode: sometimes", ""),
        ("", "enabled: \"yes\""),
        ("", "schedule: [0, 1]"),
        ("  list:", ""),
    ] {
        let found = problems(&definition("marketing_list", source, extra));
        assert!(
            names(
                &found,
                "source.list",
                "required with method: marketing_list"
            ),
            "source {source:?}, extra {extra:?}: {found:#?}"
        );
    }
}

#[test]
fn an_entity_method_without_entity_names_source_entity_in_every_case() {
    for (source, extra) in [
        ("", ""),
        ("  list: VIP", ""),
        ("  days_to_get: -1", ""),
        ("", "enabled: 3"),
    ] {
        let found = problems(&definition("entity", source, extra));
        assert!(
            names(&found, "source.entity", "required with method: entity"),
            "source {source:?}, extra {extra:?}: {found:#?}"
        );
    }
}

#[test]
fn a_list_given_with_a_wrong_type_is_not_reported_missing() {
    let found = problems(&definition("marketing_list", "  list: [a, b]", ""));
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(
        found[0].starts_with("source.list: invalid type"),
        "{found:#?}"
    );
}
