//! Retention: pruning change-feed entries, expired access tokens and expired OAuth requests,
//! codes, refresh tokens and OAuth access tokens older than the configured horizon. Run periodically by every core replica; the deletes are idempotent, so replicas
//! racing each other only repeat work.
//!
//! The feed is pruned per organization by sequence (everything up to the newest change older
//! than the cutoff), never by time alone: replicas' clocks may disagree slightly, and a time-only
//! delete could remove a change while keeping an earlier one, leaving a hole a resuming consumer
//! would silently skip. Pruning a prefix keeps the feed gap-free, so a cursor is either served
//! completely or refused with CURSOR_EXPIRED.

use crate::entity::change_event;
use crate::error::CoreResult;
use crate::store::access_tokens;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

/// What one pass removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    pub changes: u64,
    pub access_tokens: u64,
    pub oauth: u64,
}

/// Organizations handled per pass, so one pass stays short; the rest wait for the next pass.
const ORGS_PER_PASS: u64 = 1000;

/// Removes changes created before `change_cutoff` (a prefix of each organization's feed) and
/// access tokens that expired before `token_cutoff`.
pub async fn prune(
    db: &DatabaseConnection,
    change_cutoff: i64,
    token_cutoff: i64,
) -> CoreResult<Pruned> {
    let orgs = change_event::Entity::find()
        .select_only()
        .column(change_event::Column::OrgId)
        .distinct()
        .filter(change_event::Column::CreatedAt.lt(change_cutoff))
        .limit(ORGS_PER_PASS)
        .into_tuple::<Uuid>()
        .all(db)
        .await?;
    let mut pruned = Pruned::default();
    for org in orgs {
        let through = change_event::Entity::find()
            .select_only()
            .column(change_event::Column::Sequence)
            .filter(change_event::Column::OrgId.eq(org))
            .filter(change_event::Column::CreatedAt.lt(change_cutoff))
            .order_by_desc(change_event::Column::Sequence)
            .limit(1)
            .into_tuple::<i64>()
            .one(db)
            .await?;
        if let Some(through) = through {
            pruned.changes += change_event::Entity::delete_many()
                .filter(change_event::Column::OrgId.eq(org))
                .filter(change_event::Column::Sequence.lte(through))
                .exec(db)
                .await?
                .rows_affected;
        }
    }
    pruned.access_tokens = access_tokens::prune_expired(db, token_cutoff).await?;
    pruned.oauth = crate::store::oauth::prune_expired(db, token_cutoff).await?;
    Ok(pruned)
}
