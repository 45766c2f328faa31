//! The emulator's rows: one table per entity, indexed by primary id in SQL Server GUID
//! order, with a change log (row versions and deletions) for change tracking.
//!
//! [`DataStore`] is the handle tests use to add, change and delete rows while the server
//! runs; the server reads the same state under a read lock.

use super::guid_order::SqlGuid;
use super::schema::{EntityDef, Schema};
use super::values::{FieldValue, Record, coerce};
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use uuid::Uuid;

/// Why the store refused a change.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "the emulator has no table '{0}' (known: contact, lead, account, list, listmember, new_purchase)"
    )]
    UnknownEntity(String),
    #[error("table '{entity}' has no column '{column}'")]
    UnknownColumn { entity: String, column: String },
    #[error("bad value: {0}")]
    BadValue(String),
    #[error("no {entity} row with id {id}")]
    NotFound { entity: String, id: Uuid },
}

impl StoreError {
    /// Every store error is a caller mistake: retrying the same change cannot help.
    pub fn kind(&self) -> dynsync_domain::ErrorKind {
        dynsync_domain::ErrorKind::Permanent
    }
}

/// A stored row and the change-log version of its last write.
#[derive(Clone, Debug)]
pub struct Row {
    pub id: Uuid,
    pub fields: Record,
    pub version: u64,
}

/// A deleted row, remembered for change tracking.
#[derive(Clone, Debug)]
pub struct Deletion {
    pub entity: String,
    pub id: Uuid,
    pub version: u64,
}

/// Everything the server serves.
#[derive(Debug)]
pub struct State {
    pub schema: Schema,
    pub tables: HashMap<String, BTreeMap<SqlGuid, Row>>,
    pub deletions: Vec<Deletion>,
    pub version: u64,
    pub now: Option<DateTime<Utc>>,
    /// Delta tokens issued at a lower change-log version than this are expired
    /// ([`DataStore::expire_change_tokens`]).
    pub tokens_valid_from: u64,
}

impl State {
    /// Empty tables for every entity of `schema`.
    pub fn new(schema: Schema) -> Self {
        let tables = schema
            .entities
            .iter()
            .map(|e| (e.logical_name.to_owned(), BTreeMap::new()))
            .collect();
        State {
            schema,
            tables,
            deletions: Vec::new(),
            version: 0,
            now: None,
            tokens_valid_from: 0,
        }
    }

    /// The clock used to stamp `createdon`/`modifiedon`.
    pub fn clock(&self) -> DateTime<Utc> {
        self.now.unwrap_or_else(Utc::now)
    }

    fn def<'a>(schema: &'a Schema, entity: &str) -> Result<&'a EntityDef, StoreError> {
        schema
            .entity(entity)
            .ok_or_else(|| StoreError::UnknownEntity(entity.to_owned()))
    }

    fn checked(def: &EntityDef, record: Record) -> Result<Record, StoreError> {
        let mut out = Record::new();
        for (name, value) in record.0 {
            let attr = def.attr(&name).ok_or_else(|| StoreError::UnknownColumn {
                entity: def.logical_name.to_owned(),
                column: name.clone(),
            })?;
            out.0
                .insert(name, coerce(attr, value).map_err(StoreError::BadValue)?);
        }
        Ok(out)
    }

    /// Inserts a row; its id is the record's primary id or a new random one.
    pub fn insert(&mut self, entity: &str, record: Record) -> Result<Uuid, StoreError> {
        let now = self.clock();
        let def = Self::def(&self.schema, entity)?;
        let mut fields = Self::checked(def, record)?;
        let id = match fields.get(def.primary_id) {
            Some(FieldValue::Guid(id)) => *id,
            _ => Uuid::new_v4(),
        };
        fields
            .0
            .insert(def.primary_id.to_owned(), FieldValue::Guid(id));
        for stamp in ["createdon", "modifiedon"] {
            if def.attr(stamp).is_some() && fields.get(stamp).is_none() {
                fields.0.insert(stamp.to_owned(), FieldValue::DateTime(now));
            }
        }
        fill_fullname(def, &mut fields);
        self.insert_trusted(def.logical_name, id, fields);
        Ok(id)
    }

    /// Inserts rows the seed built itself (columns known to fit the schema), skipping the
    /// per-column checks so that 100k-row seeds load fast.
    pub(crate) fn insert_trusted(&mut self, entity: &'static str, id: Uuid, fields: Record) {
        self.version += 1;
        let row = Row {
            id,
            fields,
            version: self.version,
        };
        self.tables
            .entry(entity.to_owned())
            .or_default()
            .insert(SqlGuid::new(id), row);
    }

    /// Merges `changes` into a row and stamps `modifiedon` (unless `changes` sets it).
    pub fn update(&mut self, entity: &str, id: Uuid, changes: Record) -> Result<(), StoreError> {
        let now = self.clock();
        let def = Self::def(&self.schema, entity)?;
        let changes = Self::checked(def, changes)?;
        self.version += 1;
        let version = self.version;
        let row = self
            .tables
            .get_mut(def.logical_name)
            .and_then(|t| t.get_mut(&SqlGuid::new(id)))
            .ok_or_else(|| StoreError::NotFound {
                entity: entity.to_owned(),
                id,
            })?;
        let sets_modified = changes.get("modifiedon").is_some();
        row.fields.0.extend(changes.0);
        if !sets_modified && def.attr("modifiedon").is_some() {
            row.fields
                .0
                .insert("modifiedon".to_owned(), FieldValue::DateTime(now));
        }
        fill_fullname(def, &mut row.fields);
        row.version = version;
        Ok(())
    }

    /// Sets columns of a row to null and stamps `modifiedon`.
    pub fn unset(&mut self, entity: &str, id: Uuid, columns: &[&str]) -> Result<(), StoreError> {
        let def = Self::def(&self.schema, entity)?;
        if let Some(bad) = columns
            .iter()
            .find(|c| def.attr(c).is_none() || **c == def.primary_id)
        {
            return Err(StoreError::UnknownColumn {
                entity: entity.to_owned(),
                column: (*bad).to_owned(),
            });
        }
        self.update(entity, id, Record::new())?;
        if let Some(row) = self
            .tables
            .get_mut(entity)
            .and_then(|t| t.get_mut(&SqlGuid::new(id)))
        {
            for c in columns {
                row.fields.0.remove(*c);
            }
        }
        Ok(())
    }

    /// Deletes a row (and, as Dataverse cascades, its list memberships).
    pub fn delete(&mut self, entity: &str, id: Uuid) -> Result<(), StoreError> {
        let logical = Self::def(&self.schema, entity)?.logical_name;
        let removed = self
            .tables
            .get_mut(logical)
            .and_then(|t| t.remove(&SqlGuid::new(id)));
        if removed.is_none() {
            return Err(StoreError::NotFound {
                entity: entity.to_owned(),
                id,
            });
        }
        self.version += 1;
        self.deletions.push(Deletion {
            entity: logical.to_owned(),
            id,
            version: self.version,
        });
        if entity != "listmember" {
            let members: Vec<Uuid> = self
                .tables
                .get("listmember")
                .map(|t| {
                    t.values()
                        .filter(|r| {
                            matches!(r.fields.get("entityid"), Some(FieldValue::Lookup { id: m, .. }) if *m == id)
                                || matches!(r.fields.get("listid"), Some(FieldValue::Lookup { id: m, .. }) if *m == id)
                        })
                        .map(|r| r.id)
                        .collect()
                })
                .unwrap_or_default();
            for m in members {
                self.delete("listmember", m)?;
            }
        }
        Ok(())
    }

    /// Rows of `entity` (empty for an unknown entity).
    pub fn rows(&self, entity: &str) -> impl Iterator<Item = &Row> {
        self.tables.get(entity).into_iter().flat_map(|t| t.values())
    }
}

fn fill_fullname(def: &EntityDef, fields: &mut Record) {
    if def.primary_name != "fullname" {
        return;
    }
    let part = |n: &str| match fields.get(n) {
        Some(FieldValue::Text(s)) => Some(s.clone()),
        _ => None,
    };
    let full = match (part("firstname"), part("lastname")) {
        (Some(f), Some(l)) => format!("{f} {l}"),
        (Some(f), None) => f,
        (None, Some(l)) => l,
        (None, None) => return,
    };
    fields
        .0
        .insert("fullname".to_owned(), FieldValue::Text(full));
}

/// Cheap clone handle on the emulator's rows; changes are visible to the next request.
#[derive(Clone, Debug)]
pub struct DataStore {
    inner: Arc<RwLock<State>>,
}

impl DataStore {
    pub(crate) fn new(state: State) -> Self {
        DataStore {
            inner: Arc::new(RwLock::new(state)),
        }
    }

    pub(crate) fn read(&self) -> RwLockReadGuard<'_, State> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Inserts a row of `entity` (logical name); returns its id.
    pub fn insert(&self, entity: &str, record: Record) -> Result<Uuid, StoreError> {
        self.write().insert(entity, record)
    }

    /// Changes some columns of a row and bumps `modifiedon`.
    pub fn update(&self, entity: &str, id: Uuid, fields: Record) -> Result<(), StoreError> {
        self.write().update(entity, id, fields)
    }

    /// Sets columns of a row to null (FetchXML then omits them) and bumps `modifiedon`.
    pub fn unset(&self, entity: &str, id: Uuid, columns: &[&str]) -> Result<(), StoreError> {
        self.write().unset(entity, id, columns)
    }

    /// Deletes a row; change tracking reports it as deleted.
    pub fn delete(&self, entity: &str, id: Uuid) -> Result<(), StoreError> {
        self.write().delete(entity, id)
    }

    /// A copy of one row.
    pub fn get(&self, entity: &str, id: Uuid) -> Option<Record> {
        self.read()
            .tables
            .get(entity)
            .and_then(|t| t.get(&SqlGuid::new(id)))
            .map(|r| r.fields.clone())
    }

    /// Fixes the clock that stamps `createdon`/`modifiedon` (`None` = wall clock).
    pub fn set_now(&self, now: Option<DateTime<Utc>>) {
        self.write().now = now;
    }

    /// Expires every delta token issued so far, as an organization does once a token is
    /// older than its `ExpireChangeTrackingInDays`: a delta request with one of them gets
    /// `ExpiredVersionStamp` (0x80044352). Tokens issued afterwards work, even when no row
    /// changed in between.
    pub fn expire_change_tokens(&self) {
        let mut st = self.write();
        st.version += 1;
        st.tokens_valid_from = st.version;
    }

    /// Turns a table's "Track changes" setting (`ChangeTrackingEnabled`) on or off. With it
    /// off, metadata says so and a tracked read (`Prefer: odata.track-changes` or a
    /// `$deltatoken`) is refused with `ChangeTrackingNotEnabledForEntity` (0x80072491).
    /// Contacts, leads and accounts start with it on.
    pub fn set_change_tracking(&self, entity: &str, on: bool) -> Result<(), StoreError> {
        let mut st = self.write();
        let def = st
            .schema
            .entities
            .iter_mut()
            .find(|e| e.logical_name == entity)
            .ok_or_else(|| StoreError::UnknownEntity(entity.to_owned()))?;
        def.change_tracking = on;
        Ok(())
    }

    /// Number of rows of `entity`.
    pub fn count(&self, entity: &str) -> usize {
        self.read().tables.get(entity).map_or(0, |t| t.len())
    }

    /// Ids of all rows of `entity`, in SQL Server GUID order.
    pub fn ids(&self, entity: &str) -> Vec<Uuid> {
        self.read().rows(entity).map(|r| r.id).collect()
    }
}
