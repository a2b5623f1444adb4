//! Storage: every SQL statement of the core lives under this module.

pub mod access_tokens;
pub mod changes;
pub mod connections;
pub mod credentials;
pub mod filter;
pub mod oauth;
pub mod org_row;
pub mod org_writes;
pub mod organizations;
pub mod paging;
pub mod planner_stats;
pub mod portal;
pub mod retention;
pub mod roles;
pub mod service_credentials;
pub mod sort;
pub mod users;
pub mod write_txn;

use crate::error::{CoreError, CoreResult};
use crate::ids::OrgId;
use identity_proto::identity::v1::ErrorReason;
use sea_orm::ConnectionTrait;
use sea_orm::sea_query::{Expr, ExprTrait, Query};

/// Whether a row of `table` in `org`, other than the row `except`, has `column = value`.
pub(crate) async fn taken_in_org<C: ConnectionTrait>(
    conn: &C,
    table: &'static str,
    org: OrgId,
    column: &'static str,
    value: impl Into<sea_orm::Value>,
    except: Option<uuid::Uuid>,
) -> CoreResult<bool> {
    let mut statement = Query::select()
        .expr(Expr::val(1))
        .from(table)
        .and_where(Expr::col("org_id").eq(org.0))
        .and_where(Expr::col(column).eq(value.into()))
        .to_owned();
    if let Some(id) = except {
        statement.and_where(Expr::col("id").ne(id));
    }
    Ok(conn.query_one(&statement).await?.is_some())
}

/// ALREADY_EXISTS for an external id another user or role of the organization holds.
/// `column` is one of `ids`: `=` for a single id, `IN (…)` otherwise. The bundled SQLite is built
/// with STAT4, which recompiles a statement whose `IN` list is bound to new values on every
/// execution, and reading one row by id is the hot path.
pub(crate) fn one_of(column: Expr, ids: &[uuid::Uuid]) -> Expr {
    match ids {
        [one] => column.eq(*one),
        many => column.is_in(many.iter().copied()),
    }
}

/// `select` with `LIMIT limit OFFSET offset`, as a statement for `backend`. SQLite reads the
/// value bound to a `LIMIT ?` when it plans (since 3.47), so binding a new value expires the
/// statement and every execution parsed and planned it again: 58 % of the core's instructions
/// for a filtered list of users. On SQLite the limit is therefore written into the SQL (a
/// statement per page size, of which clients use few); elsewhere it stays bound.
pub(crate) fn limited(
    backend: sea_orm::DbBackend,
    select: &mut sea_orm::sea_query::SelectStatement,
    limit: u64,
    offset: u64,
) -> sea_orm::Statement {
    if backend != sea_orm::DbBackend::Sqlite {
        select.limit(limit);
        if offset > 0 {
            select.offset(offset);
        }
        return backend.build(&*select);
    }
    let mut statement = backend.build(&*select);
    statement.sql.push_str(&format!(" LIMIT {limit}"));
    if offset > 0 {
        // a bound OFFSET is not read when planning: one statement serves every offset
        statement.sql.push_str(" OFFSET ?");
        statement
            .values
            .get_or_insert_with(|| sea_orm::Values(Vec::new()))
            .0
            .push(offset.into());
    }
    statement
}

/// `select.limit(limit).all(conn)` for a select of models, with the limit written as
/// [`limited`] writes it.
pub(crate) async fn all_limited<E: sea_orm::EntityTrait, C: ConnectionTrait>(
    conn: &C,
    select: sea_orm::Select<E>,
    limit: u64,
) -> Result<Vec<E::Model>, sea_orm::DbErr> {
    use sea_orm::QueryTrait;
    let mut query = select.into_query();
    let statement = limited(conn.get_database_backend(), &mut query, limit, 0);
    E::find().from_raw_sql(statement).all(conn).await
}

/// sea-orm's `one()` adds a bound `LIMIT 1`. SQLite reads a bound LIMIT's value when it plans
/// (since 3.47), so a statement with one is parsed and planned again at every execution (see
/// [`limited`]). A select by a unique key returns at most one row without it: `by_key`
/// is `one()` for those.
pub(crate) trait ByKey: Sized {
    type Row;
    async fn by_key<C: sea_orm::ConnectionTrait>(
        self,
        conn: &C,
    ) -> Result<Option<Self::Row>, sea_orm::DbErr>;
}

impl<S: sea_orm::SelectorTrait> ByKey for sea_orm::Selector<S> {
    type Row = S::Item;
    async fn by_key<C: sea_orm::ConnectionTrait>(
        self,
        conn: &C,
    ) -> Result<Option<S::Item>, sea_orm::DbErr> {
        Ok(self.all(conn).await?.into_iter().next())
    }
}

impl<E: sea_orm::EntityTrait> ByKey for sea_orm::Select<E> {
    type Row = E::Model;
    async fn by_key<C: sea_orm::ConnectionTrait>(
        self,
        conn: &C,
    ) -> Result<Option<E::Model>, sea_orm::DbErr> {
        self.into_model::<E::Model>().by_key(conn).await
    }
}

/// The error for a write of a user or role of `table` that a unique index refused: its external
/// id index, else its name index (each table has these two). The indexes, not pre-checks, are
/// the word on uniqueness: a write is one statement fewer, and the answer holds under races.
/// SQLite's message ends with the index's columns, PostgreSQL's with its quoted name, so only
/// the end is read.
pub(crate) fn unique_violation(
    err: sea_orm::DbErr,
    table: &str,
    name_taken: fn() -> CoreError,
) -> CoreError {
    match err.sql_err() {
        Some(sea_orm::SqlErr::UniqueConstraintViolation(message)) => {
            let message = message.trim_end_matches(['"', '\'', '`']);
            if message.ends_with(&format!("{table}.external_id"))
                || message.ends_with(&format!("ux_{table}_external_id"))
            {
                external_id_taken()
            } else {
                name_taken()
            }
        }
        _ => err.into(),
    }
}

/// The page token of a listing ordered by a unique text key (an organization's slug, a role's
/// lowercase name): the last key returned, tagged with the listing's `kind` so a token of one
/// listing is refused by another.
pub fn encode_key_cursor(kind: &str, key: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{kind}:{key}"))
}

/// The key of a token made by [`encode_key_cursor`] for `kind`; INVALID_PAGE_TOKEN otherwise.
pub fn decode_key_cursor(kind: &str, token: &str) -> CoreResult<String> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|_| CoreError::InvalidPageToken)?;
    let text = String::from_utf8(bytes).map_err(|_| CoreError::InvalidPageToken)?;
    text.strip_prefix(kind)
        .and_then(|rest| rest.strip_prefix(':'))
        .filter(|key| !key.is_empty())
        .map(str::to_owned)
        .ok_or(CoreError::InvalidPageToken)
}

pub(crate) fn external_id_taken() -> CoreError {
    CoreError::AlreadyExists {
        reason: ErrorReason::ExternalIdTaken,
        message: "external id is already used in the organization".into(),
    }
}
