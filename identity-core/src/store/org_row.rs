//! Reads of an organization's own row that the other stores need before they work: whether it
//! exists, and its change sequence.

use sea_orm::{ConnectionTrait, EntityTrait, QuerySelect};
use uuid::Uuid;

use crate::entity::organization;
use crate::error::{CoreError, CoreResult};
use crate::ids::OrgId;
use crate::store::ByKey;

/// Fails with ORGANIZATION_NOT_FOUND unless the organization exists.
pub async fn ensure_org<C: ConnectionTrait>(conn: &C, org: OrgId) -> CoreResult<()> {
    let found = organization::Entity::find_by_id(org.0)
        .select_only()
        .column(organization::Column::Id)
        .into_tuple::<Uuid>()
        .by_key(conn)
        .await?;
    match found {
        Some(_) => Ok(()),
        None => Err(CoreError::organization_not_found(org)),
    }
}

/// The organization's change sequence: it moves with every committed change of its users and
/// roles, so anything derived from them (a cached total) is current while it stays the same.
pub async fn change_seq<C: ConnectionTrait>(conn: &C, org: OrgId) -> CoreResult<i64> {
    organization::Entity::find_by_id(org.0)
        .select_only()
        .column(organization::Column::ChangeSeq)
        .into_tuple::<i64>()
        .by_key(conn)
        .await?
        .ok_or_else(|| CoreError::organization_not_found(org))
}
