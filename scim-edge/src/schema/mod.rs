//! The SCIM schemas this service provider serves (RFC 7643) and the discovery documents built
//! from them.
//!
//! This module owns the schema URNs, a static table of every attribute of the core User
//! (RFC 7643 §4.1), Group (§4.2) and Enterprise User (§4.3) schemas with all their
//! characteristics, the common attributes `id`, `externalId` and `meta` (§3.1), and the JSON of
//! `/Schemas` (§7), `/ResourceTypes` (§6) and `/ServiceProviderConfig` (§5). The filter parser,
//! the PATCH engine and the projection read the table to learn whether an attribute is
//! multi-valued, case-exact, read-only or never returned; nothing here talks to the core.
//!
//! Lookups ([`attribute`], [`resolve`]) are case-insensitive (RFC 7643 §2.1) and accept an
//! optional schema URN prefix (`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:
//! employeeNumber`). A bare name is searched in the core schema first, then in the extension.

use serde_json::{Map, Value, json};

use crate::filter::AttrPath;

mod discovery;
mod tables;
#[cfg(test)]
mod tests;

pub use discovery::*;
pub use tables::{
    ALL_SCHEMAS, COMMON_ATTRIBUTES, ENTERPRISE_USER_SCHEMA_DEF, GROUP_SCHEMA_DEF, USER_SCHEMA_DEF,
};

/// Core User schema (RFC 7643 §4.1).
pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
/// Core Group schema (RFC 7643 §4.2).
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
/// Enterprise User extension (RFC 7643 §4.3).
pub const ENTERPRISE_USER_SCHEMA: &str =
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
/// List response message (RFC 7644 §3.4.2).
pub const LIST_RESPONSE_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
/// PATCH request message (RFC 7644 §3.5.2).
pub const PATCH_OP_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
/// Search request message (RFC 7644 §3.4.3).
pub const SEARCH_REQUEST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";
/// Bulk request message (RFC 7644 §3.7).
pub const BULK_REQUEST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
/// Bulk response message (RFC 7644 §3.7).
pub const BULK_RESPONSE_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:BulkResponse";
/// Service provider configuration (RFC 7643 §5).
pub const SERVICE_PROVIDER_CONFIG_SCHEMA: &str =
    "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";
/// Resource type (RFC 7643 §6).
pub const RESOURCE_TYPE_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
/// Schema definition (RFC 7643 §7).
pub const SCHEMA_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";

/// The two resource types this service provider serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResourceKind {
    /// A core user.
    User,
    /// A core role, presented as a SCIM Group.
    Group,
}

impl ResourceKind {
    /// The resource type name (`meta.resourceType`, `/ResourceTypes/{name}`).
    pub fn name(self) -> &'static str {
        match self {
            Self::User => "User",
            Self::Group => "Group",
        }
    }

    /// The endpoint path relative to the SCIM base, with a leading slash.
    pub fn endpoint(self) -> &'static str {
        match self {
            Self::User => "/Users",
            Self::Group => "/Groups",
        }
    }

    /// The core schema URN of the resource type.
    pub fn core_schema(self) -> &'static str {
        self.core_schema_def().id
    }

    /// The core schema definition.
    pub fn core_schema_def(self) -> &'static SchemaDef {
        match self {
            Self::User => &USER_SCHEMA_DEF,
            Self::Group => &GROUP_SCHEMA_DEF,
        }
    }

    /// The schema extensions the resource type allows.
    pub fn extensions(self) -> &'static [&'static SchemaDef] {
        static USER_EXTENSIONS: [&SchemaDef; 1] = [&ENTERPRISE_USER_SCHEMA_DEF];
        match self {
            Self::User => &USER_EXTENSIONS,
            Self::Group => &[],
        }
    }
}

/// Attribute data types (RFC 7643 §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrType {
    /// A Unicode string.
    String,
    /// `true` or `false`.
    Boolean,
    /// A real number.
    Decimal,
    /// A whole number.
    Integer,
    /// An RFC 3339 date-time string.
    DateTime,
    /// Base64-encoded bytes.
    Binary,
    /// A URI to a resource.
    Reference,
    /// An object of sub-attributes.
    Complex,
}

impl AttrType {
    /// The keyword used in schema documents.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Boolean => "boolean",
            Self::Decimal => "decimal",
            Self::Integer => "integer",
            Self::DateTime => "dateTime",
            Self::Binary => "binary",
            Self::Reference => "reference",
            Self::Complex => "complex",
        }
    }
}

/// The `mutability` characteristic (RFC 7643 §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutability {
    /// Never modified by clients.
    ReadOnly,
    /// Freely modified.
    ReadWrite,
    /// Set once (on creation or while unassigned), never changed afterwards.
    Immutable,
    /// Set by clients but never returned.
    WriteOnly,
}

impl Mutability {
    /// The keyword used in schema documents.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ReadOnly => "readOnly",
            Self::ReadWrite => "readWrite",
            Self::Immutable => "immutable",
            Self::WriteOnly => "writeOnly",
        }
    }
}

/// The `returned` characteristic (RFC 7643 §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Returned {
    /// Returned whatever `attributes`/`excludedAttributes` say.
    Always,
    /// Never returned.
    Never,
    /// Returned unless excluded.
    Default,
    /// Returned only when named in `attributes`.
    Request,
}

impl Returned {
    /// The keyword used in schema documents.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Always => "always",
            Self::Never => "never",
            Self::Default => "default",
            Self::Request => "request",
        }
    }
}

/// The `uniqueness` characteristic (RFC 7643 §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Uniqueness {
    /// No uniqueness enforced.
    None,
    /// Unique within the service provider (for us: within the organization).
    Server,
    /// Globally unique.
    Global,
}

impl Uniqueness {
    /// The keyword used in schema documents.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Server => "server",
            Self::Global => "global",
        }
    }
}

/// One attribute definition with every characteristic of RFC 7643 §7.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttributeDef {
    /// Attribute name, in its canonical case.
    pub name: &'static str,
    /// Data type.
    pub attr_type: AttrType,
    /// Whether the attribute holds an array.
    pub multi_valued: bool,
    /// Whether the attribute must be present.
    pub required: bool,
    /// Whether string comparisons are case-sensitive.
    pub case_exact: bool,
    /// Who may change it.
    pub mutability: Mutability,
    /// When it is returned.
    pub returned: Returned,
    /// Uniqueness scope.
    pub uniqueness: Uniqueness,
    /// Suggested values, e.g. `work`, `home`.
    pub canonical_values: &'static [&'static str],
    /// Resource types a reference may point to.
    pub reference_types: &'static [&'static str],
    /// Sub-attributes of a complex attribute.
    pub sub_attributes: &'static [AttributeDef],
    /// Human-readable description.
    pub description: &'static str,
}

impl AttributeDef {
    /// A single-valued, optional, case-insensitive, read-write attribute returned by default.
    const fn new(name: &'static str, attr_type: AttrType, description: &'static str) -> Self {
        Self {
            name,
            attr_type,
            multi_valued: false,
            required: false,
            case_exact: false,
            mutability: Mutability::ReadWrite,
            returned: Returned::Default,
            uniqueness: Uniqueness::None,
            canonical_values: &[],
            reference_types: &[],
            sub_attributes: &[],
            description,
        }
    }
    const fn multi(mut self) -> Self {
        self.multi_valued = true;
        self
    }
    const fn required(mut self) -> Self {
        self.required = true;
        self
    }
    const fn case_exact(mut self) -> Self {
        self.case_exact = true;
        self
    }
    const fn mutability(mut self, mutability: Mutability) -> Self {
        self.mutability = mutability;
        self
    }
    const fn returned(mut self, returned: Returned) -> Self {
        self.returned = returned;
        self
    }
    const fn unique(mut self, uniqueness: Uniqueness) -> Self {
        self.uniqueness = uniqueness;
        self
    }
    const fn canonical(mut self, values: &'static [&'static str]) -> Self {
        self.canonical_values = values;
        self
    }
    const fn references(mut self, types: &'static [&'static str]) -> Self {
        self.reference_types = types;
        self
    }
    const fn subs(mut self, sub_attributes: &'static [AttributeDef]) -> Self {
        self.sub_attributes = sub_attributes;
        self
    }

    /// The sub-attribute named `name`, case-insensitively.
    pub fn sub_attribute(&self, name: &str) -> Option<&'static AttributeDef> {
        // The table is static, so the sub-attribute slice outlives `self`.
        let subs: &'static [AttributeDef] = self.sub_attributes;
        subs.iter().find(|sub| sub.name.eq_ignore_ascii_case(name))
    }

    /// Whether the attribute is a complex attribute (possibly multi-valued).
    pub fn is_complex(&self) -> bool {
        self.attr_type == AttrType::Complex
    }

    /// The RFC 7643 §7 JSON representation of the attribute.
    pub fn to_json(&self) -> Value {
        let mut object = Map::new();
        object.insert("name".into(), json!(self.name));
        object.insert("type".into(), json!(self.attr_type.as_str()));
        object.insert("multiValued".into(), json!(self.multi_valued));
        object.insert("description".into(), json!(self.description));
        object.insert("required".into(), json!(self.required));
        if !self.is_complex() {
            object.insert("caseExact".into(), json!(self.case_exact));
        }
        if !self.canonical_values.is_empty() {
            object.insert("canonicalValues".into(), json!(self.canonical_values));
        }
        if !self.reference_types.is_empty() {
            object.insert("referenceTypes".into(), json!(self.reference_types));
        }
        object.insert("mutability".into(), json!(self.mutability.as_str()));
        object.insert("returned".into(), json!(self.returned.as_str()));
        object.insert("uniqueness".into(), json!(self.uniqueness.as_str()));
        if self.is_complex() {
            object.insert(
                "subAttributes".into(),
                Value::Array(self.sub_attributes.iter().map(Self::to_json).collect()),
            );
        }
        Value::Object(object)
    }
}

/// One schema: its URN, name and attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchemaDef {
    /// The schema URN.
    pub id: &'static str,
    /// Human-readable name.
    pub name: &'static str,
    /// Human-readable description.
    pub description: &'static str,
    /// Top-level attributes.
    pub attributes: &'static [AttributeDef],
}

impl SchemaDef {
    /// The top-level attribute named `name`, case-insensitively.
    pub fn attribute(&self, name: &str) -> Option<&'static AttributeDef> {
        let attributes: &'static [AttributeDef] = self.attributes;
        attributes
            .iter()
            .find(|attribute| attribute.name.eq_ignore_ascii_case(name))
    }

    /// The RFC 7643 §7 JSON representation, with `meta.location` under `base_url`.
    pub fn to_json(&self, base_url: &str) -> Value {
        json!({
            "schemas": [SCHEMA_SCHEMA],
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "attributes": self.attributes.iter().map(AttributeDef::to_json).collect::<Vec<_>>(),
            "meta": {
                "resourceType": "Schema",
                "location": format!("{}/Schemas/{}", base_url.trim_end_matches('/'), self.id),
            },
        })
    }
}

// === lookups ===

/// An attribute path resolved against the schema table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResolvedAttr {
    /// The schema the attribute belongs to; `None` for the common attributes (id, externalId,
    /// meta).
    pub schema: Option<&'static SchemaDef>,
    /// The top-level attribute.
    pub attribute: &'static AttributeDef,
    /// The sub-attribute, when the path names one.
    pub sub_attribute: Option<&'static AttributeDef>,
}

impl ResolvedAttr {
    /// The definition the path ends at: the sub-attribute if any, else the attribute.
    pub fn target(&self) -> &'static AttributeDef {
        self.sub_attribute.unwrap_or(self.attribute)
    }

    /// Whether the attribute lives under an extension URN key in the resource JSON.
    pub fn is_extension(&self, kind: ResourceKind) -> bool {
        self.schema
            .is_some_and(|schema| schema.id != kind.core_schema())
    }
}

/// The schema with URN `urn` (case-insensitive) among those `kind` uses.
pub fn schema_for(kind: ResourceKind, urn: &str) -> Option<&'static SchemaDef> {
    std::iter::once(kind.core_schema_def())
        .chain(kind.extensions().iter().copied())
        .find(|schema| schema.id.eq_ignore_ascii_case(urn))
}

/// Resolves `path` for `kind`: case-insensitive names, optional schema URN prefix. Returns
/// `None` for an unknown attribute, an unknown sub-attribute, a sub-attribute of a simple
/// attribute, or a URN that `kind` does not use.
pub fn resolve(kind: ResourceKind, path: &AttrPath) -> Option<ResolvedAttr> {
    let (schema, attribute) = match &path.schema {
        Some(urn) => {
            let schema = schema_for(kind, urn)?;
            let attribute = schema.attribute(&path.attribute).or_else(|| {
                // `urn:...:core:2.0:User:id` is legal: the common attributes are part of every
                // resource whatever schema prefix names them.
                if schema.id == kind.core_schema() {
                    common_attribute(&path.attribute)
                } else {
                    None
                }
            })?;
            (Some(schema), attribute)
        }
        None => {
            if let Some(attribute) = common_attribute(&path.attribute) {
                (None, attribute)
            } else {
                std::iter::once(kind.core_schema_def())
                    .chain(kind.extensions().iter().copied())
                    .find_map(|schema| {
                        schema.attribute(&path.attribute).map(|a| (Some(schema), a))
                    })?
            }
        }
    };
    // A common attribute named with the core URN prefix is still a common attribute.
    let schema = if COMMON_ATTRIBUTES.iter().any(|c| std::ptr::eq(c, attribute)) {
        None
    } else {
        schema
    };
    let sub_attribute = match &path.sub_attribute {
        Some(name) => Some(attribute.sub_attribute(name)?),
        None => None,
    };
    Some(ResolvedAttr {
        schema,
        attribute,
        sub_attribute,
    })
}

/// The definition `path` ends at for `kind` (the sub-attribute when the path names one).
pub fn attribute(kind: ResourceKind, path: &AttrPath) -> Option<&'static AttributeDef> {
    resolve(kind, path).map(|resolved| resolved.target())
}

fn common_attribute(name: &str) -> Option<&'static AttributeDef> {
    COMMON_ATTRIBUTES
        .iter()
        .find(|attribute| attribute.name.eq_ignore_ascii_case(name))
}

/// Whether `urn` (case-insensitive) is the URN of a schema this service provider knows.
pub fn is_known_schema(urn: &str) -> bool {
    ALL_SCHEMAS
        .iter()
        .any(|schema| schema.id.eq_ignore_ascii_case(urn))
}
