//! A user as the database hands it over: one row per user, the user rendered as one JSON object
//! with its contacts and roles folded in (`AggregateSql`), the SQL of that row written once per
//! backend (`UserSql`), and its conversion to the domain's `User`. `read` runs the statements.

use super::*;
use crate::entity::{role, role_member, user, user_email, user_phone};
use crate::error::{CoreError, CoreResult};
use crate::ids::{OrgId, UserId};
use identity_proto::identity::v1::ManagedBy;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ConnectionTrait, DbBackend, EntityName, IdenStatic};
use serde_json::{Map, Value};
use uuid::Uuid;

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

pub(super) fn to_domain(
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
pub(super) struct StoredUser {
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
pub(super) const PLAIN_COLUMNS: [user::Column; 27] = [
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
/// (SQLite).
pub(super) fn flag<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
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
pub(super) async fn select_users<C: ConnectionTrait>(
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
pub(super) fn select_user_columns(
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
pub(super) struct UserSql {
    object: String,
    emails: String,
    phones: String,
    roles: String,
}

impl UserSql {
    fn of(backend: DbBackend) -> &'static UserSql {
        use std::sync::OnceLock;
        static POSTGRES: OnceLock<UserSql> = OnceLock::new();
        static OTHER: OnceLock<UserSql> = OnceLock::new();
        let cell = match backend {
            DbBackend::Postgres => &POSTGRES,
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
pub(super) fn user_with_aggregates(
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
pub(super) struct AggregateSql {
    backend: DbBackend,
}

impl AggregateSql {
    fn new(backend: DbBackend) -> Self {
        Self { backend }
    }

    fn quote(&self, name: &str) -> String {
        format!("\"{name}\"")
    }

    /// `elements` (SQL expressions) of the selected rows as a JSON array of arrays, as text;
    /// NULL or `[]` when there are none.
    fn array_of_arrays(&self, elements: &str) -> String {
        match self.backend {
            DbBackend::Postgres => format!("CAST(json_agg(json_build_array({elements})) AS TEXT)"),
            // SQLite's names, which later backends are likeliest to share
            _ => format!("json_group_array(json_array({elements}))"),
        }
    }

    /// A UUID column as text that [`Uuid::parse_str`] reads (SQLite stores UUIDs as 16 bytes,
    /// which JSON cannot hold).
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
pub(super) fn bad_aggregate(user: Uuid, what: &str, err: impl std::fmt::Display) -> CoreError {
    CoreError::Internal(format!(
        "the {what} read with user {user} do not parse: {err}"
    ))
}

/// The contacts of [`AggregateSql::contacts`], in stored order.
pub(super) fn contacts_from_json(text: Option<String>, user: Uuid) -> CoreResult<Vec<Contact>> {
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
pub(super) fn roles_from_json(text: Option<String>, user: Uuid) -> CoreResult<Vec<HeldRole>> {
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
