//! An in-memory admin.v1 backend served on 127.0.0.1:0, for tests of the service layer and of
//! clients (the `identity-admin` CLI) without a database. Behind the `testing` feature.
//!
//! Credentials: `admin-secret` is the bootstrap administrator, `idown_a` and `idown_b` own
//! [`ORG_A`] and [`ORG_B`]; the organization slug `acme` is [`ORG_A`]. Every call that reaches
//! the backend is recorded, so a test can prove that a refused call never did.

use crate::PreviousToken;
use crate::{AdminBackend, OrganizationKey, PageRequest, Principal, RoleSelector, admin_routes};
use identity_proto::admin::v1 as pb;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tonic::Status;
use tonic::transport::{Channel, Server};
use uuid::Uuid;

pub const ORG_A: Uuid = Uuid::from_u128(0xa);
pub const ORG_B: Uuid = Uuid::from_u128(0xb);

/// Records every backend call after authentication, so tests can prove a rejected call never
/// reached the backend.
#[derive(Debug, Default)]
pub struct Fake {
    calls: Mutex<Vec<String>>,
}

impl Fake {
    fn record(&self, call: impl Into<String>) {
        self.calls.lock().unwrap().push(call.into());
    }

    /// The calls that reached the backend, in order.
    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }
}

/// The token every token call of the fake answers with.
pub fn token(org: Uuid) -> pb::ScimToken {
    pb::ScimToken {
        id: Uuid::from_u128(0x70).to_string(),
        organization_id: org.to_string(),
        hint: "idscim_Test".into(),
        status: pb::ScimTokenStatus::Active as i32,
        ..Default::default()
    }
}

/// SCIM settings of `org`.
pub fn settings(org: Uuid, enabled: bool) -> pb::ScimSettings {
    pb::ScimSettings {
        organization_id: org.to_string(),
        enabled,
        ..Default::default()
    }
}

#[tonic::async_trait]
impl AdminBackend for Fake {
    async fn authenticate(&self, secret: &str) -> Result<Principal, Status> {
        match secret {
            "admin-secret" => Ok(Principal::Admin),
            "idown_a" => Ok(Principal::Owner {
                organization_id: ORG_A,
            }),
            _ => Err(crate::status::unauthenticated()),
        }
    }

    async fn create_organization(
        &self,
        slug: &str,
        display_name: &str,
    ) -> Result<pb::CreateOrganizationResponse, Status> {
        self.record(format!("create_organization {slug}"));
        Ok(pb::CreateOrganizationResponse {
            organization: Some(pb::Organization {
                id: ORG_A.to_string(),
                slug: slug.into(),
                display_name: display_name.into(),
                create_time: None,
            }),
            owner_credential: Some(pb::OwnerCredential {
                id: Uuid::from_u128(0xc).to_string(),
                organization_id: ORG_A.to_string(),
                ..Default::default()
            }),
            owner_secret: "idown_new".into(),
        })
    }

    async fn get_organization(&self, key: &OrganizationKey) -> Result<pb::Organization, Status> {
        self.record(format!("get_organization {key:?}"));
        let (id, slug) = match key {
            OrganizationKey::Id(id) => (*id, format!("org-{}", id.as_u128())),
            OrganizationKey::Slug(slug) if slug == "acme" => (ORG_A, slug.clone()),
            OrganizationKey::Slug(slug) if slug == "beta" => (ORG_B, slug.clone()),
            OrganizationKey::Slug(_) => return Err(Status::not_found("organization not found")),
        };
        Ok(pb::Organization {
            id: id.to_string(),
            slug,
            ..Default::default()
        })
    }

    async fn list_organizations(
        &self,
        page: &PageRequest,
        only: Option<Uuid>,
    ) -> Result<pb::ListOrganizationsResponse, Status> {
        self.record(format!("list_organizations {} {only:?}", page.page_size));
        Ok(pb::ListOrganizationsResponse::default())
    }

    async fn create_owner_credential(
        &self,
        organization_id: Uuid,
        _description: &str,
    ) -> Result<pb::CreateOwnerCredentialResponse, Status> {
        self.record(format!("create_owner_credential {organization_id}"));
        Ok(pb::CreateOwnerCredentialResponse {
            owner_credential: Some(pb::OwnerCredential::default()),
            owner_secret: "idown_more".into(),
        })
    }

    async fn revoke_owner_credential(
        &self,
        organization_id: Uuid,
        credential_id: Uuid,
    ) -> Result<pb::OwnerCredential, Status> {
        self.record(format!(
            "revoke_owner_credential {organization_id} {credential_id}"
        ));
        Ok(pb::OwnerCredential::default())
    }

    async fn remove_member(&self, organization_id: Uuid, user_id: Uuid) -> Result<(), Status> {
        self.record(format!("remove_member {organization_id} {user_id}"));
        Ok(())
    }

    async fn get_scim_settings(&self, organization_id: Uuid) -> Result<pb::ScimSettings, Status> {
        self.record(format!("get_scim_settings {organization_id}"));
        Ok(settings(organization_id, true))
    }

    async fn enable_scim(
        &self,
        organization_id: Uuid,
        default_role: Option<RoleSelector>,
    ) -> Result<pb::ScimSettings, Status> {
        let default_role = default_role.map(|role| role.to_string());
        self.record(format!("enable_scim {organization_id} {default_role:?}"));
        Ok(settings(organization_id, true))
    }

    async fn set_rate_limits(
        &self,
        organization_id: Uuid,
        limits: pb::RateLimits,
    ) -> Result<pb::ScimSettings, Status> {
        self.record(format!(
            "set_rate_limits {organization_id} {} {} {}",
            limits.requests_per_second, limits.burst, limits.max_concurrent_requests
        ));
        Ok(settings(organization_id, true))
    }

    async fn set_verified_domains(
        &self,
        organization_id: Uuid,
        domains: Vec<String>,
        may_add: bool,
    ) -> Result<pb::ScimSettings, Status> {
        self.record(format!(
            "set_verified_domains {organization_id} {domains:?} may_add={may_add}"
        ));
        Ok(pb::ScimSettings {
            verified_domains: domains,
            ..settings(organization_id, true)
        })
    }

    async fn set_default_role(
        &self,
        organization_id: Uuid,
        default_role: Option<RoleSelector>,
    ) -> Result<pb::ScimSettings, Status> {
        let default_role = default_role.map(|role| role.to_string());
        self.record(format!(
            "set_default_role {organization_id} {default_role:?}"
        ));
        Ok(settings(organization_id, true))
    }

    async fn disable_scim(&self, organization_id: Uuid) -> Result<pb::ScimSettings, Status> {
        self.record(format!("disable_scim {organization_id}"));
        Ok(settings(organization_id, false))
    }

    async fn issue_scim_token(
        &self,
        organization_id: Uuid,
        description: &str,
        validity: Option<Duration>,
        _connection_id: Option<Uuid>,
    ) -> Result<pb::IssueScimTokenResponse, Status> {
        self.record(format!(
            "issue_scim_token {organization_id} {description} {validity:?}"
        ));
        Ok(pb::IssueScimTokenResponse {
            token: Some(token(organization_id)),
            secret: "idscim_issued".into(),
        })
    }

    async fn list_scim_tokens(
        &self,
        organization_id: Uuid,
        _page: &PageRequest,
    ) -> Result<pb::ListScimTokensResponse, Status> {
        self.record(format!("list_scim_tokens {organization_id}"));
        Ok(pb::ListScimTokensResponse {
            tokens: vec![token(organization_id)],
            next_page_token: String::new(),
        })
    }

    async fn revoke_scim_token(
        &self,
        organization_id: Uuid,
        token_id: Uuid,
    ) -> Result<pb::ScimToken, Status> {
        self.record(format!("revoke_scim_token {organization_id} {token_id}"));
        Ok(token(organization_id))
    }

    async fn rotate_scim_token(
        &self,
        organization_id: Uuid,
        token_id: Uuid,
        previous: PreviousToken,
        _validity: Option<Duration>,
    ) -> Result<pb::RotateScimTokenResponse, Status> {
        // recorded as the grace period alone, as before keeping the previous token existed
        let grace_period = match previous {
            PreviousToken::Grace(grace) => format!("{grace:?}"),
            PreviousToken::KeepsWorking => "keep".to_owned(),
        };
        self.record(format!(
            "rotate_scim_token {organization_id} {token_id} {grace_period}"
        ));
        Ok(pb::RotateScimTokenResponse {
            token: Some(token(organization_id)),
            secret: "idscim_rotated".into(),
            previous_token: Some(token(organization_id)),
        })
    }

    async fn create_service_credential(
        &self,
        new: crate::backend::NewServiceCredential,
    ) -> Result<pb::CreateServiceCredentialResponse, Status> {
        self.record(format!("create_service_credential {new:?}"));
        Ok(pb::CreateServiceCredentialResponse {
            credential: Some(service_credential(new.organizations.as_deref())),
            secret: "idsvc_new".into(),
        })
    }

    async fn list_service_credentials(
        &self,
        only: Option<Uuid>,
        _page: &PageRequest,
    ) -> Result<pb::ListServiceCredentialsResponse, Status> {
        self.record(format!("list_service_credentials {only:?}"));
        Ok(pb::ListServiceCredentialsResponse::default())
    }

    async fn get_service_credential(&self, id: Uuid) -> Result<pb::ServiceCredential, Status> {
        // credential 0xa1 is scoped to organization A only, anything else to A and B
        Ok(if id == Uuid::from_u128(0xa1) {
            service_credential(Some(&[ORG_A]))
        } else {
            service_credential(Some(&[ORG_A, ORG_B]))
        })
    }

    async fn revoke_service_credential(&self, id: Uuid) -> Result<pb::ServiceCredential, Status> {
        self.record(format!("revoke_service_credential {id}"));
        Ok(service_credential(Some(&[ORG_A])))
    }
}

/// The service credential the fake answers with.
pub fn service_credential(orgs: Option<&[Uuid]>) -> pb::ServiceCredential {
    pb::ServiceCredential {
        id: Uuid::from_u128(0xa1).to_string(),
        name: "billing".into(),
        organization_ids: orgs
            .unwrap_or_default()
            .iter()
            .map(Uuid::to_string)
            .collect(),
        all_organizations: orgs.is_none(),
        access: pb::ServiceAccess::Read as i32,
        ..Default::default()
    }
}

/// The admin API served over a [`Fake`] on 127.0.0.1:0; stops when dropped.
#[derive(Debug)]
pub struct Served {
    pub addr: SocketAddr,
    pub fake: Arc<Fake>,
    pub channel: Channel,
    _stop: tokio::sync::oneshot::Sender<()>,
}

/// Serves the admin API over a new [`Fake`].
pub async fn serve() -> Served {
    let fake = Arc::new(Fake::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let backend: Arc<dyn AdminBackend> = fake.clone();
    tokio::spawn(
        Server::builder()
            .add_routes(admin_routes(backend))
            .serve_with_incoming_shutdown(
                tokio_stream::wrappers::TcpListenerStream::new(listener),
                async {
                    let _ = stopped.await;
                },
            ),
    );
    let channel = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    Served {
        addr,
        fake,
        channel,
        _stop: stop,
    }
}
