//! The admin.v1 backend: identity-core's implementation of [`admin_grpc::AdminBackend`] over
//! its store.
//!
//! It owns the admin rules (slug syntax, token validity and grace limits, what "active"
//! means, what disabling SCIM does) and the conversions from rows to admin.v1 messages; the
//! admin-grpc crate has already authenticated the caller and authorized the organization.
//! Every change to credentials or SCIM settings is audited with an `info!` event on the
//! `audit` target carrying the organization and the action, never a secret.

use crate::error::{CoreError, CoreResult};
use crate::ids::{OrgId, RoleId, TokenId, UserId};
use crate::store::credentials::OwnerCredential;
use crate::store::credentials::{self};
use crate::store::organizations::Organization;
use crate::store::organizations::{self, RateLimits, ScimUpdate};
use crate::store::service_credentials::ServiceCredential;
use crate::store::{roles, service_credentials, users};
use crate::time::{now_micros, to_timestamp};
use admin_grpc::backend::NewServiceCredential;
use admin_grpc::{
    AdminBackend, OrganizationKey, PageRequest, PreviousToken, Principal, RoleSelector,
};
use identity_proto::admin::v1 as pb;
use identity_proto::identity::v1::ErrorReason;
use sea_orm::DatabaseConnection;
use sha2::{Digest, Sha256};
use std::time::Duration;
use subtle::ConstantTimeEq;
use tonic::Status;
use uuid::Uuid;

/// The longest description of a token or credential, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 256;
/// The longest organization display name, in characters.
pub const MAX_DISPLAY_NAME_CHARS: usize = 256;

/// identity-core's admin backend.
pub struct CoreAdminBackend {
    pub(crate) db: DatabaseConnection,
    /// SHA-256 of the bootstrap admin secret: comparing fixed-size digests in constant time
    /// hides the secret's length as well as its content.
    bootstrap_hash: Option<[u8; 32]>,
}

impl std::fmt::Debug for CoreAdminBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CoreAdminBackend")
            .field(
                "bootstrap_admin",
                &self.bootstrap_hash.map(|_| "[redacted]"),
            )
            .finish_non_exhaustive()
    }
}

impl CoreAdminBackend {
    /// A backend over `db`; without `bootstrap_secret` only owner credentials authenticate
    /// (and so no organization can be created).
    pub fn new(db: DatabaseConnection, bootstrap_secret: Option<String>) -> Self {
        let bootstrap_hash = bootstrap_secret
            .filter(|secret| !secret.is_empty())
            .map(|secret| Sha256::digest(secret.as_bytes()).into());
        Self { db, bootstrap_hash }
    }
}

/// Checks an organization slug: lowercase letters, digits and '-', 2 to 63 characters, not
/// starting or ending with '-' (so it is a valid DNS label and URL segment).
pub fn validate_slug(slug: &str) -> CoreResult<()> {
    if slug.is_empty() {
        return Err(CoreError::invalid("slug", "is required"));
    }
    let valid_chars = slug
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !(2..=63).contains(&slug.len())
        || !valid_chars
        || slug.starts_with('-')
        || slug.ends_with('-')
    {
        return Err(CoreError::invalid(
            "slug",
            "must be 2 to 63 lowercase letters, digits or '-', not starting or ending with '-'",
        ));
    }
    Ok(())
}

pub(crate) fn validate_text(
    field: &str,
    value: &str,
    max_chars: usize,
    required: bool,
) -> CoreResult<()> {
    if required && value.trim().is_empty() {
        return Err(CoreError::invalid(field, "is required"));
    }
    if value.chars().count() > max_chars {
        return Err(CoreError::invalid(
            field,
            format!("must be at most {max_chars} characters"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(CoreError::invalid(
            field,
            "must not contain control characters",
        ));
    }
    Ok(())
}

fn organization_pb(row: &Organization) -> pb::Organization {
    pb::Organization {
        id: row.id.to_string(),
        slug: row.slug.clone(),
        display_name: row.display_name.clone(),
        create_time: Some(to_timestamp(row.created_at)),
    }
}

fn settings_pb(row: &Organization, default_role_name: String) -> pb::ScimSettings {
    pb::ScimSettings {
        default_role_name,
        organization_id: row.id.to_string(),
        enabled: row.scim_enabled,
        default_role_id: row
            .default_role_id
            .map(|r| r.to_string())
            .unwrap_or_default(),
        update_time: row.scim_updated_at.map(to_timestamp),
        rate_limits: Some(rate_limits_pb(row.rate_limits)),
        verified_domains: row.verified_domains.clone(),
    }
}

fn rate_limits_pb(limits: RateLimits) -> pb::RateLimits {
    pb::RateLimits {
        requests_per_second: limits.per_second,
        burst: limits.burst,
        max_concurrent_requests: limits.concurrency,
    }
}

fn owner_credential_pb(row: &OwnerCredential) -> pb::OwnerCredential {
    pb::OwnerCredential {
        id: row.id.to_string(),
        organization_id: row.org_id.to_string(),
        description: row.description.clone(),
        create_time: Some(to_timestamp(row.created_at)),
        revoke_time: row.revoked_at.map(to_timestamp),
    }
}

fn service_credential_pb(row: &ServiceCredential) -> pb::ServiceCredential {
    pb::ServiceCredential {
        id: row.id.to_string(),
        name: row.name.clone(),
        organization_ids: row.organization_ids.iter().map(Uuid::to_string).collect(),
        all_organizations: row.all_organizations,
        access: i32::from(row.access),
        hint: row.hint.clone(),
        create_time: Some(to_timestamp(row.created_at)),
        revoke_time: row.revoked_at.map(to_timestamp),
    }
}

impl CoreAdminBackend {
    async fn create_service_credential_core(
        &self,
        new: NewServiceCredential,
    ) -> CoreResult<pb::CreateServiceCredentialResponse> {
        if let Some(orgs) = &new.organizations {
            for org in orgs {
                crate::store::org_row::ensure_org(&self.db, OrgId(*org)).await?;
            }
        }
        let (row, secret) = service_credentials::insert(
            &self.db,
            service_credentials::NewCredential {
                name: &new.name,
                organizations: new.organizations.as_deref(),
                access: new.access as i16,
            },
        )
        .await?;
        tracing::info!(target: "audit", credential_id = %row.id, name = %row.name, all_organizations = row.all_organizations, access = new.access.as_str_name(), "service credential created");
        Ok(pb::CreateServiceCredentialResponse {
            credential: Some(service_credential_pb(&row)),
            secret,
        })
    }

    async fn list_service_credentials_core(
        &self,
        only: Option<Uuid>,
        page: &PageRequest,
    ) -> CoreResult<pb::ListServiceCredentialsResponse> {
        let after = if page.page_token.is_empty() {
            None
        } else {
            Some(Uuid::try_parse(&page.page_token).map_err(|_| CoreError::InvalidPageToken)?)
        };
        let (rows, next) =
            service_credentials::list(&self.db, only, after, u64::from(page.page_size)).await?;
        Ok(pb::ListServiceCredentialsResponse {
            credentials: rows.iter().map(service_credential_pb).collect(),
            next_page_token: next.map(|id| id.to_string()).unwrap_or_default(),
        })
    }

    /// The SCIM settings of `row`, with the default role's name.
    async fn settings_of(&self, row: &Organization) -> CoreResult<pb::ScimSettings> {
        let name = match row.default_role_id {
            Some(id) => roles::find_role(&self.db, row.id, Some(RoleId(id)), "")
                .await?
                .map(|role| role.data.display_name)
                .unwrap_or_default(),
            None => String::new(),
        };
        Ok(settings_pb(row, name))
    }

    async fn require_role(&self, org: OrgId, role: RoleId) -> CoreResult<()> {
        if organizations::role_exists(&self.db, org, role).await? {
            Ok(())
        } else {
            Err(CoreError::role_not_found(role))
        }
    }

    async fn authenticate_core(&self, secret: &str) -> CoreResult<Principal> {
        if let Some(expected) = &self.bootstrap_hash {
            let presented: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
            if bool::from(presented.ct_eq(expected)) {
                return Ok(Principal::Admin);
            }
        }
        if secret.starts_with(credentials::OWNER_CREDENTIAL_PREFIX)
            && let Some(row) = credentials::find_active_owner_credential(&self.db, secret).await?
        {
            return Ok(Principal::Owner {
                organization_id: row.org_id.0,
            });
        }
        Err(CoreError::Unauthenticated {
            reason: ErrorReason::Unauthenticated,
        })
    }

    async fn create_organization_core(
        &self,
        slug: &str,
        display_name: &str,
    ) -> CoreResult<pb::CreateOrganizationResponse> {
        validate_slug(slug)?;
        validate_text("display_name", display_name, MAX_DISPLAY_NAME_CHARS, true)?;
        let now = now_micros();
        let id = OrgId::generate();
        let (row, credential, secret) =
            organizations::create_with_owner(&self.db, id, slug, display_name.trim(), now).await?;
        tracing::info!(target: "audit", org_id = %id, slug, owner_credential_id = %credential.id, action = "organization.create", "organization created");
        Ok(pb::CreateOrganizationResponse {
            organization: Some(organization_pb(&row)),
            owner_credential: Some(owner_credential_pb(&credential)),
            owner_secret: secret,
        })
    }

    async fn list_organizations_core(
        &self,
        page: &PageRequest,
        only: Option<Uuid>,
    ) -> CoreResult<pb::ListOrganizationsResponse> {
        let after = if page.page_token.is_empty() {
            None
        } else {
            Some(organizations::decode_slug_cursor(&page.page_token)?)
        };
        let (rows, next) = organizations::list(
            &self.db,
            after.as_deref(),
            only.map(OrgId),
            u64::from(page.page_size),
        )
        .await?;
        Ok(pb::ListOrganizationsResponse {
            organizations: rows.iter().map(organization_pb).collect(),
            next_page_token: next
                .map(|slug| organizations::encode_slug_cursor(&slug))
                .unwrap_or_default(),
        })
    }

    async fn update_scim(
        &self,
        org: OrgId,
        update: ScimUpdate,
        action: &'static str,
    ) -> CoreResult<pb::ScimSettings> {
        if let Some(Some(role)) = update.default_role {
            self.require_role(org, role).await?;
        }
        let now = now_micros();
        let (row, released) =
            organizations::change_scim_settings(&self.db, org, update, now).await?;
        tracing::info!(
            target: "audit",
            org_id = %org,
            action,
            scim_enabled = row.scim_enabled,
            default_role_id = ?row.default_role_id,
            rate_limits = ?row.rate_limits,
            verified_domains = %row.verified_domains.join(","),
            released_users = released.map(|r| r.0),
            released_roles = released.map(|r| r.1),
            "scim settings changed"
        );
        self.settings_of(&row).await
    }
}

#[async_trait::async_trait]
impl AdminBackend for CoreAdminBackend {
    async fn authenticate(&self, secret: &str) -> Result<Principal, Status> {
        Ok(self.authenticate_core(secret).await?)
    }

    async fn create_organization(
        &self,
        slug: &str,
        display_name: &str,
    ) -> Result<pb::CreateOrganizationResponse, Status> {
        Ok(self.create_organization_core(slug, display_name).await?)
    }

    async fn get_organization(&self, key: &OrganizationKey) -> Result<pb::Organization, Status> {
        let row = match key {
            OrganizationKey::Id(id) => organizations::get(&self.db, OrgId(*id)).await?,
            OrganizationKey::Slug(slug) => organizations::get_by_slug(&self.db, slug).await?,
        };
        Ok(organization_pb(&row))
    }

    async fn list_organizations(
        &self,
        page: &PageRequest,
        only: Option<Uuid>,
    ) -> Result<pb::ListOrganizationsResponse, Status> {
        Ok(self.list_organizations_core(page, only).await?)
    }

    async fn create_owner_credential(
        &self,
        organization_id: Uuid,
        description: &str,
    ) -> Result<pb::CreateOwnerCredentialResponse, Status> {
        let org = OrgId(organization_id);
        validate_text("description", description, MAX_DESCRIPTION_CHARS, false)?;
        crate::store::org_row::ensure_org(&self.db, org).await?;
        let (row, secret) =
            credentials::insert_owner_credential(&self.db, org, description, now_micros()).await?;
        tracing::info!(target: "audit", org_id = %org, owner_credential_id = %row.id, action = "owner_credential.create", "owner credential issued");
        Ok(pb::CreateOwnerCredentialResponse {
            owner_credential: Some(owner_credential_pb(&row)),
            owner_secret: secret,
        })
    }

    async fn revoke_owner_credential(
        &self,
        organization_id: Uuid,
        credential_id: Uuid,
    ) -> Result<pb::OwnerCredential, Status> {
        let org = OrgId(organization_id);
        let row = credentials::revoke_owner_credential(
            &self.db,
            org,
            TokenId(credential_id),
            now_micros(),
        )
        .await?;
        tracing::info!(target: "audit", org_id = %org, owner_credential_id = %credential_id, action = "owner_credential.revoke", "owner credential revoked");
        Ok(owner_credential_pb(&row))
    }

    async fn remove_member(&self, organization_id: Uuid, user_id: Uuid) -> Result<(), Status> {
        let org = OrgId(organization_id);
        // an owner's decision overrides who manages the user
        users::delete_user(&self.db, org, UserId(user_id), None, |_| Ok(())).await?;
        tracing::info!(target: "audit", org_id = %org, user_id = %user_id, action = "member.remove", "member removed by an owner");
        Ok(())
    }

    async fn get_scim_settings(&self, organization_id: Uuid) -> Result<pb::ScimSettings, Status> {
        let row = organizations::get(&self.db, OrgId(organization_id)).await?;
        Ok(self.settings_of(&row).await?)
    }

    async fn enable_scim(
        &self,
        organization_id: Uuid,
        default_role: Option<RoleSelector>,
    ) -> Result<pb::ScimSettings, Status> {
        let org = OrgId(organization_id);
        let default_role = match default_role {
            Some(selector) => Some(Some(self.resolve_role(org, &selector).await?.id)),
            None => None,
        };
        let update = ScimUpdate {
            enabled: Some(true),
            default_role,
            rate_limits: None,
            verified_domains: None,
        };
        Ok(self
            .update_scim(OrgId(organization_id), update, "scim.enable")
            .await?)
    }

    async fn set_default_role(
        &self,
        organization_id: Uuid,
        default_role: Option<RoleSelector>,
    ) -> Result<pb::ScimSettings, Status> {
        let org = OrgId(organization_id);
        let default_role = match default_role {
            Some(selector) => Some(self.resolve_role(org, &selector).await?.id),
            None => None,
        };
        let update = ScimUpdate {
            enabled: None,
            default_role: Some(default_role),
            rate_limits: None,
            verified_domains: None,
        };
        Ok(self
            .update_scim(OrgId(organization_id), update, "scim.set_default_role")
            .await?)
    }

    async fn set_rate_limits(
        &self,
        organization_id: Uuid,
        limits: pb::RateLimits,
    ) -> Result<pb::ScimSettings, Status> {
        let update = ScimUpdate {
            enabled: None,
            default_role: None,
            rate_limits: Some(RateLimits {
                per_second: limits.requests_per_second,
                burst: limits.burst,
                concurrency: limits.max_concurrent_requests,
            }),
            verified_domains: None,
        };
        Ok(self
            .update_scim(OrgId(organization_id), update, "scim.set_rate_limits")
            .await?)
    }

    async fn set_verified_domains(
        &self,
        organization_id: Uuid,
        domains: Vec<String>,
        may_add: bool,
    ) -> Result<pb::ScimSettings, Status> {
        let update = ScimUpdate {
            enabled: None,
            default_role: None,
            rate_limits: None,
            verified_domains: Some(organizations::DomainsChange { domains, may_add }),
        };
        Ok(self
            .update_scim(OrgId(organization_id), update, "scim.set_verified_domains")
            .await?)
    }

    async fn disable_scim(&self, organization_id: Uuid) -> Result<pb::ScimSettings, Status> {
        let update = ScimUpdate {
            enabled: Some(false),
            default_role: None,
            rate_limits: None,
            verified_domains: None,
        };
        Ok(self
            .update_scim(OrgId(organization_id), update, "scim.disable")
            .await?)
    }

    async fn issue_scim_token(
        &self,
        organization_id: Uuid,
        description: &str,
        validity: Option<Duration>,
        connection_id: Option<Uuid>,
    ) -> Result<pb::IssueScimTokenResponse, Status> {
        Ok(self
            .issue_scim_token_core(OrgId(organization_id), description, validity, connection_id)
            .await?)
    }

    fn connections(&self) -> Option<&dyn admin_grpc::ConnectionBackend> {
        Some(self)
    }

    fn roles(&self) -> Option<&dyn admin_grpc::RoleBackend> {
        Some(self)
    }

    fn portal(&self) -> Option<&dyn admin_grpc::PortalBackend> {
        Some(self)
    }

    async fn list_scim_tokens(
        &self,
        organization_id: Uuid,
        page: &PageRequest,
    ) -> Result<pb::ListScimTokensResponse, Status> {
        Ok(self
            .list_scim_tokens_core(OrgId(organization_id), page)
            .await?)
    }

    async fn revoke_scim_token(
        &self,
        organization_id: Uuid,
        token_id: Uuid,
    ) -> Result<pb::ScimToken, Status> {
        Ok(self
            .revoke_scim_token_core(OrgId(organization_id), TokenId(token_id))
            .await?)
    }

    async fn rotate_scim_token(
        &self,
        organization_id: Uuid,
        token_id: Uuid,
        previous: PreviousToken,
        validity: Option<Duration>,
    ) -> Result<pb::RotateScimTokenResponse, Status> {
        Ok(self
            .rotate_scim_token_core(
                OrgId(organization_id),
                TokenId(token_id),
                previous,
                validity,
            )
            .await?)
    }

    async fn create_service_credential(
        &self,
        new: NewServiceCredential,
    ) -> Result<pb::CreateServiceCredentialResponse, Status> {
        Ok(self.create_service_credential_core(new).await?)
    }

    async fn list_service_credentials(
        &self,
        only: Option<Uuid>,
        page: &PageRequest,
    ) -> Result<pb::ListServiceCredentialsResponse, Status> {
        Ok(self.list_service_credentials_core(only, page).await?)
    }

    async fn get_service_credential(&self, id: Uuid) -> Result<pb::ServiceCredential, Status> {
        let row = service_credentials::get(&self.db, id)
            .await
            .map_err(Status::from)?;
        Ok(service_credential_pb(&row))
    }

    async fn revoke_service_credential(&self, id: Uuid) -> Result<pb::ServiceCredential, Status> {
        let row = service_credentials::revoke(&self.db, id, now_micros())
            .await
            .map_err(Status::from)?;
        tracing::info!(target: "audit", credential_id = %row.id, "service credential revoked");
        Ok(service_credential_pb(&row))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_validated() {
        for good in ["ab", "acme", "acme-2", "a1", &"a".repeat(63)] {
            validate_slug(good).unwrap_or_else(|e| panic!("{good}: {e}"));
        }
        for bad in [
            "",
            "a",
            "Acme",
            "acme_inc",
            "-acme",
            "acme-",
            "ac me",
            "é1",
            &"a".repeat(64),
        ] {
            assert!(validate_slug(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn debug_never_shows_the_bootstrap_secret() {
        // a lazily-failing connection is enough: Debug must not touch the database
        let backend = CoreAdminBackend {
            db: sea_orm::DatabaseConnection::default(),
            bootstrap_hash: Some([7; 32]),
        };
        let text = format!("{backend:?}");
        assert!(text.contains("[redacted]"), "{text}");
    }
}
