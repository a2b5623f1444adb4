//! `admin.v1.ConnectionService`: an organization's provisioning connections, their OAuth
//! clients and grants.
//!
//! As everywhere in this crate, the handler authorizes the organization the request names and
//! turns fields into typed values; the [`ConnectionBackend`] owns every rule beyond that. A
//! backend without connections answers UNIMPLEMENTED.

use crate::auth::Principal;
use crate::backend::{AdminBackend, ConnectionBackend};
use crate::fields::parse_uuid;
use crate::status;
use identity_proto::admin::v1 as pb;
use identity_proto::admin::v1::connection_service_server::ConnectionService;
use std::sync::Arc;
use tonic::{Request, Response, Status};

/// The longest connection or client name.
const MAX_NAME_CHARS: usize = 100;
/// The most group names one connection may list.
const MAX_GROUPS: usize = 1000;
/// The longest group name.
const MAX_GROUP_CHARS: usize = 256;
/// The most redirect URIs of one client.
const MAX_REDIRECT_URIS: usize = 10;

/// `admin.v1.ConnectionService` over a backend.
#[derive(Clone)]
pub struct ConnectionApi {
    backend: Arc<dyn AdminBackend>,
}

impl std::fmt::Debug for ConnectionApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionApi").finish_non_exhaustive()
    }
}

impl ConnectionApi {
    /// Serves `backend`. Serve it behind the auth layer (as `admin_routes` does).
    pub fn new(backend: Arc<dyn AdminBackend>) -> Self {
        Self { backend }
    }

    fn backend(&self) -> Result<&dyn ConnectionBackend, Status> {
        self.backend
            .connections()
            .ok_or_else(|| Status::unimplemented("this server has no provisioning connections"))
    }
}

fn name(field: &str, value: &str) -> Result<String, Status> {
    let value = value.trim();
    if value.is_empty() || value.chars().count() > MAX_NAME_CHARS {
        return Err(status::invalid_argument(
            field,
            "is required and at most 100 characters",
        ));
    }
    Ok(value.to_owned())
}

/// Trimmed, de-duplicated (without regard to case) group names; `None` when there are none.
fn parse_allowed_groups(values: &[String]) -> Result<Option<Vec<String>>, Status> {
    if values.len() > MAX_GROUPS {
        return Err(status::invalid_argument(
            "allowed_group_names",
            "must name at most 1000 groups",
        ));
    }
    let mut groups: Vec<String> = Vec::with_capacity(values.len());
    for (index, value) in values.iter().enumerate() {
        let value = value.trim();
        if value.is_empty() || value.chars().count() > MAX_GROUP_CHARS {
            return Err(status::invalid_argument(
                &format!("allowed_group_names[{index}]"),
                "must be 1 to 256 characters",
            ));
        }
        if !groups
            .iter()
            .any(|g| g.to_lowercase() == value.to_lowercase())
        {
            groups.push(value.to_owned());
        }
    }
    Ok((!groups.is_empty()).then_some(groups))
}

/// Redirect URIs must be absolute https URIs (or http on a loopback host, RFC 8252 §7.3)
/// without a fragment (RFC 6749 §3.1.2).
fn parse_redirect_uris(values: &[String]) -> Result<Vec<String>, Status> {
    if values.len() > MAX_REDIRECT_URIS {
        return Err(status::invalid_argument(
            "redirect_uris",
            "must have at most 10 URIs",
        ));
    }
    for (index, value) in values.iter().enumerate() {
        let ok = url::Url::parse(value).is_ok_and(|uri| {
            let loopback = matches!(uri.host_str(), Some("127.0.0.1" | "[::1]" | "localhost"));
            uri.fragment().is_none()
                && uri.host_str().is_some()
                && (uri.scheme() == "https" || (uri.scheme() == "http" && loopback))
        });
        if !ok || value.len() > 2048 {
            return Err(status::invalid_argument(
                &format!("redirect_uris[{index}]"),
                "must be an absolute https URI (http only on a loopback host) without a fragment",
            ));
        }
    }
    Ok(values.to_vec())
}

#[tonic::async_trait]
impl ConnectionService for ConnectionApi {
    async fn create_connection(
        &self,
        request: Request<pb::CreateConnectionRequest>,
    ) -> Result<Response<pb::CreateConnectionResponse>, Status> {
        let org = Principal::of(&request)?.authorize(&request.get_ref().organization_id)?;
        let request = request.into_inner();
        let name = name("name", &request.name)?;
        let groups = parse_allowed_groups(&request.allowed_group_names)?;
        let connection = self
            .backend()?
            .create_connection(org, &name, groups)
            .await?;
        Ok(Response::new(pb::CreateConnectionResponse {
            connection: Some(connection),
        }))
    }

    async fn list_connections(
        &self,
        request: Request<pb::ListConnectionsRequest>,
    ) -> Result<Response<pb::ListConnectionsResponse>, Status> {
        let org = Principal::of(&request)?.authorize(&request.get_ref().organization_id)?;
        Ok(Response::new(pb::ListConnectionsResponse {
            connections: self.backend()?.list_connections(org).await?,
        }))
    }

    async fn get_connection(
        &self,
        request: Request<pb::GetConnectionRequest>,
    ) -> Result<Response<pb::GetConnectionResponse>, Status> {
        let org = Principal::of(&request)?.authorize(&request.get_ref().organization_id)?;
        let id = parse_uuid("connection_id", &request.get_ref().connection_id)?;
        Ok(Response::new(pb::GetConnectionResponse {
            connection: Some(self.backend()?.get_connection(org, id).await?),
        }))
    }

    async fn update_connection(
        &self,
        request: Request<pb::UpdateConnectionRequest>,
    ) -> Result<Response<pb::UpdateConnectionResponse>, Status> {
        let org = Principal::of(&request)?.authorize(&request.get_ref().organization_id)?;
        let request = request.into_inner();
        let id = parse_uuid("connection_id", &request.connection_id)?;
        let name = if request.name.trim().is_empty() {
            None
        } else {
            Some(name("name", &request.name)?)
        };
        let groups = if request.update_allowed_groups {
            Some(parse_allowed_groups(&request.allowed_group_names)?)
        } else {
            None
        };
        let connection = self
            .backend()?
            .update_connection(org, id, name, groups)
            .await?;
        Ok(Response::new(pb::UpdateConnectionResponse {
            connection: Some(connection),
        }))
    }

    async fn delete_connection(
        &self,
        request: Request<pb::DeleteConnectionRequest>,
    ) -> Result<Response<pb::DeleteConnectionResponse>, Status> {
        let org = Principal::of(&request)?.authorize(&request.get_ref().organization_id)?;
        let id = parse_uuid("connection_id", &request.get_ref().connection_id)?;
        self.backend()?.delete_connection(org, id).await?;
        Ok(Response::new(pb::DeleteConnectionResponse {}))
    }

    async fn register_o_auth_client(
        &self,
        request: Request<pb::RegisterOAuthClientRequest>,
    ) -> Result<Response<pb::RegisterOAuthClientResponse>, Status> {
        let org = Principal::of(&request)?.authorize(&request.get_ref().organization_id)?;
        let request = request.into_inner();
        let connection = parse_uuid("connection_id", &request.connection_id)?;
        let name = name("name", &request.name)?;
        let uris = parse_redirect_uris(&request.redirect_uris)?;
        Ok(Response::new(
            self.backend()?
                .register_oauth_client(org, connection, &name, &uris, request.client_credentials)
                .await?,
        ))
    }

    async fn list_o_auth_clients(
        &self,
        request: Request<pb::ListOAuthClientsRequest>,
    ) -> Result<Response<pb::ListOAuthClientsResponse>, Status> {
        let org = Principal::of(&request)?.authorize(&request.get_ref().organization_id)?;
        let connection = parse_uuid("connection_id", &request.get_ref().connection_id)?;
        Ok(Response::new(pb::ListOAuthClientsResponse {
            clients: self.backend()?.list_oauth_clients(org, connection).await?,
        }))
    }

    async fn delete_o_auth_client(
        &self,
        request: Request<pb::DeleteOAuthClientRequest>,
    ) -> Result<Response<pb::DeleteOAuthClientResponse>, Status> {
        let org = Principal::of(&request)?.authorize(&request.get_ref().organization_id)?;
        let client_id = request.get_ref().client_id.trim();
        if client_id.is_empty() || client_id.len() > 64 {
            return Err(status::invalid_argument("client_id", "is required"));
        }
        self.backend()?.delete_oauth_client(org, client_id).await?;
        Ok(Response::new(pb::DeleteOAuthClientResponse {}))
    }

    async fn list_grants(
        &self,
        request: Request<pb::ListGrantsRequest>,
    ) -> Result<Response<pb::ListGrantsResponse>, Status> {
        let org = Principal::of(&request)?.authorize(&request.get_ref().organization_id)?;
        let connection = parse_uuid("connection_id", &request.get_ref().connection_id)?;
        Ok(Response::new(pb::ListGrantsResponse {
            grants: self.backend()?.list_grants(org, connection).await?,
        }))
    }

    async fn revoke_grant(
        &self,
        request: Request<pb::RevokeGrantRequest>,
    ) -> Result<Response<pb::RevokeGrantResponse>, Status> {
        let org = Principal::of(&request)?.authorize(&request.get_ref().organization_id)?;
        let grant = parse_uuid("grant_id", &request.get_ref().grant_id)?;
        Ok(Response::new(pb::RevokeGrantResponse {
            grant: Some(self.backend()?.revoke_grant(org, grant).await?),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_are_trimmed_and_deduplicated_without_case() {
        let groups = parse_allowed_groups(&[" Eng ".into(), "eng".into(), "Sales".into()]).unwrap();
        assert_eq!(groups, Some(vec!["Eng".to_owned(), "Sales".to_owned()]));
        assert_eq!(parse_allowed_groups(&[]).unwrap(), None);
        assert!(parse_allowed_groups(&[" ".into()]).is_err());
    }

    #[test]
    fn redirect_uris_are_https_or_loopback() {
        assert!(parse_redirect_uris(&["https://idp.example.com/cb".into()]).is_ok());
        assert!(parse_redirect_uris(&["http://127.0.0.1:9000/cb".into()]).is_ok());
        for bad in ["http://idp.example.com/cb", "https://x.example/cb#f", "cb"] {
            assert!(parse_redirect_uris(&[bad.into()]).is_err(), "{bad}");
        }
    }
}
