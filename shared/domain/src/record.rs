//! A Dataverse record as the Web API returns it, and the option-set labels used for
//! "convert code to label".

use std::collections::BTreeMap;

/// One record: logical field name -> JSON value. Null-valued fields are absent (FetchXML
/// omits them). Formatted values, when requested, sit beside their field under
/// `<field>@OData.Community.Display.V1.FormattedValue`.
pub type Record = serde_json::Map<String, serde_json::Value>;

/// The annotation suffix Dataverse uses for formatted values (labels of choices, etc.).
pub const FORMATTED_VALUE_SUFFIX: &str = "@OData.Community.Display.V1.FormattedValue";

/// Option-set labels of an entity's choice, state, status and boolean fields:
/// field logical name -> option value -> label. Booleans use 0 (false) and 1 (true).
pub type OptionLabels = BTreeMap<String, BTreeMap<i64, String>>;
