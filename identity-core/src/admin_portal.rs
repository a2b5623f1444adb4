//! The setup portal's links in the admin API: identity-core's [`admin_grpc::PortalBackend`]
//! (minting, listing and revoking links; the sessions they open are served by
//! `service::portal_service`). Every change is audited: minting here, opening, closing and
//! revoking in `store::portal`.

use crate::admin_backend::CoreAdminBackend;
use crate::ids::OrgId;
use crate::store::{org_row, portal};
use crate::time::{now_micros, to_timestamp};
use admin_grpc::PortalBackend;
use identity_proto::admin::v1 as pb;
use std::time::Duration;
use tonic::Status;
use uuid::Uuid;

fn portal_link_pb(row: &portal::PortalLink) -> pb::PortalLink {
    pb::PortalLink {
        id: row.id.to_string(),
        organization_id: row.org_id.to_string(),
        label: row.label.clone(),
        create_time: Some(to_timestamp(row.created_at)),
        expire_time: Some(to_timestamp(row.expires_at)),
        open_time: row.opened_at.map(to_timestamp),
        session_expire_time: row.session_expires_at.map(to_timestamp),
    }
}

#[async_trait::async_trait]
impl PortalBackend for CoreAdminBackend {
    async fn list_portal_links(
        &self,
        organization_id: Uuid,
    ) -> Result<pb::ListPortalLinksResponse, Status> {
        let org = OrgId(organization_id);
        org_row::ensure_org(&self.db, org).await?;
        let rows = portal::list(&self.db, org, 100).await?;
        Ok(pb::ListPortalLinksResponse {
            links: rows.iter().map(portal_link_pb).collect(),
        })
    }

    async fn revoke_portal_link(
        &self,
        organization_id: Uuid,
        link_id: Uuid,
    ) -> Result<pb::PortalLink, Status> {
        let row = portal::revoke(&self.db, OrgId(organization_id), link_id, now_micros()).await?;
        Ok(portal_link_pb(&row))
    }

    async fn create_portal_link(
        &self,
        organization_id: Uuid,
        label: &str,
        validity: Option<Duration>,
    ) -> Result<pb::CreatePortalLinkResponse, Status> {
        let org = OrgId(organization_id);
        let (row, token) =
            portal::create_link(&self.db, org, label, validity, now_micros()).await?;
        tracing::info!(target: "audit", org_id = %org, portal_link_id = %row.id, portal_label = %row.label, expires_at = row.expires_at, action = "portal.link_create", "setup portal link minted");
        Ok(pb::CreatePortalLinkResponse {
            path: format!("/portal/link/{token}"),
            token,
            expire_time: Some(to_timestamp(row.expires_at)),
            id: row.id.to_string(),
        })
    }
}
