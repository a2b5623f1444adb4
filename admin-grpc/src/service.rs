//! The admin.v1 gRPC handlers over an [`AdminBackend`], and the routes that serve them.
//!
//! Each handler reads the [`Principal`] the auth layer stored, authorizes the organization the
//! request names, turns request fields into typed values and calls the backend once. No
//! business rule lives here; no credential check either (that is the layer's job).

use crate::auth::Principal;
use crate::backend::{AdminBackend, OrganizationKey, PreviousToken, RoleSelector};
use crate::fields::{duration, optional_uuid, page_request, parse_uuid};
use crate::status;
use identity_proto::admin::v1 as pb;
use identity_proto::admin::v1::organization_service_server::OrganizationService;
use identity_proto::admin::v1::scim_service_server::ScimService;
use std::sync::Arc;
use tonic::{Code, Request, Response, Status};

/// `admin.v1.OrganizationService` over a backend.
#[derive(Clone)]
pub struct OrganizationApi {
    backend: Arc<dyn AdminBackend>,
}

impl std::fmt::Debug for OrganizationApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrganizationApi").finish_non_exhaustive()
    }
}

impl OrganizationApi {
    /// Serves `backend`. Serve it behind [`AuthLayer`] (as [`admin_routes`] does).
    pub fn new(backend: Arc<dyn AdminBackend>) -> Self {
        Self { backend }
    }
}

/// `admin.v1.ScimService` over a backend.
#[derive(Clone)]
pub struct ScimApi {
    backend: Arc<dyn AdminBackend>,
}

impl std::fmt::Debug for ScimApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScimApi").finish_non_exhaustive()
    }
}

impl ScimApi {
    /// Serves `backend`. Serve it behind [`AuthLayer`] (as [`admin_routes`] does).
    pub fn new(backend: Arc<dyn AdminBackend>) -> Self {
        Self { backend }
    }
}

/// The default role a request names: `default_role` (name or id), else the deprecated
/// `default_role_id` (an id), else none.
fn default_role(default_role: &str, default_role_id: &str) -> Result<Option<RoleSelector>, Status> {
    if !default_role.trim().is_empty() {
        return RoleSelector::optional("default_role", default_role);
    }
    match optional_uuid("default_role_id", default_role_id)? {
        Some(id) => RoleSelector::parse("default_role_id", &id.to_string()).map(Some),
        None => Ok(None),
    }
}

/// The most verified domains an organization lists.
const MAX_VERIFIED_DOMAINS: usize = 100;

/// Verified domains as stored: trimmed, lowercase, distinct, sorted; each a DNS name of at
/// least two labels (letters, digits, hyphens; no trailing dot).
fn verified_domains(values: &[String]) -> Result<Vec<String>, Status> {
    let mut domains = std::collections::BTreeSet::new();
    for value in values {
        let domain = value.trim().to_ascii_lowercase();
        let labels: Vec<&str> = domain.split('.').collect();
        let valid = domain.len() <= 253
            && labels.len() >= 2
            && labels.iter().all(|label| {
                (1..=63).contains(&label.len())
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            });
        if !valid {
            return Err(status::invalid_argument(
                "verified_domains",
                &format!("{value:?} is not a domain name (e.g. example.com; IDNs in punycode)"),
            ));
        }
        domains.insert(domain);
    }
    if domains.len() > MAX_VERIFIED_DOMAINS {
        return Err(status::invalid_argument(
            "verified_domains",
            &format!("at most {MAX_VERIFIED_DOMAINS} domains"),
        ));
    }
    Ok(domains.into_iter().collect())
}

#[tonic::async_trait]
impl OrganizationService for OrganizationApi {
    async fn create_organization(
        &self,
        request: Request<pb::CreateOrganizationRequest>,
    ) -> Result<Response<pb::CreateOrganizationResponse>, Status> {
        Principal::of(&request)?.require_admin()?;
        let request = request.into_inner();
        let response = self
            .backend
            .create_organization(&request.slug, &request.display_name)
            .await?;
        Ok(Response::new(response))
    }

    async fn get_organization(
        &self,
        request: Request<pb::GetOrganizationRequest>,
    ) -> Result<Response<pb::GetOrganizationResponse>, Status> {
        use pb::get_organization_request::Key;
        let principal = Principal::of(&request)?.clone();
        let key = match request.into_inner().key {
            Some(Key::OrganizationId(id)) => {
                let id = principal.authorize(&id)?;
                OrganizationKey::Id(id)
            }
            Some(Key::Slug(slug)) if !slug.is_empty() => OrganizationKey::Slug(slug),
            _ => {
                return Err(status::invalid_argument(
                    "key",
                    "organization_id or slug is required",
                ));
            }
        };
        let organization = match self.backend.get_organization(&key).await {
            Ok(organization) => organization,
            // an owner must not learn which other slugs exist: not found looks like elsewhere
            Err(err) if err.code() == Code::NotFound && principal != Principal::Admin => {
                return Err(status::permission_denied(
                    "the credential does not administer this organization",
                ));
            }
            Err(err) => return Err(err),
        };
        principal.authorize(&organization.id)?;
        Ok(Response::new(pb::GetOrganizationResponse {
            organization: Some(organization),
        }))
    }

    async fn list_organizations(
        &self,
        request: Request<pb::ListOrganizationsRequest>,
    ) -> Result<Response<pb::ListOrganizationsResponse>, Status> {
        let only = Principal::of(&request)?.only_organization();
        let request = request.into_inner();
        let page = page_request(request.page_size, request.page_token)?;
        Ok(Response::new(
            self.backend.list_organizations(&page, only).await?,
        ))
    }

    async fn create_owner_credential(
        &self,
        request: Request<pb::CreateOwnerCredentialRequest>,
    ) -> Result<Response<pb::CreateOwnerCredentialResponse>, Status> {
        let principal = Principal::of(&request)?.clone();
        let request = request.into_inner();
        let organization_id = principal.authorize(&request.organization_id)?;
        Ok(Response::new(
            self.backend
                .create_owner_credential(organization_id, &request.description)
                .await?,
        ))
    }

    async fn revoke_owner_credential(
        &self,
        request: Request<pb::RevokeOwnerCredentialRequest>,
    ) -> Result<Response<pb::RevokeOwnerCredentialResponse>, Status> {
        let principal = Principal::of(&request)?.clone();
        let request = request.into_inner();
        let organization_id = principal.authorize(&request.organization_id)?;
        let credential_id = parse_uuid("credential_id", &request.credential_id)?;
        let credential = self
            .backend
            .revoke_owner_credential(organization_id, credential_id)
            .await?;
        Ok(Response::new(pb::RevokeOwnerCredentialResponse {
            owner_credential: Some(credential),
        }))
    }

    async fn remove_member(
        &self,
        request: Request<pb::RemoveMemberRequest>,
    ) -> Result<Response<pb::RemoveMemberResponse>, Status> {
        let principal = Principal::of(&request)?.clone();
        let request = request.into_inner();
        let organization_id = principal.authorize(&request.organization_id)?;
        let user_id = parse_uuid("user_id", &request.user_id)?;
        self.backend.remove_member(organization_id, user_id).await?;
        Ok(Response::new(pb::RemoveMemberResponse {}))
    }
}

#[tonic::async_trait]
impl ScimService for ScimApi {
    async fn get_scim_settings(
        &self,
        request: Request<pb::GetScimSettingsRequest>,
    ) -> Result<Response<pb::GetScimSettingsResponse>, Status> {
        let organization_id =
            Principal::of(&request)?.authorize(&request.get_ref().organization_id)?;
        let settings = self.backend.get_scim_settings(organization_id).await?;
        Ok(Response::new(pb::GetScimSettingsResponse {
            settings: Some(settings),
        }))
    }

    async fn enable_scim(
        &self,
        request: Request<pb::EnableScimRequest>,
    ) -> Result<Response<pb::EnableScimResponse>, Status> {
        let organization_id =
            Principal::of(&request)?.authorize(&request.get_ref().organization_id)?;
        let role = default_role(&request.get_ref().default_role, {
            #[allow(deprecated)]
            &request.get_ref().default_role_id
        })?;
        let settings = self.backend.enable_scim(organization_id, role).await?;
        Ok(Response::new(pb::EnableScimResponse {
            settings: Some(settings),
        }))
    }

    async fn set_default_role(
        &self,
        request: Request<pb::SetDefaultRoleRequest>,
    ) -> Result<Response<pb::SetDefaultRoleResponse>, Status> {
        let organization_id =
            Principal::of(&request)?.authorize(&request.get_ref().organization_id)?;
        let role = default_role(&request.get_ref().default_role, {
            #[allow(deprecated)]
            &request.get_ref().default_role_id
        })?;
        let settings = self.backend.set_default_role(organization_id, role).await?;
        Ok(Response::new(pb::SetDefaultRoleResponse {
            settings: Some(settings),
        }))
    }

    async fn set_rate_limits(
        &self,
        request: Request<pb::SetRateLimitsRequest>,
    ) -> Result<Response<pb::SetRateLimitsResponse>, Status> {
        let organization_id =
            Principal::of(&request)?.authorize(&request.get_ref().organization_id)?;
        let limits = request.into_inner().rate_limits.unwrap_or_default();
        let settings = self
            .backend
            .set_rate_limits(organization_id, limits)
            .await?;
        Ok(Response::new(pb::SetRateLimitsResponse {
            settings: Some(settings),
        }))
    }

    async fn set_verified_domains(
        &self,
        request: Request<pb::SetVerifiedDomainsRequest>,
    ) -> Result<Response<pb::SetVerifiedDomainsResponse>, Status> {
        let principal = Principal::of(&request)?;
        let organization_id = principal.authorize(&request.get_ref().organization_id)?;
        // adding a domain is the platform's call, made once it checked the organization owns
        // it: a domain an owner could add would link any platform member with an address there
        let may_add = matches!(principal, Principal::Admin);
        let domains = verified_domains(&request.into_inner().verified_domains)?;
        let settings = self
            .backend
            .set_verified_domains(organization_id, domains, may_add)
            .await?;
        Ok(Response::new(pb::SetVerifiedDomainsResponse {
            settings: Some(settings),
        }))
    }

    async fn disable_scim(
        &self,
        request: Request<pb::DisableScimRequest>,
    ) -> Result<Response<pb::DisableScimResponse>, Status> {
        let organization_id =
            Principal::of(&request)?.authorize(&request.get_ref().organization_id)?;
        let settings = self.backend.disable_scim(organization_id).await?;
        Ok(Response::new(pb::DisableScimResponse {
            settings: Some(settings),
        }))
    }

    async fn issue_scim_token(
        &self,
        request: Request<pb::IssueScimTokenRequest>,
    ) -> Result<Response<pb::IssueScimTokenResponse>, Status> {
        let organization_id =
            Principal::of(&request)?.authorize(&request.get_ref().organization_id)?;
        let request = request.into_inner();
        let validity = duration("validity", request.validity)?;
        let connection = optional_uuid("connection_id", &request.connection_id)?;
        Ok(Response::new(
            self.backend
                .issue_scim_token(organization_id, &request.description, validity, connection)
                .await?,
        ))
    }

    async fn list_scim_tokens(
        &self,
        request: Request<pb::ListScimTokensRequest>,
    ) -> Result<Response<pb::ListScimTokensResponse>, Status> {
        let organization_id =
            Principal::of(&request)?.authorize(&request.get_ref().organization_id)?;
        let request = request.into_inner();
        let page = page_request(request.page_size, request.page_token)?;
        Ok(Response::new(
            self.backend
                .list_scim_tokens(organization_id, &page)
                .await?,
        ))
    }

    async fn revoke_scim_token(
        &self,
        request: Request<pb::RevokeScimTokenRequest>,
    ) -> Result<Response<pb::RevokeScimTokenResponse>, Status> {
        let organization_id =
            Principal::of(&request)?.authorize(&request.get_ref().organization_id)?;
        let token_id = parse_uuid("token_id", &request.get_ref().token_id)?;
        let token = self
            .backend
            .revoke_scim_token(organization_id, token_id)
            .await?;
        Ok(Response::new(pb::RevokeScimTokenResponse {
            token: Some(token),
        }))
    }

    async fn rotate_scim_token(
        &self,
        request: Request<pb::RotateScimTokenRequest>,
    ) -> Result<Response<pb::RotateScimTokenResponse>, Status> {
        let organization_id =
            Principal::of(&request)?.authorize(&request.get_ref().organization_id)?;
        let request = request.into_inner();
        let token_id = parse_uuid("token_id", &request.token_id)?;
        let grace = duration("grace_period", request.grace_period)?;
        let previous = match (request.keep_previous, grace) {
            (false, grace) => PreviousToken::Grace(grace),
            (true, None) => PreviousToken::KeepsWorking,
            (true, Some(_)) => {
                return Err(status::invalid_argument(
                    "grace_period",
                    "must be unset with keep_previous",
                ));
            }
        };
        let validity = duration("validity", request.validity)?;
        Ok(Response::new(
            self.backend
                .rotate_scim_token(organization_id, token_id, previous, validity)
                .await?,
        ))
    }
}
