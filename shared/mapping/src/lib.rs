//! dynsync's mapping engine: turns Dataverse records into Insider users exactly as the
//! guide's Steps 6 to 9 describe. It is pure: no I/O, no clock (the processing time is
//! passed in), no logging of values.
//!
//! Modules: `mapper` (the [`Mapper`] compiled once per execution and the per-record
//! [`MappedRecord`]; a user too large for any request, by `dynsync_domain::batch`'s limit,
//! is refused here), `lookup` (a record's mapped fields read in one pass, by position),
//! `identifiers` and `phone` (Step 6 and the phone/invalid-identifier
//! settings of Step 9), `fields` and `values` (Step 7: keys, labels, inverted booleans,
//! coercion to Insider's types), `events` (Step 8). Upsert bodies and batch limits live in
//! `dynsync_domain::batch`. Depends only on `dynsync-domain`.

use dynsync_domain::batch;
mod events;
mod fields;
mod identifiers;
mod lookup;
mod mapper;
mod phone;
mod values;

/// Writes `value` under an Insider attribute key: a standard key at the root, `custom.<key>`
/// inside the `custom` object (as the definition's attributes are placed).
pub fn set_attribute(
    attributes: &mut dynsync_domain::Attributes,
    key: &str,
    value: serde_json::Value,
) {
    fields::Slot::parse(key).put(attributes, value);
}
pub use mapper::{MappedRecord, Mapper, Outcome, UNKNOWN_RECORD_ID};
