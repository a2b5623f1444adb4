//! The authentication layer and the handlers' authorization, against the in-memory backend of
//! `admin_grpc::testing` served on 127.0.0.1:0.

use admin_grpc::testing::{ORG_A, ORG_B, serve};
use identity_proto::admin::v1 as pb;
use identity_proto::admin::v1::organization_service_client::OrganizationServiceClient;
use identity_proto::admin::v1::scim_service_client::ScimServiceClient;
use tonic::{Code, Request, Status};
use tonic_types::StatusExt;
use uuid::Uuid;

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
                keep_previous: false,
            },
            admin,
        ))
        .await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
    // the deprecated id field still takes only an id; the name-or-id field is bounded
    #[allow(deprecated)]
    let bad_id = pb::EnableScimRequest {
        organization_id: ORG_A.to_string(),
        default_role_id: "role?".into(),
        default_role: String::new(),
    };
    let too_long = pb::EnableScimRequest {
        organization_id: ORG_A.to_string(),
        default_role: "x".repeat(257),
        ..Default::default()
    };
    for request in [bad_id, too_long] {
        assert_reason(
            scim.enable_scim(with_credential(request, admin)).await,
            Code::InvalidArgument,
            "INVALID_ARGUMENT",
        );
    }
    assert!(s.fake.calls().is_empty(), "{:?}", s.fake.calls());
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
