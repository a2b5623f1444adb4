//! The contract between the admin API and whatever stores organizations and credentials.
//!
//! The service layer has already authenticated the caller, authorized the organization and
//! turned request fields into typed values (UUIDs, non-negative durations, a bounded page size)
//! before a backend method runs; the backend owns every business rule beyond that (slug syntax,
//! validity limits, what "active" means) and returns proto messages or a `tonic::Status` that
//! already carries its `ErrorInfo` reason.

use crate::auth::Principal;
use crate::roles::RoleSelector;
use identity_proto::admin::v1::{
    CreateOrganizationResponse, CreateOwnerCredentialResponse, CreateServiceCredentialResponse,
    IssueScimTokenResponse, ListOrganizationsResponse, ListScimTokensResponse,
    ListServiceCredentialsResponse, Organization, OwnerCredential, RateLimits,
    RotateScimTokenResponse, ScimSettings, ScimToken, ServiceAccess, ServiceCredential,
};
use std::time::Duration;
use tonic::Status;
use uuid::Uuid;

/// How GetOrganization names the organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrganizationKey {
    /// By id.
    Id(Uuid),
    /// By slug (not validated: an invalid slug simply matches nothing).
    Slug(String),
}

/// One page of a list call: `page_size` is already defaulted and bounded (1..=1000);
/// `page_token` is opaque to this crate and validated by the backend that issued it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    /// Items per page.
    pub page_size: u32,
    /// Empty for the first page.
    pub page_token: String,
}

/// A validated, authorized request for a service credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewServiceCredential {
    /// The calling service's name (1 to 100 characters).
    pub name: String,
    /// `None`: every organization; otherwise distinct ids (1 to 100).
    pub organizations: Option<Vec<Uuid>>,
    /// Read or read-write.
    pub access: ServiceAccess,
}

/// What a rotation does with the token it replaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreviousToken {
    /// It stops after a grace period: `None` for the default, zero for at once.
    Grace(Option<Duration>),
    /// It keeps working until it is revoked or reaches its own expiry.
    KeepsWorking,
}

/// The default page size of list calls.
pub const DEFAULT_PAGE_SIZE: u32 = 100;
/// The largest page size of list calls.
pub const MAX_PAGE_SIZE: u32 = 1000;

/// The storage side of the admin API: one method per RPC plus credential checking.
#[async_trait::async_trait]
pub trait AdminBackend: Send + Sync + 'static {
    /// Resolves a presented credential (the bootstrap admin secret or an owner credential) to
    /// its principal; anything else is UNAUTHENTICATED.
    async fn authenticate(&self, secret: &str) -> Result<Principal, Status>;

    /// Creates an organization and its first owner credential.
    async fn create_organization(
        &self,
        slug: &str,
        display_name: &str,
    ) -> Result<CreateOrganizationResponse, Status>;

    /// Reads one organization.
    async fn get_organization(&self, key: &OrganizationKey) -> Result<Organization, Status>;

    /// Lists organizations ordered by slug; `only` restricts the listing to one organization
    /// (an owner sees only their own).
    async fn list_organizations(
        &self,
        page: &PageRequest,
        only: Option<Uuid>,
    ) -> Result<ListOrganizationsResponse, Status>;

    /// Issues another owner credential.
    async fn create_owner_credential(
        &self,
        organization_id: Uuid,
        description: &str,
    ) -> Result<CreateOwnerCredentialResponse, Status>;

    /// Revokes an owner credential (idempotent).
    async fn revoke_owner_credential(
        &self,
        organization_id: Uuid,
        credential_id: Uuid,
    ) -> Result<OwnerCredential, Status>;

    /// Removes a user from the organization, whoever manages it.
    async fn remove_member(&self, organization_id: Uuid, user_id: Uuid) -> Result<(), Status>;

    /// Reads the SCIM settings.
    async fn get_scim_settings(&self, organization_id: Uuid) -> Result<ScimSettings, Status>;

    /// Enables SCIM; `None` keeps the current default role.
    async fn enable_scim(
        &self,
        organization_id: Uuid,
        default_role: Option<RoleSelector>,
    ) -> Result<ScimSettings, Status>;

    /// Sets (`Some`) or clears (`None`) the default role.
    async fn set_default_role(
        &self,
        organization_id: Uuid,
        default_role: Option<RoleSelector>,
    ) -> Result<ScimSettings, Status>;

    /// Sets the organization's rate-limit overrides at the SCIM edge (0 keeps a default).
    async fn set_rate_limits(
        &self,
        organization_id: Uuid,
        limits: RateLimits,
    ) -> Result<ScimSettings, Status>;

    /// Replaces the verified email domains with `domains` (lowercase, distinct, valid names);
    /// with `may_add` false (an owner) the new list may only drop domains.
    async fn set_verified_domains(
        &self,
        organization_id: Uuid,
        domains: Vec<String>,
        may_add: bool,
    ) -> Result<ScimSettings, Status>;

    /// Disables SCIM.
    async fn disable_scim(&self, organization_id: Uuid) -> Result<ScimSettings, Status>;

    /// Issues a SCIM token; `None` validity means the default.
    async fn issue_scim_token(
        &self,
        organization_id: Uuid,
        description: &str,
        validity: Option<Duration>,
        connection_id: Option<Uuid>,
    ) -> Result<IssueScimTokenResponse, Status>;

    /// Lists tokens newest first.
    async fn list_scim_tokens(
        &self,
        organization_id: Uuid,
        page: &PageRequest,
    ) -> Result<ListScimTokensResponse, Status>;

    /// Revokes a token (idempotent).
    async fn revoke_scim_token(
        &self,
        organization_id: Uuid,
        token_id: Uuid,
    ) -> Result<ScimToken, Status>;

    /// Replaces an active token; `None` grace or validity means the default.
    async fn rotate_scim_token(
        &self,
        organization_id: Uuid,
        token_id: Uuid,
        previous: PreviousToken,
        validity: Option<Duration>,
    ) -> Result<RotateScimTokenResponse, Status>;

    /// Issues a service credential for identity.v1 (unknown organizations: NOT_FOUND).
    async fn create_service_credential(
        &self,
        new: NewServiceCredential,
    ) -> Result<CreateServiceCredentialResponse, Status>;

    /// Lists service credentials newest first; `only` keeps those scoped to exactly that one
    /// organization (what an owner sees).
    async fn list_service_credentials(
        &self,
        only: Option<Uuid>,
        page: &PageRequest,
    ) -> Result<ListServiceCredentialsResponse, Status>;

    /// Reads one service credential (TOKEN_NOT_FOUND when unknown).
    async fn get_service_credential(&self, id: Uuid) -> Result<ServiceCredential, Status>;

    /// Revokes a service credential (idempotent).
    async fn revoke_service_credential(&self, id: Uuid) -> Result<ServiceCredential, Status>;

    /// Provisioning connections, when the backend has them (`admin.v1.ConnectionService`
    /// answers UNIMPLEMENTED otherwise).
    fn connections(&self) -> Option<&dyn crate::connections::ConnectionBackend> {
        None
    }

    /// Roles, when the backend has them (`admin.v1.RoleService` answers UNIMPLEMENTED
    /// otherwise).
    fn roles(&self) -> Option<&dyn crate::roles::RoleBackend> {
        None
    }

    /// Setup-portal links, when the backend has them (`admin.v1.PortalService` answers
    /// UNIMPLEMENTED otherwise).
    fn portal(&self) -> Option<&dyn crate::portal::PortalBackend> {
        None
    }
}
