//! An integration's schedule: a parsed 5-field cron expression evaluated in UTC, with the
//! slot arithmetic a dispatcher needs ("is a slot due since the last one fired?").

use chrono::{DateTime, Utc};
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};

/// A validated 5-field cron schedule (minute hour day-of-month month day-of-week), UTC.
#[derive(Debug, Clone)]
pub struct Schedule {
    expression: String,
    cron: Cron,
}

impl PartialEq for Schedule {
    fn eq(&self, other: &Self) -> bool {
        self.expression == other.expression
    }
}

impl Schedule {
    /// Parses a 5-field expression; `Err` says what is wrong and how to write it.
    pub fn parse(expression: &str) -> Result<Self, String> {
        let fields = expression.split_whitespace().count();
        if fields != 5 {
            return Err(format!(
                "'{expression}' has {fields} field(s); write 5: minute hour day-of-month month day-of-week (UTC), e.g. \"0 * * * *\""
            ));
        }
        let parser = CronParser::builder()
            .seconds(Seconds::Disallowed)
            .year(Year::Disallowed)
            .build();
        let cron = parser.parse(expression).map_err(|e| {
            format!("'{expression}' is not a valid cron expression ({e}); e.g. \"*/20 * * * *\" runs every 20 minutes")
        })?;
        // Every 5-field expression repeats within four years, so one that has no slot
        // after a fixed date has none at all (e.g. "0 0 30 2 *").
        if cron
            .find_next_occurrence(&DateTime::<Utc>::UNIX_EPOCH, false)
            .is_err()
        {
            return Err(format!(
                "'{expression}' never fires (no date matches it); check the day-of-month and month fields"
            ));
        }
        Ok(Self {
            expression: expression.to_owned(),
            cron,
        })
    }

    /// The expression as written.
    pub fn expression(&self) -> &str {
        &self.expression
    }

    /// The first slot strictly after `after` (`None` only past the calendar's end).
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron.find_next_occurrence(&after, false).ok()
    }

    /// The slots in `(after, until]`, in order, at most `limit` of them.
    pub fn slots_between(
        &self,
        after: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: usize,
    ) -> Vec<DateTime<Utc>> {
        let mut slots = Vec::new();
        let mut cursor = after;
        while slots.len() < limit {
            match self.next_after(cursor) {
                Some(slot) if slot <= until => {
                    slots.push(slot);
                    cursor = slot;
                }
                _ => break,
            }
        }
        slots
    }

    /// The latest slot in `(after, until]`: the one a dispatcher fires when it finds
    /// slots due (missed slots run once, not once each).
    pub fn latest_due(&self, after: DateTime<Utc>, until: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let latest = self.cron.find_previous_occurrence(&until, true).ok()?;
        (latest > after).then_some(latest)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    #[test]
    fn the_hourly_default_fires_on_the_hour() {
        let schedule = Schedule::parse("0 * * * *").unwrap();
        assert_eq!(
            schedule.next_after(at("2026-11-27T10:00:00Z")),
            Some(at("2026-11-27T11:00:00Z"))
        );
        assert_eq!(
            schedule.next_after(at("2026-11-27T10:59:59Z")),
            Some(at("2026-11-27T11:00:00Z"))
        );
    }

    #[test]
    fn slots_between_excludes_the_start_and_includes_the_end() {
        let schedule = Schedule::parse("*/20 * * * *").unwrap();
        let slots =
            schedule.slots_between(at("2026-11-27T10:00:00Z"), at("2026-11-27T11:00:00Z"), 10);
        assert_eq!(
            slots,
            vec![
                at("2026-11-27T10:20:00Z"),
                at("2026-11-27T10:40:00Z"),
                at("2026-11-27T11:00:00Z")
            ]
        );
        assert_eq!(
            schedule
                .slots_between(at("2026-11-27T10:00:00Z"), at("2026-11-27T12:00:00Z"), 2)
                .len(),
            2
        );
    }

    #[test]
    fn latest_due_returns_only_the_newest_missed_slot() {
        let schedule = Schedule::parse("0 * * * *").unwrap();
        assert_eq!(
            schedule.latest_due(at("2026-11-27T07:00:00Z"), at("2026-11-27T10:30:00Z")),
            Some(at("2026-11-27T10:00:00Z"))
        );
        assert_eq!(
            schedule.latest_due(at("2026-11-27T10:00:00Z"), at("2026-11-27T10:30:00Z")),
            None
        );
    }

    #[test]
    fn an_expression_that_never_fires_is_rejected() {
        assert!(
            Schedule::parse("0 0 30 2 *")
                .unwrap_err()
                .contains("never fires")
        );
        assert!(Schedule::parse("0 0 29 2 *").is_ok());
    }

    #[test]
    fn six_fields_and_nonsense_are_rejected() {
        assert!(
            Schedule::parse("0 0 * * * *")
                .unwrap_err()
                .contains("6 field")
        );
        assert!(
            Schedule::parse("61 * * * *")
                .unwrap_err()
                .contains("not a valid cron")
        );
        assert!(Schedule::parse("0 0 * * MON,WED").is_ok());
    }
}
