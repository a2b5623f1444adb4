//! `admin.v1.RoleService`: an organization's roles as its owner manages them, and the one way
//! the admin API names a role (by name or by id).
//!
//! As everywhere in this crate, the handler authorizes the organization the request names and
//! turns fields into typed values; the [`RoleBackend`] owns every rule beyond that (unique
//! names, the default role, roles an identity provider owns). A backend without roles answers
//! UNIMPLEMENTED.

use crate::auth::Principal;
use crate::backend::{AdminBackend, MAX_ROLE_NAME_CHARS, RoleBackend, RoleSelector};
use crate::status;
use identity_proto::admin::v1 as pb;
use identity_proto::admin::v1::role_service_server::RoleService;
use std::sync::Arc;
use tonic::{Request, Response, Status};

/// The longest description.
const MAX_DESCRIPTION_CHARS: usize = 4096;

/// `admin.v1.RoleService` over a backend.
#[derive(Clone)]
pub struct RoleApi {
    backend: Arc<dyn AdminBackend>,
}

impl std::fmt::Debug for RoleApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoleApi").finish_non_exhaustive()
    }
}

impl RoleApi {
    /// Serves `backend`. Serve it behind the auth layer (as `admin_routes` does).
    pub fn new(backend: Arc<dyn AdminBackend>) -> Self {
        Self { backend }
    }

    fn backend(&self) -> Result<&dyn RoleBackend, Status> {
        self.backend
            .roles()
            .ok_or_else(|| Status::unimplemented("this server does not manage roles"))
    }
}

/// A new name: trimmed, 1 to 256 characters.
fn role_name(field: &str, value: &str) -> Result<String, Status> {
    let value = value.trim();
    if value.is_empty() || value.chars().count() > MAX_ROLE_NAME_CHARS {
        return Err(status::invalid_argument(
            field,
            "is required and at most 256 characters",
        ));
    }
    Ok(value.to_owned())
}

#[tonic::async_trait]
impl RoleService for RoleApi {
    async fn list_roles(
        &self,
        request: Request<pb::ListRolesRequest>,
    ) -> Result<Response<pb::ListRolesResponse>, Status> {
        let org = Principal::of(&request)?.authorize(&request.get_ref().organization_id)?;
        let request = request.into_inner();
        let page = crate::fields::page_request(request.page_size, request.page_token)?;
        Ok(Response::new(self.backend()?.list_roles(org, page).await?))
    }

    async fn create_role(
        &self,
        request: Request<pb::CreateRoleRequest>,
    ) -> Result<Response<pb::CreateRoleResponse>, Status> {
        let org = Principal::of(&request)?.authorize(&request.get_ref().organization_id)?;
        let request = request.into_inner();
        let name = role_name("name", &request.name)?;
        let description = request.description.trim();
        if description.chars().count() > MAX_DESCRIPTION_CHARS {
            return Err(status::invalid_argument(
                "description",
                "must be at most 4096 characters",
            ));
        }
        let description = (!description.is_empty()).then_some(description);
        let role = self.backend()?.create_role(org, &name, description).await?;
        Ok(Response::new(pb::CreateRoleResponse { role: Some(role) }))
    }

    async fn rename_role(
        &self,
        request: Request<pb::RenameRoleRequest>,
    ) -> Result<Response<pb::RenameRoleResponse>, Status> {
        let org = Principal::of(&request)?.authorize(&request.get_ref().organization_id)?;
        let request = request.into_inner();
        let role = RoleSelector::parse("role", &request.role)?;
        let new_name = role_name("new_name", &request.new_name)?;
        let role = self.backend()?.rename_role(org, &role, &new_name).await?;
        Ok(Response::new(pb::RenameRoleResponse { role: Some(role) }))
    }

    async fn delete_role(
        &self,
        request: Request<pb::DeleteRoleRequest>,
    ) -> Result<Response<pb::DeleteRoleResponse>, Status> {
        let org = Principal::of(&request)?.authorize(&request.get_ref().organization_id)?;
        let role = RoleSelector::parse("role", &request.get_ref().role)?;
        self.backend()?.delete_role(org, &role).await?;
        Ok(Response::new(pb::DeleteRoleResponse {}))
    }
}
