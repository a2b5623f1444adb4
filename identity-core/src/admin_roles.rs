//! `admin_grpc::RoleBackend` over the store: an organization's roles for
//! `admin.v1.RoleService`, and how an owner's role selector (a name or an id) finds its role.
//!
//! The owner manages the roles the platform owns; a role an identity provider provisions is
//! renamed and deleted there (`ROLE_MANAGED_BY_SCIM`). Renames and deletes carry the version
//! the role was read at, so a role that an identity provider took over meanwhile is not
//! changed. Every change is audited on the `audit` target.

use crate::admin_backend::CoreAdminBackend;
use crate::domain::ownership::role_managed_by_scim;
use crate::error::{CoreError, CoreResult};
use crate::ids::{OrgId, RoleId};
use crate::store::{self, organizations, roles};
use crate::time::to_timestamp;
use admin_grpc::{PageRequest, RoleBackend, RoleSelector};
use identity_proto::admin::v1 as pb;
use identity_proto::identity::v1::ManagedBy;
use tonic::Status;
use uuid::Uuid;

/// A role as the admin API shows it.
pub(crate) fn role_pb(role: &roles::Role, default_role: Option<Uuid>) -> pb::Role {
    pb::Role {
        id: role.id.0.to_string(),
        organization_id: role.org.0.to_string(),
        name: role.data.display_name.clone(),
        description: role.data.description.clone().unwrap_or_default(),
        member_count: role.member_count,
        scim_managed: role.data.managed_by == ManagedBy::Scim,
        is_default: default_role == Some(role.id.0),
        create_time: Some(to_timestamp(role.created_at)),
    }
}

/// A page token of [`roles::list_by_name`]: the last (lowercase) name of the page.
fn encode_name_cursor(lower_name: &str) -> String {
    store::encode_key_cursor("r1", lower_name)
}

fn decode_name_cursor(token: &str) -> CoreResult<String> {
    store::decode_key_cursor("r1", token)
}

impl CoreAdminBackend {
    /// The role `selector` names in `org`: ROLE_NOT_FOUND when none.
    pub(crate) async fn resolve_role(
        &self,
        org: OrgId,
        selector: &RoleSelector,
    ) -> CoreResult<roles::Role> {
        roles::find_role(&self.db, org, selector.id().map(RoleId), selector.name())
            .await?
            .ok_or_else(|| CoreError::role_not_found(format!("{:?}", selector.name())))
    }

    async fn default_role(&self, org: OrgId) -> CoreResult<Option<Uuid>> {
        Ok(organizations::get(&self.db, org).await?.default_role_id)
    }

    /// The role `selector` names, when the platform manages it.
    async fn platform_role(
        &self,
        org: OrgId,
        selector: &RoleSelector,
        what: &str,
    ) -> CoreResult<roles::Role> {
        let role = self.resolve_role(org, selector).await?;
        if role.data.managed_by == ManagedBy::Scim {
            return Err(role_managed_by_scim(what));
        }
        Ok(role)
    }

    async fn list_roles_core(
        &self,
        org: OrgId,
        page: PageRequest,
    ) -> CoreResult<pb::ListRolesResponse> {
        let after = if page.page_token.is_empty() {
            None
        } else {
            Some(decode_name_cursor(&page.page_token)?)
        };
        let limit = u64::from(page.page_size);
        let mut found = roles::list_by_name(&self.db, org, after.as_deref(), limit + 1).await?;
        let next_page_token = if found.len() as u64 > limit {
            found.truncate(page.page_size as usize);
            found
                .last()
                .map(|role| encode_name_cursor(&role.data.display_name.to_lowercase()))
                .unwrap_or_default()
        } else {
            String::new()
        };
        let default_role = self.default_role(org).await?;
        Ok(pb::ListRolesResponse {
            roles: found.iter().map(|r| role_pb(r, default_role)).collect(),
            next_page_token,
        })
    }

    async fn create_role_core(
        &self,
        org: OrgId,
        name: &str,
        description: Option<&str>,
    ) -> CoreResult<pb::Role> {
        let data = roles::RoleData {
            display_name: name.to_owned(),
            external_id: None,
            description: description.map(str::to_owned),
            managed_by: ManagedBy::Platform,
            extra_attributes: None,
        };
        let role = roles::create_role(&self.db, org, data, &[]).await?;
        tracing::info!(target: "audit", org_id = %org, action = "role.create", role_id = %role.id, "role created");
        Ok(role_pb(&role, None))
    }

    async fn rename_role_core(
        &self,
        org: OrgId,
        selector: &RoleSelector,
        new_name: &str,
    ) -> CoreResult<pb::Role> {
        let role = self.platform_role(org, selector, "renamed").await?;
        let new_name = new_name.to_owned();
        let change = roles::RoleChange {
            attributes: Some(Box::new(move |data: &mut roles::RoleData| {
                data.display_name = new_name;
                Ok(())
            })),
            ..roles::RoleChange::default()
        };
        let outcome =
            roles::modify_role(&self.db, org, role.id, Some(role.version), change).await?;
        tracing::info!(target: "audit", org_id = %org, action = "role.rename", role_id = %role.id, "role renamed");
        Ok(role_pb(&outcome.role, self.default_role(org).await?))
    }

    async fn delete_role_core(&self, org: OrgId, selector: &RoleSelector) -> CoreResult<()> {
        let role = self.platform_role(org, selector, "deleted").await?;
        roles::delete_role(&self.db, org, role.id, Some(role.version)).await?;
        tracing::info!(target: "audit", org_id = %org, action = "role.delete", role_id = %role.id, "role deleted");
        Ok(())
    }
}

#[async_trait::async_trait]
impl RoleBackend for CoreAdminBackend {
    async fn list_roles(
        &self,
        organization_id: Uuid,
        page: PageRequest,
    ) -> Result<pb::ListRolesResponse, Status> {
        Ok(self.list_roles_core(OrgId(organization_id), page).await?)
    }

    async fn create_role(
        &self,
        organization_id: Uuid,
        name: &str,
        description: Option<&str>,
    ) -> Result<pb::Role, Status> {
        Ok(self
            .create_role_core(OrgId(organization_id), name, description)
            .await?)
    }

    async fn rename_role(
        &self,
        organization_id: Uuid,
        role: &RoleSelector,
        new_name: &str,
    ) -> Result<pb::Role, Status> {
        Ok(self
            .rename_role_core(OrgId(organization_id), role, new_name)
            .await?)
    }

    async fn delete_role(&self, organization_id: Uuid, role: &RoleSelector) -> Result<(), Status> {
        Ok(self.delete_role_core(OrgId(organization_id), role).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    #[test]
    fn name_cursors_round_trip_and_garbage_is_rejected() {
        assert_eq!(
            decode_name_cursor(&encode_name_cursor("engineering")).unwrap(),
            "engineering"
        );
        for bad in [
            "",
            "!!",
            &URL_SAFE_NO_PAD.encode("o1:acme"),
            &URL_SAFE_NO_PAD.encode("r1:"),
        ] {
            assert!(matches!(
                decode_name_cursor(bad),
                Err(CoreError::InvalidPageToken)
            ));
        }
    }
}
