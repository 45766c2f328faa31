//! Phone normalisation per the guide's phone settings (Step 9) and ARCHITECTURE.md 8:
//! with `country_code`, the number is parsed by libphonenumber (the `phonenumber` crate)
//! with that dial code's region as the default, so a national trunk prefix such as a leading
//! 0 is dropped and the code is added only when missing; with `international_format` alone,
//! non-digits are stripped and a `+` added. Either way the result must be E.164. A number
//! that is plain digits once its separators are dropped takes the crate's parse steps in
//! `digits` (the same result, without the crate's text grammar).

use std::str::FromStr;
use std::sync::LazyLock;

use dynsync_domain::definition::PhoneSettings;
use phonenumber::country;

mod digits;
use digits::RegionDigits;
use regex::Regex;

/// Insider's phone rule (API-FACTS.md 1.5).
static E164: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(r"^\+[1-9]\d{6,14}$").ok());

/// Longer inputs are not phone numbers; refusing them early bounds the parser's work.
const MAX_PHONE_INPUT: usize = 64;

/// Phone settings compiled once per execution.
#[derive(Debug, Clone)]
pub(crate) struct PhoneNormaliser {
    international_format: bool,
    /// The dial code's region, e.g. `TR` for 90.
    region: Option<country::Id>,
    /// The dial code digits as configured, used when the region is unknown.
    dial_code: Option<String>,
    /// The region's parse of plain digits, without the crate's text handling.
    digits: Option<RegionDigits>,
}

impl PhoneNormaliser {
    pub(crate) fn new(settings: &PhoneSettings) -> Self {
        let dial_code = settings
            .country_code
            .as_deref()
            .map(|code| code.trim().trim_start_matches('+').to_owned())
            .filter(|code| !code.is_empty());
        let region = dial_code.as_deref().and_then(region_of_dial_code);
        Self {
            international_format: settings.international_format,
            digits: region.and_then(RegionDigits::new),
            region,
            dial_code,
        }
    }

    /// The E.164 form of `raw`, or why it has none (never echoing the value: it is PII).
    pub(crate) fn normalise(&self, raw: &str) -> Result<String, &'static str> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err("empty");
        }
        if trimmed.len() > MAX_PHONE_INPUT {
            return Err("too long to be a phone number");
        }
        if is_e164(trimmed) {
            return Ok(trimmed.to_owned());
        }
        let candidate = if let Some(region) = self.region {
            let mut buffer = [0u8; MAX_PHONE_INPUT];
            let compacted = compact(trimmed, &mut buffer);
            let unparsed = "could not be parsed as a phone number";
            // Plain digits (almost every number once compacted) take the crate's steps
            // without its text handling; anything else goes to the crate.
            let (code, national) = match self.digits.as_ref().and_then(|d| d.parse(compacted)) {
                Some(parsed) => parsed.map_err(|()| unparsed)?,
                None => {
                    let parsed =
                        phonenumber::parse(Some(region), compacted).map_err(|_| unparsed)?;
                    (parsed.code().value(), *parsed.national())
                }
            };
            // E.164 is `+<country code><national number>`. Written directly rather than via
            // the crate's formatter, which searches the national formats first (slow) and
            // whose `to_string` panics on a country code without metadata.
            // The national number as its `Display` writes it: its leading zeros, then its value.
            let mut e164 = String::with_capacity(24);
            e164.push('+');
            push_decimal(&mut e164, u64::from(code));
            for _ in 0..national.zeros() {
                e164.push('0');
            }
            push_decimal(&mut e164, national.value());
            e164
        } else if let Some(code) = &self.dial_code {
            // A dial code libphonenumber does not know: prepend it by hand when missing.
            let digits = digits_of(trimmed);
            let national = digits.trim_start_matches('0');
            if trimmed.starts_with('+') || digits.starts_with(code.as_str()) {
                format!("+{digits}")
            } else {
                format!("+{code}{national}")
            }
        } else if self.international_format {
            format!("+{}", digits_of(trimmed))
        } else {
            trimmed.to_owned()
        };
        if is_e164(&candidate) {
            Ok(candidate)
        } else {
            Err("not an E.164 phone number after normalisation")
        }
    }
}

/// Whether `s` passes Insider's E.164 rule `^\+[1-9]\d{6,14}$`. ASCII text, the usual
/// case, is checked by hand (there `\d` is `[0-9]`); other text goes to the regex, whose
/// `\d` also takes non-ASCII digits.
pub(crate) fn is_e164(s: &str) -> bool {
    if s.is_ascii() {
        return match s.as_bytes() {
            [b'+', b'1'..=b'9', rest @ ..] => {
                (6..=14).contains(&rest.len()) && rest.iter().all(u8::is_ascii_digit)
            }
            _ => false,
        };
    }
    E164.as_ref().is_some_and(|re| re.is_match(s))
}

/// Drops the punctuation people put between digit groups (spaces, `-`, `.`, `/`, brackets)
/// so the parser sees `05321234567` rather than `0532 123 45 67`: the same number, parsed
/// faster. Anything else (letters, extensions, `tel:` URIs) is left to the parser as it is.
/// The compacted text is written into `buffer` (inputs are at most [`MAX_PHONE_INPUT`]
/// bytes, and compacting only drops bytes), so no allocation is needed.
fn compact<'a>(s: &'a str, buffer: &'a mut [u8; MAX_PHONE_INPUT]) -> &'a str {
    if s.len() > MAX_PHONE_INPUT {
        return s;
    }
    // One pass: plain text is ASCII (any other byte is not plain), so bytes and characters
    // coincide.
    let mut len = 0;
    for (i, byte) in s.bytes().enumerate() {
        if byte.is_ascii_digit() || (byte == b'+' && i == 0) {
            if let Some(slot) = buffer.get_mut(len) {
                *slot = byte;
                len += 1;
            }
        } else if !matches!(byte, b' ' | b'-' | b'.' | b'/' | b'(' | b')') {
            return s;
        }
    }
    buffer
        .get(..len)
        .and_then(|bytes| std::str::from_utf8(bytes).ok())
        .unwrap_or(s)
}

/// Appends `n` in decimal, as `{n}` formats it, without the formatting machinery.
fn push_decimal(out: &mut String, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    for slot in digits.iter_mut().rev() {
        *slot = b'0' + (n % 10) as u8;
        start -= 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &digit in digits.get(start..).unwrap_or_default() {
        out.push(char::from(digit));
    }
}

fn digits_of(s: &str) -> String {
    s.chars().filter(char::is_ascii_digit).collect()
}

/// Maps a dial code (`90`) to its main region (`TR`) through libphonenumber's metadata.
fn region_of_dial_code(code: &str) -> Option<country::Id> {
    let code: u16 = code.parse().ok()?;
    let regions = phonenumber::metadata::DATABASE.by_code(&code)?;
    let main = regions
        .iter()
        .find(|meta| meta.is_main_country_for_code())
        .or_else(|| regions.first())?;
    country::Id::from_str(main.id()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn normaliser(international_format: bool, country_code: Option<&str>) -> PhoneNormaliser {
        PhoneNormaliser::new(&PhoneSettings {
            international_format,
            country_code: country_code.map(str::to_owned),
        })
    }

    #[test]
    fn phone_numbers_normalise_per_settings() {
        let cases = [
            (false, Some("90"), "0532 123 45 67", Ok("+905321234567")),
            (true, Some("90"), "0532 123 45 67", Ok("+905321234567")),
            (false, Some("90"), "532 123 45 67", Ok("+905321234567")),
            (false, Some("90"), "905321234567", Ok("+905321234567")),
            (false, Some("90"), "0090 532 123 45 67", Ok("+905321234567")),
            (false, Some("90"), "+90 532 123 45 67", Ok("+905321234567")),
            (false, Some("90"), "+44 20 7946 0958", Ok("+442079460958")),
            (false, Some("+1"), "(415) 555-2671", Ok("+14155552671")),
            (true, None, "+90 (532) 123-45-67", Ok("+905321234567")),
            (true, None, "90 532 123 45 67", Ok("+905321234567")),
            (false, None, "+905321234567", Ok("+905321234567")),
            (
                false,
                None,
                "0532 123 45 67",
                Err("not an E.164 phone number after normalisation"),
            ),
            (
                true,
                None,
                "12345",
                Err("not an E.164 phone number after normalisation"),
            ),
            (true, None, "   ", Err("empty")),
            (
                false,
                Some("90"),
                "call me",
                Err("could not be parsed as a phone number"),
            ),
        ];
        for (international, code, input, expected) in cases {
            let got = normaliser(international, code).normalise(input);
            assert_eq!(got.as_deref(), expected.as_deref(), "{input} with {code:?}");
        }
    }

    #[test]
    fn the_hand_written_e164_check_agrees_with_the_rule() {
        let inputs = [
            "+905321234567",
            "+1234567",
            "+123456",
            "+123456789012345",
            "+1234567890123456",
            "+0123456789",
            "905321234567",
            "+90532123456a",
            "+90 5321234567",
            "+905321234567\n",
            "++905321234567",
            "+٩٠٥٣٢١٢٣٤٥٦٧",
            "",
            "+",
        ];
        for input in inputs {
            let by_regex = E164.as_ref().is_some_and(|re| re.is_match(input));
            assert_eq!(is_e164(input), by_regex, "{input:?}");
        }
    }

    #[test]
    fn compacting_drops_only_separators_and_leaves_other_text_alone() {
        let mut buffer = [0u8; MAX_PHONE_INPUT];
        assert_eq!(
            compact("+90 (532) 123-45.67/8", &mut buffer),
            "+905321234567 8".replace(' ', "")
        );
        let mut buffer = [0u8; MAX_PHONE_INPUT];
        assert_eq!(compact("tel:+90-532", &mut buffer), "tel:+90-532");
        let mut buffer = [0u8; MAX_PHONE_INPUT];
        assert_eq!(compact("0532 1+2", &mut buffer), "0532 1+2");
    }

    #[test]
    fn decimals_are_written_as_formatting_writes_them() {
        for n in [
            0,
            1,
            9,
            10,
            90,
            5_321_234_567,
            u64::from(u16::MAX),
            u64::MAX,
        ] {
            let mut out = String::from("+");
            push_decimal(&mut out, n);
            assert_eq!(out, format!("+{n}"));
        }
    }

    #[test]
    fn dial_codes_map_to_their_main_region() {
        assert_eq!(region_of_dial_code("90"), Some(country::Id::TR));
        assert_eq!(region_of_dial_code("1"), Some(country::Id::US));
        assert_eq!(region_of_dial_code("44"), Some(country::Id::GB));
        assert_eq!(region_of_dial_code("999"), None);
    }
}
