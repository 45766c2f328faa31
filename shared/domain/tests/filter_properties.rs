//! Property tests of the record-filter validator: it never panics on arbitrary or
//! XML-ish input, and every snippet it accepts re-serialises to XML that parses and
//! validates to the same tree (so the query builder embeds exactly what was checked).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use dynsync_domain::FetchXmlFilter;
use proptest::prelude::*;

/// Accepted snippets round-trip: parse(xml()) gives the same tree and the same XML.
fn assert_round_trips(input: &str) -> Result<(), TestCaseError> {
    if let Ok(Some(filter)) = FetchXmlFilter::parse(input) {
        let again = FetchXmlFilter::parse(filter.xml());
        prop_assert!(
            matches!(again, Ok(Some(_))),
            "re-parse of {:?} failed: {:?}",
            filter.xml(),
            again
        );
        let again = again.unwrap().unwrap();
        prop_assert_eq!(again.root(), filter.root());
        prop_assert_eq!(again.xml(), filter.xml());
    }
    Ok(())
}

fn quote(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('\'', "&apos;")
}

fn value_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9 _.@-]{0,12}",
        any::<String>(),
        Just("A & B <c> 'd' \"e\"".to_owned()),
        Just("2026-01-01T00:00:00Z".to_owned()),
        Just("7".to_owned()),
    ]
}

fn condition() -> impl Strategy<Value = String> {
    let attribute = prop_oneof!["[a-z_][a-z0-9_]{0,10}", "[A-Za-z ]{1,5}"];
    let operator = prop_oneof![
        Just("eq"),
        Just("ne"),
        Just("like"),
        Just("in"),
        Just("not-in"),
        Just("between"),
        Just("null"),
        Just("not-null"),
        Just("on-or-after"),
        Just("last-x-days"),
        Just("today"),
        Just("bogus"),
    ];
    (attribute, operator, prop::option::of(value_text()), prop::collection::vec(value_text(), 0..4)).prop_map(
        |(attribute, operator, value, children)| {
            let value = value.map(|v| format!(" value='{}'", quote(&v))).unwrap_or_default();
            if children.is_empty() {
                format!("<condition attribute='{attribute}' operator='{operator}'{value} />")
            } else {
                let inner: String = children.iter().map(|c| format!("<value>{}</value>", quote(c))).collect();
                format!("<condition attribute='{attribute}' operator='{operator}'{value}>{inner}</condition>")
            }
        },
    )
}

fn filter_xml() -> impl Strategy<Value = String> {
    condition().prop_recursive(4, 24, 4, |inner| {
        (
            prop_oneof![Just("and"), Just("or"), Just("xor")],
            prop::collection::vec(inner, 0..4),
            "[ \n\t]{0,2}",
        )
            .prop_map(|(kind, items, gap)| {
                format!(
                    "<filter type='{kind}'>{gap}{}{gap}</filter>",
                    items.join(&gap)
                )
            })
    })
}

fn xml_soup() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        Just("<".to_owned()),
        Just(">".to_owned()),
        Just("/>".to_owned()),
        Just("</".to_owned()),
        Just("filter".to_owned()),
        Just("condition".to_owned()),
        Just("value".to_owned()),
        Just("entity".to_owned()),
        Just(" type='and'".to_owned()),
        Just(" attribute='a'".to_owned()),
        Just(" operator='in'".to_owned()),
        Just(" value='1'".to_owned()),
        Just("'".to_owned()),
        Just("\"".to_owned()),
        Just("&".to_owned()),
        Just("&amp;".to_owned()),
        Just("&#x41;".to_owned()),
        Just("&#0;".to_owned()),
        Just("<!--c-->".to_owned()),
        Just("<![CDATA[x]]>".to_owned()),
        Just("<?pi?>".to_owned()),
        Just("<!DOCTYPE d>".to_owned()),
        Just(" ".to_owned()),
        "\\PC{0,3}",
    ];
    prop::collection::vec(token, 0..40).prop_map(|tokens| tokens.concat())
}

proptest! {
    #[test]
    fn arbitrary_strings_never_panic(input in any::<String>()) {
        let _ = FetchXmlFilter::parse(&input);
    }

    #[test]
    fn xml_soup_never_panics_and_accepted_soup_round_trips(input in xml_soup()) {
        assert_round_trips(&input)?;
    }

    #[test]
    fn generated_filters_never_panic_and_accepted_ones_round_trip(input in filter_xml()) {
        assert_round_trips(&input)?;
    }

    #[test]
    fn well_formed_filters_of_valid_conditions_are_accepted(
        values in prop::collection::vec(value_text(), 1..4),
        days in 0u32..1000,
    ) {
        let children: String = values.iter().map(|v| format!("<value>{}</value>", quote(v))).collect();
        let input = format!(
            "<filter type='or'><condition attribute='lastname' operator='in'>{children}</condition>\
             <filter><condition attribute='modifiedon' operator='last-x-days' value='{days}'/></filter></filter>"
        );
        let filter = FetchXmlFilter::parse(&input);
        prop_assert!(matches!(filter, Ok(Some(_))), "{input}: {filter:?}");
        assert_round_trips(&input)?;
    }
}
