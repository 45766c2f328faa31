//! Marketing lists: static lists (`list` rows with `listmember` intersect rows) and dynamic
//! lists (a stored FetchXML `query`), with `membercount` kept current.

use super::store::{DataStore, State, StoreError};
use super::values::{FieldValue, Record};
use uuid::Uuid;

/// Member type of a marketing list, as `createdfromcode`.
fn member_type_code(entity: &str) -> Result<i64, StoreError> {
    match entity {
        "account" => Ok(1),
        "contact" => Ok(2),
        "lead" => Ok(4),
        other => Err(StoreError::BadValue(format!(
            "marketing lists hold account, contact or lead rows, not '{other}'"
        ))),
    }
}

impl State {
    /// See [`DataStore::add_static_list`].
    pub fn add_static_list(
        &mut self,
        name: &str,
        member_type: &str,
        ids: &[Uuid],
    ) -> Result<Uuid, StoreError> {
        let code = member_type_code(member_type)?;
        let list = Record::new()
            .with("listname", name)
            .with("type", false)
            .with("createdfromcode", code)
            .with("membercount", ids.len() as i64)
            .with("statecode", 0)
            .with("statuscode", 0)
            .with("lockstatus", false);
        let list_id = self.insert("list", list)?;
        for id in ids {
            let member = Record::new()
                .with_lookup("listid", "list", list_id)
                .with_lookup("entityid", member_type, *id)
                .with("entitytype", code);
            self.insert("listmember", member)?;
        }
        Ok(list_id)
    }

    /// See [`DataStore::add_dynamic_list`]. The query must be valid FetchXML over
    /// `member_type`; `membercount` is what it matches now.
    pub fn add_dynamic_list(
        &mut self,
        name: &str,
        member_type: &str,
        fetchxml: &str,
    ) -> Result<Uuid, StoreError> {
        let code = member_type_code(member_type)?;
        let count = super::fetchxml::count_matches(self, fetchxml).map_err(|e| {
            StoreError::BadValue(format!(
                "the dynamic list query is not valid FetchXML: {}",
                e.message
            ))
        })?;
        let list = Record::new()
            .with("listname", name)
            .with("type", true)
            .with("createdfromcode", code)
            .with("query", fetchxml)
            .with("membercount", count as i64)
            .with("statecode", 0)
            .with("statuscode", 0)
            .with("lockstatus", false);
        self.insert("list", list)
    }

    /// Adds `ids` to a static list (ids already in it are skipped) and updates `membercount`.
    pub fn add_list_members(&mut self, list_id: Uuid, ids: &[Uuid]) -> Result<(), StoreError> {
        let (code, member_type) = self.static_list(list_id)?;
        let current = self.members(list_id);
        for id in ids.iter().filter(|id| !current.contains(id)) {
            let member = Record::new()
                .with_lookup("listid", "list", list_id)
                .with_lookup("entityid", member_type, *id)
                .with("entitytype", code);
            self.insert("listmember", member)?;
        }
        self.recount(list_id)
    }

    /// Removes `ids` from a static list and updates `membercount`.
    pub fn remove_list_members(&mut self, list_id: Uuid, ids: &[Uuid]) -> Result<(), StoreError> {
        self.static_list(list_id)?;
        let doomed: Vec<Uuid> = self
            .rows("listmember")
            .filter(|r| lookup_id(r.fields.get("listid")) == Some(list_id))
            .filter(|r| lookup_id(r.fields.get("entityid")).is_some_and(|m| ids.contains(&m)))
            .map(|r| r.id)
            .collect();
        for m in doomed {
            self.delete("listmember", m)?;
        }
        self.recount(list_id)
    }

    /// Member ids of a static list.
    pub fn members(&self, list_id: Uuid) -> Vec<Uuid> {
        self.rows("listmember")
            .filter(|r| lookup_id(r.fields.get("listid")) == Some(list_id))
            .filter_map(|r| lookup_id(r.fields.get("entityid")))
            .collect()
    }

    fn static_list(&self, list_id: Uuid) -> Result<(i64, &'static str), StoreError> {
        let list = self
            .tables
            .get("list")
            .and_then(|t| t.get(&list_id.into()))
            .ok_or(StoreError::NotFound {
                entity: "list".to_owned(),
                id: list_id,
            })?;
        if list.fields.get("type") == Some(&FieldValue::Bool(true)) {
            return Err(StoreError::BadValue(
                "a dynamic list's members come from its query".to_owned(),
            ));
        }
        match list.fields.get("createdfromcode") {
            Some(FieldValue::Int(1)) => Ok((1, "account")),
            Some(FieldValue::Int(4)) => Ok((4, "lead")),
            _ => Ok((2, "contact")),
        }
    }

    fn recount(&mut self, list_id: Uuid) -> Result<(), StoreError> {
        let n = self.members(list_id).len() as i64;
        self.update("list", list_id, Record::new().with("membercount", n))
    }
}

fn lookup_id(v: Option<&FieldValue>) -> Option<Uuid> {
    match v {
        Some(FieldValue::Lookup { id, .. }) => Some(*id),
        _ => None,
    }
}

impl DataStore {
    /// Creates an active static marketing list of `member_type` (`contact`, `lead`,
    /// `account`) holding `ids`.
    pub fn add_static_list(
        &self,
        name: &str,
        member_type: &str,
        ids: &[Uuid],
    ) -> Result<Uuid, StoreError> {
        self.write().add_static_list(name, member_type, ids)
    }

    /// Creates an active dynamic marketing list whose members are what `fetchxml` returns.
    pub fn add_dynamic_list(
        &self,
        name: &str,
        member_type: &str,
        fetchxml: &str,
    ) -> Result<Uuid, StoreError> {
        self.write().add_dynamic_list(name, member_type, fetchxml)
    }

    /// Adds rows to a static list.
    pub fn add_list_members(&self, list_id: Uuid, ids: &[Uuid]) -> Result<(), StoreError> {
        self.write().add_list_members(list_id, ids)
    }

    /// Removes rows from a static list.
    pub fn remove_list_members(&self, list_id: Uuid, ids: &[Uuid]) -> Result<(), StoreError> {
        self.write().remove_list_members(list_id, ids)
    }

    /// Member ids of a static list.
    pub fn list_members(&self, list_id: Uuid) -> Vec<Uuid> {
        self.read().members(list_id)
    }
}
