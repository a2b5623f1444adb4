//! The change feed (transactional outbox) and the wake-ups of its watchers.
//!
//! Every mutation of users, roles and memberships runs through [`super::org_writes::write`],
//! under the organization's write lock: inside it [`append_change`] hands out sequence numbers
//! without gaps and in commit order. This module must not know about user or role columns.

use crate::entity::{change_event, organization};
use crate::error::{CoreError, CoreResult};
use crate::ids::OrgId;
use crate::store::ByKey;
use crate::store::write_txn::WriteTxn;
use identity_proto::identity::v1::{ChangeKind, ResourceType};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use std::sync::atomic::Ordering;
use uuid::Uuid;

/// Feed page size when the caller asks for 0.
pub const DEFAULT_CHANGES_PAGE_SIZE: u64 = 100;
/// Largest feed page.
pub const MAX_CHANGES_PAGE_SIZE: u64 = 1000;

/// The PostgreSQL notification channel of committed changes; the payload is the organization id.
pub const CHANGES_CHANNEL: &str = "identity_changes";

/// Wake-ups of change watchers when an organization's changes commit (push, not poll).
pub mod commit_signals {
    use std::collections::HashMap;
    use std::sync::{LazyLock, Mutex};
    use tokio::sync::watch;
    use uuid::Uuid;

    /// One signal per organization that has watchers on this process.
    static SIGNALS: LazyLock<Mutex<HashMap<Uuid, watch::Sender<()>>>> =
        LazyLock::new(Default::default);

    /// A receiver that changes whenever a change of `org` commits; subscribe before reading the
    /// feed so that no commit falls between the read and the wait.
    pub fn subscribe(org: Uuid) -> watch::Receiver<()> {
        let mut signals = SIGNALS
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        signals
            .entry(org)
            .or_insert_with(|| watch::channel(()).0)
            .subscribe()
    }

    /// Wakes `org`'s watchers; forgets its signal once nobody listens.
    pub fn committed(org: Uuid) {
        let mut signals = SIGNALS
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(signal) = signals.get(&org)
            && signal.send(()).is_err()
        {
            signals.remove(&org);
        }
    }
}

/// Relays PostgreSQL notifications of commits on any replica to this process's watchers, until
/// the pool closes. Reconnects after a lost connection (the watchers' fallback poll covers the
/// gap).
pub async fn relay_postgres_commits(pool: sea_orm::sqlx::PgPool) {
    use sea_orm::sqlx::postgres::PgListener;
    loop {
        let mut listener = match PgListener::connect_with(&pool).await {
            Ok(listener) => listener,
            Err(error) => {
                tracing::warn!(%error, "listening for committed changes failed; retrying");
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                continue;
            }
        };
        if let Err(error) = listener.listen(CHANGES_CHANNEL).await {
            tracing::warn!(%error, "LISTEN failed; retrying");
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            continue;
        }
        loop {
            match listener.recv().await {
                Ok(notification) => {
                    if let Ok(org) = notification.payload().parse::<Uuid>() {
                        commit_signals::committed(org);
                    }
                }
                Err(error) => {
                    if pool.is_closed() {
                        return;
                    }
                    tracing::warn!(%error, "receiving commit notifications failed; reconnecting");
                    break;
                }
            }
        }
    }
}

/// A change to record in the feed.
#[derive(Debug, Clone)]
pub struct NewChange<'a> {
    pub resource_type: ResourceType,
    pub resource_id: Uuid,
    pub kind: ChangeKind,
    /// The resource's version after the change, 0 for deletions.
    pub resource_version: i64,
    /// The affected members, for membership changes.
    pub member_user_ids: &'a [Uuid],
}

/// Appends one change with the organization's next sequence number and returns that number.
///
/// Inside a write batch the number is handed out in process: the batch holds the
/// organization's lock, read the counter when it took it and writes the final value once before
/// it commits (`org_writes`). One UPDATE of the organization row per change would make a new
/// version of that row per change, in a savepoint of its own, which every insert's foreign-key
/// check of the organization must then walk.
pub async fn append_change(write: &WriteTxn<'_>, change: NewChange<'_>) -> CoreResult<i64> {
    let (txn, org) = (write.txn, write.org);
    let sequence = match write.numbering {
        Some(last) => last.fetch_add(1, Ordering::SeqCst) + 1,
        // outside a write batch (releasing SCIM-managed identities): the counter itself
        None => {
            let row = txn
                .query_one(
                    Query::update()
                        .table(organization::Entity)
                        .value(
                            organization::Column::ChangeSeq,
                            Expr::col(organization::Column::ChangeSeq).add(1),
                        )
                        .and_where(organization::Column::Id.eq(org.0))
                        .returning_col(organization::Column::ChangeSeq),
                )
                .await?
                .ok_or_else(|| CoreError::organization_not_found(org))?;
            row.try_get::<i64>("", "change_seq")?
        }
    };
    let connection = super::connections::count_change(write, change.kind).await?;
    let members = if change.member_user_ids.is_empty() {
        None
    } else {
        let ids: Vec<String> = change.member_user_ids.iter().map(Uuid::to_string).collect();
        Some(serde_json::to_string(&ids).map_err(|e| CoreError::Internal(e.to_string()))?)
    };
    change_event::Entity::insert(change_event::ActiveModel {
        org_id: sea_orm::Set(org.0),
        sequence: sea_orm::Set(sequence),
        resource_type: sea_orm::Set(change.resource_type as i16),
        resource_id: sea_orm::Set(change.resource_id),
        kind: sea_orm::Set(change.kind as i16),
        resource_version: sea_orm::Set(change.resource_version),
        member_user_ids: sea_orm::Set(members),
        created_at: sea_orm::Set(crate::time::now_micros()),
        connection_id: sea_orm::Set(connection),
    })
    .exec_without_returning(txn)
    .await?;
    Ok(sequence)
}

/// One entry of the feed, as the store hands it out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub org: OrgId,
    pub sequence: i64,
    /// identity.v1.ResourceType value.
    pub resource_type: i16,
    pub resource_id: Uuid,
    /// identity.v1.ChangeKind value.
    pub kind: i16,
    pub resource_version: i64,
    /// For a membership change, the users added or removed.
    pub member_user_ids: Vec<String>,
    /// Microseconds since the Unix epoch.
    pub created_at: i64,
    /// The provisioning connection whose request made the change.
    pub connection_id: Option<Uuid>,
}

impl From<change_event::Model> for Change {
    fn from(row: change_event::Model) -> Self {
        Self {
            org: OrgId(row.org_id),
            sequence: row.sequence,
            resource_type: row.resource_type,
            resource_id: row.resource_id,
            kind: row.kind,
            resource_version: row.resource_version,
            // stored as a JSON array of id strings
            member_user_ids: row
                .member_user_ids
                .as_deref()
                .and_then(|text| serde_json::from_str(text).ok())
                .unwrap_or_default(),
            created_at: row.created_at,
            connection_id: row.connection_id,
        }
    }
}

/// One page of the feed and the latest sequence number at the time it was read.
#[derive(Debug, Clone)]
pub struct ChangePage {
    pub changes: Vec<Change>,
    pub latest_sequence: i64,
}

/// Changes after `after_sequence`, in sequence order; CURSOR_EXPIRED when retention already
/// pruned changes right after the cursor.
pub async fn list_changes(
    db: &DatabaseConnection,
    org: OrgId,
    after_sequence: i64,
    page_size: u64,
) -> CoreResult<ChangePage> {
    let latest_sequence = organization::Entity::find_by_id(org.0)
        .select_only()
        .column(organization::Column::ChangeSeq)
        .into_tuple::<i64>()
        .by_key(db)
        .await?
        .ok_or_else(|| CoreError::organization_not_found(org))?;
    let changes = crate::store::all_limited(
        db,
        change_event::Entity::find()
            .filter(change_event::Column::OrgId.eq(org.0))
            .filter(change_event::Column::Sequence.gt(after_sequence))
            // a change committed after the counter was read would make the page inconsistent
            // with latest_sequence, so the page stops at it
            .filter(change_event::Column::Sequence.lte(latest_sequence))
            .order_by_asc(change_event::Column::Sequence),
        page_size,
    )
    .await?;
    // sequences have no gaps, so a page that does not start right after the cursor (or an
    // empty page behind the latest sequence) means retention pruned what follows the cursor;
    // checking the page itself costs nothing on the watchers' polling path and also catches a
    // prune racing this read
    let starts_at_cursor = match changes.first() {
        Some(first) => first.sequence == after_sequence + 1,
        None => after_sequence >= latest_sequence,
    };
    if !starts_at_cursor {
        return Err(CoreError::CursorExpired {
            after_sequence,
            oldest_cursor: oldest_cursor(db, org, latest_sequence).await?,
            latest_sequence,
        });
    }
    Ok(ChangePage {
        changes: changes.into_iter().map(Change::from).collect(),
        latest_sequence,
    })
}

/// The lowest cursor still accepted: one before the oldest retained change, or the latest
/// sequence when retention pruned everything.
pub async fn oldest_cursor<C: ConnectionTrait>(
    conn: &C,
    org: OrgId,
    latest: i64,
) -> CoreResult<i64> {
    let oldest = change_event::Entity::find()
        .select_only()
        .column(change_event::Column::Sequence)
        .filter(change_event::Column::OrgId.eq(org.0))
        .order_by_asc(change_event::Column::Sequence)
        .limit(1)
        .into_tuple::<i64>()
        .one(conn)
        .await?;
    Ok(oldest.map_or(latest, |sequence| sequence - 1))
}
