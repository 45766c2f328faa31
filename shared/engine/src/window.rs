//! The `modifiedon` window of an execution (ARCHITECTURE.md section 8, "Windows"): fixed once
//! at the start, half-open `[from, to)`, so consecutive incremental windows neither overlap
//! nor leave a gap.

use chrono::{DateTime, Duration, Utc};
use dynsync_domain::definition::{Definition, FetchMode, Method};
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
        return None;
    }
    match definition.source.fetch_mode() {
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
    definition.method == Method::Entity
        && matches!(
            definition.source.fetch_mode(),
            FetchMode::NewAndUpdated | FetchMode::OnlyUpdated
        )
}
