use std::str::FromStr;

use super::*;

/// Regions with every kind of rule: IDD prefixes of several shapes (`00`, `011`, `0011`,
/// `8~10`), national prefixes with and without a parsing pattern, transform rules
/// (Argentina, Mexico, Brazil), leading-zero national numbers (Italy), shared codes (US, CA).
const REGIONS: [&str; 36] = [
    "TR", "US", "CA", "GB", "DE", "FR", "IT", "AR", "MX", "BR", "IN", "CN", "JP", "RU", "KZ", "AU",
    "NZ", "NL", "ES", "SA", "AE", "EG", "ZA", "NG", "KR", "ID", "PK", "SE", "CH", "AT", "BE", "PL",
    "SM", "VA", "CO", "BY",
];

/// Starts that exercise IDDs, country codes, national prefixes and carrier codes.
const STARTS: [&str; 28] = [
    "", "0", "00", "000", "011", "0011", "010", "8", "810", "1", "90", "44", "49", "54", "549",
    "9", "15", "0 15", "800", "39", "06", "52", "521", "55", "0015", "02", "7", "3",
];

/// The crate's own answer, in the same shape.
fn by_crate(region: country::Id, digits: &str) -> Result<(u16, String), ()> {
    phonenumber::parse(Some(region), digits)
        .map(|n| (n.code().value(), n.national().to_string()))
        .map_err(|_| ())
}

fn by_digits(rules: &RegionDigits, digits: &str) -> Option<Result<(u16, String), ()>> {
    rules
        .parse(digits)
        .map(|r| r.map(|(code, national)| (code, national.to_string())))
}

#[test]
fn the_digit_path_agrees_with_the_crate() {
    // A fixed pseudo-random sequence (xorshift), so every run checks the same strings.
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut checked = 0;
    for region in REGIONS {
        let region = country::Id::from_str(region).expect("a known region");
        let rules = RegionDigits::new(region).expect("the region's rules compile");
        for start in STARTS {
            let start = start.replace(' ', "");
            for _ in 0..24 {
                let len = (next() % 15) as usize;
                let tail: String = (0..len)
                    .map(|_| char::from(b'0' + (next() % 10) as u8))
                    .collect();
                let digits = format!("{start}{tail}");
                if digits.is_empty() {
                    continue;
                }
                assert_eq!(
                    by_digits(&rules, &digits),
                    Some(by_crate(region, &digits)),
                    "{digits} in {region:?}"
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 20_000, "{checked}");
}

#[test]
fn the_digit_path_agrees_on_the_usual_numbers() {
    let cases = [
        ("TR", "05321234567"),
        ("TR", "5321234567"),
        ("TR", "905321234567"),
        ("TR", "00905321234567"),
        ("TR", "0905321234567"),
        ("TR", "02125551234"),
        ("TR", "08001234567"),
        ("TR", "0014155552671"),
        ("US", "4155552671"),
        ("US", "14155552671"),
        ("US", "011905321234567"),
        ("AR", "0111523456789"),
        ("MX", "0445512345678"),
        ("BR", "0211155512345"),
        ("IT", "0612345678"),
        ("GB", "02079460958"),
        ("TR", "0"),
        ("TR", "00"),
        ("TR", "000"),
        ("TR", "12"),
        ("TR", "99999999999999999999"),
    ];
    for (region, digits) in cases {
        let region = country::Id::from_str(region).expect("a known region");
        let rules = RegionDigits::new(region).expect("the region's rules compile");
        assert_eq!(
            by_digits(&rules, digits),
            Some(by_crate(region, digits)),
            "{digits} in {region:?}"
        );
    }
}

#[test]
fn anything_but_plain_digits_is_left_to_the_crate() {
    let rules = RegionDigits::new(country::Id::TR).expect("TR compiles");
    for text in [
        "",
        "+905321234567",
        "0532 123",
        "0532-123",
        "٠٥٣٢",
        "tel:0532",
        "0532x1",
    ] {
        assert_eq!(rules.parse(text), None, "{text:?}");
    }
}
