//! identity.v1.RoleService: parses and validates each request, calls `store::roles`, converts
//! the result. Every membership RPC maps to one `roles::modify_role` call, so each is one
//! transaction with one version increment.

use crate::error::{CoreError, CoreResult};
use crate::ids::{RoleId, UserId};
use crate::service::caller::{Access, Caller};
use crate::service::convert;
use crate::store::paging;
use crate::store::roles::{self, RoleChange, RoleChangeOutcome, RoleRef};
use crate::store::write_txn::WriteContext;
use identity_proto::identity::v1 as pb;
use identity_proto::identity::v1::ManagedBy;
use identity_proto::identity::v1::role_service_server::RoleService;
use sea_orm::DatabaseConnection;
use tonic::{Request, Response, Status};

/// The RoleService handlers.
#[derive(Debug, Clone)]
pub struct RoleServiceImpl {
    db: DatabaseConnection,
}

impl RoleServiceImpl {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

/// The most checks one BatchCheckRoleMembership answers.
pub const MAX_BATCH_CHECKS: usize = 100;

/// A role written as SCIM-owned may only come from the SCIM edge.
fn check_scim_writer(caller: &Caller, role: Option<&pb::Role>) -> CoreResult<()> {
    let writer = role.map_or(ManagedBy::Unspecified, pb::Role::managed_by);
    caller.check_writer(writer, "writing a role as its SCIM owner")
}

fn role_id(value: &str) -> Result<RoleId, CoreError> {
    RoleId::parse("role_id", value)
}

/// Ids for an add or remove: 1 to 10000 of them.
fn member_ids(field: &str, ids: &[String]) -> Result<Vec<uuid::Uuid>, CoreError> {
    if ids.is_empty() {
        return Err(CoreError::invalid(field, "is required"));
    }
    convert::at_most(field, ids.len(), roles::MAX_MEMBER_IDS)?;
    convert::parse_user_ids(field, ids)
}

/// An attribute edit copying the masked fields of `role`.
fn attribute_edit(
    role: Option<&pb::Role>,
    paths: Vec<String>,
) -> Result<roles::AttributeEdit, CoreError> {
    let source = convert::role_data_from_proto(
        role.ok_or_else(|| CoreError::invalid("role", "is required"))?,
    );
    // checked now so an unknown path fails before the transaction
    let mut probe = source.clone();
    convert::apply_role_mask(&mut probe, &source, &paths)?;
    Ok(Box::new(move |data| {
        convert::apply_role_mask(data, &source, &paths)
    }))
}

impl RoleServiceImpl {
    async fn modify(
        &self,
        context: WriteContext,
        id: RoleId,
        expected_version: Option<i64>,
        change: RoleChange,
    ) -> Result<RoleChangeOutcome, Status> {
        Ok(roles::modify_role(&self.db, context, id, expected_version, change).await?)
    }
}

#[tonic::async_trait]
impl RoleService for RoleServiceImpl {
    async fn create_role(
        &self,
        request: Request<pb::CreateRoleRequest>,
    ) -> Result<Response<pb::CreateRoleResponse>, Status> {
        let (caller, req) = Caller::split(request)?;
        let context = caller.write_to(&req.organization_id)?;
        let org = context.org;
        let role = req
            .role
            .as_ref()
            .ok_or_else(|| CoreError::invalid("role", "is required"))?;
        check_scim_writer(&caller, Some(role))?;
        convert::at_most(
            "member_user_ids",
            req.member_user_ids.len(),
            roles::MAX_MEMBER_IDS,
        )?;
        let members = convert::parse_user_ids("member_user_ids", &req.member_user_ids)?;
        let role = roles::create_role(
            &self.db,
            context,
            convert::role_data_from_proto(role),
            &members,
        )
        .await?;
        tracing::info!(org_id = %org, role_id = %role.id, "role created");
        Ok(Response::new(pb::CreateRoleResponse {
            role: Some(convert::role_to_proto(&role)),
        }))
    }

    async fn get_role(
        &self,
        request: Request<pb::GetRoleRequest>,
    ) -> Result<Response<pb::GetRoleResponse>, Status> {
        let (caller, req) = Caller::split(request)?;
        let org = caller.org(&req.organization_id, Access::Read)?;
        let role = roles::get_role(&self.db, org, role_id(&req.role_id)?).await?;
        Ok(Response::new(pb::GetRoleResponse {
            role: Some(convert::role_to_proto(&role)),
        }))
    }

    async fn list_roles(
        &self,
        request: Request<pb::ListRolesRequest>,
    ) -> Result<Response<pb::ListRolesResponse>, Status> {
        let (caller, req) = Caller::split(request)?;
        let org = caller.org(&req.organization_id, Access::Read)?;
        let query = convert::list_query(
            req.filter,
            &req.order_by,
            req.sort_order,
            req.page_size,
            &req.page_token,
            req.skip,
            req.include_total_size,
        )?;
        let page = roles::list_roles(&self.db, org, &query).await?;
        Ok(Response::new(pb::ListRolesResponse {
            roles: page.roles.iter().map(convert::role_to_proto).collect(),
            next_page_token: page.next_page_token,
            total_size: page.total_size.unwrap_or_default(),
        }))
    }

    async fn update_role(
        &self,
        request: Request<pb::UpdateRoleRequest>,
    ) -> Result<Response<pb::UpdateRoleResponse>, Status> {
        let (caller, req) = Caller::split(request)?;
        let context = caller.write_to(&req.organization_id)?;
        let proto_role = req
            .role
            .as_ref()
            .ok_or_else(|| CoreError::invalid("role", "is required"))?;
        check_scim_writer(&caller, Some(proto_role))?;
        let id = RoleId::parse("role.id", &proto_role.id)?;
        let paths = req.update_mask.map(|m| m.paths).unwrap_or_default();
        if paths.is_empty() {
            return Err(CoreError::invalid("update_mask", "is required").into());
        }
        let change = RoleChange {
            attributes: Some(attribute_edit(Some(proto_role), paths)?),
            ..RoleChange::default()
        };
        let outcome = self
            .modify(context, id, req.expected_version, change)
            .await?;
        Ok(Response::new(pb::UpdateRoleResponse {
            role: Some(convert::role_to_proto(&outcome.role)),
        }))
    }

    async fn delete_role(
        &self,
        request: Request<pb::DeleteRoleRequest>,
    ) -> Result<Response<pb::DeleteRoleResponse>, Status> {
        let (caller, req) = Caller::split(request)?;
        let context = caller.write_to(&req.organization_id)?;
        let org = context.org;
        let id = role_id(&req.role_id)?;
        roles::delete_role(&self.db, context, id, req.expected_version).await?;
        tracing::info!(org_id = %org, role_id = %id, "role deleted");
        Ok(Response::new(pb::DeleteRoleResponse {}))
    }

    async fn add_role_members(
        &self,
        request: Request<pb::AddRoleMembersRequest>,
    ) -> Result<Response<pb::AddRoleMembersResponse>, Status> {
        let (caller, req) = Caller::split(request)?;
        let context = caller.write_to(&req.organization_id)?;
        let id = role_id(&req.role_id)?;
        let change = RoleChange {
            add: member_ids("user_ids", &req.user_ids)?,
            ..RoleChange::default()
        };
        let outcome = self
            .modify(context, id, req.expected_version, change)
            .await?;
        Ok(Response::new(pb::AddRoleMembersResponse {
            role: Some(convert::role_to_proto(&outcome.role)),
            added_count: outcome.added,
        }))
    }

    async fn remove_role_members(
        &self,
        request: Request<pb::RemoveRoleMembersRequest>,
    ) -> Result<Response<pb::RemoveRoleMembersResponse>, Status> {
        let (caller, req) = Caller::split(request)?;
        let context = caller.write_to(&req.organization_id)?;
        let id = role_id(&req.role_id)?;
        let change = RoleChange {
            remove: member_ids("user_ids", &req.user_ids)?,
            ..RoleChange::default()
        };
        let outcome = self
            .modify(context, id, req.expected_version, change)
            .await?;
        Ok(Response::new(pb::RemoveRoleMembersResponse {
            role: Some(convert::role_to_proto(&outcome.role)),
            removed_count: outcome.removed,
        }))
    }

    async fn replace_role_members(
        &self,
        request: Request<pb::ReplaceRoleMembersRequest>,
    ) -> Result<Response<pb::ReplaceRoleMembersResponse>, Status> {
        let (caller, req) = Caller::split(request)?;
        let context = caller.write_to(&req.organization_id)?;
        let id = role_id(&req.role_id)?;
        convert::at_most("user_ids", req.user_ids.len(), roles::MAX_REPLACE_IDS)?;
        let change = RoleChange {
            replace_members: Some(convert::parse_user_ids("user_ids", &req.user_ids)?),
            ..RoleChange::default()
        };
        let outcome = self
            .modify(context, id, req.expected_version, change)
            .await?;
        Ok(Response::new(pb::ReplaceRoleMembersResponse {
            role: Some(convert::role_to_proto(&outcome.role)),
            added_count: outcome.added,
            removed_count: outcome.removed,
        }))
    }

    async fn modify_role(
        &self,
        request: Request<pb::ModifyRoleRequest>,
    ) -> Result<Response<pb::ModifyRoleResponse>, Status> {
        let (caller, req) = Caller::split(request)?;
        let context = caller.write_to(&req.organization_id)?;
        let id = role_id(&req.role_id)?;
        check_scim_writer(&caller, req.role.as_ref())?;
        let paths = req.update_mask.map(|m| m.paths).unwrap_or_default();
        let attributes = if paths.is_empty() {
            None
        } else {
            Some(attribute_edit(req.role.as_ref(), paths)?)
        };
        let replace_members = if req.replace_members {
            convert::at_most(
                "member_user_ids",
                req.member_user_ids.len(),
                roles::MAX_REPLACE_IDS,
            )?;
            Some(convert::parse_user_ids(
                "member_user_ids",
                &req.member_user_ids,
            )?)
        } else if !req.member_user_ids.is_empty() {
            return Err(CoreError::invalid(
                "member_user_ids",
                "is only allowed with replace_members",
            )
            .into());
        } else {
            None
        };
        convert::at_most(
            "remove_user_ids",
            req.remove_user_ids.len(),
            roles::MAX_MEMBER_IDS,
        )?;
        convert::at_most(
            "add_user_ids",
            req.add_user_ids.len(),
            roles::MAX_MEMBER_IDS,
        )?;
        let change = RoleChange {
            attributes,
            replace_members,
            remove: convert::parse_user_ids("remove_user_ids", &req.remove_user_ids)?,
            add: convert::parse_user_ids("add_user_ids", &req.add_user_ids)?,
        };
        let outcome = self
            .modify(context, id, req.expected_version, change)
            .await?;
        Ok(Response::new(pb::ModifyRoleResponse {
            role: Some(convert::role_to_proto(&outcome.role)),
            added_count: outcome.added,
            removed_count: outcome.removed,
        }))
    }

    async fn list_role_members(
        &self,
        request: Request<pb::ListRoleMembersRequest>,
    ) -> Result<Response<pb::ListRoleMembersResponse>, Status> {
        let (caller, req) = Caller::split(request)?;
        let org = caller.org(&req.organization_id, Access::Read)?;
        let id = role_id(&req.role_id)?;
        let page_size = paging::page_size(
            "page_size",
            req.page_size,
            roles::DEFAULT_MEMBERS_PAGE_SIZE,
            roles::MAX_MEMBERS_PAGE_SIZE,
        )?;
        let (members, next_page_token) =
            roles::list_members(&self.db, org, id, page_size, &req.page_token).await?;
        Ok(Response::new(pb::ListRoleMembersResponse {
            members: members.iter().map(convert::member_to_proto).collect(),
            next_page_token,
        }))
    }

    async fn list_user_roles(
        &self,
        request: Request<pb::ListUserRolesRequest>,
    ) -> Result<Response<pb::ListUserRolesResponse>, Status> {
        let (caller, req) = Caller::split(request)?;
        let org = caller.org(&req.organization_id, Access::Read)?;
        let user = UserId::parse("user_id", &req.user_id)?;
        let page_size = paging::page_size(
            "page_size",
            req.page_size,
            paging::DEFAULT_PAGE_SIZE,
            paging::MAX_PAGE_SIZE,
        )?;
        let (found, next_page_token) =
            roles::list_user_roles(&self.db, org, user, page_size, &req.page_token).await?;
        Ok(Response::new(pb::ListUserRolesResponse {
            roles: found.iter().map(convert::role_to_proto).collect(),
            next_page_token,
        }))
    }

    async fn check_role_membership(
        &self,
        request: Request<pb::CheckRoleMembershipRequest>,
    ) -> Result<Response<pb::CheckRoleMembershipResponse>, Status> {
        let (caller, req) = Caller::split(request)?;
        let org = caller.org(&req.organization_id, Access::Read)?;
        let role = role_id(&req.role_id)?;
        let user = UserId::parse("user_id", &req.user_id)?;
        let is_member = roles::check_membership(&self.db, org, role, user).await?;
        Ok(Response::new(pb::CheckRoleMembershipResponse { is_member }))
    }

    async fn batch_check_role_membership(
        &self,
        request: Request<pb::BatchCheckRoleMembershipRequest>,
    ) -> Result<Response<pb::BatchCheckRoleMembershipResponse>, Status> {
        use pb::role_membership_check::Role;
        let (caller, req) = Caller::split(request)?;
        let org = caller.org(&req.organization_id, Access::Read)?;
        if req.checks.is_empty() || req.checks.len() > MAX_BATCH_CHECKS {
            return Err(CoreError::invalid("checks", "must hold 1 to 100 checks").into());
        }
        let mut checks = Vec::with_capacity(req.checks.len());
        for (index, check) in req.checks.iter().enumerate() {
            let user = UserId::parse(&format!("checks[{index}].user_id"), &check.user_id)?;
            let role = match &check.role {
                Some(Role::RoleId(id)) => {
                    RoleRef::Id(RoleId::parse(&format!("checks[{index}].role_id"), id)?.0)
                }
                Some(Role::RoleDisplayName(name)) if !name.is_empty() && name.len() <= 1024 => {
                    RoleRef::DisplayName(name.clone())
                }
                _ => {
                    return Err(CoreError::invalid(
                        format!("checks[{index}].role"),
                        "role_id or a 1 to 1024 byte role_display_name is required",
                    )
                    .into());
                }
            };
            checks.push((user.0, role));
        }
        let is_member = roles::batch_check_membership(&self.db, org, &checks).await?;
        Ok(Response::new(pb::BatchCheckRoleMembershipResponse {
            is_member,
        }))
    }
}
