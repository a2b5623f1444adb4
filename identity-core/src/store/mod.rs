//! Storage: every SQL statement of the core lives under this module.

pub mod access_tokens;
pub mod changes;
pub mod connections;
pub mod credentials;
pub mod filter;
pub mod oauth;
pub mod org_writes;
pub mod organizations;
pub mod paging;
pub mod planner_stats;
pub mod retention;
pub mod roles;
pub mod service_credentials;
pub mod users;

use crate::error::{CoreError, CoreResult};
use crate::ids::OrgId;
use identity_proto::identity::v1::ErrorReason;
use sea_orm::ConnectionTrait;
use sea_orm::sea_query::{Expr, ExprTrait, Query};

/// Whether a row of `table` in `org`, other than the row `except`, has `column = value`. Users and
/// roles check their unique names and external ids with it before writing, so the answer is a
/// precise ALREADY_EXISTS; the unique indexes stay the last word under races.
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

/// sea-orm's `one()` adds a bound `LIMIT 1`. SQLite reads a bound LIMIT's value when it plans
/// (since 3.47), so a statement with one is parsed and planned again at every execution (see
/// `paging::with_limit`). A select by a unique key returns at most one row without it: `by_key`
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
        Ok(self.all(conn).await?.into_iter().next())
    }
}

pub(crate) fn external_id_taken() -> CoreError {
    CoreError::AlreadyExists {
        reason: ErrorReason::ExternalIdTaken,
        message: "external id is already used in the organization".into(),
    }
}
