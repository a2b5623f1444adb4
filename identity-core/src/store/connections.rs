//! Provisioning connections: their rows, the connection a SCIM request acts as, the activity
//! counters and the groups a connection may touch.
//!
//! The connection a call acts as comes from the edge's `identity-connection-id` metadata and
//! travels with the write as an argument (`write_txn::WriteContext`, then `WriteTxn`), so every
//! store write, however deep, attributes its change-feed rows and bumps the connection's
//! counters inside its own transaction.

use crate::entity::{
    connection_error, oauth_client, oauth_grant, provisioning_connection, scim_token,
};
use crate::error::{CoreError, CoreResult};
use crate::ids::OrgId;
use crate::store::ByKey;
use crate::store::write_txn::{Counter, WriteTxn};
use identity_proto::identity::v1::{ChangeKind, ErrorReason};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set, TransactionTrait,
};
use uuid::Uuid;

/// Failed requests kept per connection.
pub const RECENT_ERRORS_KEPT: u64 = 20;
/// The longest connection name.
pub const MAX_NAME_CHARS: usize = 100;
/// The most group names a connection may list.
pub const MAX_ALLOWED_GROUPS: usize = 1000;

/// Records a change of kind `kind` for the connection `write` acts as, inside its transaction,
/// and returns the connection to name on the change. One call counts once, as its strongest kind: deleting a
/// user also removes it from its roles, and that is one delete, not a delete and an update.
/// Fails with CONNECTION_NOT_FOUND when the connection was deleted meanwhile.
pub async fn count_change(write: &WriteTxn<'_>, kind: ChangeKind) -> CoreResult<Option<Uuid>> {
    let Some(connection) = write.connection else {
        return Ok(None);
    };
    let previous = *lock(&write.counted);
    let counter = Counter::of(kind);
    if previous.is_some_and(|previous| previous >= counter) {
        return Ok(Some(connection));
    }
    let mut update = sea_orm::sea_query::Query::update();
    update
        .table(provisioning_connection::Entity)
        .value(counter.column(), Expr::col(counter.column()).add(1))
        .and_where(provisioning_connection::Column::Id.eq(connection))
        .and_where(provisioning_connection::Column::DeletedAt.is_null());
    if let Some(previous) = previous {
        update.value(previous.column(), Expr::col(previous.column()).sub(1));
    }
    if write.txn.execute(&update).await?.rows_affected() == 0 {
        return Err(connection_not_found(connection));
    }
    *lock(&write.counted) = Some(counter);
    Ok(Some(connection))
}

fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The groups the acting connection may manage, read once per role write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupScope {
    /// No connection acts, or it lists no groups.
    Any,
    /// Only these names, compared without regard to case (as SCIM compares Group
    /// displayName); stored lowercase.
    Only(Vec<String>),
}

impl GroupScope {
    /// The groups of the connection `write` acts as (inside its transaction).
    pub async fn of(write: &WriteTxn<'_>) -> CoreResult<Self> {
        let Some(connection) = write.connection else {
            return Ok(Self::Any);
        };
        let allowed = provisioning_connection::Entity::find_by_id(connection)
            .select_only()
            .column(provisioning_connection::Column::AllowedGroups)
            .into_tuple::<Option<String>>()
            .by_key(write.txn)
            .await?
            .ok_or_else(|| connection_not_found(connection))?;
        Ok(match allowed.as_deref().map(decode_groups) {
            Some(groups) => Self::Only(groups.iter().map(|g| g.to_lowercase()).collect()),
            None => Self::Any,
        })
    }

    /// Fails with ROLE_OUTSIDE_CONNECTION unless a group named `name` is in scope.
    pub fn check(&self, name: &str) -> CoreResult<()> {
        match self {
            Self::Only(groups) if !groups.contains(&name.to_lowercase()) => {
                Err(CoreError::PermissionDenied {
                    reason: ErrorReason::RoleOutsideConnection,
                    message: format!(
                        "group {name:?} is not in this provisioning connection's groups to \
                         sync; add it to the connection or stop pushing it"
                    ),
                })
            }
            _ => Ok(()),
        }
    }
}

pub fn connection_not_found(id: Uuid) -> CoreError {
    CoreError::NotFound {
        reason: ErrorReason::ConnectionNotFound,
        what: format!("provisioning connection {id}"),
    }
}

pub fn decode_groups(text: &str) -> Vec<String> {
    serde_json::from_str(text).unwrap_or_default()
}

/// A provisioning connection as the store hands it out, with its activity counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    pub id: Uuid,
    pub org_id: OrgId,
    pub name: String,
    /// The group names it may push; `None`: every group.
    pub allowed_groups: Option<Vec<String>>,
    /// Microseconds since the Unix epoch.
    pub created_at: i64,
    /// Microseconds since the Unix epoch.
    pub last_request_at: Option<i64>,
    pub creates: i64,
    pub updates: i64,
    pub deactivations: i64,
    pub deletes: i64,
}

impl From<provisioning_connection::Model> for Connection {
    fn from(row: provisioning_connection::Model) -> Self {
        Self {
            id: row.id,
            org_id: OrgId(row.org_id),
            allowed_groups: row.allowed_groups.as_deref().map(decode_groups),
            name: row.name,
            created_at: row.created_at,
            last_request_at: row.last_request_at,
            creates: row.creates,
            updates: row.updates,
            deactivations: row.deactivations,
            deletes: row.deletes,
        }
    }
}

/// A failed request of a connection, kept for its owner to see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionError {
    /// Microseconds since the Unix epoch.
    pub occurred_at: i64,
    pub method: String,
    pub path: String,
    pub status: i32,
    pub scim_type: String,
    pub detail: String,
}

impl From<connection_error::Model> for ConnectionError {
    fn from(row: connection_error::Model) -> Self {
        Self {
            occurred_at: row.occurred_at,
            method: row.method,
            path: row.path,
            status: row.status,
            scim_type: row.scim_type,
            detail: row.detail,
        }
    }
}

/// Creates a connection.
pub async fn create(
    db: &DatabaseConnection,
    org: OrgId,
    name: &str,
    allowed_groups: Option<Vec<String>>,
) -> CoreResult<Connection> {
    crate::store::org_row::ensure_org(db, org).await?;
    let allowed = encode_groups(allowed_groups)?;
    Ok(provisioning_connection::ActiveModel {
        id: Set(Uuid::new_v4()),
        org_id: Set(org.0),
        name: Set(name.to_owned()),
        allowed_groups: Set(allowed),
        created_at: Set(crate::time::now_micros()),
        deleted_at: Set(None),
        last_request_at: Set(None),
        creates: Set(0),
        updates: Set(0),
        deactivations: Set(0),
        deletes: Set(0),
    }
    .insert(db)
    .await?
    .into())
}

fn encode_groups(groups: Option<Vec<String>>) -> CoreResult<Option<String>> {
    groups
        .map(|groups| serde_json::to_string(&groups))
        .transpose()
        .map_err(|e| CoreError::Internal(e.to_string()))
}

/// Renames a live connection and/or replaces its groups (`Some(None)` allows every group).
pub async fn update(
    db: &DatabaseConnection,
    org: OrgId,
    id: Uuid,
    name: Option<String>,
    groups: Option<Option<Vec<String>>>,
) -> CoreResult<Connection> {
    let txn = db.begin().await?;
    lock_live(&txn, org, id).await?;
    let mut update = provisioning_connection::Entity::update_many()
        .filter(provisioning_connection::Column::Id.eq(id));
    if let Some(name) = name {
        update = update.col_expr(provisioning_connection::Column::Name, Expr::val(name));
    }
    if let Some(groups) = groups {
        update = update.col_expr(
            provisioning_connection::Column::AllowedGroups,
            Expr::val(encode_groups(groups)?),
        );
    }
    update.exec(&txn).await?;
    let row = get(&txn, org, id).await?;
    txn.commit().await?;
    Ok(row)
}

/// The organization's connections that are not deleted, oldest first.
pub async fn list(db: &DatabaseConnection, org: OrgId) -> CoreResult<Vec<Connection>> {
    crate::store::org_row::ensure_org(db, org).await?;
    let rows = provisioning_connection::Entity::find()
        .filter(provisioning_connection::Column::OrgId.eq(org.0))
        .filter(provisioning_connection::Column::DeletedAt.is_null())
        .order_by_asc(provisioning_connection::Column::CreatedAt)
        .order_by_asc(provisioning_connection::Column::Id)
        .all(db)
        .await?;
    Ok(rows.into_iter().map(Connection::from).collect())
}

/// One live connection of `org`, or CONNECTION_NOT_FOUND (also for another tenant's).
pub async fn get<C: ConnectionTrait>(db: &C, org: OrgId, id: Uuid) -> CoreResult<Connection> {
    provisioning_connection::Entity::find_by_id(id)
        .filter(provisioning_connection::Column::OrgId.eq(org.0))
        .filter(provisioning_connection::Column::DeletedAt.is_null())
        .by_key(db)
        .await?
        .map(Connection::from)
        .ok_or_else(|| connection_not_found(id))
}

/// Locks a live connection of `org` for the rest of the transaction, or CONNECTION_NOT_FOUND.
///
/// A no-op UPDATE as the transaction's first statement: writers of one connection queue on its
/// row, and on SQLite a transaction that reads first can fail to upgrade its lock under
/// contention, while one that writes first waits (as `org_writes` does).
async fn lock_live<C: ConnectionTrait>(txn: &C, org: OrgId, id: Uuid) -> CoreResult<()> {
    let locked = provisioning_connection::Entity::update_many()
        .col_expr(
            provisioning_connection::Column::Name,
            Expr::col(provisioning_connection::Column::Name),
        )
        .filter(provisioning_connection::Column::Id.eq(id))
        .filter(provisioning_connection::Column::OrgId.eq(org.0))
        .filter(provisioning_connection::Column::DeletedAt.is_null())
        .exec(txn)
        .await?;
    if locked.rows_affected == 0 {
        return Err(connection_not_found(id));
    }
    Ok(())
}

/// The connection's most recent failed requests, newest first.
pub async fn recent_errors(db: &DatabaseConnection, id: Uuid) -> CoreResult<Vec<ConnectionError>> {
    let rows = connection_error::Entity::find()
        .filter(connection_error::Column::ConnectionId.eq(id))
        .order_by_desc(connection_error::Column::OccurredAt)
        .order_by_desc(connection_error::Column::Id)
        .limit(RECENT_ERRORS_KEPT)
        .all(db)
        .await?;
    Ok(rows.into_iter().map(ConnectionError::from).collect())
}

/// Deletes a connection: its SCIM tokens (pasted and OAuth) are revoked, its clients deleted
/// and its grants revoked, all in one transaction.
pub async fn delete(db: &DatabaseConnection, org: OrgId, id: Uuid) -> CoreResult<()> {
    let txn = db.begin().await?;
    lock_live(&txn, org, id).await?;
    let now = crate::time::now_micros();
    provisioning_connection::Entity::update_many()
        .col_expr(provisioning_connection::Column::DeletedAt, Expr::val(now))
        .filter(provisioning_connection::Column::Id.eq(id))
        .exec(&txn)
        .await?;
    scim_token::Entity::update_many()
        .col_expr(scim_token::Column::RevokedAt, Expr::val(now))
        .filter(scim_token::Column::ConnectionId.eq(id))
        .filter(scim_token::Column::RevokedAt.is_null())
        .exec(&txn)
        .await?;
    oauth_client::Entity::update_many()
        .col_expr(oauth_client::Column::DeletedAt, Expr::val(now))
        .filter(oauth_client::Column::ConnectionId.eq(id))
        .filter(oauth_client::Column::DeletedAt.is_null())
        .exec(&txn)
        .await?;
    oauth_grant::Entity::update_many()
        .col_expr(oauth_grant::Column::RevokedAt, Expr::val(now))
        .col_expr(
            oauth_grant::Column::RevokeReason,
            Expr::val("connection_deleted"),
        )
        .filter(oauth_grant::Column::ConnectionId.eq(id))
        .filter(oauth_grant::Column::RevokedAt.is_null())
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(())
}

/// Notes that one of the connection's credentials was accepted at `now`; writes at most once
/// per `resolution` (micros), like the token's own `last_used_at`.
pub async fn touch(db: &DatabaseConnection, id: Uuid, now: i64, resolution: i64) -> CoreResult<()> {
    provisioning_connection::Entity::update_many()
        .col_expr(
            provisioning_connection::Column::LastRequestAt,
            Expr::val(now),
        )
        .filter(provisioning_connection::Column::Id.eq(id))
        .filter(
            provisioning_connection::Column::LastRequestAt
                .is_null()
                .or(provisioning_connection::Column::LastRequestAt.lte(now - resolution)),
        )
        .exec(db)
        .await?;
    Ok(())
}

/// A failed SCIM request to record.
#[derive(Debug, Clone)]
pub struct FailedRequest {
    pub method: String,
    pub path: String,
    pub status: i32,
    pub scim_type: String,
    pub detail: String,
}

/// Records a failed request and drops all but the most recent [`RECENT_ERRORS_KEPT`].
pub async fn record_error(
    db: &DatabaseConnection,
    org: OrgId,
    id: Uuid,
    failed: FailedRequest,
) -> CoreResult<()> {
    let txn = db.begin().await?;
    lock_live(&txn, org, id).await?;
    connection_error::ActiveModel {
        id: Set(Uuid::now_v7()),
        connection_id: Set(id),
        occurred_at: Set(crate::time::now_micros()),
        method: Set(truncate(&failed.method, 16)),
        path: Set(truncate(&failed.path, 512)),
        status: Set(failed.status),
        scim_type: Set(truncate(&failed.scim_type, 64)),
        detail: Set(truncate(&failed.detail, 1024)),
    }
    .insert(&txn)
    .await?;
    let keep: Vec<Uuid> = connection_error::Entity::find()
        .select_only()
        .column(connection_error::Column::Id)
        .filter(connection_error::Column::ConnectionId.eq(id))
        .order_by_desc(connection_error::Column::OccurredAt)
        .order_by_desc(connection_error::Column::Id)
        .limit(RECENT_ERRORS_KEPT)
        .into_tuple()
        .all(&txn)
        .await?;
    connection_error::Entity::delete_many()
        .filter(connection_error::Column::ConnectionId.eq(id))
        .filter(connection_error::Column::Id.is_not_in(keep))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(())
}

/// `text` cut to at most `max` bytes on a character boundary.
fn truncate(text: &str, max: usize) -> String {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strongest_kind_wins() {
        assert!(Counter::of(ChangeKind::Deleted) > Counter::of(ChangeKind::MembersRemoved));
        assert!(Counter::of(ChangeKind::Created) > Counter::of(ChangeKind::MembersAdded));
        assert_eq!(Counter::of(ChangeKind::Renamed), Counter::Updates);
    }

    #[test]
    fn group_scope_ignores_case() {
        let scope = GroupScope::Only(vec!["engineering".into()]);
        scope.check("Engineering").unwrap();
        assert!(scope.check("Sales").is_err());
        GroupScope::Any.check("Sales").unwrap();
    }

    #[test]
    fn truncation_keeps_characters_whole() {
        assert_eq!(truncate("héllo", 2), "h");
        assert_eq!(truncate("abc", 10), "abc");
    }
}
