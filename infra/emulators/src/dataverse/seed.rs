//! Deterministic synthetic data: [`Seed::demo`] (contacts, leads, accounts, purchases and
//! marketing lists with deliberately messy values) and [`Seed::contacts`] (many plain
//! contacts, fast, for paging tests). The same seed always yields the same rows and ids.

use super::store::{State, StoreError};
use super::values::{FieldValue, Record};
use chrono::{DateTime, Duration, TimeZone, Utc};
use uuid::Uuid;

mod demo;

use demo::demo;

/// SplitMix64: tiny, fast and stable across releases (unlike library RNGs).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        let i = self.below(items.len() as u64) as usize;
        items.get(i).copied().unwrap_or_default()
    }
    fn uuid(&mut self) -> Uuid {
        let hi = self.next().to_be_bytes();
        let lo = self.next().to_be_bytes();
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&hi);
        b[8..].copy_from_slice(&lo);
        uuid::Builder::from_random_bytes(b).into_uuid()
    }
}

const FIRST: &[&str] = &[
    "Ada", "Alan", "Grace", "Linus", "Margaret", "Ken", "Barbara", "Dennis", "Frances", "John",
    "Mary", "Ahmet", "Ayşe", "Zoë", "José", "Björn", "Chloé", "Mehmet", "Élodie", "Søren",
    "Zeynep", "Łukasz", "Nuñez", "Yuki",
];
const LAST: &[&str] = &[
    "Lovelace",
    "Turing",
    "Hopper",
    "Torvalds",
    "Hamilton",
    "Thompson",
    "Liskov",
    "Ritchie",
    "Allen",
    "Smith",
    "O'Brien",
    "Yılmaz",
    "Müller",
    "García",
    "Öztürk",
    "Kowalski",
    "Dubois",
    "Nakamura",
    "Şahin",
    "Østergaard",
];

/// The date seeded timestamps are spread before.
pub fn seed_epoch() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 9, 0, 0)
        .single()
        .unwrap_or_default()
}

#[derive(Debug, Clone, Copy)]
enum Part {
    Demo,
    Contacts { n: usize, rng_seed: u64 },
}

/// What to load into a new emulator.
#[derive(Debug, Clone, Default)]
pub struct Seed {
    parts: Vec<Part>,
}

impl Seed {
    /// No rows at all.
    pub fn empty() -> Self {
        Seed::default()
    }

    /// ~200 contacts, leads, accounts, purchases and static/dynamic lists with messy values.
    pub fn demo() -> Self {
        Seed {
            parts: vec![Part::Demo],
        }
    }

    /// `n` synthetic contacts (fast; for paging tests over 10k/100k rows).
    pub fn contacts(n: usize, rng_seed: u64) -> Self {
        Seed {
            parts: vec![Part::Contacts { n, rng_seed }],
        }
    }

    pub(crate) fn load(&self, st: &mut State) -> Result<(), StoreError> {
        for part in &self.parts {
            match *part {
                Part::Demo => demo(st)?,
                Part::Contacts { n, rng_seed } => contacts(st, n, rng_seed)?,
            }
        }
        Ok(())
    }
}

fn stamps(rng: &mut Rng, r: Record) -> Record {
    let created = seed_epoch() - Duration::minutes(rng.below(365 * 24 * 60) as i64 + 60);
    let modified = created
        + Duration::minutes(rng.below((seed_epoch() - created).num_minutes().max(1) as u64) as i64);
    r.with("createdon", created).with("modifiedon", modified)
}

fn contacts(st: &mut State, n: usize, rng_seed: u64) -> Result<(), StoreError> {
    let mut rng = Rng(rng_seed);
    let epoch = seed_epoch();
    for i in 0..n {
        let id = rng.uuid();
        let first = rng.pick(FIRST);
        let last = rng.pick(LAST);
        let created = epoch - Duration::minutes(rng.below(365 * 24 * 60) as i64 + 60);
        let modified = created + Duration::minutes(rng.below(60) as i64);
        let mut m = std::collections::BTreeMap::new();
        let mut put = |k: &str, v: FieldValue| {
            m.insert(k.to_owned(), v);
        };
        put("contactid", FieldValue::Guid(id));
        put("firstname", FieldValue::Text(first.to_owned()));
        put("lastname", FieldValue::Text(last.to_owned()));
        put("fullname", FieldValue::Text(format!("{first} {last}")));
        put(
            "emailaddress1",
            FieldValue::Text(format!("user{i}@example.com")),
        );
        put(
            "mobilephone",
            FieldValue::Text(format!("+90532{:07}", rng.below(10_000_000))),
        );
        put("gendercode", FieldValue::Int(1 + rng.below(2) as i64));
        put("new_customerid", FieldValue::Text(format!("C{i:07}")));
        put("statecode", FieldValue::Int(0));
        put("statuscode", FieldValue::Int(1));
        put("createdon", FieldValue::DateTime(created));
        put("modifiedon", FieldValue::DateTime(modified));
        st.insert_trusted("contact", id, Record(m));
    }
    Ok(())
}
