//! Users: validation of user data, and every read and write of `identity_user`, `user_email`
//! and `user_phone`.
//!
//! Writes go through [`org_writes::write`], so each runs in a transaction that holds the
//! organization's write lock and appends its change-feed rows; uniqueness is pre-checked inside
//! that lock (so the error reason is right on every backend) and backed by unique indexes. Reads
//! never load more than the rows asked for. This module knows nothing of protobuf messages
//! except the shared enums.

use super::external_id_taken;
use crate::entity::{role, role_member, user, user_email, user_phone};
use crate::error::{CoreError, CoreResult, FieldViolation};
use crate::ids::{OrgId, UserId};
use crate::store::ByKey;
use crate::store::changes::{self, NewChange};
use crate::store::filter::Resource;
use crate::store::paging::{self, ListQuery};
use crate::store::{access_tokens, org_writes, roles};
use identity_proto::identity::v1::{ChangeKind, ErrorReason, ManagedBy, ResourceType};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction,
    DbBackend, DbErr, EntityName, EntityTrait, IdenStatic, QueryFilter, QueryOrder, QuerySelect,
    SqlErr,
};
use serde_json::{Map, Value};
use std::collections::HashMap;
use uuid::Uuid;

/// Longest user name, in characters.
pub const MAX_USER_NAME_CHARS: usize = 256;
/// Longest value of any other string attribute, in characters.
pub const MAX_STRING_CHARS: usize = 1024;
/// Most values of one multi-valued attribute.
pub const MAX_CONTACTS: usize = 100;
/// Largest `extra_attributes` document, in bytes of JSON.
pub const MAX_EXTRA_BYTES: usize = 64 * 1024;
/// Most ids of one batch read.
pub const MAX_BATCH_GET: usize = 1000;

/// One email address or phone number.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Contact {
    pub value: String,
    pub value_type: Option<String>,
    pub primary: bool,
    pub display: Option<String>,
}

/// Name parts (RFC 7643 §4.1.1).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NameParts {
    pub formatted: Option<String>,
    pub family_name: Option<String>,
    pub given_name: Option<String>,
    pub middle_name: Option<String>,
    pub honorific_prefix: Option<String>,
    pub honorific_suffix: Option<String>,
}

/// Enterprise attributes (RFC 7643 §4.3).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Enterprise {
    pub employee_number: Option<String>,
    pub cost_center: Option<String>,
    pub organization: Option<String>,
    pub division: Option<String>,
    pub department: Option<String>,
    pub manager_id: Option<String>,
    pub manager_display_name: Option<String>,
}

/// Every writable attribute of a user. Unset optional strings are `None`, never empty.
#[derive(Debug, Clone, PartialEq)]
pub struct UserData {
    pub user_name: String,
    pub external_id: Option<String>,
    pub display_name: Option<String>,
    pub name: NameParts,
    pub nick_name: Option<String>,
    pub title: Option<String>,
    pub user_type: Option<String>,
    pub preferred_language: Option<String>,
    pub locale: Option<String>,
    pub timezone: Option<String>,
    pub active: bool,
    pub emails: Vec<Contact>,
    pub phone_numbers: Vec<Contact>,
    pub enterprise: Enterprise,
    pub extra_attributes: Option<Map<String, Value>>,
    pub managed_by: ManagedBy,
}

impl Default for UserData {
    fn default() -> Self {
        Self {
            user_name: String::new(),
            external_id: None,
            display_name: None,
            name: NameParts::default(),
            nick_name: None,
            title: None,
            user_type: None,
            preferred_language: None,
            locale: None,
            timezone: None,
            active: true,
            emails: Vec::new(),
            phone_numbers: Vec::new(),
            enterprise: Enterprise::default(),
            extra_attributes: None,
            managed_by: ManagedBy::Platform,
        }
    }
}

/// A stored user.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub id: UserId,
    pub org: OrgId,
    pub data: UserData,
    pub has_password: bool,
    pub version: i64,
    /// Microseconds since the Unix epoch.
    pub created_at: i64,
    /// Microseconds since the Unix epoch.
    pub updated_at: i64,
    /// The roles the user holds, ordered by role id, when the read asked for them
    /// ([`Detail::WithRoles`]); `None` when it did not, and after a write.
    pub roles: Option<Vec<HeldRole>>,
}

/// A role a user holds, as shown with the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldRole {
    pub role_id: Uuid,
    pub display_name: String,
}

/// What a user read returns besides the user's own attributes, emails and phone numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    /// Nothing more.
    Basic,
    /// The roles each user holds ([`User::roles`]), read in the same statement.
    WithRoles,
}

/// What a write does to the password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordChange {
    Keep,
    Clear,
    /// An Argon2 PHC string, computed with [`hash_password`] before the transaction starts.
    SetHash(String),
}

/// Argon2id's cost and how many hashes run at once. Each hash holds `memory_kib` of memory for
/// its duration, so the bound on concurrent hashes is what keeps a burst of password writes
/// (40 concurrent `PUT`s with a password) from taking the process's memory; the others wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordHashing {
    pub memory_kib: u32,
    pub iterations: u32,
    pub concurrency: usize,
}

impl Default for PasswordHashing {
    /// OWASP's first Argon2id configuration (19 MiB, 2 iterations, 1 lane); as many hashes at
    /// once as there are CPUs (more would only queue for them while holding memory).
    fn default() -> Self {
        Self {
            memory_kib: argon2::Params::DEFAULT_M_COST,
            iterations: argon2::Params::DEFAULT_T_COST,
            concurrency: std::thread::available_parallelism().map_or(2, usize::from),
        }
    }
}

/// The configured hashing, set once at start (tests and tools get the default).
static PASSWORD_HASHING: std::sync::OnceLock<(argon2::Params, tokio::sync::Semaphore)> =
    std::sync::OnceLock::new();

/// Sets the hashing parameters; INVALID_ARGUMENT-like errors for parameters Argon2 refuses.
/// Only the first call takes effect.
pub fn configure_password_hashing(settings: PasswordHashing) -> Result<(), String> {
    let params = argon2::Params::new(
        settings.memory_kib,
        settings.iterations,
        argon2::Params::DEFAULT_P_COST,
        None,
    )
    .map_err(|e| format!("invalid Argon2 parameters: {e}"))?;
    let _ = PASSWORD_HASHING.set((
        params,
        tokio::sync::Semaphore::new(settings.concurrency.max(1)),
    ));
    Ok(())
}

fn password_hashing() -> &'static (argon2::Params, tokio::sync::Semaphore) {
    PASSWORD_HASHING.get_or_init(|| {
        let defaults = PasswordHashing::default();
        (
            argon2::Params::default(),
            tokio::sync::Semaphore::new(defaults.concurrency),
        )
    })
}

/// Runs one Argon2 computation off the async runtime, within the bound on concurrent hashes.
async fn with_argon2<T: Send + 'static>(
    what: &'static str,
    work: impl FnOnce(argon2::Argon2<'static>) -> T + Send + 'static,
) -> CoreResult<T> {
    let (params, slots) = password_hashing();
    let _slot = slots
        .acquire()
        .await
        .map_err(|_| CoreError::Internal(format!("{what}: hashing is shut down")))?;
    let argon2 = argon2::Argon2::new(
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        params.clone(),
    );
    tokio::task::spawn_blocking(move || work(argon2))
        .await
        .map_err(|e| CoreError::Internal(format!("{what} task failed: {e}")))
}

/// Hashes a password with Argon2id (configured parameters, random salt) off the async runtime.
pub async fn hash_password(password: String) -> CoreResult<String> {
    with_argon2("password hashing", move |argon2| {
        use argon2::password_hash::{PasswordHasher, SaltString};
        let salt_bytes: [u8; 16] = rand::random();
        let salt = SaltString::encode_b64(&salt_bytes)
            .map_err(|e| CoreError::Internal(format!("password salt encoding failed: {e}")))?;
        argon2
            .hash_password(password.as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|e| CoreError::Internal(format!("password hashing failed: {e}")))
    })
    .await?
}

/// Checks a password against the stored hash of a user (for callers that authenticate users).
/// A deactivated user never passes: deactivation blocks every credential without deleting it,
/// so reactivation restores access.
pub async fn verify_password(
    db: &DatabaseConnection,
    org: OrgId,
    id: UserId,
    password: String,
) -> CoreResult<bool> {
    let hash = user::Entity::find_by_id(id.0)
        .filter(user::Column::OrgId.eq(org.0))
        .filter(user::Column::Active.eq(true))
        .select_only()
        .column(user::Column::PasswordHash)
        .into_tuple::<Option<String>>()
        .by_key(db)
        .await?
        .flatten();
    let Some(hash) = hash else { return Ok(false) };
    // the stored hash names its own parameters; the configured ones only bound the work
    with_argon2("password verification", move |argon2| {
        use argon2::password_hash::{PasswordHash, PasswordVerifier};
        PasswordHash::new(&hash)
            .map(|parsed| argon2.verify_password(password.as_bytes(), &parsed).is_ok())
            .unwrap_or(false)
    })
    .await
}

// ---------------------------------------------------------------------------------------------
// validation

fn has_control(text: &str) -> bool {
    text.chars().any(char::is_control)
}

/// Whether `email` is a syntactically valid address: `local@domain`, no spaces or control
/// characters, a dotted domain of letters, digits and hyphens (RFC 5321 §4.1.2 reduced to what
/// provisioning clients actually send).
pub fn is_valid_email(email: &str) -> bool {
    let Some((local, domain)) = email.rsplit_once('@') else {
        return false;
    };
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .chars()
            .all(|c| !c.is_control() && !c.is_whitespace() && !"@<>()[],;:\\\"".contains(c));
    let domain_ok = domain.len() <= 253
        && domain.contains('.')
        && domain.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_alphanumeric() || c == '-')
        });
    local_ok && domain_ok && email.len() <= 320
}

/// Every problem with `data`, field paths prefixed with `prefix` (e.g. `user`).
pub fn validate(data: &UserData, prefix: &str) -> Vec<FieldViolation> {
    let mut errors = Vec::new();
    let mut check = |field: &str, value: Option<&str>, max: usize| {
        if let Some(value) = value {
            if value.chars().count() > max {
                errors.push(FieldViolation::new(
                    format!("{prefix}.{field}"),
                    format!("must be at most {max} characters"),
                ));
            } else if has_control(value) {
                errors.push(FieldViolation::new(
                    format!("{prefix}.{field}"),
                    "must not contain control characters",
                ));
            }
        }
    };
    if !data.user_name.trim().is_empty() {
        check("user_name", Some(&data.user_name), MAX_USER_NAME_CHARS);
    }
    let n = &data.name;
    let e = &data.enterprise;
    for (field, value) in [
        ("external_id", &data.external_id),
        ("display_name", &data.display_name),
        ("name.formatted", &n.formatted),
        ("name.family_name", &n.family_name),
        ("name.given_name", &n.given_name),
        ("name.middle_name", &n.middle_name),
        ("name.honorific_prefix", &n.honorific_prefix),
        ("name.honorific_suffix", &n.honorific_suffix),
        ("nick_name", &data.nick_name),
        ("title", &data.title),
        ("user_type", &data.user_type),
        ("preferred_language", &data.preferred_language),
        ("locale", &data.locale),
        ("timezone", &data.timezone),
        ("enterprise.employee_number", &e.employee_number),
        ("enterprise.cost_center", &e.cost_center),
        ("enterprise.organization", &e.organization),
        ("enterprise.division", &e.division),
        ("enterprise.department", &e.department),
        ("enterprise.manager_id", &e.manager_id),
        ("enterprise.manager_display_name", &e.manager_display_name),
    ] {
        check(field, value.as_deref(), MAX_STRING_CHARS);
    }
    if data.user_name.trim().is_empty() {
        errors.push(FieldViolation::new(
            format!("{prefix}.user_name"),
            "is required",
        ));
    }
    for (attr, values, is_email) in [
        ("emails", &data.emails, true),
        ("phone_numbers", &data.phone_numbers, false),
    ] {
        if values.len() > MAX_CONTACTS {
            errors.push(FieldViolation::new(
                format!("{prefix}.{attr}"),
                format!("must have at most {MAX_CONTACTS} values"),
            ));
            continue;
        }
        let mut primary_seen = false;
        for (i, contact) in values.iter().enumerate() {
            let path = format!("{prefix}.{attr}[{i}]");
            if contact.value.trim().is_empty() {
                errors.push(FieldViolation::new(format!("{path}.value"), "is required"));
            } else if contact.value.chars().count() > MAX_STRING_CHARS
                || has_control(&contact.value)
            {
                errors.push(FieldViolation::new(
                    format!("{path}.value"),
                    "is not a valid value",
                ));
            } else if is_email && !is_valid_email(&contact.value) {
                errors.push(FieldViolation::new(
                    format!("{path}.value"),
                    "is not a valid email address",
                ));
            }
            for (field, value) in [("type", &contact.value_type), ("display", &contact.display)] {
                if let Some(value) = value
                    && (value.chars().count() > MAX_STRING_CHARS || has_control(value))
                {
                    errors.push(FieldViolation::new(
                        format!("{path}.{field}"),
                        "is not a valid value",
                    ));
                }
            }
            if contact.primary {
                if primary_seen {
                    errors.push(FieldViolation::new(
                        format!("{path}.primary"),
                        "at most one value may be primary",
                    ));
                }
                primary_seen = true;
            }
        }
    }
    if let Some(extra) = &data.extra_attributes {
        let size = serde_json::to_vec(extra)
            .map(|v| v.len())
            .unwrap_or(usize::MAX);
        if size > MAX_EXTRA_BYTES {
            errors.push(FieldViolation::new(
                format!("{prefix}.extra_attributes"),
                format!("must be at most {MAX_EXTRA_BYTES} bytes of JSON"),
            ));
        }
    }
    errors
}

/// INVALID_ARGUMENT with every violation of `data`.
pub fn ensure_valid(data: &UserData) -> CoreResult<()> {
    let errors = validate(data, "user");
    if errors.is_empty() {
        Ok(())
    } else {
        Err(CoreError::InvalidArgument(errors))
    }
}

// ---------------------------------------------------------------------------------------------
// rows <-> domain

fn extra_to_text(extra: &Option<Map<String, Value>>) -> CoreResult<Option<String>> {
    extra
        .as_ref()
        .filter(|m| !m.is_empty())
        .map(|m| serde_json::to_string(m).map_err(|e| CoreError::Internal(e.to_string())))
        .transpose()
}

/// Parses a stored JSON object; a corrupt value is logged and read as empty rather than making
/// the resource unreadable.
pub(crate) fn extra_from_text(text: Option<&str>, id: Uuid) -> Option<Map<String, Value>> {
    let text = text?;
    match serde_json::from_str::<Map<String, Value>>(text) {
        Ok(map) => Some(map),
        Err(error) => {
            tracing::error!(resource_id = %id, %error, "stored extra attributes are not a json object");
            None
        }
    }
}

pub(crate) fn managed_by_from_db(value: i16) -> ManagedBy {
    ManagedBy::try_from(i32::from(value)).unwrap_or(ManagedBy::Platform)
}

fn active_model(id: Uuid, org: OrgId, data: &UserData, now: i64) -> CoreResult<user::ActiveModel> {
    let n = &data.name;
    let e = &data.enterprise;
    Ok(user::ActiveModel {
        id: Set(id),
        org_id: Set(org.0),
        user_name: Set(data.user_name.clone()),
        user_name_lower: Set(data.user_name.to_lowercase()),
        external_id: Set(data.external_id.clone()),
        display_name: Set(data.display_name.clone()),
        name_formatted: Set(n.formatted.clone()),
        name_family_name: Set(n.family_name.clone()),
        name_given_name: Set(n.given_name.clone()),
        name_middle_name: Set(n.middle_name.clone()),
        name_honorific_prefix: Set(n.honorific_prefix.clone()),
        name_honorific_suffix: Set(n.honorific_suffix.clone()),
        nick_name: Set(data.nick_name.clone()),
        title: Set(data.title.clone()),
        user_type: Set(data.user_type.clone()),
        preferred_language: Set(data.preferred_language.clone()),
        locale: Set(data.locale.clone()),
        timezone: Set(data.timezone.clone()),
        active: Set(data.active),
        employee_number: Set(e.employee_number.clone()),
        cost_center: Set(e.cost_center.clone()),
        enterprise_organization: Set(e.organization.clone()),
        division: Set(e.division.clone()),
        department: Set(e.department.clone()),
        manager_id: Set(e.manager_id.clone()),
        manager_display_name: Set(e.manager_display_name.clone()),
        extra_attributes: Set(extra_to_text(&data.extra_attributes)?),
        managed_by: Set(stored_managed_by(data.managed_by)),
        updated_at: Set(now),
        ..Default::default()
    })
}

fn stored_managed_by(managed_by: ManagedBy) -> i16 {
    match managed_by {
        ManagedBy::Scim => ManagedBy::Scim as i16,
        ManagedBy::Platform | ManagedBy::Unspecified => ManagedBy::Platform as i16,
    }
}

fn contact_from(
    value: String,
    value_type: Option<String>,
    primary: bool,
    display: Option<String>,
) -> Contact {
    Contact {
        value,
        value_type,
        primary,
        display,
    }
}

fn to_domain(
    row: StoredUser,
    emails: Vec<Contact>,
    phone_numbers: Vec<Contact>,
    roles: Option<Vec<HeldRole>>,
) -> User {
    let extra_attributes = extra_from_text(row.extra_attributes.as_deref(), row.id);
    User {
        id: UserId(row.id),
        org: OrgId(row.org_id),
        has_password: row.has_password,
        version: row.version,
        created_at: row.created_at,
        updated_at: row.updated_at,
        roles,
        data: UserData {
            user_name: row.user_name,
            external_id: row.external_id,
            display_name: row.display_name,
            name: NameParts {
                formatted: row.name_formatted,
                family_name: row.name_family_name,
                given_name: row.name_given_name,
                middle_name: row.name_middle_name,
                honorific_prefix: row.name_honorific_prefix,
                honorific_suffix: row.name_honorific_suffix,
            },
            nick_name: row.nick_name,
            title: row.title,
            user_type: row.user_type,
            preferred_language: row.preferred_language,
            locale: row.locale,
            timezone: row.timezone,
            active: row.active,
            emails,
            phone_numbers,
            enterprise: Enterprise {
                employee_number: row.employee_number,
                cost_center: row.cost_center,
                organization: row.enterprise_organization,
                division: row.division,
                department: row.department,
                manager_id: row.manager_id,
                manager_display_name: row.manager_display_name,
            },
            extra_attributes,
            managed_by: managed_by_from_db(row.managed_by),
        },
    }
}

/// A user row as the database renders it, one JSON object per user
/// ([`AggregateSql::user_object`]): one value per row instead of 32. sqlx copies every value of
/// every SQLite row into an allocation of its own, and sea-orm checks each column's type as it
/// reads it; for a page of 100 users those were most of the core's work.
#[derive(serde::Deserialize)]
struct StoredUser {
    id: Uuid,
    org_id: Uuid,
    user_name: String,
    external_id: Option<String>,
    display_name: Option<String>,
    name_formatted: Option<String>,
    name_family_name: Option<String>,
    name_given_name: Option<String>,
    name_middle_name: Option<String>,
    name_honorific_prefix: Option<String>,
    name_honorific_suffix: Option<String>,
    nick_name: Option<String>,
    title: Option<String>,
    user_type: Option<String>,
    preferred_language: Option<String>,
    locale: Option<String>,
    timezone: Option<String>,
    #[serde(deserialize_with = "flag")]
    active: bool,
    employee_number: Option<String>,
    cost_center: Option<String>,
    enterprise_organization: Option<String>,
    division: Option<String>,
    department: Option<String>,
    manager_id: Option<String>,
    manager_display_name: Option<String>,
    extra_attributes: Option<String>,
    #[serde(deserialize_with = "flag")]
    has_password: bool,
    managed_by: i16,
    version: i64,
    created_at: i64,
    updated_at: i64,
}

/// The columns of [`StoredUser`] read as they are stored (all but the UUIDs, the flags and
/// `has_password`, which [`AggregateSql::user_object`] writes itself).
const PLAIN_COLUMNS: [user::Column; 27] = [
    user::Column::UserName,
    user::Column::ExternalId,
    user::Column::DisplayName,
    user::Column::NameFormatted,
    user::Column::NameFamilyName,
    user::Column::NameGivenName,
    user::Column::NameMiddleName,
    user::Column::NameHonorificPrefix,
    user::Column::NameHonorificSuffix,
    user::Column::NickName,
    user::Column::Title,
    user::Column::UserType,
    user::Column::PreferredLanguage,
    user::Column::Locale,
    user::Column::Timezone,
    user::Column::EmployeeNumber,
    user::Column::CostCenter,
    user::Column::EnterpriseOrganization,
    user::Column::Division,
    user::Column::Department,
    user::Column::ManagerId,
    user::Column::ManagerDisplayName,
    user::Column::ExtraAttributes,
    user::Column::ManagedBy,
    user::Column::Version,
    user::Column::CreatedAt,
    user::Column::UpdatedAt,
];

/// A boolean as a backend's JSON writes it: `true`/`false`, or 1/0 where booleans are integers
/// (SQLite, MySQL).
fn flag<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    struct Flag;
    impl serde::de::Visitor<'_> for Flag {
        type Value = bool;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a boolean, 0 or 1")
        }
        fn visit_bool<E>(self, value: bool) -> Result<bool, E> {
            Ok(value)
        }
        fn visit_i64<E>(self, value: i64) -> Result<bool, E> {
            Ok(value != 0)
        }
        fn visit_u64<E>(self, value: u64) -> Result<bool, E> {
            Ok(value != 0)
        }
    }
    deserializer.deserialize_any(Flag)
}

/// The users of `org` that `condition` selects (a condition on `identity_user`), with their
/// emails and phone numbers and, for [`Detail::WithRoles`], their roles: one statement. The
/// database folds each user's contacts and roles into JSON arrays in the user's own row
/// (correlated subqueries on the `(user_id, …)` indexes), so a read is one round trip however
/// many users it returns. On SQLite each statement is a hop to sqlx's worker thread and back,
/// on PostgreSQL a network round trip: reading a user with three statements (row, contacts,
/// roles) cost three of those for the work of one.
async fn select_users<C: ConnectionTrait>(
    conn: &C,
    org: OrgId,
    condition: Expr,
    detail: Detail,
) -> CoreResult<Vec<User>> {
    let mut query = sea_orm::sea_query::Query::select();
    query
        .from(user::Entity)
        .and_where(Expr::col(user::Column::OrgId).eq(org.0))
        .and_where(condition);
    select_user_columns(&mut query, conn.get_database_backend(), detail);
    conn.query_all(&query)
        .await?
        .iter()
        .map(|row| user_with_aggregates(row, 0, detail))
        .collect()
}

/// Adds to `query` (over `identity_user`) the columns [`user_with_aggregates`] reads: the user
/// as one JSON object, its emails, its phone numbers and, for [`Detail::WithRoles`], its roles.
fn select_user_columns(
    query: &mut sea_orm::sea_query::SelectStatement,
    backend: DbBackend,
    detail: Detail,
) {
    let sql = UserSql::of(backend);
    query
        .expr(Expr::cust(sql.object.as_str()))
        .expr(Expr::cust(sql.emails.as_str()))
        .expr(Expr::cust(sql.phones.as_str()));
    if detail == Detail::WithRoles {
        query.expr(Expr::cust(sql.roles.as_str()));
    }
}

/// The SQL of [`select_user_columns`] for one backend, written once: formatting it for every
/// read cost more than the statement it builds.
struct UserSql {
    object: String,
    emails: String,
    phones: String,
    roles: String,
}

impl UserSql {
    fn of(backend: DbBackend) -> &'static UserSql {
        use std::sync::OnceLock;
        static POSTGRES: OnceLock<UserSql> = OnceLock::new();
        static MYSQL: OnceLock<UserSql> = OnceLock::new();
        static OTHER: OnceLock<UserSql> = OnceLock::new();
        let cell = match backend {
            DbBackend::Postgres => &POSTGRES,
            DbBackend::MySql => &MYSQL,
            _ => &OTHER,
        };
        cell.get_or_init(|| {
            let sql = AggregateSql::new(backend);
            UserSql {
                object: sql.user_object(),
                emails: sql.contacts(user_email::Entity.table_name()),
                phones: sql.contacts(user_phone::Entity.table_name()),
                roles: sql.roles(),
            }
        })
    }
}

/// A user of [`select_user_columns`], its columns starting at `first`.
fn user_with_aggregates(
    row: &sea_orm::QueryResult,
    first: usize,
    detail: Detail,
) -> CoreResult<User> {
    let text = |n: usize| -> CoreResult<Option<String>> { Ok(row.try_get_by_index(first + n)?) };
    let object = text(0)?.unwrap_or_default();
    let stored: StoredUser = serde_json::from_str(&object)
        .map_err(|e| CoreError::Internal(format!("a user row read as JSON does not parse: {e}")))?;
    let id = stored.id;
    let emails = contacts_from_json(text(1)?, id)?;
    let phones = contacts_from_json(text(2)?, id)?;
    let roles = match detail {
        Detail::Basic => None,
        Detail::WithRoles => Some(roles_from_json(text(3)?, id)?),
    };
    Ok(to_domain(stored, emails, phones, roles))
}

/// The correlated subqueries of [`select_users`], in each backend's names for a JSON array
/// aggregate. Elements are arrays read by position; the order is restored after parsing (an
/// aggregate's order needs syntax that differs by backend, sorting a few elements does not).
struct AggregateSql {
    backend: DbBackend,
}

impl AggregateSql {
    fn new(backend: DbBackend) -> Self {
        Self { backend }
    }

    fn quote(&self, name: &str) -> String {
        match self.backend {
            DbBackend::MySql => format!("`{name}`"),
            _ => format!("\"{name}\""),
        }
    }

    /// `elements` (SQL expressions) of the selected rows as a JSON array of arrays, as text;
    /// NULL or `[]` when there are none.
    fn array_of_arrays(&self, elements: &str) -> String {
        match self.backend {
            DbBackend::Postgres => format!("CAST(json_agg(json_build_array({elements})) AS TEXT)"),
            DbBackend::MySql => format!("CAST(JSON_ARRAYAGG(JSON_ARRAY({elements})) AS CHAR)"),
            // SQLite's names, which later backends are likeliest to share
            _ => format!("json_group_array(json_array({elements}))"),
        }
    }

    /// A UUID column as text that [`Uuid::parse_str`] reads (SQLite and MySQL store UUIDs as
    /// 16 bytes, which JSON cannot hold).
    fn uuid_text(&self, column: &str) -> String {
        match self.backend {
            DbBackend::Postgres => column.to_owned(),
            _ => format!("hex({column})"),
        }
    }

    /// The outer user row as one JSON object with the fields of [`StoredUser`].
    fn user_object(&self) -> String {
        let q = |name: &str| self.quote(name);
        let column =
            |c: user::Column| format!("{}.{}", q(user::Entity.table_name()), q(c.as_str()));
        let mut members = vec![
            format!("'id', {}", self.uuid_text(&column(user::Column::Id))),
            format!("'org_id', {}", self.uuid_text(&column(user::Column::OrgId))),
            format!("'active', {}", column(user::Column::Active)),
            format!(
                "'has_password', CASE WHEN {} IS NULL THEN 0 ELSE 1 END",
                column(user::Column::PasswordHash)
            ),
        ];
        members.extend(
            PLAIN_COLUMNS
                .iter()
                .map(|&c| format!("'{}', {}", c.as_str(), column(c))),
        );
        let members = members.join(", ");
        match self.backend {
            DbBackend::Postgres => format!("CAST(json_build_object({members}) AS TEXT)"),
            DbBackend::MySql => format!("CAST(JSON_OBJECT({members}) AS CHAR)"),
            _ => format!("json_object({members})"),
        }
    }

    /// The contacts (`user_email` or `user_phone`) of the outer user row: `[position, value,
    /// type, primary (0 or 1), display]` each.
    fn contacts(&self, table: &str) -> String {
        let q = |name: &str| self.quote(name);
        let column = |c: user_email::Column| format!("c.{}", q(c.as_str()));
        use user_email::Column as C;
        let elements = format!(
            "{}, {}, {}, CASE WHEN {} THEN 1 ELSE 0 END, {}",
            column(C::Position),
            column(C::Value),
            column(C::ValueType),
            column(C::IsPrimary),
            column(C::Display),
        );
        format!(
            "(SELECT {} FROM {} c WHERE {} = {}.{})",
            self.array_of_arrays(&elements),
            q(table),
            column(C::UserId),
            q(user::Entity.table_name()),
            q(user::Column::Id.as_str()),
        )
    }

    /// The roles of the outer user row: `[role id, display name]` each.
    fn roles(&self) -> String {
        let q = |name: &str| self.quote(name);
        let member = |c: role_member::Column| format!("m.{}", q(c.as_str()));
        let role = |c: role::Column| format!("r.{}", q(c.as_str()));
        let outer = |c: user::Column| format!("{}.{}", q(user::Entity.table_name()), q(c.as_str()));
        let elements = format!(
            "{}, {}",
            self.uuid_text(&role(role::Column::Id)),
            role(role::Column::DisplayName)
        );
        format!(
            "(SELECT {} FROM {} m JOIN {} r ON {} = {} WHERE {} = {} AND {} = {})",
            self.array_of_arrays(&elements),
            q(role_member::Entity.table_name()),
            q(role::Entity.table_name()),
            role(role::Column::Id),
            member(role_member::Column::RoleId),
            member(role_member::Column::OrgId),
            outer(user::Column::OrgId),
            member(role_member::Column::UserId),
            outer(user::Column::Id),
        )
    }
}

/// A stored aggregate that does not parse: the database returned something this code did not
/// ask for.
fn bad_aggregate(user: Uuid, what: &str, err: impl std::fmt::Display) -> CoreError {
    CoreError::Internal(format!(
        "the {what} read with user {user} do not parse: {err}"
    ))
}

/// The contacts of [`AggregateSql::contacts`], in stored order.
fn contacts_from_json(text: Option<String>, user: Uuid) -> CoreResult<Vec<Contact>> {
    type Element = (i32, String, Option<String>, i32, Option<String>);
    let Some(text) = text else {
        return Ok(Vec::new());
    };
    let mut elements: Vec<Element> =
        serde_json::from_str(&text).map_err(|e| bad_aggregate(user, "contacts", e))?;
    elements.sort_unstable_by_key(|element| element.0);
    Ok(elements
        .into_iter()
        .map(|(_, value, value_type, primary, display)| {
            contact_from(value, value_type, primary != 0, display)
        })
        .collect())
}

/// The roles of [`AggregateSql::roles`], ordered by role id.
fn roles_from_json(text: Option<String>, user: Uuid) -> CoreResult<Vec<HeldRole>> {
    let Some(text) = text else {
        return Ok(Vec::new());
    };
    let elements: Vec<(String, String)> =
        serde_json::from_str(&text).map_err(|e| bad_aggregate(user, "roles", e))?;
    let mut roles = elements
        .into_iter()
        .map(|(id, display_name)| {
            Ok(HeldRole {
                role_id: Uuid::parse_str(&id).map_err(|e| bad_aggregate(user, "roles", e))?,
                display_name,
            })
        })
        .collect::<CoreResult<Vec<_>>>()?;
    roles.sort_unstable_by_key(|role| role.role_id);
    Ok(roles)
}

/// The given users of `org`, keyed by id (see [`select_users`]): one statement per chunk.
async fn load_users<C: ConnectionTrait>(
    conn: &C,
    org: OrgId,
    ids: &[Uuid],
    detail: Detail,
) -> CoreResult<HashMap<Uuid, User>> {
    let mut out = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(MAX_BATCH_GET) {
        let condition = super::one_of(Expr::col((user::Entity, user::Column::Id)), chunk);
        for user in select_users(conn, org, condition, detail).await? {
            out.insert(user.id.0, user);
        }
    }
    Ok(out)
}

async fn load_one<C: ConnectionTrait>(
    conn: &C,
    org: OrgId,
    id: UserId,
    detail: Detail,
) -> CoreResult<Option<User>> {
    let condition = Expr::col((user::Entity, user::Column::Id)).eq(id.0);
    Ok(select_users(conn, org, condition, detail).await?.pop())
}

/// NOT_FOUND for a missing user, or for its organization when that is what is missing.
async fn not_found<C: ConnectionTrait>(
    conn: &C,
    org: OrgId,
    id: impl std::fmt::Display,
) -> CoreError {
    match changes::ensure_org(conn, org).await {
        Ok(()) => CoreError::user_not_found(id),
        Err(e) => e,
    }
}

/// Replaces a user's emails and phone numbers.
async fn write_contacts(
    txn: &DatabaseTransaction,
    org: OrgId,
    id: Uuid,
    data: &UserData,
) -> CoreResult<()> {
    user_email::Entity::delete_many()
        .filter(user_email::Column::UserId.eq(id))
        .exec(txn)
        .await?;
    user_phone::Entity::delete_many()
        .filter(user_phone::Column::UserId.eq(id))
        .exec(txn)
        .await?;
    insert_contacts(txn, org, id, data).await
}

/// Stores the emails and phone numbers of a user that has none yet (a new one): no statement
/// when there are none.
async fn insert_contacts(
    txn: &DatabaseTransaction,
    org: OrgId,
    id: Uuid,
    data: &UserData,
) -> CoreResult<()> {
    if !data.emails.is_empty() {
        user_email::Entity::insert_many(data.emails.iter().enumerate().map(|(i, c)| {
            user_email::ActiveModel {
                org_id: Set(org.0),
                user_id: Set(id),
                position: Set(i as i32),
                value: Set(c.value.clone()),
                value_lower: Set(c.value.to_lowercase()),
                value_type: Set(c.value_type.clone()),
                is_primary: Set(c.primary),
                display: Set(c.display.clone()),
            }
        }))
        .exec_without_returning(txn)
        .await?;
    }
    if !data.phone_numbers.is_empty() {
        user_phone::Entity::insert_many(data.phone_numbers.iter().enumerate().map(|(i, c)| {
            user_phone::ActiveModel {
                org_id: Set(org.0),
                user_id: Set(id),
                position: Set(i as i32),
                value: Set(c.value.clone()),
                value_lower: Set(c.value.to_lowercase()),
                value_type: Set(c.value_type.clone()),
                is_primary: Set(c.primary),
                display: Set(c.display.clone()),
            }
        }))
        .exec_without_returning(txn)
        .await?;
    }
    Ok(())
}

/// Maps a unique-index violation that slipped past the pre-checks to its reason.
fn map_unique(err: DbErr) -> CoreError {
    match err.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(message)) => {
            if message.contains("external_id") {
                external_id_taken()
            } else {
                user_name_taken()
            }
        }
        _ => err.into(),
    }
}

fn user_name_taken() -> CoreError {
    CoreError::AlreadyExists {
        reason: ErrorReason::UserNameTaken,
        message: "user name is already taken in the organization".into(),
    }
}

/// Fails when another user of `org` holds the user name or external id of `data`.
async fn check_unique(
    txn: &DatabaseTransaction,
    org: OrgId,
    data: &UserData,
    except: Option<Uuid>,
) -> CoreResult<()> {
    let name = data.user_name.to_lowercase();
    if super::taken_in_org(txn, "identity_user", org, "user_name_lower", name, except).await? {
        return Err(user_name_taken());
    }
    if let Some(external_id) = &data.external_id
        && super::taken_in_org(
            txn,
            "identity_user",
            org,
            "external_id",
            external_id.clone(),
            except,
        )
        .await?
    {
        return Err(external_id_taken());
    }
    Ok(())
}

/// A platform-managed user to adopt: the one with the user name, else one with any of the emails.
async fn find_adoptable(
    txn: &DatabaseTransaction,
    org: OrgId,
    data: &UserData,
) -> CoreResult<Option<Uuid>> {
    let platform = ManagedBy::Platform as i16;
    let by_name = user::Entity::find()
        .select_only()
        .column(user::Column::Id)
        .filter(user::Column::OrgId.eq(org.0))
        .filter(user::Column::UserNameLower.eq(data.user_name.to_lowercase()))
        .filter(user::Column::ManagedBy.eq(platform))
        .into_tuple::<Uuid>()
        .by_key(txn)
        .await?;
    if by_name.is_some() || data.emails.is_empty() {
        return Ok(by_name);
    }
    let emails: Vec<String> = data.emails.iter().map(|e| e.value.to_lowercase()).collect();
    let by_email = user_email::Entity::find()
        .select_only()
        .column(user_email::Column::UserId)
        .filter(user_email::Column::OrgId.eq(org.0))
        .filter(user_email::Column::ValueLower.is_in(emails))
        .filter(
            user_email::Column::UserId.in_subquery(
                sea_orm::sea_query::Query::select()
                    .column(user::Column::Id)
                    .from(user::Entity)
                    .and_where(user::Column::OrgId.eq(org.0))
                    .and_where(user::Column::ManagedBy.eq(platform))
                    .to_owned(),
            ),
        )
        .order_by_asc(user_email::Column::UserId)
        .into_tuple::<Uuid>()
        .one(txn)
        .await?;
    Ok(by_email)
}

// ---------------------------------------------------------------------------------------------
// writes

/// Creates a user, or adopts an existing platform-managed one when `adopt_existing` is set.
/// Returns the user and whether it was adopted.
pub async fn create_user(
    db: &DatabaseConnection,
    org: OrgId,
    mut data: UserData,
    password: PasswordChange,
    adopt_existing: bool,
) -> CoreResult<(User, bool)> {
    if data.managed_by == ManagedBy::Unspecified {
        data.managed_by = ManagedBy::Platform;
    }
    ensure_valid(&data)?;
    org_writes::write(db, org, move |txn, state| {
        Box::pin(async move {
            create_in(txn, org, data, password, adopt_existing, state.default_role).await
        })
    })
    .await
}

async fn create_in(
    txn: &DatabaseTransaction,
    org: OrgId,
    mut data: UserData,
    password: PasswordChange,
    adopt_existing: bool,
    default_role: Option<Uuid>,
) -> CoreResult<(User, bool)> {
    let now = crate::time::now_micros();

    if adopt_existing && let Some(existing) = find_adoptable(txn, org, &data).await? {
        data.managed_by = ManagedBy::Scim;
        let existing = UserId(existing);
        let was_active = user::Entity::find_by_id(existing.0)
            .select_only()
            .column(user::Column::Active)
            .into_tuple::<bool>()
            .by_key(txn)
            .await?
            .ok_or_else(|| CoreError::user_not_found(existing))?;
        let user = write_update(
            txn, org, existing, was_active, None, None, &data, &password, now,
        )
        .await?;
        add_to_default_role(txn, org, default_role, &user).await?;
        return Ok((user, true));
    }

    check_unique(txn, org, &data, None).await?;
    let id = UserId::generate();
    let mut row = active_model(id.0, org, &data, now)?;
    row.version = Set(1);
    row.created_at = Set(now);
    row.password_hash = Set(match &password {
        PasswordChange::SetHash(hash) => Some(hash.clone()),
        PasswordChange::Keep | PasswordChange::Clear => None,
    });
    user::Entity::insert(row)
        .exec_without_returning(txn)
        .await
        .map_err(map_unique)?;
    insert_contacts(txn, org, id.0, &data).await?;
    changes::append_change(
        txn,
        org,
        NewChange {
            resource_type: ResourceType::User,
            resource_id: id.0,
            kind: ChangeKind::Created,
            resource_version: 1,
            member_user_ids: &[],
        },
    )
    .await?;
    // what the INSERT above stored, without reading it back
    let user = User {
        id,
        org,
        has_password: matches!(password, PasswordChange::SetHash(_)),
        version: 1,
        created_at: now,
        updated_at: now,
        data,
        roles: None,
    };
    add_to_default_role(txn, org, default_role, &user).await?;
    Ok((user, false))
}

/// A SCIM-managed user joins the organization's default role (`default_role`, read when the
/// transaction began), if one is set.
async fn add_to_default_role(
    txn: &DatabaseTransaction,
    org: OrgId,
    default_role: Option<Uuid>,
    user: &User,
) -> CoreResult<()> {
    if user.data.managed_by != ManagedBy::Scim {
        return Ok(());
    }
    if let Some(role_id) = default_role {
        roles::add_member_in_txn(txn, org, role_id, user.id.0).await?;
    }
    Ok(())
}

/// Writes `data` over user `id` (which must exist in `org`), bumping its version; the version
/// check is part of the UPDATE so it holds even without the organization lock. `was_active` is
/// the stored `active` the caller read in this transaction: it decides the change's kind and
/// whether the user's access tokens are revoked. `current`, when the caller read the whole
/// user in this transaction, spares the statements whose outcome it already decides: the
/// uniqueness checks of unchanged keys, rewriting unchanged contacts, reading the user back.
#[allow(clippy::too_many_arguments)]
async fn write_update(
    txn: &DatabaseTransaction,
    org: OrgId,
    id: UserId,
    was_active: bool,
    current: Option<&User>,
    expected_version: Option<i64>,
    data: &UserData,
    password: &PasswordChange,
    now: i64,
) -> CoreResult<User> {
    ensure_valid(data)?;
    let keys_changed = current.is_none_or(|current| {
        current.data.user_name.to_lowercase() != data.user_name.to_lowercase()
            || current.data.external_id != data.external_id
    });
    if keys_changed {
        check_unique(txn, org, data, Some(id.0)).await?;
    }
    let mut row = active_model(id.0, org, data, now)?;
    // identity columns are never rewritten
    row.id = sea_orm::ActiveValue::NotSet;
    row.org_id = sea_orm::ActiveValue::NotSet;
    match password {
        PasswordChange::Keep => {}
        PasswordChange::Clear => row.password_hash = Set(None),
        PasswordChange::SetHash(hash) => row.password_hash = Set(Some(hash.clone())),
    }
    let mut update = user::Entity::update_many()
        .set(row)
        .col_expr(
            user::Column::Version,
            Expr::col(user::Column::Version).add(1),
        )
        .filter(user::Column::Id.eq(id.0))
        .filter(user::Column::OrgId.eq(org.0));
    if let Some(expected) = expected_version {
        update = update.filter(user::Column::Version.eq(expected));
    }
    let result = update.exec(txn).await.map_err(map_unique)?;
    if result.rows_affected == 0 {
        return Err(version_or_missing(txn, org, id, expected_version).await);
    }
    let contacts_changed = current.is_none_or(|current| {
        current.data.emails != data.emails || current.data.phone_numbers != data.phone_numbers
    });
    if contacts_changed {
        write_contacts(txn, org, id.0, data).await?;
    }
    let user = match current {
        // what the UPDATE above stored, without reading it back
        Some(current) => User {
            id,
            org,
            data: data.clone(),
            has_password: match password {
                PasswordChange::Keep => current.has_password,
                PasswordChange::Clear => false,
                PasswordChange::SetHash(_) => true,
            },
            version: current.version + 1,
            created_at: current.created_at,
            updated_at: now,
            roles: None,
        },
        None => load_one(txn, org, id, Detail::Basic)
            .await?
            .ok_or_else(|| CoreError::user_not_found(id))?,
    };
    let kind = match (was_active, data.active) {
        (true, false) => {
            // in this transaction, so no introspection after the commit sees the tokens active
            access_tokens::revoke_user_tokens(txn, org, id, now).await?;
            ChangeKind::Deactivated
        }
        (false, true) => ChangeKind::Reactivated,
        _ => ChangeKind::Updated,
    };
    changes::append_change(
        txn,
        org,
        NewChange {
            resource_type: ResourceType::User,
            resource_id: id.0,
            kind,
            resource_version: user.version,
            member_user_ids: &[],
        },
    )
    .await?;
    Ok(user)
}

/// Why a guarded write touched no row: the user is gone, or its version moved.
async fn version_or_missing(
    txn: &DatabaseTransaction,
    org: OrgId,
    id: UserId,
    expected: Option<i64>,
) -> CoreError {
    let stored = user::Entity::find_by_id(id.0)
        .filter(user::Column::OrgId.eq(org.0))
        .select_only()
        .column(user::Column::Version)
        .into_tuple::<i64>()
        .by_key(txn)
        .await;
    match (stored, expected) {
        (Ok(Some(actual)), Some(expected)) => CoreError::VersionMismatch { expected, actual },
        (Ok(_), _) => CoreError::user_not_found(id),
        (Err(e), _) => e.into(),
    }
}

/// Reads user `id` inside one write transaction, lets `change` edit its data, validates and
/// stores the result (Update with a field mask, Replace and SetActive all go through here).
pub async fn modify_user<F>(
    db: &DatabaseConnection,
    org: OrgId,
    id: UserId,
    expected_version: Option<i64>,
    password: PasswordChange,
    change: F,
) -> CoreResult<User>
where
    F: FnOnce(&mut UserData) -> CoreResult<()> + Send + 'static,
{
    modify(db, org, id, expected_version, password, change, false).await
}

/// As [`modify_user`], but a change that leaves the user as it is writes nothing: no new
/// version, no change in the feed (an update applied twice is answered alike).
pub async fn modify_user_if_changed<F>(
    db: &DatabaseConnection,
    org: OrgId,
    id: UserId,
    expected_version: Option<i64>,
    password: PasswordChange,
    change: F,
) -> CoreResult<User>
where
    F: FnOnce(&mut UserData) -> CoreResult<()> + Send + 'static,
{
    modify(db, org, id, expected_version, password, change, true).await
}

async fn modify<F>(
    db: &DatabaseConnection,
    org: OrgId,
    id: UserId,
    expected_version: Option<i64>,
    password: PasswordChange,
    change: F,
    unchanged_is_noop: bool,
) -> CoreResult<User>
where
    F: FnOnce(&mut UserData) -> CoreResult<()> + Send + 'static,
{
    org_writes::write(db, org, move |txn, _| {
        Box::pin(async move {
            modify_in(
                txn,
                org,
                id,
                expected_version,
                password,
                change,
                unchanged_is_noop,
            )
            .await
        })
    })
    .await
}

async fn modify_in<F>(
    txn: &DatabaseTransaction,
    org: OrgId,
    id: UserId,
    expected_version: Option<i64>,
    password: PasswordChange,
    change: F,
    unchanged_is_noop: bool,
) -> CoreResult<User>
where
    F: FnOnce(&mut UserData) -> CoreResult<()>,
{
    let current = load_one(txn, org, id, Detail::Basic)
        .await?
        .ok_or_else(|| CoreError::user_not_found(id))?;
    if let Some(expected) = expected_version
        && expected != current.version
    {
        return Err(CoreError::VersionMismatch {
            expected,
            actual: current.version,
        });
    }
    let mut data = current.data.clone();
    change(&mut data)?;
    if data.managed_by == ManagedBy::Unspecified {
        data.managed_by = current.data.managed_by;
    }
    if unchanged_is_noop && data == current.data && matches!(password, PasswordChange::Keep) {
        // nothing to write: the mutation leaves no trace in the batch
        return Ok(current);
    }
    let now = crate::time::now_micros();
    let was_active = current.data.active;
    write_update(
        txn,
        org,
        id,
        was_active,
        Some(&current),
        expected_version,
        &data,
        &password,
        now,
    )
    .await
}

/// Deletes a user, its emails, phone numbers and memberships (each role's count and version
/// follow, with a change per role). `allowed` sees who manages the user and may refuse.
pub async fn delete_user(
    db: &DatabaseConnection,
    org: OrgId,
    id: UserId,
    expected_version: Option<i64>,
    allowed: impl FnOnce(ManagedBy) -> CoreResult<()> + Send + 'static,
) -> CoreResult<()> {
    org_writes::write(db, org, move |txn, _| {
        Box::pin(async move { delete_in(txn, org, id, expected_version, allowed).await })
    })
    .await
}

async fn delete_in(
    txn: &DatabaseTransaction,
    org: OrgId,
    id: UserId,
    expected_version: Option<i64>,
    allowed: impl FnOnce(ManagedBy) -> CoreResult<()>,
) -> CoreResult<()> {
    let (version, managed_by) = user::Entity::find_by_id(id.0)
        .filter(user::Column::OrgId.eq(org.0))
        .select_only()
        .column(user::Column::Version)
        .column(user::Column::ManagedBy)
        .into_tuple::<(i64, i16)>()
        .by_key(txn)
        .await?
        .ok_or_else(|| CoreError::user_not_found(id))?;
    allowed(managed_by_from_db(managed_by))?;
    if let Some(expected) = expected_version
        && expected != version
    {
        return Err(CoreError::VersionMismatch {
            expected,
            actual: version,
        });
    }
    roles::remove_user_everywhere(txn, org, id.0).await?;
    let mut delete = user::Entity::delete_many()
        .filter(user::Column::Id.eq(id.0))
        .filter(user::Column::OrgId.eq(org.0));
    if let Some(expected) = expected_version {
        delete = delete.filter(user::Column::Version.eq(expected));
    }
    if delete.exec(txn).await?.rows_affected == 0 {
        return Err(version_or_missing(txn, org, id, expected_version).await);
    }
    access_tokens::revoke_user_tokens(txn, org, id, crate::time::now_micros()).await?;
    changes::append_change(
        txn,
        org,
        NewChange {
            resource_type: ResourceType::User,
            resource_id: id.0,
            kind: ChangeKind::Deleted,
            resource_version: 0,
            member_user_ids: &[],
        },
    )
    .await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// reads

/// One user of `org`: one statement.
pub async fn get_user(
    db: &DatabaseConnection,
    org: OrgId,
    id: UserId,
    detail: Detail,
) -> CoreResult<User> {
    match load_one(db, org, id, detail).await? {
        Some(user) => Ok(user),
        None => Err(not_found(db, org, id).await),
    }
}

/// The users of `org` among `ids`, in request order, and the ids that are missing.
pub async fn batch_get_users(
    db: &DatabaseConnection,
    org: OrgId,
    ids: &[UserId],
) -> CoreResult<(Vec<User>, Vec<UserId>)> {
    if ids.len() > MAX_BATCH_GET {
        return Err(CoreError::invalid(
            "user_ids",
            format!("must have at most {MAX_BATCH_GET} ids"),
        ));
    }
    changes::ensure_org(db, org).await?;
    let raw: Vec<Uuid> = ids.iter().map(|id| id.0).collect();
    let mut found = load_users(db, org, &raw, Detail::Basic).await?;
    let mut users = Vec::with_capacity(ids.len());
    let mut missing = Vec::new();
    for id in ids {
        match found.get(&id.0) {
            // a duplicated id is returned each time it was asked for
            Some(user) => users.push(user.clone()),
            None => missing.push(*id),
        }
    }
    found.clear();
    Ok((users, missing))
}

/// The key of a user lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LookupKey {
    /// Case-insensitive.
    UserName(String),
    /// Case-exact.
    ExternalId(String),
    /// Case-insensitive, any of the user's emails.
    Email(String),
}

/// Finds one user by a unique-ish key: one statement. An email shared by several users
/// resolves to the oldest (user ids are UUIDv7, so the smallest).
pub async fn lookup_user(
    db: &DatabaseConnection,
    org: OrgId,
    key: &LookupKey,
    detail: Detail,
) -> CoreResult<User> {
    use sea_orm::sea_query::Query;
    let column = |c: user::Column| Expr::col((user::Entity, c));
    let condition = match key {
        LookupKey::UserName(name) => column(user::Column::UserNameLower).eq(name.to_lowercase()),
        LookupKey::ExternalId(external_id) => {
            column(user::Column::ExternalId).eq(external_id.as_str())
        }
        LookupKey::Email(email) => column(user::Column::Id).in_subquery(
            Query::select()
                .column(user_email::Column::UserId)
                .from(user_email::Entity)
                .and_where(Expr::col(user_email::Column::OrgId).eq(org.0))
                .and_where(Expr::col(user_email::Column::ValueLower).eq(email.to_lowercase()))
                .to_owned(),
        ),
    };
    let found = select_users(db, org, condition, detail)
        .await?
        .into_iter()
        .min_by_key(|user| user.id.0);
    match found {
        Some(user) => Ok(user),
        None => {
            let what = match key {
                LookupKey::UserName(v) => format!("with user name {v:?}"),
                LookupKey::ExternalId(v) => format!("with external id {v:?}"),
                LookupKey::Email(v) => format!("with email {v:?}"),
            };
            Err(not_found(db, org, what).await)
        }
    }
}

/// One page of users.
#[derive(Debug, Clone, Default)]
pub struct UserPage {
    pub users: Vec<User>,
    /// Where the list resumes after each user.
    pub positions: Vec<paging::PageToken>,
    pub next_page_token: String,
    pub total_size: Option<i64>,
}

/// Lists users matching the query's filter, sorted and paged.
pub async fn list_users(
    db: &DatabaseConnection,
    org: OrgId,
    query: &ListQuery,
    detail: Detail,
) -> CoreResult<UserPage> {
    // the page's rows carry the users whole: one statement for the page
    let backend = db.get_database_backend();
    let (page, rows) = paging::list_page(db, Resource::User, org, query, |select| {
        select_user_columns(select, backend, detail)
    })
    .await?;
    if page.ids.is_empty() {
        // only an empty page needs to tell an empty organization from a missing one
        changes::ensure_org(db, org).await?;
    }
    let users = rows
        .iter()
        .map(|row| user_with_aggregates(row, paging::PAGE_COLUMNS, detail))
        .collect::<CoreResult<Vec<_>>>()?;
    Ok(UserPage {
        users,
        positions: page.positions,
        next_page_token: page.next_page_token,
        total_size: page.total_size,
    })
}

/// The user names and display names of the given users of `org`, for member listings.
pub(crate) async fn names<C: ConnectionTrait>(
    conn: &C,
    org: OrgId,
    ids: &[Uuid],
) -> CoreResult<HashMap<Uuid, (String, Option<String>)>> {
    let mut out = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(MAX_BATCH_GET) {
        let rows = user::Entity::find()
            .select_only()
            .column(user::Column::Id)
            .column(user::Column::UserName)
            .column(user::Column::DisplayName)
            .filter(user::Column::OrgId.eq(org.0))
            .filter(user::Column::Id.is_in(chunk.iter().copied()))
            .into_tuple::<(Uuid, String, Option<String>)>()
            .all(conn)
            .await?;
        for (id, name, display) in rows {
            out.insert(id, (name, display));
        }
    }
    Ok(out)
}

/// Whether user `id` exists in `org`.
pub async fn exists<C: ConnectionTrait>(conn: &C, org: OrgId, id: Uuid) -> CoreResult<bool> {
    Ok(user::Entity::find_by_id(id)
        .filter(user::Column::OrgId.eq(org.0))
        .select_only()
        .column(user::Column::Id)
        .into_tuple::<Uuid>()
        .by_key(conn)
        .await?
        .is_some())
}

#[cfg(test)]
mod password_tests {
    use super::*;

    #[test]
    fn argon2_parameters_are_checked() {
        let refused = configure_password_hashing(PasswordHashing {
            memory_kib: 1,
            iterations: 2,
            concurrency: 1,
        });
        assert!(refused.unwrap_err().contains("Argon2"));
    }

    #[tokio::test]
    async fn a_hash_verifies_and_the_bound_admits_concurrent_hashes() {
        let hashes =
            futures::future::join_all((0..4).map(|n| hash_password(format!("correct horse {n}"))))
                .await;
        for hash in hashes {
            let hash = hash.unwrap();
            assert!(
                hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
                "{hash}"
            );
        }
    }
}
