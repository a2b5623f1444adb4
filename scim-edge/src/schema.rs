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

// === attribute table ===
//
// Transcribed from RFC 7643 §4 and the schema representation of §8.7.1; where the RFC text
// and §8.7.1 differ (addresses.primary, members.display), the attribute is listed because
// clients send it.

use AttrType::{Binary, Boolean, Complex, DateTime, Reference, String as Str};
use Mutability::{Immutable, ReadOnly, WriteOnly};

const fn value_sub(attr_type: AttrType, description: &'static str) -> AttributeDef {
    AttributeDef::new("value", attr_type, description)
}
const fn display_sub() -> AttributeDef {
    AttributeDef::new(
        "display",
        Str,
        "A human-readable name, primarily used for display purposes. READ-ONLY.",
    )
}
const fn type_sub(canonical: &'static [&'static str]) -> AttributeDef {
    AttributeDef::new("type", Str, "A label indicating the attribute's function.")
        .canonical(canonical)
}
const fn primary_sub() -> AttributeDef {
    AttributeDef::new(
        "primary",
        Boolean,
        "A Boolean value indicating the 'primary' or preferred attribute value for this \
         attribute. The primary attribute value 'true' MUST appear no more than once.",
    )
}

const NAME_SUBS: &[AttributeDef] = &[
    AttributeDef::new(
        "formatted",
        Str,
        "The full name, including all middle names, titles, and suffixes as appropriate, \
         formatted for display (e.g., 'Ms. Barbara J Jensen, III').",
    ),
    AttributeDef::new(
        "familyName",
        Str,
        "The family name of the User, or last name in most Western languages.",
    ),
    AttributeDef::new(
        "givenName",
        Str,
        "The given name of the User, or first name in most Western languages.",
    ),
    AttributeDef::new("middleName", Str, "The middle name(s) of the User."),
    AttributeDef::new(
        "honorificPrefix",
        Str,
        "The honorific prefix(es) of the User, or title in most Western languages.",
    ),
    AttributeDef::new(
        "honorificSuffix",
        Str,
        "The honorific suffix(es) of the User, or suffix in most Western languages.",
    ),
];

const EMAIL_SUBS: &[AttributeDef] = &[
    value_sub(
        Str,
        "Email addresses for the user. The value SHOULD be canonicalized by the service \
         provider, e.g., 'bjensen@example.com' instead of 'bjensen@EXAMPLE.COM'.",
    ),
    display_sub(),
    type_sub(&["work", "home", "other"]),
    primary_sub(),
];

const PHONE_SUBS: &[AttributeDef] = &[
    value_sub(Str, "Phone number of the User."),
    display_sub(),
    type_sub(&["work", "home", "mobile", "fax", "pager", "other"]),
    primary_sub(),
];

const IMS_SUBS: &[AttributeDef] = &[
    value_sub(Str, "Instant messaging address for the User."),
    display_sub(),
    type_sub(&["aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo"]),
    primary_sub(),
];

const PHOTO_SUBS: &[AttributeDef] = &[
    value_sub(Reference, "URL of a photo of the User.").references(&["external"]),
    display_sub(),
    type_sub(&["photo", "thumbnail"]),
    primary_sub(),
];

const ADDRESS_SUBS: &[AttributeDef] = &[
    AttributeDef::new(
        "formatted",
        Str,
        "The full mailing address, formatted for display or use with a mailing label.",
    ),
    AttributeDef::new(
        "streetAddress",
        Str,
        "The full street address component, which may include house number, street name, \
         P.O. box, and multi-line extended street address information.",
    ),
    AttributeDef::new("locality", Str, "The city or locality component."),
    AttributeDef::new("region", Str, "The state or region component."),
    AttributeDef::new("postalCode", Str, "The zip code or postal code component."),
    AttributeDef::new("country", Str, "The country name component."),
    type_sub(&["work", "home", "other"]),
    primary_sub(),
];

const USER_GROUP_SUBS: &[AttributeDef] = &[
    value_sub(Str, "The identifier of the User's group.").mutability(ReadOnly),
    AttributeDef::new(
        "$ref",
        Reference,
        "The URI of the corresponding 'Group' resource to which the user belongs.",
    )
    .references(&["User", "Group"])
    .mutability(ReadOnly),
    display_sub().mutability(ReadOnly),
    type_sub(&["direct", "indirect"]).mutability(ReadOnly),
];

const ENTITLEMENT_SUBS: &[AttributeDef] = &[
    value_sub(Str, "The value of an entitlement."),
    display_sub(),
    type_sub(&[]),
    primary_sub(),
];

const ROLE_SUBS: &[AttributeDef] = &[
    value_sub(Str, "The value of a role."),
    display_sub(),
    type_sub(&[]),
    primary_sub(),
];

const X509_SUBS: &[AttributeDef] = &[
    value_sub(Binary, "The value of an X.509 certificate."),
    display_sub(),
    type_sub(&[]),
    primary_sub(),
];

const USER_ATTRIBUTES: &[AttributeDef] = &[
    AttributeDef::new(
        "userName",
        Str,
        "Unique identifier for the User, typically used by the user to directly authenticate \
         to the service provider. Each User MUST include a non-empty userName value. This \
         identifier MUST be unique across the service provider's entire set of Users.",
    )
    .required()
    .unique(Uniqueness::Server),
    AttributeDef::new("name", Complex, "The components of the user's real name.").subs(NAME_SUBS),
    AttributeDef::new(
        "displayName",
        Str,
        "The name of the User, suitable for display to end-users.",
    ),
    AttributeDef::new(
        "nickName",
        Str,
        "The casual way to address the user in real life.",
    ),
    AttributeDef::new(
        "profileUrl",
        Reference,
        "A fully qualified URL pointing to a page representing the User's online profile.",
    )
    .references(&["external"]),
    AttributeDef::new(
        "title",
        Str,
        "The user's title, such as \"Vice President\".",
    ),
    AttributeDef::new(
        "userType",
        Str,
        "Used to identify the relationship between the organization and the user, e.g. \
         'Contractor', 'Employee', 'Intern'.",
    ),
    AttributeDef::new(
        "preferredLanguage",
        Str,
        "Indicates the User's preferred written or spoken language, e.g. 'en-US'.",
    ),
    AttributeDef::new(
        "locale",
        Str,
        "Used to indicate the User's default location for purposes of localizing items such \
         as currency, date time format, or numerical representations.",
    ),
    AttributeDef::new(
        "timezone",
        Str,
        "The User's time zone in the 'Olson' time zone database format, e.g. \
         'America/Los_Angeles'.",
    ),
    AttributeDef::new(
        "active",
        Boolean,
        "A Boolean value indicating the User's administrative status.",
    ),
    AttributeDef::new(
        "password",
        Str,
        "The User's cleartext password. This attribute is intended to be used as a means to \
         specify an initial password when creating a new User or to reset an existing User's \
         password.",
    )
    .mutability(WriteOnly)
    .returned(Returned::Never),
    AttributeDef::new("emails", Complex, "Email addresses for the user.")
        .multi()
        .subs(EMAIL_SUBS),
    AttributeDef::new("phoneNumbers", Complex, "Phone numbers for the User.")
        .multi()
        .subs(PHONE_SUBS),
    AttributeDef::new("ims", Complex, "Instant messaging addresses for the User.")
        .multi()
        .subs(IMS_SUBS),
    AttributeDef::new("photos", Complex, "URLs of photos of the User.")
        .multi()
        .subs(PHOTO_SUBS),
    AttributeDef::new(
        "addresses",
        Complex,
        "A physical mailing address for this User.",
    )
    .multi()
    .subs(ADDRESS_SUBS),
    AttributeDef::new(
        "groups",
        Complex,
        "A list of groups to which the user belongs, either through direct membership, \
         through nested groups, or dynamically calculated.",
    )
    .multi()
    .mutability(ReadOnly)
    .subs(USER_GROUP_SUBS),
    AttributeDef::new(
        "entitlements",
        Complex,
        "A list of entitlements for the User.",
    )
    .multi()
    .subs(ENTITLEMENT_SUBS),
    AttributeDef::new("roles", Complex, "A list of roles for the User.")
        .multi()
        .subs(ROLE_SUBS),
    AttributeDef::new(
        "x509Certificates",
        Complex,
        "A list of certificates issued to the User.",
    )
    .multi()
    .subs(X509_SUBS),
];

const MEMBER_SUBS: &[AttributeDef] = &[
    value_sub(Str, "Identifier of the member of this Group.")
        .case_exact()
        .mutability(Immutable),
    AttributeDef::new(
        "$ref",
        Reference,
        "The URI corresponding to a SCIM resource that is a member of this Group.",
    )
    .references(&["User", "Group"])
    .mutability(Immutable),
    AttributeDef::new(
        "type",
        Str,
        "A label indicating the type of resource, e.g., 'User' or 'Group'.",
    )
    .canonical(&["User", "Group"])
    .mutability(Immutable),
    // Clients send the member's display name; the core derives it, so it is read-only.
    display_sub().mutability(ReadOnly),
];

const GROUP_ATTRIBUTES: &[AttributeDef] = &[
    // RFC 7643 §8.7.1 says uniqueness none; roles are unique by name within an organization.
    AttributeDef::new(
        "displayName",
        Str,
        "A human-readable name for the Group. REQUIRED.",
    )
    .required()
    .unique(Uniqueness::Server),
    AttributeDef::new("members", Complex, "A list of members of the Group.")
        .multi()
        .subs(MEMBER_SUBS),
];

const MANAGER_SUBS: &[AttributeDef] = &[
    value_sub(
        Str,
        "The id of the SCIM resource representing the User's manager.",
    ),
    AttributeDef::new(
        "$ref",
        Reference,
        "The URI of the SCIM resource representing the User's manager.",
    )
    .references(&["User"]),
    AttributeDef::new("displayName", Str, "The displayName of the User's manager.")
        .mutability(ReadOnly),
];

const ENTERPRISE_ATTRIBUTES: &[AttributeDef] = &[
    AttributeDef::new(
        "employeeNumber",
        Str,
        "Numeric or alphanumeric identifier assigned to a person, typically based on order of \
         hire or association with an organization.",
    ),
    AttributeDef::new("costCenter", Str, "Identifies the name of a cost center."),
    AttributeDef::new(
        "organization",
        Str,
        "Identifies the name of an organization.",
    ),
    AttributeDef::new("division", Str, "Identifies the name of a division."),
    AttributeDef::new("department", Str, "Identifies the name of a department."),
    AttributeDef::new(
        "manager",
        Complex,
        "The User's manager. A complex type that optionally allows service providers to \
         represent organizational hierarchy by referencing the 'id' attribute of another User.",
    )
    .subs(MANAGER_SUBS),
];

const META_SUBS: &[AttributeDef] = &[
    AttributeDef::new(
        "resourceType",
        Str,
        "The name of the resource type of the resource.",
    )
    .case_exact()
    .mutability(ReadOnly),
    AttributeDef::new(
        "created",
        DateTime,
        "The DateTime that the resource was added to the service provider.",
    )
    .mutability(ReadOnly),
    AttributeDef::new(
        "lastModified",
        DateTime,
        "The most recent DateTime that the details of this resource were updated.",
    )
    .mutability(ReadOnly),
    AttributeDef::new(
        "location",
        Reference,
        "The URI of the resource being returned.",
    )
    .case_exact()
    .mutability(ReadOnly),
    AttributeDef::new(
        "version",
        Str,
        "The version of the resource being returned.",
    )
    .case_exact()
    .mutability(ReadOnly),
];

/// The common attributes of every resource (RFC 7643 §3.1). They belong to no schema, so
/// they are not listed in `/Schemas`, but lookups resolve them.
pub const COMMON_ATTRIBUTES: &[AttributeDef] = &[
    AttributeDef::new(
        "id",
        Str,
        "A unique identifier for a SCIM resource as defined by the service provider.",
    )
    .case_exact()
    .mutability(ReadOnly)
    .returned(Returned::Always)
    .unique(Uniqueness::Server),
    AttributeDef::new(
        "externalId",
        Str,
        "A String that is an identifier for the resource as defined by the provisioning client.",
    )
    .case_exact(),
    // meta is "default" in RFC 7643; this service provider returns it always (see projection).
    AttributeDef::new(
        "meta",
        Complex,
        "A complex attribute containing resource metadata.",
    )
    .mutability(ReadOnly)
    .subs(META_SUBS),
];

/// The core User schema (RFC 7643 §4.1).
pub static USER_SCHEMA_DEF: SchemaDef = SchemaDef {
    id: USER_SCHEMA,
    name: "User",
    description: "User Account",
    attributes: USER_ATTRIBUTES,
};

/// The core Group schema (RFC 7643 §4.2).
pub static GROUP_SCHEMA_DEF: SchemaDef = SchemaDef {
    id: GROUP_SCHEMA,
    name: "Group",
    description: "Group",
    attributes: GROUP_ATTRIBUTES,
};

/// The Enterprise User extension (RFC 7643 §4.3).
pub static ENTERPRISE_USER_SCHEMA_DEF: SchemaDef = SchemaDef {
    id: ENTERPRISE_USER_SCHEMA,
    name: "EnterpriseUser",
    description: "Enterprise User",
    attributes: ENTERPRISE_ATTRIBUTES,
};

/// Every schema served by `/Schemas`, in a stable order.
pub static ALL_SCHEMAS: [&SchemaDef; 3] = [
    &USER_SCHEMA_DEF,
    &GROUP_SCHEMA_DEF,
    &ENTERPRISE_USER_SCHEMA_DEF,
];

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

// === discovery documents ===

fn location(base_url: &str, path: &str) -> String {
    format!("{}{}", base_url.trim_end_matches('/'), path)
}

/// `/Schemas` (RFC 7643 §7, RFC 7644 §4): every schema with `meta.location`.
pub fn schemas_json(base_url: &str) -> Vec<Value> {
    ALL_SCHEMAS
        .iter()
        .map(|schema| schema.to_json(base_url))
        .collect()
}

/// `/Schemas/{urn}`; `None` when the URN (compared case-insensitively) is unknown.
pub fn schema_json(urn: &str, base_url: &str) -> Option<Value> {
    ALL_SCHEMAS
        .iter()
        .find(|schema| schema.id.eq_ignore_ascii_case(urn))
        .map(|schema| schema.to_json(base_url))
}

/// The `/ResourceTypes/{name}` document of one resource type (RFC 7643 §6).
pub fn resource_type_json(kind: ResourceKind, base_url: &str) -> Value {
    let extensions: Vec<Value> = kind
        .extensions()
        .iter()
        .map(|schema| json!({ "schema": schema.id, "required": false }))
        .collect();
    let mut document = json!({
        "schemas": [RESOURCE_TYPE_SCHEMA],
        "id": kind.name(),
        "name": kind.name(),
        "endpoint": kind.endpoint(),
        "description": match kind {
            ResourceKind::User => "User Account",
            ResourceKind::Group => "Group",
        },
        "schema": kind.core_schema(),
        "meta": {
            "resourceType": "ResourceType",
            "location": location(base_url, &format!("/ResourceTypes/{}", kind.name())),
        },
    });
    if !extensions.is_empty() {
        document["schemaExtensions"] = Value::Array(extensions);
    }
    document
}

/// `/ResourceTypes` (RFC 7643 §6): User and Group.
pub fn resource_types_json(base_url: &str) -> Vec<Value> {
    [ResourceKind::User, ResourceKind::Group]
        .into_iter()
        .map(|kind| resource_type_json(kind, base_url))
        .collect()
}

/// The limits advertised by `/ServiceProviderConfig`; they must be the ones the HTTP layer
/// enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most operations in one bulk request.
    pub bulk_max_operations: usize,
    /// Largest request body in bytes (bulk included).
    pub max_payload_size: usize,
    /// Most resources one list or search response returns.
    pub filter_max_results: usize,
    /// Page size when the client sends no `count`.
    pub default_page_size: usize,
    /// Seconds a pagination cursor stays usable (RFC 9865).
    pub cursor_timeout_secs: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            bulk_max_operations: 1000,
            max_payload_size: 4_194_304,
            filter_max_results: 1000,
            default_page_size: 100,
            cursor_timeout_secs: 3600,
        }
    }
}

/// `/ServiceProviderConfig` (RFC 7643 §5) with the RFC 9865 `pagination` block.
pub fn service_provider_config_json(base_url: &str, limits: &Limits) -> Value {
    json!({
        "schemas": [SERVICE_PROVIDER_CONFIG_SCHEMA],
        "patch": { "supported": true },
        "bulk": {
            "supported": true,
            "maxOperations": limits.bulk_max_operations,
            "maxPayloadSize": limits.max_payload_size,
        },
        "filter": { "supported": true, "maxResults": limits.filter_max_results },
        "changePassword": { "supported": true },
        "sort": { "supported": true },
        "etag": { "supported": true },
        "pagination": {
            "cursor": true,
            "index": true,
            "defaultPaginationMethod": "index",
            "defaultPageSize": limits.default_page_size,
            "maxPageSize": limits.filter_max_results,
            "cursorTimeout": limits.cursor_timeout_secs,
        },
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "OAuth Bearer Token",
            "description": "Authentication with a bearer token issued to the organization's provisioning client",
            "specUri": "https://www.rfc-editor.org/info/rfc6750",
            "primary": true,
        }],
        "meta": {
            "resourceType": "ServiceProviderConfig",
            "location": location(base_url, "/ServiceProviderConfig"),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(schema: Option<&str>, attribute: &str, sub: Option<&str>) -> AttrPath {
        AttrPath {
            schema: schema.map(str::to_owned),
            attribute: attribute.to_owned(),
            sub_attribute: sub.map(str::to_owned),
        }
    }

    // RFC 7643 §2.1: attribute names are case-insensitive.
    #[test]
    fn lookup_is_case_insensitive() {
        let def = attribute(ResourceKind::User, &path(None, "USERNAME", None)).unwrap();
        assert_eq!(def.name, "userName");
        assert!(def.required);
        let def = attribute(ResourceKind::User, &path(None, "name", Some("GIVENNAME"))).unwrap();
        assert_eq!(def.name, "givenName");
    }

    // RFC 7644 §3.10: fully qualified paths carry the schema URN.
    #[test]
    fn lookup_accepts_urn_prefixes() {
        let resolved = resolve(
            ResourceKind::User,
            &path(Some(ENTERPRISE_USER_SCHEMA), "manager", Some("value")),
        )
        .unwrap();
        assert_eq!(resolved.schema.unwrap().id, ENTERPRISE_USER_SCHEMA);
        assert_eq!(resolved.target().name, "value");
        assert!(resolved.is_extension(ResourceKind::User));

        let resolved = resolve(
            ResourceKind::User,
            &path(Some(&USER_SCHEMA.to_uppercase()), "emails", None),
        )
        .unwrap();
        assert!(resolved.attribute.multi_valued);
        assert!(!resolved.is_extension(ResourceKind::User));

        // Bare extension names resolve to the extension.
        let resolved = resolve(ResourceKind::User, &path(None, "employeeNumber", None)).unwrap();
        assert_eq!(resolved.schema.unwrap().id, ENTERPRISE_USER_SCHEMA);
    }

    #[test]
    fn lookup_rejects_unknown_names_and_foreign_schemas() {
        assert!(attribute(ResourceKind::User, &path(None, "nope", None)).is_none());
        assert!(attribute(ResourceKind::User, &path(None, "userName", Some("x"))).is_none());
        assert!(attribute(ResourceKind::Group, &path(None, "employeeNumber", None)).is_none());
        assert!(
            attribute(
                ResourceKind::Group,
                &path(Some(USER_SCHEMA), "displayName", None)
            )
            .is_none()
        );
    }

    // RFC 7643 §3.1: id, externalId and meta belong to every resource.
    #[test]
    fn common_attributes_resolve_for_both_kinds() {
        for kind in [ResourceKind::User, ResourceKind::Group] {
            let id = resolve(kind, &path(None, "id", None)).unwrap();
            assert!(id.schema.is_none());
            assert_eq!(id.attribute.mutability, Mutability::ReadOnly);
            assert_eq!(id.attribute.returned, Returned::Always);
            let created = attribute(kind, &path(None, "meta", Some("created"))).unwrap();
            assert_eq!(created.attr_type, AttrType::DateTime);
        }
        let id = resolve(ResourceKind::Group, &path(Some(GROUP_SCHEMA), "id", None)).unwrap();
        assert!(id.schema.is_none());
    }

    // RFC 7643 §4.1: every core User attribute is in the table.
    #[test]
    fn user_schema_lists_every_attribute() {
        let names: Vec<&str> = USER_SCHEMA_DEF.attributes.iter().map(|a| a.name).collect();
        for expected in [
            "userName",
            "name",
            "displayName",
            "nickName",
            "profileUrl",
            "title",
            "userType",
            "preferredLanguage",
            "locale",
            "timezone",
            "active",
            "password",
            "emails",
            "phoneNumbers",
            "ims",
            "photos",
            "addresses",
            "groups",
            "entitlements",
            "roles",
            "x509Certificates",
        ] {
            assert!(names.contains(&expected), "{expected} missing");
        }
        let password = USER_SCHEMA_DEF.attribute("password").unwrap();
        assert_eq!(password.returned, Returned::Never);
        assert_eq!(password.mutability, Mutability::WriteOnly);
        let groups = USER_SCHEMA_DEF.attribute("groups").unwrap();
        assert_eq!(groups.mutability, Mutability::ReadOnly);
    }

    // RFC 7643 §7: schema representation.
    #[test]
    fn schema_json_has_characteristics_and_location() {
        let schemas = schemas_json("https://example.com/scim/v2/");
        assert_eq!(schemas.len(), 3);
        let user = &schemas[0];
        assert_eq!(user["id"], USER_SCHEMA);
        assert_eq!(
            user["meta"]["location"],
            format!("https://example.com/scim/v2/Schemas/{USER_SCHEMA}")
        );
        let emails = user["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["name"] == "emails")
            .unwrap();
        assert_eq!(emails["multiValued"], true);
        assert_eq!(emails["type"], "complex");
        let email_type = emails["subAttributes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["name"] == "type")
            .unwrap();
        assert_eq!(
            email_type["canonicalValues"],
            json!(["work", "home", "other"])
        );
        assert_eq!(email_type["caseExact"], false);
        assert_eq!(email_type["uniqueness"], "none");

        let found = schema_json(&ENTERPRISE_USER_SCHEMA.to_lowercase(), "http://x").unwrap();
        assert_eq!(found["id"], ENTERPRISE_USER_SCHEMA);
        assert!(schema_json("urn:nope", "http://x").is_none());
    }

    // RFC 7643 §6: resource types.
    #[test]
    fn resource_types_describe_users_and_groups() {
        let types = resource_types_json("http://h/scim/v2");
        assert_eq!(types[0]["endpoint"], "/Users");
        assert_eq!(
            types[0]["schemaExtensions"][0]["schema"],
            ENTERPRISE_USER_SCHEMA
        );
        assert_eq!(types[0]["schemaExtensions"][0]["required"], false);
        assert_eq!(types[1]["id"], "Group");
        assert_eq!(
            types[1]["meta"]["location"],
            "http://h/scim/v2/ResourceTypes/Group"
        );
        assert!(types[1].get("schemaExtensions").is_none());
    }

    // RFC 7643 §5 and RFC 9865 §4.
    #[test]
    fn service_provider_config_tells_the_truth() {
        let limits = Limits {
            max_payload_size: 1234,
            ..Limits::default()
        };
        let config = service_provider_config_json("http://h/scim/v2", &limits);
        assert_eq!(config["patch"]["supported"], true);
        assert_eq!(config["bulk"]["maxOperations"], 1000);
        assert_eq!(config["bulk"]["maxPayloadSize"], 1234);
        assert_eq!(config["filter"]["maxResults"], 1000);
        assert_eq!(config["changePassword"]["supported"], true);
        assert_eq!(config["sort"]["supported"], true);
        assert_eq!(config["etag"]["supported"], true);
        assert_eq!(
            config["authenticationSchemes"][0]["type"],
            "oauthbearertoken"
        );
        assert_eq!(config["pagination"]["cursor"], true);
        assert_eq!(config["pagination"]["index"], true);
        assert_eq!(config["pagination"]["defaultPaginationMethod"], "index");
        assert_eq!(config["pagination"]["defaultPageSize"], 100);
        assert_eq!(config["pagination"]["maxPageSize"], 1000);
        assert_eq!(config["pagination"]["cursorTimeout"], 3600);
        assert_eq!(
            config["meta"]["location"],
            "http://h/scim/v2/ServiceProviderConfig"
        );
    }
}
