//! `admin.v1.ServiceCredentialService`: credentials of the platform's internal services for the
//! identity.v1 API.
//!
//! Who may do what: the bootstrap admin issues any scope (including every organization) and
//! sees and revokes every credential; an owner issues, sees and revokes only credentials scoped
//! to exactly its own organization, so an owner can never widen a credential beyond its tenant;
//! other credentials are NOT_FOUND to it, exactly like unknown ids.

use crate::auth::Principal;
use crate::backend::{AdminBackend, NewServiceCredential};
use crate::fields::page_request;
use crate::fields::parse_uuid;
use crate::status;
use identity_proto::admin::v1 as pb;
use identity_proto::admin::v1::ServiceAccess;
use identity_proto::admin::v1::service_credential_service_server::ServiceCredentialService;
use std::sync::Arc;
use tonic::{Request, Response, Status};
use uuid::Uuid;

/// The longest service name.
const MAX_NAME_CHARS: usize = 100;
/// The most organizations one credential may name.
const MAX_ORGANIZATIONS: usize = 100;

/// `admin.v1.ServiceCredentialService` over a backend.
#[derive(Clone)]
pub struct ServiceCredentialApi {
    backend: Arc<dyn AdminBackend>,
}

impl std::fmt::Debug for ServiceCredentialApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceCredentialApi")
            .finish_non_exhaustive()
    }
}

impl ServiceCredentialApi {
    /// Serves `backend`. Serve it behind the auth layer (as `admin_routes` does).
    pub fn new(backend: Arc<dyn AdminBackend>) -> Self {
        Self { backend }
    }
}

/// Validates a create request and checks the caller may issue that scope.
fn new_credential(
    principal: &Principal,
    request: pb::CreateServiceCredentialRequest,
) -> Result<NewServiceCredential, Status> {
    let name = request.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        return Err(status::invalid_argument(
            "name",
            "is required and at most 100 characters",
        ));
    }
    let access = match ServiceAccess::try_from(request.access) {
        Ok(access @ (ServiceAccess::Read | ServiceAccess::ReadWrite)) => access,
        _ => {
            return Err(status::invalid_argument(
                "access",
                "must be SERVICE_ACCESS_READ or SERVICE_ACCESS_READ_WRITE",
            ));
        }
    };
    let organizations = match (request.all_organizations, request.organization_ids.len()) {
        (true, 0) => {
            principal.require_admin()?;
            None
        }
        (true, _) => {
            return Err(status::invalid_argument(
                "organization_ids",
                "must be empty when all_organizations is set",
            ));
        }
        (false, 0) => {
            return Err(status::invalid_argument(
                "organization_ids",
                "is required unless all_organizations is set",
            ));
        }
        (false, n) if n > MAX_ORGANIZATIONS => {
            return Err(status::invalid_argument(
                "organization_ids",
                "must name at most 100 organizations",
            ));
        }
        (false, _) => {
            let mut ids = Vec::with_capacity(request.organization_ids.len());
            for (index, value) in request.organization_ids.iter().enumerate() {
                let id = parse_uuid(&format!("organization_ids[{index}]"), value)?;
                principal.authorize_id(id)?;
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
            Some(ids)
        }
    };
    Ok(NewServiceCredential {
        name,
        organizations,
        access,
    })
}

/// Whether `principal` may see and revoke `credential`.
fn may_manage(principal: &Principal, credential: &pb::ServiceCredential) -> bool {
    match principal.only_organization() {
        None => true,
        Some(own) => {
            !credential.all_organizations
                && credential.organization_ids.len() == 1
                && Uuid::try_parse(&credential.organization_ids[0]).is_ok_and(|id| id == own)
        }
    }
}

#[tonic::async_trait]
impl ServiceCredentialService for ServiceCredentialApi {
    async fn create_service_credential(
        &self,
        request: Request<pb::CreateServiceCredentialRequest>,
    ) -> Result<Response<pb::CreateServiceCredentialResponse>, Status> {
        let principal = Principal::of(&request)?.clone();
        let new = new_credential(&principal, request.into_inner())?;
        Ok(Response::new(
            self.backend.create_service_credential(new).await?,
        ))
    }

    async fn list_service_credentials(
        &self,
        request: Request<pb::ListServiceCredentialsRequest>,
    ) -> Result<Response<pb::ListServiceCredentialsResponse>, Status> {
        let only = Principal::of(&request)?.only_organization();
        let request = request.into_inner();
        let page = page_request(request.page_size, request.page_token)?;
        Ok(Response::new(
            self.backend.list_service_credentials(only, &page).await?,
        ))
    }

    async fn revoke_service_credential(
        &self,
        request: Request<pb::RevokeServiceCredentialRequest>,
    ) -> Result<Response<pb::RevokeServiceCredentialResponse>, Status> {
        let principal = Principal::of(&request)?.clone();
        let id = parse_uuid("credential_id", &request.get_ref().credential_id)?;
        let credential = self.backend.get_service_credential(id).await?;
        if !may_manage(&principal, &credential) {
            // the same answer as for an unknown id: an owner learns nothing about credentials
            // of other organizations, not even that they exist
            return Err(status::with_reason(
                tonic::Code::NotFound,
                identity_proto::identity::v1::ErrorReason::TokenNotFound,
                format!("service credential {id} not found"),
            ));
        }
        let credential = self.backend.revoke_service_credential(id).await?;
        Ok(Response::new(pb::RevokeServiceCredentialResponse {
            credential: Some(credential),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::Code;

    fn request(orgs: &[Uuid], all: bool) -> pb::CreateServiceCredentialRequest {
        pb::CreateServiceCredentialRequest {
            name: "billing".into(),
            organization_ids: orgs.iter().map(Uuid::to_string).collect(),
            all_organizations: all,
            access: ServiceAccess::Read as i32,
        }
    }

    #[test]
    fn owners_issue_only_for_their_own_organization() {
        let own = Uuid::from_u128(1);
        let owner = Principal::Owner {
            organization_id: own,
        };
        let ok = new_credential(&owner, request(&[own, own], false)).unwrap();
        assert_eq!(ok.organizations, Some(vec![own]));
        let other = new_credential(&owner, request(&[own, Uuid::from_u128(2)], false));
        assert_eq!(other.unwrap_err().code(), Code::PermissionDenied);
        let all = new_credential(&owner, request(&[], true));
        assert_eq!(all.unwrap_err().code(), Code::PermissionDenied);
        assert!(
            new_credential(&Principal::Admin, request(&[], true))
                .unwrap()
                .organizations
                .is_none()
        );
    }

    #[test]
    fn malformed_requests_name_their_field() {
        let admin = Principal::Admin;
        let mut no_name = request(&[Uuid::from_u128(1)], false);
        no_name.name = "  ".into();
        let mut no_access = request(&[Uuid::from_u128(1)], false);
        no_access.access = 0;
        for (bad, field) in [
            (no_name, "name"),
            (no_access, "access"),
            (request(&[], false), "organization_ids"),
            (request(&[Uuid::from_u128(1)], true), "organization_ids"),
        ] {
            let err = new_credential(&admin, bad).unwrap_err();
            assert_eq!(err.code(), Code::InvalidArgument);
            assert!(err.message().contains(field), "{}", err.message());
        }
    }

    #[test]
    fn owners_manage_only_single_organization_credentials() {
        let own = Uuid::from_u128(1);
        let owner = Principal::Owner {
            organization_id: own,
        };
        let mut credential = pb::ServiceCredential {
            organization_ids: vec![own.to_string()],
            ..Default::default()
        };
        assert!(may_manage(&owner, &credential));
        credential
            .organization_ids
            .push(Uuid::from_u128(2).to_string());
        assert!(!may_manage(&owner, &credential));
        assert!(may_manage(&Principal::Admin, &credential));
        let all = pb::ServiceCredential {
            all_organizations: true,
            ..Default::default()
        };
        assert!(!may_manage(&owner, &all));
    }
}
