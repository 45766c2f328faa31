//! The demo seed ([`super::Seed::demo`]): ~200 contacts, leads, accounts, purchases and
//! static/dynamic marketing lists, with deliberately messy values.

use super::{FIRST, LAST, Rng, stamps};
use crate::dataverse::store::{State, StoreError};
use crate::dataverse::values::{FieldValue, Record};
use chrono::NaiveDate;

const CITIES: &[&str] = &[
    "Istanbul",
    "London",
    "Berlin",
    "Paris",
    "New York",
    "Tokyo",
    "İzmir",
    "São Paulo",
];
const PRODUCTS: &[&str] = &["SKU-1001", "SKU-1002", "SKU-2001", "SKU-3005", "SKU-4040"];

pub(super) fn demo(st: &mut State) -> Result<(), StoreError> {
    let mut rng = Rng(20_261_127);
    let mut accounts = Vec::new();
    for i in 0..20 {
        let r = Record::new()
            .with("accountid", rng.uuid())
            .with(
                "name",
                format!(
                    "{} {}",
                    rng.pick(LAST),
                    rng.pick(&["Ltd", "GmbH", "A.Ş.", "Inc", "SARL"])
                ),
            )
            .with("accountnumber", format!("AC-{i:04}"))
            .with("emailaddress1", format!("info{i}@company{i}.example"))
            .with("address1_city", rng.pick(CITIES))
            .with("revenue", (rng.below(5_000_000) as f64) + 0.5)
            .with("numberofemployees", rng.below(5000) as i64)
            .with("statecode", 0)
            .with("statuscode", 1);
        accounts.push(st.insert("account", stamps(&mut rng, r))?);
    }
    let mut contacts = Vec::new();
    for i in 0..200usize {
        let first = rng.pick(FIRST);
        let last = rng.pick(LAST);
        let mut r = Record::new().with("contactid", rng.uuid());
        // Messy on purpose: missing names, bad emails, national phone formats, unknown codes.
        if i % 17 != 3 {
            r = r.with("firstname", first);
        }
        r = r.with("lastname", last);
        let email = match i % 10 {
            0 => None,
            1 => Some(format!("{}.{}", first.to_lowercase(), "example.com")),
            2 => Some(format!(
                " {}@example.com ",
                last.to_lowercase().replace('\'', "")
            )),
            _ => Some(format!("{}.{}{i}@example.com", ascii(first), ascii(last))),
        };
        if let Some(e) = email {
            r = r.with("emailaddress1", e);
        }
        let phone = match i % 8 {
            0 => None,
            1 => Some("0532 123 45 67".to_owned()),
            2 => Some("(555) 123-4567".to_owned()),
            3 => Some("12345".to_owned()),
            4 => Some(format!("+44 20 7946 {:04}", rng.below(10_000))),
            _ => Some(format!("+90532{:07}", rng.below(10_000_000))),
        };
        if let Some(p) = phone {
            r = r.with("mobilephone", p);
        }
        if i % 3 == 0 {
            r = r.with(
                "telephone1",
                format!("0212 555 {:02} {:02}", rng.below(100), rng.below(100)),
            );
        }
        r = match i % 9 {
            0 => r,
            1 => r.with("gendercode", 3), // a code without a label
            n if n % 2 == 0 => r.with("gendercode", 1),
            _ => r.with("gendercode", 2),
        };
        r = r
            .with("donotbulkemail", i % 4 == 0)
            .with("new_vip", i % 11 == 0);
        if i % 5 != 0 {
            let birth = NaiveDate::from_ymd_opt(
                1950 + (rng.below(55) as i32),
                1 + rng.below(12) as u32,
                1 + rng.below(28) as u32,
            );
            if let Some(b) = birth {
                r = r.with("birthdate", b);
            }
        }
        r = r
            .with("address1_city", rng.pick(CITIES))
            .with("new_customerid", format!("CUST-{i:05}"));
        if i % 6 != 5 {
            r = r.with("new_loyaltytier", 100_000_000 + (i % 3) as i64);
        } else if i % 12 == 11 {
            r = r.with("new_loyaltytier", 100_000_009); // unknown option
        }
        if i % 7 == 0 {
            r = r.with(
                "new_interests",
                FieldValue::Choices(vec![100_000_000, 100_000_002]),
            );
        }
        if i % 4 == 1 {
            r = r.with("creditlimit", (rng.below(100_000) as f64) / 4.0);
        }
        if let Some(acc) = accounts.get(i % 23) {
            r = r.with_lookup("parentcustomerid", "account", *acc);
        }
        let (state, status) = if i % 19 == 7 { (1, 2) } else { (0, 1) };
        r = r.with("statecode", state).with("statuscode", status);
        contacts.push(st.insert("contact", stamps(&mut rng, r))?);
    }
    let mut leads = Vec::new();
    for i in 0..60usize {
        let first = rng.pick(FIRST);
        let last = rng.pick(LAST);
        let mut r = Record::new()
            .with("leadid", rng.uuid())
            .with("firstname", first)
            .with("lastname", last)
            .with("subject", format!("Interested in {}", rng.pick(PRODUCTS)))
            .with("companyname", format!("{} Co", rng.pick(LAST)))
            .with("statecode", (i % 3) as i64)
            .with("statuscode", 1 + (i % 4) as i64);
        if i % 6 != 0 {
            r = r.with(
                "emailaddress1",
                format!("lead{i}.{}@example.org", ascii(last)),
            );
        }
        if i % 5 != 0 {
            r = r.with(
                "mobilephone",
                if i % 2 == 0 {
                    "0532 987 65 43".to_owned()
                } else {
                    format!("+1555{:07}", rng.below(10_000_000))
                },
            );
        }
        leads.push(st.insert("lead", stamps(&mut rng, r))?);
    }
    for i in 0..120usize {
        let Some(contact) = contacts.get((i * 7) % contacts.len()).copied() else {
            continue;
        };
        let email = match st
            .tables
            .get("contact")
            .and_then(|t| t.get(&contact.into()))
            .and_then(|r| r.fields.get("emailaddress1"))
        {
            Some(FieldValue::Text(e)) => Some(e.clone()),
            _ => None,
        };
        let mut r = Record::new()
            .with("new_purchaseid", rng.uuid())
            .with("new_name", format!("ORD-{i:05}"))
            .with(
                "new_eventtype",
                if i % 10 == 9 {
                    100_000_001
                } else {
                    100_000_000
                },
            )
            .with("new_productid", rng.pick(PRODUCTS))
            .with(
                "new_productname",
                rng.pick(&["Kettle", "Toaster", "Blender", "Çaydanlık"]),
            )
            .with("new_quantity", 1 + rng.below(4) as i64)
            .with("new_amount", (rng.below(50_000) as f64) / 100.0)
            .with("new_currency", "USD")
            .with("new_orderid", format!("ORDER-{}", i / 2))
            .with_lookup("new_contactid", "contact", contact)
            .with("statecode", 0)
            .with("statuscode", 1);
        if let Some(e) = email {
            r = r.with("new_contactemail", e);
        }
        st.insert("new_purchase", stamps(&mut rng, r))?;
    }
    let list_rows: Vec<(&str, &str, Vec<uuid::Uuid>)> = vec![
        (
            "VIP Segment",
            "contact",
            contacts.iter().step_by(5).copied().collect(),
        ),
        (
            "Newsletter Subscribers",
            "contact",
            contacts.iter().skip(1).step_by(3).copied().collect(),
        ),
        (
            "Trade Show Leads",
            "lead",
            leads.iter().step_by(2).copied().collect(),
        ),
        (
            "Key Accounts",
            "account",
            accounts.iter().take(5).copied().collect(),
        ),
        (
            "Spring Campaign",
            "contact",
            contacts.iter().take(10).copied().collect(),
        ),
        (
            "Spring Campaign",
            "contact",
            contacts.iter().skip(10).take(10).copied().collect(),
        ),
    ];
    let store_lists = |st: &mut State| -> Result<(), StoreError> {
        for (name, member_type, ids) in &list_rows {
            st.add_static_list(name, member_type, ids)?;
        }
        st.add_dynamic_list(
                        "Gold Members",
            "contact",
            "<fetch version=\"1.0\" output-format=\"xml-platform\" mapping=\"logical\" distinct=\"false\"><entity name=\"contact\"><attribute name=\"fullname\" /><attribute name=\"telephone1\" /><attribute name=\"contactid\" /><order attribute=\"fullname\" descending=\"false\" /><filter type=\"and\"><condition attribute=\"new_loyaltytier\" operator=\"eq\" value=\"100000002\" /><condition attribute=\"statecode\" operator=\"eq\" value=\"0\" /></filter></entity></fetch>",
        )?;
        st.add_dynamic_list(
                        "Istanbul Contacts",
            "contact",
            "<fetch version=\"1.0\" output-format=\"xml-platform\" mapping=\"logical\" distinct=\"false\"><entity name=\"contact\"><attribute name=\"fullname\" /><attribute name=\"emailaddress1\" /><attribute name=\"contactid\" /><order attribute=\"fullname\" descending=\"false\" /><filter type=\"and\"><condition attribute=\"address1_city\" operator=\"eq\" value=\"Istanbul\" /><condition attribute=\"emailaddress1\" operator=\"not-null\" /></filter></entity></fetch>",
        )?;
        Ok(())
    };
    store_lists(st)
}

fn ascii(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_lowercase()
}
