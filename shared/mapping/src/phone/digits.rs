//! libphonenumber's parse (the `phonenumber` crate's `parse_with`) for the input that almost
//! every record has once [`super::compact`] has dropped the separators: plain ASCII digits,
//! with a default region. The crate spends most of its time on text the digits cannot
//! contain (RFC 3966 and natural-language extraction, a viability grammar, extensions) and
//! locks a shared regex cache on every regex use; this path takes the same steps on the
//! same metadata with the region's regexes compiled once (the crate's patterns and options).
//! It gives exactly the crate's result (country code and national number, or a refusal), as
//! `tests::the_digit_path_agrees_with_the_crate` checks over regions and digit strings;
//! anything that is not plain digits returns `None` and goes to the crate.

use std::borrow::Cow;

use phonenumber::metadata::{DATABASE, Metadata};
use phonenumber::{NationalNumber, country};
use regex::{Regex, RegexBuilder};

/// The crate's `consts::MIN_LENGTH_FOR_NSN`, `MAX_LENGTH_FOR_NSN`, `MAX_LENGTH_FOR_COUNTRY_CODE`.
const MIN_LENGTH_FOR_NSN: usize = 2;
const MAX_LENGTH_FOR_NSN: usize = 17;
const MAX_LENGTH_FOR_COUNTRY_CODE: usize = 3;

/// A default region's parsing rules, compiled once.
#[derive(Debug, Clone)]
pub(crate) struct RegionDigits {
    country_code: u16,
    code: String,
    international_prefix: Option<Regex>,
    national_prefix: Option<String>,
    national_prefix_for_parsing: Option<Regex>,
    national_prefix_transform_rule: Option<String>,
    /// The general descriptor: its national number pattern and lengths.
    general: Regex,
    possible_length: Vec<u16>,
    possible_local_length: Vec<u16>,
}

/// The crate's `Validation` for `Type::Unknown`, as far as parsing reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Length {
    IsPossible,
    IsPossibleLocalOnly,
    TooShort,
    TooLong,
    Invalid,
}

impl Length {
    fn is_possible(self) -> bool {
        matches!(self, Length::IsPossible | Length::IsPossibleLocalOnly)
    }
}

/// The crate's metadata patterns are compiled with `ignore_whitespace(true)`.
fn compile(pattern: &str) -> Option<Regex> {
    RegexBuilder::new(pattern)
        .ignore_whitespace(true)
        .build()
        .ok()
}

fn compile_optional(pattern: Option<&str>) -> Option<Option<Regex>> {
    match pattern {
        Some(pattern) => compile(pattern).map(Some),
        None => Some(None),
    }
}

impl RegionDigits {
    /// The rules of `region`; `None` when its metadata is missing or a pattern does not
    /// compile (the crate is used for every number then).
    pub(crate) fn new(region: country::Id) -> Option<Self> {
        let meta: &Metadata = DATABASE.by_id(region.as_ref())?;
        let general = meta.descriptors().general();
        Some(Self {
            country_code: meta.country_code(),
            code: meta.country_code().to_string(),
            international_prefix: compile_optional(
                meta.international_prefix().map(|re| re.as_str()),
            )?,
            national_prefix: meta.national_prefix().map(str::to_owned),
            national_prefix_for_parsing: compile_optional(
                meta.national_prefix_for_parsing().map(|re| re.as_str()),
            )?,
            national_prefix_transform_rule: meta
                .national_prefix_transform_rule()
                .map(str::to_owned),
            general: compile(general.national_number().as_str())?,
            possible_length: general.possible_length().to_vec(),
            possible_local_length: general.possible_local_length().to_vec(),
        })
    }

    /// `Descriptor::is_match` of the general descriptor.
    fn general_matches(&self, value: &str) -> bool {
        if !self.possible_length.is_empty() && !self.possible_length.contains(&(value.len() as u16))
        {
            return false;
        }
        self.general.find(value).is_some_and(|m| m.start() == 0)
    }

    /// `validator::length(meta, number, Type::Unknown)`.
    fn length(&self, national: &str) -> Length {
        let length = national.len() as u16;
        let (Some(&minimum), Some(&maximum)) =
            (self.possible_length.first(), self.possible_length.last())
        else {
            return Length::Invalid;
        };
        if self.possible_local_length.contains(&length) {
            Length::IsPossibleLocalOnly
        } else if length == minimum {
            Length::IsPossible
        } else if length < minimum {
            Length::TooShort
        } else if length > maximum {
            Length::TooLong
        } else if self.possible_length.contains(&length) {
            Length::IsPossible
        } else {
            Length::Invalid
        }
    }

    /// What `phonenumber::parse(Some(region), digits)` gives, as (country code, national
    /// number) or `Err` for any refusal; `None` when `digits` is not plain ASCII digits.
    pub(crate) fn parse(&self, digits: &str) -> Option<Result<(u16, NationalNumber), ()>> {
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        // Plain digits parse as an RFC 3966 number without prefix or parameters; they are
        // viable from two digits on.
        if digits.len() < MIN_LENGTH_FOR_NSN {
            return Some(Err(()));
        }
        // `helper::country_code`: an international (IDD) prefix at the start, not followed
        // by a 0, is dropped and the country code read after it; otherwise the region's
        // code, dropped from the number when the number starts with it and is not a
        // possible national number as it stands.
        let mut national: &str = digits;
        let mut after_idd = false;
        if let Some(m) = self
            .international_prefix
            .as_ref()
            .and_then(|re| re.find(national))
            && m.start() == 0
            && !national.get(m.end()..).unwrap_or("").starts_with('0')
        {
            after_idd = true;
            national = national.get(m.end()..).unwrap_or("");
        }
        let code = if after_idd {
            if national.len() <= MIN_LENGTH_FOR_NSN || national.starts_with('0') {
                return Some(Err(()));
            }
            let mut found = None;
            for len in 1..=MAX_LENGTH_FOR_COUNTRY_CODE {
                let code: u16 = national.get(..len)?.parse().ok()?;
                if DATABASE.by_code(&code).is_some() {
                    found = Some(code);
                    national = national.get(len..)?;
                    break;
                }
            }
            match found {
                Some(code) => code,
                None => return Some(Err(())),
            }
        } else {
            if national.starts_with(self.code.as_str())
                && (!self.general_matches(national) || !self.length(national).is_possible())
            {
                national = national.get(self.code.len()..)?;
            }
            self.country_code
        };
        // `parse_with`: the default region's national prefix (and carrier) stripped when
        // what is left is not too short.
        let Some(mut potential) = self.national_number(national) else {
            return Some(Err(()));
        };
        if let Some(prefix) = &self.national_prefix
            && potential.starts_with(prefix.as_str())
        {
            potential = Cow::Owned(potential.get(prefix.len()..)?.to_owned());
        }
        let national: Cow<'_, str> = if self.length(&potential) != Length::TooShort {
            potential
        } else {
            Cow::Borrowed(national)
        };
        if national.len() < MIN_LENGTH_FOR_NSN || national.len() > MAX_LENGTH_FOR_NSN {
            return Some(Err(()));
        }
        Some(
            national
                .parse::<NationalNumber>()
                .map(|n| (code, n))
                .map_err(|_| ()),
        )
    }

    /// `helper::national_number`: the national prefix for parsing (with its transform rule)
    /// stripped when the number stays a possible one. `None` only where the crate would
    /// panic (a transform rule whose first group did not match): a refusal here.
    fn national_number<'a>(&self, national: &'a str) -> Option<Cow<'a, str>> {
        let Some(parsing) = &self.national_prefix_for_parsing else {
            if let Some(prefix) = &self.national_prefix
                && national.starts_with(prefix.as_str())
            {
                return Some(Cow::Borrowed(national.get(prefix.len()..)?));
            }
            return Some(Cow::Borrowed(national));
        };
        // One search: the captures' whole match is the one `find` gives.
        let Some(captures) = parsing.captures(national) else {
            return Some(Cow::Borrowed(national));
        };
        let Some(m) = captures.get(0) else {
            return Some(Cow::Borrowed(national));
        };
        let (start, end) = (m.start(), m.end());
        if start != 0 {
            return Some(Cow::Borrowed(national));
        }
        let viable = self.general_matches(national);
        let first = captures.get(1).is_some();
        let last = captures.get(captures.len().saturating_sub(1)).is_some();
        match &self.national_prefix_transform_rule {
            Some(transform) if last => {
                let transformed = parsing.replace(national, transform.as_str()).into_owned();
                if viable && !self.general_matches(&transformed) {
                    return Some(Cow::Borrowed(national));
                }
                if !first {
                    return None;
                }
                Some(Cow::Owned(transformed))
            }
            _ => {
                if viable && !self.general_matches(national.get(start..)?) {
                    return Some(Cow::Borrowed(national));
                }
                Some(Cow::Borrowed(national.get(end..)?))
            }
        }
    }
}

#[cfg(test)]
mod tests;
