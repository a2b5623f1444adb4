//! Reading users: one statement per user or page, the user row rendered by the database as one
//! JSON object with its contacts and roles folded in (see `docs/architecture.md`, "A read is one
//! statement").

use super::*;
use crate::entity::{user, user_email};
use crate::error::{CoreError, CoreResult};
use crate::ids::{OrgId, UserId};
use crate::store::ByKey;
use crate::store::filter::Resource;
use crate::store::org_row;
use crate::store::paging::{self, ListQuery};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, QueryFilter,
    QuerySelect,
};
use std::collections::HashMap;
use uuid::Uuid;

/// The given users of `org`, keyed by id (see [`select_users`]): one statement per chunk.
pub(super) async fn load_users<C: ConnectionTrait>(
    conn: &C,
    org: OrgId,
    ids: &[Uuid],
    detail: Detail,
) -> CoreResult<HashMap<Uuid, User>> {
    let mut out = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(MAX_BATCH_GET) {
        let condition = crate::store::one_of(Expr::col((user::Entity, user::Column::Id)), chunk);
        for user in select_users(conn, org, condition, detail).await? {
            out.insert(user.id.0, user);
        }
    }
    Ok(out)
}

pub(super) async fn load_one<C: ConnectionTrait>(
    conn: &C,
    org: OrgId,
    id: UserId,
    detail: Detail,
) -> CoreResult<Option<User>> {
    let condition = Expr::col((user::Entity, user::Column::Id)).eq(id.0);
    Ok(select_users(conn, org, condition, detail).await?.pop())
}

/// NOT_FOUND for a missing user, or for its organization when that is what is missing.
pub(super) async fn not_found<C: ConnectionTrait>(
    conn: &C,
    org: OrgId,
    id: impl std::fmt::Display,
) -> CoreError {
    match org_row::ensure_org(conn, org).await {
        Ok(()) => CoreError::user_not_found(id),
        Err(e) => e,
    }
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
    match select_hot(db, org, HotKey::Id(id.0), detail).await?.pop() {
        Some(user) => Ok(user),
        None => Err(not_found(db, org, id).await),
    }
}

/// A key the hottest reads select users by, outside a transaction.
#[derive(Debug, Clone, Copy)]
enum HotKey<'a> {
    Id(Uuid),
    UserNameLower(&'a str),
    ExternalId(&'a str),
}

impl HotKey<'_> {
    fn slot(self) -> usize {
        match self {
            Self::Id(_) => 0,
            Self::UserNameLower(_) => 1,
            Self::ExternalId(_) => 2,
        }
    }

    /// The condition on `identity_user`, with a placeholder value (the statement is built once).
    fn condition(self) -> sea_orm::sea_query::SimpleExpr {
        let column = |c: user::Column| Expr::col((user::Entity, c));
        match self {
            Self::Id(_) => column(user::Column::Id).eq(Uuid::nil()),
            Self::UserNameLower(_) => column(user::Column::UserNameLower).eq(""),
            Self::ExternalId(_) => column(user::Column::ExternalId).eq(""),
        }
    }
}

/// [`select_users`] by one key outside a transaction: the hottest reads there are (every SCIM
/// `GET /Users/{id}`, Okta's and Entra's `userName eq` and `externalId eq` checks, platform
/// lookups), straight through the pool. The SQL is built once per backend, detail and key, and
/// the statement runs on sqlx without sea-orm's connection dispatch, whose future (one variant
/// per backend it could dispatch to) was moved about 15 KB per call: a sixth of the core's
/// instructions for a GET. Rows are still read by [`user_with_aggregates`] and the statement is
/// counted and traced like every other.
async fn select_hot(
    db: &DatabaseConnection,
    org: OrgId,
    key: HotKey<'_>,
    detail: Detail,
) -> CoreResult<Vec<User>> {
    use sea_orm::sqlx;
    let backend = db.get_database_backend();
    let statement = hot_statement(backend, detail, key);
    let sql = sqlx::AssertSqlSafe(statement.sql.as_str());
    let started = std::time::Instant::now();
    macro_rules! run {
        ($pool:expr) => {{
            let query = sqlx::query(sql).bind(org.0);
            let query = match key {
                HotKey::Id(id) => query.bind(id),
                HotKey::UserNameLower(text) | HotKey::ExternalId(text) => query.bind(text),
            };
            query.fetch_all($pool).await.map(|rows| {
                rows.into_iter()
                    .map(sea_orm::QueryResult::from)
                    .collect::<Vec<_>>()
            })
        }};
    }
    let (rows, system) = match backend {
        DbBackend::Sqlite => (run!(db.get_sqlite_connection_pool()), "sqlite"),
        DbBackend::Postgres => (run!(db.get_postgres_connection_pool()), "postgresql"),
        _ => {
            let condition = key.condition();
            return select_users(db, org, condition, detail).await;
        }
    };
    crate::metrics::statement_executed(
        &sea_orm::metric::Info {
            elapsed: started.elapsed(),
            statement,
            failed: rows.is_err(),
        },
        system,
    );
    // the shape sea-orm gives a failed query, so `CoreError` reads busy, deadlocks and
    // unreachable stores the same way
    let rows =
        rows.map_err(|error| sea_orm::DbErr::Query(sea_orm::RuntimeErr::SqlxError(error.into())))?;
    rows.iter()
        .map(|row| user_with_aggregates(row, 0, detail))
        .collect()
}

/// The statement of [`select_hot`], its parameters (organization, key) unbound.
fn hot_statement(
    backend: DbBackend,
    detail: Detail,
    key: HotKey<'_>,
) -> &'static sea_orm::Statement {
    use std::sync::OnceLock;
    static CACHE: [OnceLock<sea_orm::Statement>; 12] = [const { OnceLock::new() }; 12];
    let slot = usize::from(backend == DbBackend::Postgres) * 6
        + usize::from(detail == Detail::WithRoles) * 3
        + key.slot();
    CACHE[slot].get_or_init(|| {
        let mut query = sea_orm::sea_query::Query::select();
        query
            .from(user::Entity)
            .and_where(Expr::col(user::Column::OrgId).eq(Uuid::nil()))
            .and_where(key.condition());
        select_user_columns(&mut query, backend, detail);
        sea_orm::Statement::from_string(backend, backend.build(&query).sql)
    })
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
    org_row::ensure_org(db, org).await?;
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
    let users = match key {
        LookupKey::UserName(name) => {
            let lower = name.to_lowercase();
            select_hot(db, org, HotKey::UserNameLower(&lower), detail).await?
        }
        LookupKey::ExternalId(external_id) => {
            select_hot(db, org, HotKey::ExternalId(external_id), detail).await?
        }
        LookupKey::Email(email) => {
            let condition = Expr::col((user::Entity, user::Column::Id)).in_subquery(
                Query::select()
                    .column(user_email::Column::UserId)
                    .from(user_email::Entity)
                    .and_where(Expr::col(user_email::Column::OrgId).eq(org.0))
                    .and_where(Expr::col(user_email::Column::ValueLower).eq(email.to_lowercase()))
                    .to_owned(),
            );
            select_users(db, org, condition, detail).await?
        }
    };
    let found = users.into_iter().min_by_key(|user| user.id.0);
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
        org_row::ensure_org(db, org).await?;
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
