//! The contract between the admin API and whatever stores organizations and credentials.
//!
//! The service layer has already authenticated the caller, authorized the organization and
//! turned request fields into typed values (UUIDs, non-negative durations, a bounded page size)
//! before a backend method runs; the backend owns every business rule beyond that (slug syntax,
//! validity limits, what "active" means) and returns proto messages or a `tonic::Status` that
//! already carries its `ErrorInfo` reason.

use crate::auth::Principal;
use crate::fields::PageRequest;
use crate::status;
use identity_proto::admin::v1 as pb;
use identity_proto::admin::v1::{
    CreateOrganizationResponse, CreateOwnerCredentialResponse, CreateServiceCredentialResponse,
    IssueScimTokenResponse, ListOrganizationsResponse, ListScimTokensResponse,
    ListServiceCredentialsResponse, Organization, OwnerCredential, RateLimits,
    RotateScimTokenResponse, ScimSettings, ScimToken, ServiceAccess, ServiceCredential,
};
use identity_runtime::grpc_auth::Authenticator;
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
    fn connections(&self) -> Option<&dyn ConnectionBackend> {
        None
    }

    /// Roles, when the backend has them (`admin.v1.RoleService` answers UNIMPLEMENTED
    /// otherwise).
    fn roles(&self) -> Option<&dyn RoleBackend> {
        None
    }

    /// Setup-portal links, when the backend has them (`admin.v1.PortalService` answers
    /// UNIMPLEMENTED otherwise).
    fn portal(&self) -> Option<&dyn PortalBackend> {
        None
    }
}

/// The admin API's authenticator: the backend's credential check.
#[async_trait::async_trait]
impl Authenticator for dyn AdminBackend {
    type Principal = Principal;

    async fn authenticate(&self, secret: &str) -> Result<Principal, Status> {
        AdminBackend::authenticate(self, secret).await
    }
}

/// The longest role name (the SCIM Group displayName the core accepts).
pub(crate) const MAX_ROLE_NAME_CHARS: usize = 256;

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
        if text.is_empty() || text.chars().count() > MAX_ROLE_NAME_CHARS {
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

/// What a store must offer for provisioning connections.
#[async_trait::async_trait]
pub trait ConnectionBackend: Send + Sync {
    /// Creates a connection; `allowed_groups` `None` allows every group.
    async fn create_connection(
        &self,
        organization_id: Uuid,
        name: &str,
        allowed_groups: Option<Vec<String>>,
    ) -> Result<pb::Connection, Status>;
    /// The organization's live connections with their activity counters.
    async fn list_connections(&self, organization_id: Uuid) -> Result<Vec<pb::Connection>, Status>;
    /// One connection with its activity and recent errors.
    async fn get_connection(
        &self,
        organization_id: Uuid,
        id: Uuid,
    ) -> Result<pb::Connection, Status>;
    /// Renames a connection (`name` `Some`) and/or replaces its groups (`groups` `Some`, whose
    /// inner `None` allows every group).
    async fn update_connection(
        &self,
        organization_id: Uuid,
        id: Uuid,
        name: Option<String>,
        groups: Option<Option<Vec<String>>>,
    ) -> Result<pb::Connection, Status>;
    /// Deletes a connection and revokes everything it holds.
    async fn delete_connection(&self, organization_id: Uuid, id: Uuid) -> Result<(), Status>;
    /// Registers a client; the secret is returned once.
    async fn register_oauth_client(
        &self,
        organization_id: Uuid,
        connection_id: Uuid,
        name: &str,
        redirect_uris: &[String],
        client_credentials: bool,
    ) -> Result<pb::RegisterOAuthClientResponse, Status>;
    /// A connection's clients.
    async fn list_oauth_clients(
        &self,
        organization_id: Uuid,
        connection_id: Uuid,
    ) -> Result<Vec<pb::OAuthClient>, Status>;
    /// Deletes a client and revokes its grants.
    async fn delete_oauth_client(
        &self,
        organization_id: Uuid,
        client_id: &str,
    ) -> Result<(), Status>;
    /// A connection's grants, newest first.
    async fn list_grants(
        &self,
        organization_id: Uuid,
        connection_id: Uuid,
    ) -> Result<Vec<pb::Grant>, Status>;
    /// Revokes a grant.
    async fn revoke_grant(
        &self,
        organization_id: Uuid,
        grant_id: Uuid,
    ) -> Result<pb::Grant, Status>;
}

/// The storage side of `admin.v1.PortalService`.
#[async_trait::async_trait]
pub trait PortalBackend: Send + Sync {
    /// Mints a single-use link for the organization; `None` validity means the default.
    async fn create_portal_link(
        &self,
        organization_id: Uuid,
        label: &str,
        validity: Option<Duration>,
    ) -> Result<pb::CreatePortalLinkResponse, Status>;

    /// The organization's newest links, newest first.
    async fn list_portal_links(
        &self,
        organization_id: Uuid,
    ) -> Result<pb::ListPortalLinksResponse, Status>;

    /// Revokes a link and ends its session (idempotent).
    async fn revoke_portal_link(
        &self,
        organization_id: Uuid,
        link_id: Uuid,
    ) -> Result<pb::PortalLink, Status>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn org(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    #[test]
    fn admin_may_act_on_any_organization() {
        let id = org(7);
        assert_eq!(Principal::Admin.authorize(&id.to_string()).unwrap(), id);
        Principal::Admin.require_admin().unwrap();
    }

    #[test]
    fn owner_may_act_only_on_their_organization() {
        let owner = Principal::Owner {
            organization_id: org(1),
        };
        assert_eq!(owner.authorize(&org(1).to_string()).unwrap(), org(1));
        // any spelling of the same UUID is the same organization
        assert_eq!(
            owner
                .authorize(&org(1).simple().to_string().to_uppercase())
                .unwrap(),
            org(1)
        );
        let denied = owner.authorize(&org(2).to_string()).unwrap_err();
        assert_eq!(denied.code(), tonic::Code::PermissionDenied);
        assert_eq!(
            identity_proto::identity::v1::ErrorReason::of(&denied),
            Some(identity_proto::identity::v1::ErrorReason::PermissionDenied)
        );
        assert_eq!(
            owner.require_admin().unwrap_err().code(),
            tonic::Code::PermissionDenied
        );
    }

    #[test]
    fn malformed_organization_ids_are_invalid_arguments_not_denials() {
        for principal in [
            Principal::Admin,
            Principal::Owner {
                organization_id: org(1),
            },
        ] {
            for bad in ["", "not-a-uuid"] {
                let err = principal.authorize(bad).unwrap_err();
                assert_eq!(err.code(), tonic::Code::InvalidArgument, "{bad:?}");
            }
        }
    }

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
