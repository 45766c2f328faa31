//! The emulated organisation's tables: contact, lead, account, marketing list, list
//! member and the custom `new_purchase`, with their columns and option sets.

use super::schema::{AttrDef, AttrKind, EntityDef};

/// Every table, in metadata order.
pub fn all() -> Vec<EntityDef> {
    vec![
        contact(),
        lead(),
        account(),
        list(),
        listmember(),
        purchase(),
    ]
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
    let mut e = standard(
        ("contact", "contacts", "contactid", "fullname"),
        "Contact",
        2,
        attributes,
    );
    for at in e.attributes.iter_mut() {
        if at.name == "new_loyaltytier" {
            at.global_option_set = Some("new_loyaltytier_global");
        }
    }
    e
}

/// A standard (not custom) table with change tracking, offered in Advanced Find; `names`
/// is (logical name, entity set, primary id, primary name).
fn standard(
    names: (&'static str, &'static str, &'static str, &'static str),
    display: &'static str,
    object_type_code: i64,
    attributes: Vec<AttrDef>,
) -> EntityDef {
    let (logical_name, entity_set, primary_id, primary_name) = names;
    EntityDef {
        logical_name,
        entity_set,
        primary_id,
        primary_name,
        display,
        custom: false,
        object_type_code,
        change_tracking: true,
        advanced_find: true,
        attributes,
    }
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
    standard(
        ("lead", "leads", "leadid", "fullname"),
        "Lead",
        4,
        attributes,
    )
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
    standard(
        ("account", "accounts", "accountid", "name"),
        "Account",
        1,
        attributes,
    )
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
    standard(
        ("list", "lists", "listid", "listname"),
        "Marketing List",
        4300,
        attributes,
    )
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
