//! The setup portal's sessions: `identity.v1.PortalService` (the edge opens links and reads
//! sessions) and [`PortalSessions`], the authenticator of the admin services a session may call
//! on the identity listener (`admin_grpc::with_portal_routes`).

use crate::service::caller::Caller;
use crate::store::portal::{self, Session};
use crate::time::{now_micros, to_timestamp};
use admin_grpc::Principal;
use identity_proto::identity::v1 as pb;
use identity_proto::identity::v1::portal_service_server::PortalService;
use sea_orm::DatabaseConnection;
use tonic::{Request, Response, Status};

/// The PortalService handlers.
#[derive(Debug, Clone)]
pub struct PortalServiceImpl {
    db: DatabaseConnection,
}

impl PortalServiceImpl {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

fn session_pb(session: Session) -> pb::PortalSession {
    pb::PortalSession {
        organization_id: session.org_id.to_string(),
        organization_name: session.organization_name,
        label: session.label,
        link_id: session.link_id.to_string(),
        expire_time: Some(to_timestamp(session.expires_at)),
    }
}

fn edge_only<T>(request: Request<T>) -> Result<T, Status> {
    let (caller, message) = Caller::split(request)?;
    caller.require_edge("the setup portal")?;
    Ok(message)
}

#[tonic::async_trait]
impl PortalService for PortalServiceImpl {
    async fn open_portal_session(
        &self,
        request: Request<pb::OpenPortalSessionRequest>,
    ) -> Result<Response<pb::OpenPortalSessionResponse>, Status> {
        let message = edge_only(request)?;
        let (session, session_token) =
            portal::open(&self.db, message.link_token.trim(), now_micros()).await?;
        Ok(Response::new(pb::OpenPortalSessionResponse {
            session_token,
            session: Some(session_pb(session)),
        }))
    }

    async fn describe_portal_session(
        &self,
        request: Request<pb::DescribePortalSessionRequest>,
    ) -> Result<Response<pb::DescribePortalSessionResponse>, Status> {
        let message = edge_only(request)?;
        let session = portal::find_session(&self.db, message.session_token.trim(), now_micros())
            .await?
            .ok_or_else(portal::session_invalid)?;
        Ok(Response::new(pb::DescribePortalSessionResponse {
            session: Some(session_pb(session)),
        }))
    }

    async fn close_portal_session(
        &self,
        request: Request<pb::ClosePortalSessionRequest>,
    ) -> Result<Response<pb::ClosePortalSessionResponse>, Status> {
        let message = edge_only(request)?;
        portal::close(&self.db, message.session_token.trim(), now_micros()).await?;
        Ok(Response::new(pb::ClosePortalSessionResponse {}))
    }
}

/// Authenticates the admin calls of a portal session: the bearer credential is the session's
/// token, and the principal is [`Principal::Portal`] (its organization, its link's label).
/// Nothing else is accepted, so neither an owner nor the bootstrap credential reaches the admin
/// services through the identity listener.
#[derive(Debug, Clone)]
pub struct PortalSessions {
    db: DatabaseConnection,
}

impl PortalSessions {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

#[async_trait::async_trait]
impl identity_runtime::grpc_auth::Authenticator for PortalSessions {
    type Principal = Principal;

    async fn authenticate(&self, secret: &str) -> Result<Principal, Status> {
        let session = portal::find_session(&self.db, secret, now_micros())
            .await
            .map_err(Status::from)?
            .ok_or_else(|| Status::from(portal::session_invalid()))?;
        Ok(Principal::Portal {
            organization_id: session.org_id.0,
            link_id: session.link_id,
            label: session.label.into(),
        })
    }

    /// Every call of a session is audited with whom its link was for; the backend's own audit
    /// events (token issued, SCIM disabled, …) follow with the details.
    fn authenticated(&self, principal: &Principal, method: &str) {
        if let Principal::Portal {
            organization_id,
            link_id,
            label,
        } = principal
        {
            tracing::info!(
                target: "audit",
                org_id = %organization_id,
                portal_link_id = %link_id,
                portal_label = %label,
                rpc = method,
                action = "portal.call",
                "setup portal session call"
            );
        }
    }
}
