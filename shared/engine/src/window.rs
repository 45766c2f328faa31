//! The `modifiedon` window of an execution (ARCHITECTURE.md section 8, "Windows"): fixed once
//! at the start, half-open `[from, to)`, so consecutive incremental windows neither overlap
//! nor leave a gap.

use chrono::{DateTime, Duration, SubsecRound, Utc};
use dynsync_domain::definition::{Definition, FetchMode, ListMode, Method};
use dynsync_domain::execution::Window;

/// The window of an execution of `definition` starting at `start`, given the integration's
/// watermark (the `to` of its last successful incremental window).
pub fn window_for(
    definition: &Definition,
    start: DateTime<Utc>,
    watermark: Option<DateTime<Utc>>,
    safety_lag: Duration,
) -> Option<Window> {
    if definition.method == Method::MarketingList {
        // `list_mode: changes` tells changed members by this window (lists.rs); the
        // query itself never carries it.
        if definition.source.list_mode() != ListMode::Changes {
            return None;
        }
        let to = earlier(start.trunc_subsecs(0), safety_lag);
        let from = watermark.map(|mark| mark.min(to));
        return Some(Window { from, to: Some(to) });
    }
    // Queries carry whole seconds (`2026-11-27T10:00:00Z`): the stored window must be the
    // very bounds the query used, or a record stamped within the cut-off fraction of a
    // second would fall between two windows.
    let start = start.trunc_subsecs(0);
    match definition.source.fetch_mode() {
        // issue 11: the change-tracking read replaces this; until then `changes` reads
        // like `all` with no window.
        FetchMode::Changes => None,
        FetchMode::All if definition.source.days_to_get == 0 => None,
        FetchMode::All => Some(Window {
            from: Some(earlier(
                start,
                Duration::days(i64::from(definition.source.days_to_get)),
            )),
            to: None,
        }),
        FetchMode::NewAndUpdated | FetchMode::OnlyUpdated => {
            let to = earlier(start, safety_lag);
            // A clock that went back must not produce an inverted window.
            let from = watermark.map(|mark| mark.min(to));
            Some(Window { from, to: Some(to) })
        }
    }
}

fn earlier(t: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    t.checked_sub_signed(d).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// Whether a finished execution of this definition moves the watermark: incremental modes.
pub fn is_incremental(definition: &Definition) -> bool {
    // issue 11: `changes` will keep a delta token instead of a watermark.
    let list_changes = definition.method == Method::MarketingList
        && definition.source.list_mode() == ListMode::Changes;
    list_changes
        || definition.method == Method::Entity
            && matches!(
                definition.source.fetch_mode(),
                FetchMode::NewAndUpdated | FetchMode::OnlyUpdated
            )
}

#[cfg(test)]
mod tests {
    use super::*;
    use dynsync_domain::Integration;

    fn definition(source: &str, method: &str) -> Definition {
        let yaml = format!(
            r#"id: t
method: {method}
dynamics:
  web_api_url: https://contoso.crm4.dynamics.com/api/data/v9.2
  auth:
    method: client_credentials
    token_url: https://login.microsoftonline.com/00000000-0000-0000-0000-000000000000/oauth2/v2.0/token
    scopes: ["https://contoso.crm4.dynamics.com/.default"]
    client_id: 11111111-2222-3333-4444-555555555555
    client_secret: {{ secret: s }}
source:
{source}
  fields: [contactid, emailaddress1]
identifiers:
  - {{ type: email, field: emailaddress1 }}
insider:
  partner: acme
  token: {{ secret: t }}
"#
        );
        match Integration::from_yaml(&yaml) {
            Ok(integration) => integration.definition().clone(),
            Err(problems) => panic!("{:?}", problems.0),
        }
    }

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default()
    }

    const LAG: Duration = Duration::minutes(5);

    #[test]
    fn fetch_mode_all_without_days_has_no_window() {
        let d = definition("  entity: contact", "entity");
        assert_eq!(window_for(&d, at("2026-11-27T10:00:00Z"), None, LAG), None);
        assert!(!is_incremental(&d));
    }

    #[test]
    fn window_bounds_are_whole_seconds_like_the_query_values() {
        let d = definition("  entity: contact\n  fetch_mode: new_and_updated", "entity");
        let window = window_for(&d, at("2026-11-27T10:00:07.900Z"), None, Duration::zero());
        assert_eq!(
            window,
            Some(Window {
                from: None,
                to: Some(at("2026-11-27T10:00:07Z"))
            })
        );
    }

    #[test]
    fn days_to_get_opens_a_window_of_n_days_back_with_no_end() {
        let d = definition("  entity: contact\n  days_to_get: 3", "entity");
        let window = window_for(
            &d,
            at("2026-11-27T10:00:00Z"),
            Some(at("2026-11-01T00:00:00Z")),
            LAG,
        );
        assert_eq!(
            window,
            Some(Window {
                from: Some(at("2026-11-24T10:00:00Z")),
                to: None
            })
        );
    }

    #[test]
    fn incremental_windows_run_from_the_watermark_to_start_minus_the_safety_lag() {
        for mode in ["new_and_updated", "only_updated"] {
            let d = definition(
                &format!("  entity: contact\n  fetch_mode: {mode}"),
                "entity",
            );
            assert!(is_incremental(&d));
            let start = at("2026-11-27T10:00:00Z");
            assert_eq!(
                window_for(&d, start, None, LAG),
                Some(Window {
                    from: None,
                    to: Some(at("2026-11-27T09:55:00Z"))
                })
            );
            let mark = at("2026-11-27T08:55:00Z");
            assert_eq!(
                window_for(&d, start, Some(mark), LAG),
                Some(Window {
                    from: Some(mark),
                    to: Some(at("2026-11-27T09:55:00Z"))
                })
            );
        }
    }

    #[test]
    fn a_watermark_after_the_window_end_never_inverts_the_window() {
        let d = definition("  entity: contact\n  fetch_mode: new_and_updated", "entity");
        let window = window_for(
            &d,
            at("2026-11-27T10:00:00Z"),
            Some(at("2026-11-27T12:00:00Z")),
            LAG,
        );
        assert_eq!(window.and_then(|w| w.from), window.and_then(|w| w.to));
    }

    #[test]
    fn an_incremental_list_has_a_window_from_the_watermark() {
        let d = definition(
            "  list: VIP Segment\n  list_mode: changes",
            "marketing_list",
        );
        assert!(is_incremental(&d));
        let mark = at("2026-11-27T08:55:00Z");
        assert_eq!(
            window_for(&d, at("2026-11-27T10:00:00Z"), Some(mark), LAG),
            Some(Window {
                from: Some(mark),
                to: Some(at("2026-11-27T09:55:00Z"))
            })
        );
    }

    #[test]
    fn a_marketing_list_has_no_window() {
        let d = definition("  list: VIP Segment", "marketing_list");
        assert_eq!(window_for(&d, at("2026-11-27T10:00:00Z"), None, LAG), None);
        assert!(!is_incremental(&d));
    }
}
