//! A scripted Dataverse: contacts held in memory, paged by primary id in SQL Server order,
//! filtered by the execution's window and partition exactly as the real FetchXML would,
//! with knobs for plan failures and transient or permanent fetch errors. It also tracks
//! changes as Dataverse does (API-FACTS.md 2.6): every put and remove gets a version, a
//! full read ends with a delta link holding the version it read up to, and a delta link
//! reads the rows changed and deleted after its version, paged by links; a record filter
//! is applied to the changed rows as Dataverse's FetchXML would, and tokens can expire.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

use chrono::{DateTime, Utc};
use dynsync_domain::definition::FetchMode;
use dynsync_domain::execution::{ListTarget, SourcePlan};
use dynsync_domain::ports::{
    ChangesPage, ChangesReply, ChangesRequest, DataSource, PageRequest, PortError, SourcePage,
};
use dynsync_domain::{ErrorKind, Integration, Record};
use dynsync_fetchxml::{parse_guid, partition_contains, sql_server_key};

#[derive(Debug, Clone)]
pub struct Row {
    pub id: String,
    pub created: DateTime<Utc>,
    pub modified: DateTime<Utc>,
    pub record: Record,
}

/// A contact numbered `n`; `email: None` leaves it without an identifier (skipped).
pub fn contact(
    n: u64,
    email: Option<&str>,
    created: DateTime<Utc>,
    modified: DateTime<Utc>,
) -> Row {
    let spread = n.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 16;
    let id = format!("{:08x}-1111-2222-3333-{spread:012x}", n);
    let mut record = Record::new();
    record.insert("contactid".into(), id.clone().into());
    if let Some(email) = email {
        record.insert("emailaddress1".into(), email.into());
    }
    record.insert("firstname".into(), format!("Name {n}").into());
    record.insert("modifiedon".into(), modified.to_rfc3339().into());
    Row {
        id,
        created,
        modified,
        record,
    }
}

/// `n` contacts `first..first+n` with valid emails, created and modified at `at`.
pub fn contacts(first: u64, n: u64, at: DateTime<Utc>) -> Vec<Row> {
    (first..first + n)
        .map(|i| contact(i, Some(&format!("user{i}@example.com")), at, at))
        .collect()
}

/// Which records `source.filter` selects (the scripted source's stand-in for Dataverse's
/// evaluation of the definition's filter).
pub type RecordFilter = std::sync::Arc<dyn Fn(&Record) -> bool + Send + Sync>;

/// The change log: the current version, each live row's last change, and tombstones.
#[derive(Default)]
struct ChangeLog {
    version: u64,
    changed: std::collections::HashMap<String, u64>,
    deleted: Vec<(String, u64)>,
    /// Tokens of an older epoch are expired.
    epoch: u64,
}

#[derive(Default)]
pub struct ScriptedSource {
    rows: Mutex<Vec<Row>>,
    log: Mutex<ChangeLog>,
    filter: Mutex<Option<RecordFilter>>,
    /// Every link `fetch_changes` was asked for (`None`: a full read's first page).
    change_links: Mutex<Vec<Option<String>>>,
    plan_error: Mutex<Option<(ErrorKind, String)>>,
    transient_fetch_failures: AtomicU32,
    permanent_fetch_error: Mutex<Option<String>>,
    fetches: AtomicU32,
    yield_in_fetch: std::sync::atomic::AtomicBool,
    /// Page fetches between their start and their yield (see `yield_in_fetch`), and the
    /// most of them seen at once.
    fetching: AtomicU32,
    most_fetching: AtomicU32,
}

impl ScriptedSource {
    pub fn new(rows: Vec<Row>) -> Self {
        let source = Self::default();
        source.put(rows);
        source
    }

    /// Adds or replaces rows (by id).
    pub fn put(&self, rows: Vec<Row>) {
        let mut all = self.rows.lock().unwrap();
        let mut log = self.log.lock().unwrap();
        for row in rows {
            log.version += 1;
            let version = log.version;
            log.changed.insert(row.id.clone(), version);
            log.deleted.retain(|(id, _)| *id != row.id);
            all.retain(|r| r.id != row.id);
            all.push(row);
        }
    }

    /// Deletes the row with this id.
    pub fn remove(&self, id: &str) {
        let mut all = self.rows.lock().unwrap();
        if !all.iter().any(|r| r.id == id) {
            return;
        }
        all.retain(|r| r.id != id);
        let mut log = self.log.lock().unwrap();
        log.version += 1;
        let version = log.version;
        log.changed.remove(id);
        log.deleted.push((id.to_owned(), version));
    }

    /// The records `source.filter` selects from now on (every record without one).
    pub fn filter(&self, filter: RecordFilter) {
        *self.filter.lock().unwrap() = Some(filter);
    }

    /// Every delta token issued so far expires (as when it is older than the
    /// organization's change-tracking retention).
    pub fn expire_change_tokens(&self) {
        self.log.lock().unwrap().epoch += 1;
    }

    /// The links change-tracking reads asked for, in order (`None`: a full read).
    pub fn change_links(&self) -> Vec<Option<String>> {
        self.change_links.lock().unwrap().clone()
    }

    /// One page of a change read: `since` `None` for a full read, up to version `to`,
    /// entries `skip..skip + size` (changed rows in primary-id order, then deletions).
    fn change_page(&self, since: Option<u64>, to: u64, skip: usize, size: usize) -> ChangesPage {
        let rows = self.rows.lock().unwrap().clone();
        let log = self.log.lock().unwrap();
        let epoch = log.epoch;
        let mut changed: Vec<(u128, Row)> = rows
            .into_iter()
            .filter(|r| {
                log.changed
                    .get(&r.id)
                    .is_some_and(|v| *v <= to && since.is_none_or(|s| *v > s))
            })
            .map(|r| (sql_server_key(&parse_guid("id", &r.id).unwrap()), r))
            .collect();
        changed.sort_by_key(|(key, _)| *key);
        let deleted: Vec<String> = match since {
            None => Vec::new(),
            Some(s) => log
                .deleted
                .iter()
                .filter(|(_, v)| *v > s && *v <= to)
                .map(|(id, _)| id.clone())
                .collect(),
        };
        drop(log);
        enum Entry {
            Changed(Row),
            Deleted(String),
        }
        let entries: Vec<Entry> = changed
            .into_iter()
            .map(|(_, r)| Entry::Changed(r))
            .chain(deleted.into_iter().map(Entry::Deleted))
            .collect();
        let total = entries.len();
        let filter = self.filter.lock().unwrap().clone();
        let mut page = ChangesPage::default();
        for entry in entries.into_iter().skip(skip).take(size) {
            match entry {
                Entry::Changed(row) => {
                    if filter.as_ref().is_none_or(|f| f(&row.record)) {
                        page.records.push(row.record);
                    } else {
                        page.filtered_out.push(row.id);
                    }
                }
                Entry::Deleted(id) => page.deleted.push(id),
            }
        }
        let since_part = since.map_or("full".to_owned(), |s| s.to_string());
        if skip + size < total {
            page.next_link = Some(format!(
                "scripted:next?since={since_part}&to={to}&skip={}&epoch={epoch}",
                skip + size
            ));
        } else {
            page.delta_link = Some(format!("scripted:delta?since={to}&epoch={epoch}"));
        }
        page
    }

    /// The ids of every row, in primary-id (SQL Server) order.
    pub fn ids_in_order(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .rows
            .lock()
            .unwrap()
            .iter()
            .map(|r| r.id.clone())
            .collect();
        ids.sort_by_key(|id| sql_server_key(&parse_guid("id", id).unwrap()));
        ids
    }

    pub fn fail_plan(&self, kind: ErrorKind, message: &str) {
        *self.plan_error.lock().unwrap() = Some((kind, message.to_owned()));
    }

    /// The next `n` fetches fail with a transient error.
    pub fn fail_fetches_transiently(&self, n: u32) {
        self.transient_fetch_failures.store(n, Ordering::SeqCst);
    }

    pub fn fail_fetches_permanently(&self, message: &str) {
        *self.permanent_fetch_error.lock().unwrap() = Some(message.to_owned());
    }

    pub fn heal(&self) {
        *self.permanent_fetch_error.lock().unwrap() = None;
        *self.plan_error.lock().unwrap() = None;
        self.transient_fetch_failures.store(0, Ordering::SeqCst);
    }

    /// Makes every fetch yield to the scheduler once, so concurrent deliveries interleave.
    pub fn yield_in_fetch(&self) {
        self.yield_in_fetch.store(true, Ordering::SeqCst);
    }

    pub fn fetches(&self) -> u32 {
        self.fetches.load(Ordering::SeqCst)
    }

    /// The most page fetches seen in progress at once (with `yield_in_fetch`).
    pub fn most_concurrent_fetches(&self) -> u32 {
        self.most_fetching.load(Ordering::SeqCst)
    }
}

#[async_trait::async_trait]
impl DataSource for ScriptedSource {
    async fn plan(&self, integration: &Integration) -> Result<SourcePlan, PortError> {
        if let Some((kind, message)) = self.plan_error.lock().unwrap().clone() {
            return Err(PortError {
                kind,
                message,
                source: None,
            });
        }
        let definition = integration.definition();
        Ok(SourcePlan {
            entity: "contact".into(),
            entity_set: "contacts".into(),
            primary_id: "contactid".into(),
            labels: Default::default(),
            list: definition.source.list.as_ref().map(|name| ListTarget {
                id: "aaaaaaaa-0000-0000-0000-000000000001".into(),
                name: name.clone(),
                dynamic: false,
                query: None,
            }),
        })
    }

    async fn fetch_changes(&self, request: ChangesRequest<'_>) -> Result<ChangesReply, PortError> {
        self.fetches.fetch_add(1, Ordering::SeqCst);
        self.change_links
            .lock()
            .unwrap()
            .push(request.link.map(str::to_owned));
        if self.yield_in_fetch.load(Ordering::SeqCst) {
            tokio::task::yield_now().await;
        }
        if self
            .transient_fetch_failures
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(PortError::transient("Dataverse answered 503"));
        }
        if let Some(message) = self.permanent_fetch_error.lock().unwrap().clone() {
            return Err(PortError::permanent(message));
        }
        let size = request.integration.definition().dynamics.page_size as usize;
        let (version, epoch) = {
            let log = self.log.lock().unwrap();
            (log.version, log.epoch)
        };
        let Some(link) = request.link else {
            return Ok(ChangesReply::Page(self.change_page(None, version, 0, size)));
        };
        let query: std::collections::HashMap<&str, &str> = link
            .split_once('?')
            .map(|(_, q)| q.split('&').filter_map(|kv| kv.split_once('=')).collect())
            .unwrap_or_default();
        let number = |key: &str| query.get(key).and_then(|v| v.parse::<u64>().ok());
        let since = match query.get("since") {
            Some(&"full") => None,
            Some(_) => match number("since") {
                Some(since) => Some(since),
                None => return Err(PortError::permanent(format!("bad link {link}"))),
            },
            None => return Err(PortError::permanent(format!("bad link {link}"))),
        };
        if since.is_some() && number("epoch") != Some(epoch) {
            return Ok(ChangesReply::TokenExpired(
                "ExpiredVersionStamp (0x80044352): the version stamp associated with the client has expired"
                    .to_owned(),
            ));
        }
        let to = number("to").unwrap_or(version);
        let skip = number("skip").unwrap_or(0) as usize;
        Ok(ChangesReply::Page(self.change_page(since, to, skip, size)))
    }

    async fn fetch_page(&self, request: PageRequest<'_>) -> Result<SourcePage, PortError> {
        self.fetches.fetch_add(1, Ordering::SeqCst);
        let now = self.fetching.fetch_add(1, Ordering::SeqCst) + 1;
        self.most_fetching.fetch_max(now, Ordering::SeqCst);
        if self.yield_in_fetch.load(Ordering::SeqCst) {
            tokio::task::yield_now().await;
        }
        self.fetching.fetch_sub(1, Ordering::SeqCst);
        if self
            .transient_fetch_failures
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(PortError::transient("Dataverse answered 503"));
        }
        if let Some(message) = self.permanent_fetch_error.lock().unwrap().clone() {
            return Err(PortError {
                kind: ErrorKind::Permanent,
                message,
                source: None,
            });
        }
        let definition = request.integration.definition();
        let only_updated = definition.source.fetch_mode() == FetchMode::OnlyUpdated;
        let after = request
            .cursor
            .map(|c| sql_server_key(&parse_guid("cursor", c).unwrap()));
        let mut rows: Vec<(u128, Row)> = self
            .rows
            .lock()
            .unwrap()
            .iter()
            .filter(|r| {
                let Some(w) = request.window else { return true };
                w.from.is_none_or(|from| r.modified >= from)
                    && w.to.is_none_or(|to| r.modified < to)
                    && (!only_updated || w.from.is_none_or(|from| r.created < from))
            })
            .filter(|r| {
                partition_contains(request.partition, &parse_guid("id", &r.id).unwrap()).unwrap()
            })
            .map(|r| (sql_server_key(&parse_guid("id", &r.id).unwrap()), r.clone()))
            .filter(|(key, _)| after.is_none_or(|a| *key > a))
            .collect();
        rows.sort_by_key(|(key, _)| *key);
        let size = definition.dynamics.page_size as usize;
        let more = rows.len() > size;
        rows.truncate(size);
        Ok(SourcePage {
            next_cursor: if more {
                rows.last().map(|(_, r)| r.id.clone())
            } else {
                None
            },
            records: rows.into_iter().map(|(_, r)| r.record).collect(),
            throttles: 0,
        })
    }
}
