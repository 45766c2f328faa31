//! The emulated organisation's metadata: tables, their columns and option sets.
//!
//! One table-driven description serves the metadata endpoints (`EntityDefinitions`), the
//! type-aware FetchXML/OData evaluation and the formatted-value annotations, so they agree.

/// A column's type, as Dataverse's `AttributeType` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttrKind {
    String,
    Memo,
    Integer,
    Decimal,
    Money,
    Boolean,
    Picklist,
    State,
    Status,
    MultiSelectPicklist,
    /// Date and time (UTC).
    DateTime,
    /// Date only (`birthdate`).
    DateOnly,
    Uniqueidentifier,
    Lookup,
    Customer,
}

impl AttrKind {
    /// Dataverse's `AttributeType` value.
    pub fn attribute_type(self) -> &'static str {
        match self {
            AttrKind::String => "String",
            AttrKind::Memo => "Memo",
            AttrKind::Integer => "Integer",
            AttrKind::Decimal => "Decimal",
            AttrKind::Money => "Money",
            AttrKind::Boolean => "Boolean",
            AttrKind::Picklist => "Picklist",
            AttrKind::State => "State",
            AttrKind::Status => "Status",
            AttrKind::MultiSelectPicklist => "Virtual",
            AttrKind::DateTime | AttrKind::DateOnly => "DateTime",
            AttrKind::Uniqueidentifier => "Uniqueidentifier",
            AttrKind::Lookup => "Lookup",
            AttrKind::Customer => "Customer",
        }
    }

    /// Dataverse's `AttributeTypeName.Value`.
    pub fn attribute_type_name(self) -> &'static str {
        match self {
            AttrKind::MultiSelectPicklist => "MultiSelectPicklistType",
            AttrKind::DateTime | AttrKind::DateOnly => "DateTimeType",
            other => match other.attribute_type() {
                "String" => "StringType",
                "Memo" => "MemoType",
                "Integer" => "IntegerType",
                "Decimal" => "DecimalType",
                "Money" => "MoneyType",
                "Boolean" => "BooleanType",
                "Picklist" => "PicklistType",
                "State" => "StateType",
                "Status" => "StatusType",
                "Uniqueidentifier" => "UniqueidentifierType",
                "Lookup" => "LookupType",
                _ => "CustomerType",
            },
        }
    }

    /// Whether values are references to other rows (`_x_value` in the Web API).
    pub fn is_lookup(self) -> bool {
        matches!(self, AttrKind::Lookup | AttrKind::Customer)
    }
}

/// One column.
#[derive(Clone, Debug)]
pub struct AttrDef {
    pub name: &'static str,
    pub kind: AttrKind,
    pub display: &'static str,
    pub custom: bool,
    /// Choice options `(value, label)`; for Boolean, `[(0, false label), (1, true label)]`.
    pub options: &'static [(i64, &'static str)],
    /// Global option set name, when the options are shared.
    pub global_option_set: Option<&'static str>,
    /// Lookup targets.
    pub targets: &'static [&'static str],
}

/// One table.
#[derive(Clone, Debug)]
pub struct EntityDef {
    pub logical_name: &'static str,
    pub entity_set: &'static str,
    pub primary_id: &'static str,
    pub primary_name: &'static str,
    pub display: &'static str,
    pub custom: bool,
    pub object_type_code: i64,
    pub change_tracking: bool,
    pub advanced_find: bool,
    pub attributes: Vec<AttrDef>,
}

impl EntityDef {
    /// The column called `name`, if the table has it.
    pub fn attr(&self, name: &str) -> Option<&AttrDef> {
        self.attributes.iter().find(|a| a.name == name)
    }
}

/// All tables of the emulated organisation.
#[derive(Clone, Debug)]
pub struct Schema {
    pub entities: Vec<EntityDef>,
}

impl Schema {
    /// The organisation every emulator serves.
    pub fn standard() -> Self {
        Schema {
            entities: super::entities::all(),
        }
    }

    /// Table by logical name (`contact`).
    pub fn entity(&self, logical_name: &str) -> Option<&EntityDef> {
        self.entities
            .iter()
            .find(|e| e.logical_name == logical_name)
    }

    /// Table by entity set name (`contacts`).
    pub fn by_set(&self, entity_set: &str) -> Option<&EntityDef> {
        self.entities.iter().find(|e| e.entity_set == entity_set)
    }
}
