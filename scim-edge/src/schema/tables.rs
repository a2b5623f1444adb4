//! The attribute table: every attribute of the core User, Group and Enterprise User schemas and
//! the common attributes, with their characteristics.
//!
//! Transcribed from RFC 7643 §4 and the schema representation of §8.7.1; where the RFC text
//! and §8.7.1 differ (addresses.primary, members.display), the attribute is listed because
//! clients send it.

use super::AttrType::{Binary, Boolean, Complex, DateTime, Reference, String as Str};
use super::Mutability::{Immutable, ReadOnly, WriteOnly};
use super::*;

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
