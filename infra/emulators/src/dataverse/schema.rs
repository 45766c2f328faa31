//! The emulated organisation's metadata: tables, their columns and option sets.
//!
//! One table-driven description serves the metadata endpoints (`EntityDefinitions`), the
//! type-aware FetchXML/OData evaluation and the formatted-value annotations, so they agree.

/// A column's type, as Dataverse's `AttributeType` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttrKind {
    String,
    Memo,
    Integer,
    Decimal,
    Money,
    Boolean,
    Picklist,
    State,
    Status,
    MultiSelectPicklist,
    /// Date and time (UTC).
    DateTime,
    /// Date only (`birthdate`).
    DateOnly,
    Uniqueidentifier,
    Lookup,
    Customer,
}

impl AttrKind {
    /// Dataverse's `AttributeType` value.
    pub fn attribute_type(self) -> &'static str {
        match self {
            AttrKind::String => "String",
            AttrKind::Memo => "Memo",
            AttrKind::Integer => "Integer",
            AttrKind::Decimal => "Decimal",
            AttrKind::Money => "Money",
            AttrKind::Boolean => "Boolean",
            AttrKind::Picklist => "Picklist",
            AttrKind::State => "State",
            AttrKind::Status => "Status",
            AttrKind::MultiSelectPicklist => "Virtual",
            AttrKind::DateTime | AttrKind::DateOnly => "DateTime",
            AttrKind::Uniqueidentifier => "Uniqueidentifier",
            AttrKind::Lookup => "Lookup",
            AttrKind::Customer => "Customer",
        }
    }

    /// Dataverse's `AttributeTypeName.Value`.
    pub fn attribute_type_name(self) -> &'static str {
        match self {
            AttrKind::MultiSelectPicklist => "MultiSelectPicklistType",
            AttrKind::DateTime | AttrKind::DateOnly => "DateTimeType",
            other => match other.attribute_type() {
                "String" => "StringType",
                "Memo" => "MemoType",
                "Integer" => "IntegerType",
                "Decimal" => "DecimalType",
                "Money" => "MoneyType",
                "Boolean" => "BooleanType",
                "Picklist" => "PicklistType",
                "State" => "StateType",
                "Status" => "StatusType",
                "Uniqueidentifier" => "UniqueidentifierType",
                "Lookup" => "LookupType",
                _ => "CustomerType",
            },
        }
    }

    /// Whether values are references to other rows (`_x_value` in the Web API).
    pub fn is_lookup(self) -> bool {
        matches!(self, AttrKind::Lookup | AttrKind::Customer)
    }

    /// Whether the column has an option set (choice, state, status, yes/no, multi-select).
    pub fn has_options(self) -> bool {
        matches!(
            self,
            AttrKind::Picklist
                | AttrKind::State
                | AttrKind::Status
                | AttrKind::Boolean
                | AttrKind::MultiSelectPicklist
        )
    }
}

/// One column.
#[derive(Clone, Debug)]
pub struct AttrDef {
    pub name: &'static str,
    pub kind: AttrKind,
    pub display: &'static str,
    pub custom: bool,
    /// Choice options `(value, label)`; for Boolean, `[(0, false label), (1, true label)]`.
    pub options: &'static [(i64, &'static str)],
    /// Global option set name, when the options are shared.
    pub global_option_set: Option<&'static str>,
    /// Lookup targets.
    pub targets: &'static [&'static str],
}

/// One table.
#[derive(Clone, Debug)]
pub struct EntityDef {
    pub logical_name: &'static str,
    pub entity_set: &'static str,
    pub primary_id: &'static str,
    pub primary_name: &'static str,
    pub display: &'static str,
    pub custom: bool,
    pub object_type_code: i64,
    pub change_tracking: bool,
    pub advanced_find: bool,
    pub attributes: Vec<AttrDef>,
}

impl EntityDef {
    /// The column called `name`, if the table has it.
    pub fn attr(&self, name: &str) -> Option<&AttrDef> {
        self.attributes.iter().find(|a| a.name == name)
    }
}

const fn a(name: &'static str, kind: AttrKind, display: &'static str) -> AttrDef {
    AttrDef {
        name,
        kind,
        display,
        custom: false,
        options: &[],
        global_option_set: None,
        targets: &[],
    }
}

const fn custom(mut d: AttrDef) -> AttrDef {
    d.custom = true;
    d
}

const fn opts(mut d: AttrDef, options: &'static [(i64, &'static str)]) -> AttrDef {
    d.options = options;
    d
}

const fn lookup(mut d: AttrDef, targets: &'static [&'static str]) -> AttrDef {
    d.targets = targets;
    d
}

use AttrKind as K;

const STATE: &[(i64, &str)] = &[(0, "Active"), (1, "Inactive")];
const STATUS: &[(i64, &str)] = &[(1, "Active"), (2, "Inactive")];
const GENDER: &[(i64, &str)] = &[(1, "Male"), (2, "Female")];
const ALLOW: &[(i64, &str)] = &[(0, "Allow"), (1, "Do Not Allow")];
const YES_NO: &[(i64, &str)] = &[(0, "No"), (1, "Yes")];
const LOYALTY: &[(i64, &str)] = &[
    (100000000, "Bronze"),
    (100000001, "Silver"),
    (100000002, "Gold"),
];
const INTERESTS: &[(i64, &str)] = &[
    (100000000, "Sports"),
    (100000001, "Music"),
    (100000002, "Travel"),
];
const EVENT_TYPE: &[(i64, &str)] = &[(100000000, "purchase"), (100000001, "refund")];
const LEAD_STATE: &[(i64, &str)] = &[(0, "Open"), (1, "Qualified"), (2, "Disqualified")];
const LEAD_STATUS: &[(i64, &str)] = &[(1, "New"), (2, "Contacted"), (3, "Qualified"), (4, "Lost")];
const LIST_TYPE: &[(i64, &str)] = &[(0, "Static"), (1, "Dynamic")];
const MEMBER_TYPE: &[(i64, &str)] = &[(1, "Account"), (2, "Contact"), (4, "Lead")];
const LIST_STATUS: &[(i64, &str)] = &[(0, "Active"), (1, "Inactive")];

fn common(primary_id: &'static str) -> Vec<AttrDef> {
    vec![
        a(primary_id, K::Uniqueidentifier, "Id"),
        a("createdon", K::DateTime, "Created On"),
        a("modifiedon", K::DateTime, "Modified On"),
        opts(a("statecode", K::State, "Status"), STATE),
        opts(a("statuscode", K::Status, "Status Reason"), STATUS),
    ]
}

fn contact() -> EntityDef {
    let mut attributes = common("contactid");
    attributes.extend([
        a("fullname", K::String, "Full Name"),
        a("firstname", K::String, "First Name"),
        a("lastname", K::String, "Last Name"),
        a("emailaddress1", K::String, "Email"),
        a("telephone1", K::String, "Business Phone"),
        a("mobilephone", K::String, "Mobile Phone"),
        a("address1_city", K::String, "City"),
        a("address1_country", K::String, "Country/Region"),
        opts(a("gendercode", K::Picklist, "Gender"), GENDER),
        opts(
            a("donotbulkemail", K::Boolean, "Do not allow Bulk Emails"),
            ALLOW,
        ),
        opts(
            a("donotsendmm", K::Boolean, "Send Marketing Materials"),
            ALLOW,
        ),
        a("birthdate", K::DateOnly, "Birthday"),
        a("numberofchildren", K::Integer, "No. of Children"),
        a("creditlimit", K::Money, "Credit Limit"),
        lookup(
            a("parentcustomerid", K::Customer, "Company Name"),
            &["account", "contact"],
        ),
        custom(opts(
            a("new_loyaltytier", K::Picklist, "Loyalty Tier"),
            LOYALTY,
        )),
        custom(a("new_customerid", K::String, "Customer ID")),
        custom(opts(
            a("new_interests", K::MultiSelectPicklist, "Interests"),
            INTERESTS,
        )),
        custom(opts(a("new_vip", K::Boolean, "VIP"), YES_NO)),
    ]);
    let mut e = EntityDef {
        logical_name: "contact",
        entity_set: "contacts",
        primary_id: "contactid",
        primary_name: "fullname",
        display: "Contact",
        custom: false,
        object_type_code: 2,
        change_tracking: true,
        advanced_find: true,
        attributes,
    };
    for at in e.attributes.iter_mut() {
        if at.name == "new_loyaltytier" {
            at.global_option_set = Some("new_loyaltytier_global");
        }
    }
    e
}

fn lead() -> EntityDef {
    let mut attributes = common("leadid");
    for at in attributes.iter_mut() {
        match at.name {
            "statecode" => at.options = LEAD_STATE,
            "statuscode" => at.options = LEAD_STATUS,
            _ => {}
        }
    }
    attributes.extend([
        a("fullname", K::String, "Name"),
        a("subject", K::String, "Topic"),
        a("firstname", K::String, "First Name"),
        a("lastname", K::String, "Last Name"),
        a("emailaddress1", K::String, "Email"),
        a("telephone1", K::String, "Business Phone"),
        a("mobilephone", K::String, "Mobile Phone"),
        a("companyname", K::String, "Company Name"),
        opts(
            a("donotbulkemail", K::Boolean, "Do not allow Bulk Emails"),
            ALLOW,
        ),
        a("estimatedamount", K::Money, "Est. Value"),
        lookup(
            a("parentcontactid", K::Lookup, "Parent Contact for lead"),
            &["contact"],
        ),
    ]);
    EntityDef {
        logical_name: "lead",
        entity_set: "leads",
        primary_id: "leadid",
        primary_name: "fullname",
        display: "Lead",
        custom: false,
        object_type_code: 4,
        change_tracking: true,
        advanced_find: true,
        attributes,
    }
}

fn account() -> EntityDef {
    let mut attributes = common("accountid");
    attributes.extend([
        a("name", K::String, "Account Name"),
        a("accountnumber", K::String, "Account Number"),
        a("emailaddress1", K::String, "Email"),
        a("telephone1", K::String, "Main Phone"),
        a("address1_city", K::String, "City"),
        a("revenue", K::Money, "Annual Revenue"),
        a("numberofemployees", K::Integer, "Number of Employees"),
        lookup(
            a("primarycontactid", K::Lookup, "Primary Contact"),
            &["contact"],
        ),
    ]);
    EntityDef {
        logical_name: "account",
        entity_set: "accounts",
        primary_id: "accountid",
        primary_name: "name",
        display: "Account",
        custom: false,
        object_type_code: 1,
        change_tracking: true,
        advanced_find: true,
        attributes,
    }
}

fn list() -> EntityDef {
    let mut attributes = common("listid");
    for at in attributes.iter_mut() {
        if at.name == "statecode" {
            at.options = LIST_STATUS;
        }
        if at.name == "statuscode" {
            at.options = &[(0, "Active"), (1, "Inactive")];
        }
    }
    attributes.extend([
        a("listname", K::String, "Name"),
        opts(a("type", K::Boolean, "Type"), LIST_TYPE),
        opts(
            a("createdfromcode", K::Picklist, "Marketing List Member Type"),
            MEMBER_TYPE,
        ),
        a("query", K::Memo, "Query"),
        a("membercount", K::Integer, "Members Count"),
        opts(a("lockstatus", K::Boolean, "Locked"), YES_NO),
        a("description", K::Memo, "Description"),
    ]);
    EntityDef {
        logical_name: "list",
        entity_set: "lists",
        primary_id: "listid",
        primary_name: "listname",
        display: "Marketing List",
        custom: false,
        object_type_code: 4300,
        change_tracking: true,
        advanced_find: true,
        attributes,
    }
}

fn listmember() -> EntityDef {
    EntityDef {
        logical_name: "listmember",
        entity_set: "listmembers",
        primary_id: "listmemberid",
        primary_name: "",
        display: "Marketing List Member",
        custom: false,
        object_type_code: 4301,
        change_tracking: false,
        advanced_find: false,
        attributes: vec![
            a("listmemberid", K::Uniqueidentifier, "Marketing List Member"),
            lookup(a("listid", K::Lookup, "List"), &["list"]),
            lookup(
                a("entityid", K::Lookup, "Member"),
                &["account", "contact", "lead"],
            ),
            opts(a("entitytype", K::Picklist, "Member Type"), MEMBER_TYPE),
            a("createdon", K::DateTime, "Created On"),
            a("modifiedon", K::DateTime, "Modified On"),
        ],
    }
}

fn purchase() -> EntityDef {
    let mut attributes = common("new_purchaseid");
    attributes.extend([
        custom(a("new_name", K::String, "Name")),
        custom(opts(
            a("new_eventtype", K::Picklist, "Event Type"),
            EVENT_TYPE,
        )),
        custom(a("new_productid", K::String, "Product ID")),
        custom(a("new_productname", K::String, "Product Name")),
        custom(a("new_quantity", K::Integer, "Quantity")),
        custom(a("new_amount", K::Money, "Amount")),
        custom(a("new_currency", K::String, "Currency")),
        custom(a("new_orderid", K::String, "Order ID")),
        custom(a("new_contactemail", K::String, "Contact Email")),
        custom(lookup(
            a("new_contactid", K::Lookup, "Contact"),
            &["contact"],
        )),
    ]);
    for at in attributes.iter_mut() {
        if matches!(at.name, "new_purchaseid") {
            at.custom = true;
        }
    }
    EntityDef {
        logical_name: "new_purchase",
        entity_set: "new_purchases",
        primary_id: "new_purchaseid",
        primary_name: "new_name",
        display: "Purchase",
        custom: true,
        object_type_code: 10001,
        change_tracking: true,
        advanced_find: true,
        attributes,
    }
}

/// All tables of the emulated organisation.
#[derive(Clone, Debug)]
pub struct Schema {
    pub entities: Vec<EntityDef>,
}

impl Schema {
    /// The organisation every emulator serves.
    pub fn standard() -> Self {
        Schema {
            entities: vec![
                contact(),
                lead(),
                account(),
                list(),
                listmember(),
                purchase(),
            ],
        }
    }

    /// Table by logical name (`contact`).
    pub fn entity(&self, logical_name: &str) -> Option<&EntityDef> {
        self.entities
            .iter()
            .find(|e| e.logical_name == logical_name)
    }

    /// Table by entity set name (`contacts`).
    pub fn by_set(&self, entity_set: &str) -> Option<&EntityDef> {
        self.entities.iter().find(|e| e.entity_set == entity_set)
    }
}
