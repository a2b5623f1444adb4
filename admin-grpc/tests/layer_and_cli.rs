//! The authentication layer, the handlers' authorization and the `identity-admin` binary,
//! against an in-memory backend served on 127.0.0.1:0.

use admin_grpc::{AdminBackend, OrganizationKey, PageRequest, Principal, admin_routes};
use identity_proto::admin::v1 as pb;
use identity_proto::admin::v1::organization_service_client::OrganizationServiceClient;
use identity_proto::admin::v1::scim_service_client::ScimServiceClient;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tonic::transport::{Channel, Server};
use tonic::{Code, Request, Status};
use tonic_types::StatusExt;
use uuid::Uuid;

const ORG_A: Uuid = Uuid::from_u128(0xa);
const ORG_B: Uuid = Uuid::from_u128(0xb);

/// Records every backend call after authentication, so tests can prove a rejected call never
/// reached the backend.
#[derive(Default)]
struct Fake {
    calls: Mutex<Vec<String>>,
}

impl Fake {
    fn record(&self, call: impl Into<String>) {
        self.calls.lock().unwrap().push(call.into());
    }

    fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }
}

fn token(org: Uuid) -> pb::ScimToken {
    pb::ScimToken {
        id: Uuid::from_u128(0x70).to_string(),
        organization_id: org.to_string(),
        hint: "idscim_Test".into(),
        status: pb::ScimTokenStatus::Active as i32,
        ..Default::default()
    }
}

fn settings(org: Uuid, enabled: bool) -> pb::ScimSettings {
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
            _ => Err(admin_grpc::status::unauthenticated()),
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
        default_role_id: Option<Uuid>,
    ) -> Result<pb::ScimSettings, Status> {
        self.record(format!("enable_scim {organization_id} {default_role_id:?}"));
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

    async fn set_default_role(
        &self,
        organization_id: Uuid,
        default_role_id: Option<Uuid>,
    ) -> Result<pb::ScimSettings, Status> {
        self.record(format!(
            "set_default_role {organization_id} {default_role_id:?}"
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
        grace_period: Option<Duration>,
        _validity: Option<Duration>,
    ) -> Result<pb::RotateScimTokenResponse, Status> {
        self.record(format!(
            "rotate_scim_token {organization_id} {token_id} {grace_period:?}"
        ));
        Ok(pb::RotateScimTokenResponse {
            token: Some(token(organization_id)),
            secret: "idscim_rotated".into(),
            previous_token: Some(token(organization_id)),
        })
    }

    async fn create_service_credential(
        &self,
        new: admin_grpc::backend::NewServiceCredential,
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

fn service_credential(orgs: Option<&[Uuid]>) -> pb::ServiceCredential {
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

struct Served {
    addr: SocketAddr,
    fake: Arc<Fake>,
    channel: Channel,
    _stop: tokio::sync::oneshot::Sender<()>,
}

async fn serve() -> Served {
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

fn with_credential<T>(message: T, credential: Option<&str>) -> Request<T> {
    let mut request = Request::new(message);
    if let Some(credential) = credential {
        request.metadata_mut().insert(
            "authorization",
            format!("Bearer {credential}").parse().unwrap(),
        );
    }
    request
}

#[track_caller]
fn assert_reason<T: std::fmt::Debug>(result: Result<T, Status>, code: Code, reason: &str) {
    let status = result.expect_err("call should fail");
    assert_eq!(status.code(), code, "{status:?}");
    assert_eq!(
        status.get_details_error_info().map(|i| i.reason).as_deref(),
        Some(reason),
        "{status:?}"
    );
}

#[tokio::test]
async fn calls_without_a_valid_credential_never_reach_the_backend() {
    let s = serve().await;
    let mut orgs = OrganizationServiceClient::new(s.channel.clone());
    let mut scim = ScimServiceClient::new(s.channel.clone());
    for credential in [None, Some("nope"), Some("")] {
        assert_reason(
            orgs.list_organizations(with_credential(
                pb::ListOrganizationsRequest::default(),
                credential,
            ))
            .await,
            Code::Unauthenticated,
            "UNAUTHENTICATED",
        );
        assert_reason(
            scim.get_scim_settings(with_credential(
                pb::GetScimSettingsRequest {
                    organization_id: ORG_A.to_string(),
                },
                credential,
            ))
            .await,
            Code::Unauthenticated,
            "UNAUTHENTICATED",
        );
    }
    let mut basic = Request::new(pb::ListOrganizationsRequest::default());
    basic
        .metadata_mut()
        .insert("authorization", "Basic YWRtaW46c2VjcmV0".parse().unwrap());
    assert_reason(
        orgs.list_organizations(basic).await,
        Code::Unauthenticated,
        "UNAUTHENTICATED",
    );
    assert!(s.fake.calls().is_empty(), "{:?}", s.fake.calls());
}

#[tokio::test]
async fn owners_are_confined_to_their_organization() {
    let s = serve().await;
    let mut orgs = OrganizationServiceClient::new(s.channel.clone());
    let mut scim = ScimServiceClient::new(s.channel.clone());
    let owner = Some("idown_a");

    assert_reason(
        orgs.create_organization(with_credential(
            pb::CreateOrganizationRequest {
                slug: "x".into(),
                display_name: "x".into(),
            },
            owner,
        ))
        .await,
        Code::PermissionDenied,
        "PERMISSION_DENIED",
    );
    assert_reason(
        scim.revoke_scim_token(with_credential(
            pb::RevokeScimTokenRequest {
                organization_id: ORG_B.to_string(),
                token_id: Uuid::from_u128(1).to_string(),
            },
            owner,
        ))
        .await,
        Code::PermissionDenied,
        "PERMISSION_DENIED",
    );
    assert_reason(
        scim.issue_scim_token(with_credential(
            pb::IssueScimTokenRequest {
                organization_id: ORG_B.to_string(),
                ..Default::default()
            },
            owner,
        ))
        .await,
        Code::PermissionDenied,
        "PERMISSION_DENIED",
    );
    assert!(s.fake.calls().is_empty(), "{:?}", s.fake.calls());

    // by slug the organization is looked up first, then refused
    assert_reason(
        orgs.get_organization(with_credential(
            pb::GetOrganizationRequest {
                key: Some(pb::get_organization_request::Key::Slug("beta".into())),
            },
            owner,
        ))
        .await,
        Code::PermissionDenied,
        "PERMISSION_DENIED",
    );
    // an owner's listing is restricted to their organization
    orgs.list_organizations(with_credential(
        pb::ListOrganizationsRequest::default(),
        owner,
    ))
    .await
    .unwrap();
    scim.issue_scim_token(with_credential(
        pb::IssueScimTokenRequest {
            organization_id: ORG_A.to_string(),
            description: "okta".into(),
            validity: Some(prost_types::Duration {
                seconds: 60,
                nanos: 0,
            }),
            connection_id: String::new(),
        },
        owner,
    ))
    .await
    .unwrap();
    let calls = s.fake.calls();
    assert_eq!(calls[1], format!("list_organizations 100 Some({ORG_A})"));
    assert_eq!(calls[2], format!("issue_scim_token {ORG_A} okta Some(60s)"));

    // the admin may do everything
    orgs.list_organizations(with_credential(
        pb::ListOrganizationsRequest::default(),
        Some("admin-secret"),
    ))
    .await
    .unwrap();
    scim.disable_scim(with_credential(
        pb::DisableScimRequest {
            organization_id: ORG_B.to_string(),
        },
        Some("admin-secret"),
    ))
    .await
    .unwrap();
    assert_eq!(s.fake.calls()[3], "list_organizations 100 None");
    assert_eq!(s.fake.calls()[4], format!("disable_scim {ORG_B}"));
}

#[tokio::test]
async fn request_fields_are_validated_before_the_backend() {
    let s = serve().await;
    let mut scim = ScimServiceClient::new(s.channel.clone());
    let admin = Some("admin-secret");
    assert_reason(
        scim.get_scim_settings(with_credential(
            pb::GetScimSettingsRequest {
                organization_id: "not-a-uuid".into(),
            },
            admin,
        ))
        .await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
    assert_reason(
        scim.rotate_scim_token(with_credential(
            pb::RotateScimTokenRequest {
                organization_id: ORG_A.to_string(),
                token_id: Uuid::from_u128(1).to_string(),
                grace_period: Some(prost_types::Duration {
                    seconds: -1,
                    nanos: 0,
                }),
                validity: None,
            },
            admin,
        ))
        .await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
    assert_reason(
        scim.enable_scim(with_credential(
            pb::EnableScimRequest {
                organization_id: ORG_A.to_string(),
                default_role_id: "role?".into(),
            },
            admin,
        ))
        .await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
    assert!(s.fake.calls().is_empty(), "{:?}", s.fake.calls());
}

/// Runs the compiled `identity-admin` against the served fake.
fn admin_cli(s: &Served, credential: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_identity-admin"))
        .args(args)
        .env("IDENTITY_ADMIN_ENDPOINT", format!("http://{}", s.addr))
        .env("IDENTITY_ADMIN_CREDENTIAL", credential)
        .env_remove("IDENTITY_ADMIN_ORG")
        .env_remove("IDENTITY_ADMIN_CREDENTIAL_FILE")
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_binary_prints_secrets_alone_and_errors_with_reason() {
    let s = serve().await;
    let out = tokio::task::block_in_place(|| {
        admin_cli(
            &s,
            "idown_a",
            &["token", "issue", "--org", "acme", "--validity-days", "2"],
        )
    });
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "idscim_issued\n");
    assert!(
        String::from_utf8(out.stderr)
            .unwrap()
            .contains("idscim_Test")
    );
    // the slug was resolved, then the token issued for the resolved id
    assert_eq!(
        s.fake.calls()[1],
        format!("issue_scim_token {ORG_A}  Some(172800s)")
    );

    let out = tokio::task::block_in_place(|| {
        admin_cli(
            &s,
            "idown_a",
            &[
                "token",
                "rotate",
                "--org",
                &ORG_A.to_string(),
                &Uuid::from_u128(0x70).to_string(),
                "--grace-hours",
                "0",
            ],
        )
    });
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "idscim_rotated\n");
    assert!(s.fake.calls().last().unwrap().ends_with("Some(0ns)"));

    let out = tokio::task::block_in_place(|| {
        admin_cli(
            &s,
            "idown_a",
            &["token", "list", "--org", &ORG_B.to_string()],
        )
    });
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        "error: the credential does not administer this organization (PERMISSION_DENIED)\n"
    );

    let out = tokio::task::block_in_place(|| {
        admin_cli(
            &s,
            "admin-secret",
            &["org", "create", "--slug", "acme", "--name", "Acme"],
        )
    });
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "idown_new\n");
}

#[tokio::test]
async fn owners_manage_only_service_credentials_of_their_own_organization() {
    use identity_proto::admin::v1::service_credential_service_client::ServiceCredentialServiceClient;
    let s = serve().await;
    let mut credentials = ServiceCredentialServiceClient::new(s.channel.clone());
    let owner = Some("idown_a");

    credentials
        .list_service_credentials(with_credential(
            pb::ListServiceCredentialsRequest::default(),
            owner,
        ))
        .await
        .unwrap();
    assert_reason(
        credentials
            .revoke_service_credential(with_credential(
                pb::RevokeServiceCredentialRequest {
                    credential_id: Uuid::from_u128(0xa2).to_string(),
                },
                owner,
            ))
            .await,
        Code::NotFound,
        "TOKEN_NOT_FOUND",
    );
    assert_reason(
        credentials
            .create_service_credential(with_credential(
                pb::CreateServiceCredentialRequest {
                    name: "billing".into(),
                    organization_ids: vec![ORG_B.to_string()],
                    access: pb::ServiceAccess::Read as i32,
                    ..Default::default()
                },
                owner,
            ))
            .await,
        Code::PermissionDenied,
        "PERMISSION_DENIED",
    );
    credentials
        .revoke_service_credential(with_credential(
            pb::RevokeServiceCredentialRequest {
                credential_id: Uuid::from_u128(0xa1).to_string(),
            },
            owner,
        ))
        .await
        .unwrap();
    // the owner's listing is narrowed to its organization; refused calls never reached the
    // backend
    assert_eq!(
        s.fake.calls(),
        [
            format!("list_service_credentials Some({ORG_A})"),
            format!("revoke_service_credential {}", Uuid::from_u128(0xa1)),
        ]
    );
}
