//! The rules a well-typed definition must still satisfy (ARCHITECTURE.md sections 3 and 8
//! and the guide): ranges, which settings apply to which method, fields that must be among
//! `source.fields`, Insider's key and event-name rules, cron, URLs, secrets and scopes.

use super::checks::{Rules, STANDARD_ATTRIBUTE_KEYS};
use super::{Problem, Schedule};
use crate::definition::{
    AuthMethod, Definition, DynamicsSettings, EventMapping, EventName, FetchMode, IdentifierType,
    InsiderSettings, MAX_PAGE_SIZE, MAX_PARTITIONS, MAX_REQUEST_TIMEOUT_MS, MAX_RETRIES,
    MIN_REQUEST_TIMEOUT_MS, Method, Source, TimestampSource,
};
use crate::filter::FetchXmlFilter;

mod changes;

use changes::{changes_partitions, removals};

/// What the rules produced besides problems.
pub(super) struct Checked {
    pub filter: Option<FetchXmlFilter>,
    pub schedule: Option<Schedule>,
}

/// Checks every rule; the problems come in document order.
pub(super) fn check(d: &Definition) -> (Vec<Problem>, Checked) {
    let mut r = Rules::default();
    let id_ok = d.id.len() <= 63
        && d.id
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && d.id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !id_ok {
        r.add("id", format!("'{}' is not a valid id; use 1..63 of a-z 0-9 and '-', starting with a letter or digit", d.id));
    }
    if d.name.as_deref().is_some_and(|n| n.trim().is_empty()) {
        r.add(
            "name",
            "the name is blank; remove it or write a descriptive name",
        );
    }
    let schedule = match Schedule::parse(&d.schedule) {
        Ok(s) => Some(s),
        Err(message) => {
            r.add("schedule", message);
            None
        }
    };
    dynamics(&mut r, &d.dynamics);
    let filter = source(&mut r, d.method, &d.source);
    let fields = &d.source.fields;

    if d.identifiers.is_empty() {
        r.add("identifiers", "at least one identifier mapping is required, e.g. - { type: email, field: emailaddress1 }");
    }
    let mut seen = Vec::new();
    for (i, identifier) in d.identifiers.iter().enumerate() {
        let path = format!("identifiers[{i}]");
        match (identifier.kind, identifier.name.as_deref()) {
            (IdentifierType::Custom, None) => r.add(
                format!("{path}.name"),
                "a custom identifier needs the name Insider knows it by, e.g. name: crm_id",
            ),
            (IdentifierType::Custom, Some(name))
                if name.is_empty()
                    || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') =>
            {
                r.add(format!("{path}.name"), format!("'{name}' is not a valid custom identifier name; use letters, digits and '_'"));
            }
            (IdentifierType::Custom, Some(_)) => {}
            (_, Some(_)) => r.add(
                format!("{path}.name"),
                "only type: custom takes a name; remove it",
            ),
            (_, None) => {}
        }
        let label = match identifier.kind {
            IdentifierType::Custom => {
                format!("custom {}", identifier.name.as_deref().unwrap_or_default())
            }
            other => format!("{other:?}"),
        };
        if seen.contains(&label) {
            r.add(
                format!("{path}.type"),
                "this identifier is mapped twice; keep one",
            );
        }
        seen.push(label);
        r.in_fields(&format!("{path}.field"), &identifier.field, fields);
    }

    if let Some(code) = &d.phone.country_code {
        let digits = code.strip_prefix('+').unwrap_or(code);
        if digits.is_empty()
            || digits.len() > 3
            || !digits.bytes().all(|b| b.is_ascii_digit())
            || digits.starts_with('0')
        {
            r.add("phone.country_code", format!("'{code}' is not a dial code; write 1 to 3 digits, e.g. \"90\" (a leading + is tolerated)"));
        }
    }

    let mut keys = Vec::new();
    r.mappings(
        "attributes",
        &d.attributes,
        fields,
        Some(STANDARD_ATTRIBUTE_KEYS),
        &mut keys,
    );
    r.fixed(
        "fixed_attributes",
        &d.fixed_attributes,
        Some(STANDARD_ATTRIBUTE_KEYS),
        &mut keys,
    );
    if let Some(events) = &d.events {
        event_rules(&mut r, events, fields);
    }
    removals(&mut r, d);
    changes_partitions(&mut r, d);
    insider(&mut r, &d.insider);
    (r.problems, Checked { filter, schedule })
}

fn dynamics(r: &mut Rules, d: &DynamicsSettings) {
    r.url("dynamics.web_api_url", &d.web_api_url);
    let auth = &d.auth;
    r.url("dynamics.auth.token_url", &auth.token_url);
    if let Some(url) = &auth.authorize_url {
        if auth.method == AuthMethod::ClientCredentials {
            r.add(
                "dynamics.auth.authorize_url",
                "applies only to method: authorization_code; remove it",
            );
        } else {
            r.url("dynamics.auth.authorize_url", url);
        }
    }
    if auth.client_id.trim().is_empty() {
        r.add(
            "dynamics.auth.client_id",
            "the Application (client) ID is empty; copy it from App registrations > Overview",
        );
    }
    r.secret("dynamics.auth.client_secret", &auth.client_secret);
    match auth.method {
        AuthMethod::ClientCredentials => {
            if auth.scopes.len() != 1 || !auth.scopes.iter().all(|s| s.ends_with("/.default")) {
                r.add("dynamics.auth.scopes", "client_credentials takes exactly one scope ending in /.default, e.g. [\"https://contoso.crm4.dynamics.com/.default\"]");
            }
            if auth.refresh_token.is_some() {
                r.add(
                    "dynamics.auth.refresh_token",
                    "applies only to method: authorization_code; remove it",
                );
            }
        }
        AuthMethod::AuthorizationCode => {
            if auth.scopes.is_empty() || auth.scopes.iter().any(|s| s.ends_with("/.default")) {
                r.add("dynamics.auth.scopes", "authorization_code takes delegated scopes, e.g. [\"https://contoso.crm4.dynamics.com/user_impersonation\", offline_access]");
            } else if !auth.scopes.iter().any(|s| s == "offline_access") {
                r.add(
                    "dynamics.auth.scopes",
                    "add offline_access: without it Entra issues no refresh token",
                );
            }
            match &auth.refresh_token {
                Some(reference) => r.secret("dynamics.auth.refresh_token", reference),
                None => r.add("dynamics.auth.refresh_token", "authorization_code needs refresh_token: { secret: NAME }, where dynsync auth login stores the token"),
            }
        }
    }
    r.range(
        "dynamics.page_size",
        d.page_size.into(),
        1,
        MAX_PAGE_SIZE.into(),
    );
    r.range(
        "dynamics.request_timeout_ms",
        d.request_timeout_ms,
        MIN_REQUEST_TIMEOUT_MS,
        MAX_REQUEST_TIMEOUT_MS,
    );
    r.range("dynamics.retries", d.retries.into(), 0, MAX_RETRIES.into());
    r.range(
        "dynamics.partitions",
        d.partitions.into(),
        1,
        MAX_PARTITIONS.into(),
    );
}

/// The key each method needs in `source`: `entity` for `entity`, `list` for
/// `marketing_list`, named at its own path whenever it is missing (also when the other one
/// was given instead). `parse` applies this to the raw document too, so a type error
/// elsewhere does not hide it.
pub(super) fn source_keys(r: &mut Rules, method: Method, entity: bool, list: bool) {
    match (method, entity, list) {
        (_, true, true) => r.add(
            "source",
            "give either entity (method: entity) or list (method: marketing_list), not both",
        ),
        (Method::Entity, false, list) => {
            r.add(
                "source.entity",
                "required with method: entity; write the entity's logical name, e.g. entity: contact",
            );
            if list {
                r.add(
                    "source.list",
                    "applies only to method: marketing_list; remove it (method: entity reads source.entity)",
                );
            }
        }
        (Method::MarketingList, entity, false) => {
            if entity {
                r.add(
                    "source.entity",
                    "applies only to method: entity; remove it (method: marketing_list reads source.list)",
                );
            }
            r.add(
                "source.list",
                "required with method: marketing_list; write the list's name or id, e.g. list: \"VIP Segment\"",
            );
        }
        (Method::Entity, true, false) | (Method::MarketingList, false, true) => {}
    }
}

fn source(r: &mut Rules, method: Method, s: &Source) -> Option<FetchXmlFilter> {
    source_keys(r, method, s.entity.is_some(), s.list.is_some());
    match (method, &s.entity, &s.list) {
        (Method::Entity, Some(entity), _)
            if entity.is_empty()
                || !entity
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') =>
        {
            r.add(
                "source.entity",
                format!("'{entity}' is not a logical name; use lowercase letters, digits and '_', e.g. contact"),
            );
        }
        (Method::MarketingList, _, Some(list)) if list.trim().is_empty() => {
            r.add("source.list", "the list name is blank");
        }
        _ => {}
    }
    match method {
        Method::MarketingList => {
            if s.fetch_mode.is_some() {
                r.add("source.fetch_mode", "applies only to method: entity; remove it (a marketing list reads its members; for joiners and leavers only, write list_mode: changes)");
            }
            if s.days_to_get != 0 {
                r.add(
                    "source.days_to_get",
                    "applies only to method: entity with fetch_mode: all; remove it",
                );
            }
        }
        Method::Entity if s.days_to_get != 0 && s.fetch_mode() != FetchMode::All => {
            r.add(
                "source.days_to_get",
                "applies only to fetch_mode: all; remove it or set fetch_mode: all",
            );
        }
        Method::Entity => {}
    }
    if method == Method::Entity && s.list_mode.is_some() {
        r.add(
            "source.list_mode",
            "applies only to method: marketing_list; remove it (method: entity chooses source.fetch_mode)",
        );
    }
    if s.fields.is_empty() {
        r.add(
            "source.fields",
            "list the fields to read, e.g. [contactid, emailaddress1]",
        );
    }
    let mut seen: Vec<&str> = Vec::new();
    for (i, field) in s.fields.iter().enumerate() {
        if field.is_empty()
            || !field
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            r.add(format!("source.fields[{i}]"), format!("'{field}' is not a logical name; Dataverse logical names use lowercase letters, digits and '_'"));
        } else if seen.contains(&field.as_str()) {
            r.add(
                format!("source.fields[{i}]"),
                format!("'{field}' is listed twice"),
            );
        }
        seen.push(field);
    }
    match FetchXmlFilter::parse(&s.filter) {
        Ok(filter) => filter,
        Err(e) => {
            r.add("source.filter", e.to_string());
            None
        }
    }
}

fn event_rules(r: &mut Rules, e: &EventMapping, fields: &[String]) {
    match &e.name {
        EventName::Fixed { fixed } => r.event_name("events.name.fixed", fixed),
        EventName::FromField { field, mappings } => {
            r.in_fields("events.name.field", field, fields);
            if mappings.is_empty() {
                r.add("events.name.mappings", "a dynamic event name needs a mappings table from field values to event names, e.g. { \"100000000\": purchase }");
            }
            for (code, name) in mappings {
                r.event_name(&format!("events.name.mappings.{code}"), name);
            }
        }
    }
    if let TimestampSource::Field(field) = &e.timestamp {
        r.in_fields("events.timestamp.field", field, fields);
    }
    let mut keys = Vec::new();
    r.mappings("events.params", &e.params, fields, None, &mut keys);
    r.fixed("events.fixed_params", &e.fixed_params, None, &mut keys);
}

fn insider(r: &mut Rules, i: &InsiderSettings) {
    r.url("insider.api_url", &i.api_url);
    if i.partner.trim().is_empty() {
        r.add(
            "insider.partner",
            "the partner name is empty; find it in InOne > Settings > Account Settings",
        );
    } else if i.partner != i.partner.to_lowercase() {
        r.add(
            "insider.partner",
            format!(
                "the partner name must be lowercase; write '{}'",
                i.partner.to_lowercase()
            ),
        );
    } else if i.partner.chars().any(char::is_whitespace) {
        r.add("insider.partner", "the partner name has no spaces");
    }
    r.secret("insider.token", &i.token);
}
