//! `admin.v1.PortalService` (minting setup-portal links) and [`with_portal_routes`]: the admin
//! services a portal session may call, served on the identity listener where the SCIM edge can
//! reach them.
//!
//! A session is let into three services only (SCIM settings and tokens, connections, roles):
//! `OrganizationService` and `ServiceCredentialService` are not served to it, so an hour-long
//! browser session can never mint a standing owner or service credential.

use crate::auth::Principal;
use crate::backend::{AdminBackend, PortalBackend};
use crate::status;
use identity_proto::admin::v1 as pb;
use identity_proto::admin::v1::portal_service_server::PortalService;
use std::sync::Arc;
use tonic::{Request, Response, Status};

/// `admin.v1.PortalService` over a backend.
#[derive(Clone)]
pub struct PortalApi {
    backend: Arc<dyn AdminBackend>,
}

impl std::fmt::Debug for PortalApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PortalApi").finish_non_exhaustive()
    }
}

impl PortalApi {
    /// Serves `backend`. Serve it behind the admin authentication layer.
    pub fn new(backend: Arc<dyn AdminBackend>) -> Self {
        Self { backend }
    }

    fn backend(&self) -> Result<&dyn PortalBackend, Status> {
        self.backend
            .portal()
            .ok_or_else(|| Status::unimplemented("this server has no setup portal"))
    }
}

#[tonic::async_trait]
impl PortalService for PortalApi {
    async fn create_portal_link(
        &self,
        request: Request<pb::CreatePortalLinkRequest>,
    ) -> Result<Response<pb::CreatePortalLinkResponse>, Status> {
        let principal = Principal::of(&request)?;
        if matches!(principal, Principal::Portal { .. }) {
            return Err(status::permission_denied(
                "a portal session cannot mint portal links",
            ));
        }
        let organization_id = principal.authorize(&request.get_ref().organization_id)?;
        let request = request.into_inner();
        let validity = crate::fields::duration("validity", request.validity)?;
        Ok(Response::new(
            self.backend()?
                .create_portal_link(organization_id, &request.label, validity)
                .await?,
        ))
    }

    async fn list_portal_links(
        &self,
        request: Request<pb::ListPortalLinksRequest>,
    ) -> Result<Response<pb::ListPortalLinksResponse>, Status> {
        let organization_id =
            Principal::of(&request)?.authorize(&request.get_ref().organization_id)?;
        Ok(Response::new(
            self.backend()?.list_portal_links(organization_id).await?,
        ))
    }

    async fn revoke_portal_link(
        &self,
        request: Request<pb::RevokePortalLinkRequest>,
    ) -> Result<Response<pb::RevokePortalLinkResponse>, Status> {
        let organization_id =
            Principal::of(&request)?.authorize(&request.get_ref().organization_id)?;
        let link_id = crate::fields::parse_uuid("link_id", &request.get_ref().link_id)?;
        let link = self
            .backend()?
            .revoke_portal_link(organization_id, link_id)
            .await?;
        Ok(Response::new(pb::RevokePortalLinkResponse {
            link: Some(link),
        }))
    }
}
