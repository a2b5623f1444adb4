//! `admin.v1.RoleService`: an organization's roles as its owner manages them, and the one way
//! the admin API names a role (by name or by id).
//!
//! As everywhere in this crate, the handler authorizes the organization the request names and
//! turns fields into typed values; the [`RoleBackend`] owns every rule beyond that (unique
//! names, the default role, roles an identity provider owns). A backend without roles answers
//! UNIMPLEMENTED.

use crate::auth::Principal;
use crate::backend::{AdminBackend, PageRequest};
use crate::status;
use identity_proto::admin::v1 as pb;
use identity_proto::admin::v1::role_service_server::RoleService;
use std::sync::Arc;
use tonic::{Request, Response, Status};
use uuid::Uuid;

/// The longest role name (the SCIM Group displayName the core accepts).
const MAX_NAME_CHARS: usize = 256;
/// The longest description.
const MAX_DESCRIPTION_CHARS: usize = 4096;

/// A role as an owner names it: by its name or by its id. Owners think in names ("Engineering")
/// and the seeds' flow starts by picking one; ids stay accepted for scripts. A value that is a
/// UUID names the role with that id when there is one, else the role with that name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleSelector {
    text: String,
}

impl RoleSelector {
    /// Parses a required role field: trimmed, 1 to 256 characters.
    pub fn parse(field: &str, value: &str) -> Result<Self, Status> {
        let text = value.trim();
        if text.is_empty() || text.chars().count() > MAX_NAME_CHARS {
            return Err(status::invalid_argument(
                field,
                "must name a role by its name or id (1 to 256 characters)",
            ));
        }
        Ok(Self {
            text: text.to_owned(),
        })
    }

    /// Parses an optional role field: `None` when empty.
    pub fn optional(field: &str, value: &str) -> Result<Option<Self>, Status> {
        if value.trim().is_empty() {
            Ok(None)
        } else {
            Self::parse(field, value).map(Some)
        }
    }

    /// The id it may be.
    pub fn id(&self) -> Option<Uuid> {
        Uuid::try_parse(&self.text).ok()
    }

    /// The name it may be (the whole value).
    pub fn name(&self) -> &str {
        &self.text
    }
}

impl std::fmt::Display for RoleSelector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// What a store must offer for roles.
#[async_trait::async_trait]
pub trait RoleBackend: Send + Sync {
    /// One page of the organization's roles, by name.
    async fn list_roles(
        &self,
        organization_id: Uuid,
        page: PageRequest,
    ) -> Result<pb::ListRolesResponse, Status>;
    /// Creates a platform-managed role without members.
    async fn create_role(
        &self,
        organization_id: Uuid,
        name: &str,
        description: Option<&str>,
    ) -> Result<pb::Role, Status>;
    /// Renames a role the platform manages.
    async fn rename_role(
        &self,
        organization_id: Uuid,
        role: &RoleSelector,
        new_name: &str,
    ) -> Result<pb::Role, Status>;
    /// Deletes a role the platform manages that is not the default role.
    async fn delete_role(&self, organization_id: Uuid, role: &RoleSelector) -> Result<(), Status>;
}

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
    if value.is_empty() || value.chars().count() > MAX_NAME_CHARS {
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
        let page = crate::service::page_request(request.page_size, request.page_token)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_selector_is_a_name_and_maybe_an_id() {
        let by_name = RoleSelector::parse("role", "  Engineering ").unwrap();
        assert_eq!(by_name.name(), "Engineering");
        assert_eq!(by_name.id(), None);
        let id = Uuid::from_u128(42);
        let by_id = RoleSelector::parse("role", &id.to_string()).unwrap();
        assert_eq!(by_id.id(), Some(id));
        assert!(RoleSelector::parse("role", "   ").is_err());
        assert!(RoleSelector::parse("role", &"x".repeat(257)).is_err());
        assert_eq!(RoleSelector::optional("role", "").unwrap(), None);
    }
}
