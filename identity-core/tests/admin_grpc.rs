//! The admin.v1 API and TokenService end to end: real tonic clients against the real services
//! over a fresh store (SQLite, or PostgreSQL with IDENTITY_TEST_DATABASE_URL set).

mod admin_support;

use admin_support::{ADMIN_SECRET, Harness, assert_error, days, hours, unique_slug};
use identity_proto::admin::v1 as admin;
use identity_proto::admin::v1::ScimTokenStatus;
use identity_proto::identity::v1::PrincipalKind;
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{ConnectionTrait, EntityTrait};
use sha2::{Digest, Sha256};
use tonic::Code;
use uuid::Uuid;

async fn issue(
    h: &Harness,
    secret: &str,
    org: &str,
    validity: Option<prost_types::Duration>,
) -> admin::IssueScimTokenResponse {
    h.admin(Some(secret))
        .scim
        .issue_scim_token(admin::IssueScimTokenRequest {
            organization_id: org.to_owned(),
            description: "Okta production".into(),
            validity,
            connection_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
}

async fn enable(h: &Harness, secret: &str, org: &str) -> admin::ScimSettings {
    h.admin(Some(secret))
        .scim
        .enable_scim(admin::EnableScimRequest {
            organization_id: org.to_owned(),
            default_role: String::new(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .settings
        .unwrap()
}

async fn list_tokens(h: &Harness, secret: &str, org: &str) -> Vec<admin::ScimToken> {
    h.admin(Some(secret))
        .scim
        .list_scim_tokens(admin::ListScimTokensRequest {
            organization_id: org.to_owned(),
            page_size: 0,
            page_token: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .tokens
}

/// Moves a stored token's expiry into the past, as time passing would.
async fn expire_now(h: &Harness, token_id: &str) {
    let statement = Query::update()
        .table("scim_token")
        .value("expires_at", identity_core::time::now_micros() - 1)
        .and_where(Expr::col("id").eq(Uuid::parse_str(token_id).unwrap()))
        .to_owned();
    h.store.db.execute(&statement).await.unwrap();
}

#[tokio::test]
async fn lifecycle_create_enable_issue_authenticate_revoke() {
    let h = Harness::start().await;
    let slug = unique_slug("acme");
    let created = h
        .root()
        .orgs
        .create_organization(admin::CreateOrganizationRequest {
            slug: slug.clone(),
            display_name: "Acme Inc".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let org = created.organization.unwrap();
    assert_eq!(org.slug, slug);
    assert!(created.owner_secret.starts_with("idown_"));
    assert_eq!(created.owner_credential.unwrap().organization_id, org.id);
    let owner = created.owner_secret;

    // a token of an organization whose SCIM is off is refused for that reason
    let early = issue(&h, &owner, &org.id, None).await;
    assert_error(
        h.authenticate(&early.secret).await,
        Code::Unauthenticated,
        "SCIM_DISABLED",
    );

    let settings = enable(&h, &owner, &org.id).await;
    assert!(settings.enabled);
    assert!(settings.update_time.is_some());

    let issued = issue(&h, &owner, &org.id, None).await;
    assert!(issued.secret.starts_with("idscim_"));
    assert_eq!(issued.secret.len(), "idscim_".len() + 43);
    let token = issued.token.unwrap();
    assert_eq!(token.hint, issued.secret[..11]);
    assert_eq!(token.status, ScimTokenStatus::Active as i32);
    let validity = token.expire_time.unwrap().seconds - token.create_time.unwrap().seconds;
    assert_eq!(validity, 365 * 86_400);

    let accepted = h.authenticate(&issued.secret).await.unwrap();
    assert_eq!(accepted.organization_id, org.id);
    assert_eq!(accepted.token_id, token.id);
    assert_eq!(
        accepted.principal_kind,
        PrincipalKind::ProvisioningClient as i32
    );
    assert!((365 * 86_400 - 60..=365 * 86_400).contains(&accepted.expires_in_seconds));

    let scim = &mut h.admin(Some(&owner)).scim;
    let revoked = scim
        .revoke_scim_token(admin::RevokeScimTokenRequest {
            organization_id: org.id.clone(),
            token_id: token.id.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .token
        .unwrap();
    assert_eq!(revoked.status, ScimTokenStatus::Revoked as i32);
    assert_error(
        h.authenticate(&issued.secret).await,
        Code::Unauthenticated,
        "TOKEN_REVOKED",
    );

    // revoking again changes nothing
    let again = scim
        .revoke_scim_token(admin::RevokeScimTokenRequest {
            organization_id: org.id.clone(),
            token_id: token.id.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .token
        .unwrap();
    assert_eq!(again.revoke_time, revoked.revoke_time);

    assert_error(
        scim.revoke_scim_token(admin::RevokeScimTokenRequest {
            organization_id: org.id.clone(),
            token_id: Uuid::now_v7().to_string(),
        })
        .await,
        Code::NotFound,
        "TOKEN_NOT_FOUND",
    );
}

#[tokio::test]
async fn token_rejections_keep_a_generic_message() {
    let h = Harness::start().await;
    assert_error(
        h.authenticate("idscim_unknown").await,
        Code::Unauthenticated,
        "TOKEN_UNKNOWN",
    );
    let status = h.authenticate("idscim_unknown").await.unwrap_err();
    assert_eq!(status.message(), "unauthenticated");
    assert_error(
        h.authenticate("").await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
    assert_error(
        h.authenticate(&"x".repeat(10_000)).await,
        Code::Unauthenticated,
        "TOKEN_UNKNOWN",
    );
}

#[tokio::test]
async fn expired_tokens_are_rejected_and_listed_as_expired() {
    let h = Harness::start().await;
    let (org, owner) = h.org(&unique_slug("exp")).await;
    enable(&h, &owner, &org.id).await;
    let issued = issue(&h, &owner, &org.id, Some(days(1))).await;
    let token = issued.token.unwrap();
    assert_eq!(
        token.expire_time.unwrap().seconds - token.create_time.unwrap().seconds,
        86_400
    );
    h.authenticate(&issued.secret).await.unwrap();

    expire_now(&h, &token.id).await;
    assert_error(
        h.authenticate(&issued.secret).await,
        Code::Unauthenticated,
        "TOKEN_EXPIRED",
    );
    let listed = list_tokens(&h, &owner, &org.id).await;
    assert_eq!(listed[0].status, ScimTokenStatus::Expired as i32);

    // validity limits
    let scim = &mut h.admin(Some(&owner)).scim;
    for (validity, field) in [(days(731), "validity"), (days(0), "validity")] {
        assert_error(
            scim.issue_scim_token(admin::IssueScimTokenRequest {
                organization_id: org.id.clone(),
                description: String::new(),
                validity: Some(validity),
                connection_id: String::new(),
            })
            .await,
            Code::InvalidArgument,
            "INVALID_ARGUMENT",
        );
        let _ = field;
    }
    let negative = prost_types::Duration {
        seconds: -1,
        nanos: 0,
    };
    assert_error(
        scim.issue_scim_token(admin::IssueScimTokenRequest {
            organization_id: org.id.clone(),
            description: String::new(),
            validity: Some(negative),
            connection_id: String::new(),
        })
        .await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
    // an expired token cannot be rotated
    assert_error(
        scim.rotate_scim_token(admin::RotateScimTokenRequest {
            organization_id: org.id.clone(),
            token_id: token.id.clone(),
            grace_period: None,
            validity: None,
            keep_previous: false,
        })
        .await,
        Code::FailedPrecondition,
        "TOKEN_EXPIRED",
    );
}

#[tokio::test]
async fn rotation_keeps_the_old_token_for_the_grace_period() {
    let h = Harness::start().await;
    let (org, owner) = h.org(&unique_slug("rot")).await;
    enable(&h, &owner, &org.id).await;
    let first = issue(&h, &owner, &org.id, None).await;
    let first_id = first.token.unwrap().id;
    let scim = &mut h.admin(Some(&owner)).scim;

    let rotated = scim
        .rotate_scim_token(admin::RotateScimTokenRequest {
            organization_id: org.id.clone(),
            token_id: first_id.clone(),
            grace_period: None,
            validity: Some(days(30)),
            keep_previous: false,
        })
        .await
        .unwrap()
        .into_inner();
    let second = rotated.token.unwrap();
    let previous = rotated.previous_token.unwrap();
    assert_eq!(second.rotated_from_token_id, first_id);
    assert_eq!(second.description, "Okta production");
    assert_ne!(rotated.secret, first.secret);
    assert_eq!(
        second.expire_time.unwrap().seconds - second.create_time.unwrap().seconds,
        30 * 86_400
    );
    // default grace: the old token now expires in 24 hours and still works meanwhile
    let now = chrono::Utc::now().timestamp();
    let grace_left = previous.expire_time.unwrap().seconds - now;
    assert!(
        (24 * 3_600 - 60..=24 * 3_600).contains(&grace_left),
        "{grace_left}"
    );
    assert_eq!(previous.status, ScimTokenStatus::Active as i32);
    assert_eq!(
        h.authenticate(&first.secret).await.unwrap().token_id,
        first_id
    );
    assert_eq!(
        h.authenticate(&rotated.secret).await.unwrap().token_id,
        second.id
    );

    // once the grace period is over, the replaced token reads as revoked
    expire_now(&h, &first_id).await;
    assert_error(
        h.authenticate(&first.secret).await,
        Code::Unauthenticated,
        "TOKEN_EXPIRED",
    );
    let listed = list_tokens(&h, &owner, &org.id).await;
    let status_of = |id: &str| listed.iter().find(|t| t.id == id).unwrap().status;
    assert_eq!(status_of(&first_id), ScimTokenStatus::Revoked as i32);
    assert_eq!(status_of(&second.id), ScimTokenStatus::Active as i32);
    // newest first
    assert_eq!(listed[0].id, second.id);

    // zero grace revokes the old token at once
    let third = scim
        .rotate_scim_token(admin::RotateScimTokenRequest {
            organization_id: org.id.clone(),
            token_id: second.id.clone(),
            grace_period: Some(hours(0)),
            validity: None,
            keep_previous: false,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        third.previous_token.unwrap().status,
        ScimTokenStatus::Revoked as i32
    );
    assert_error(
        h.authenticate(&rotated.secret).await,
        Code::Unauthenticated,
        "TOKEN_REVOKED",
    );
    h.authenticate(&third.secret).await.unwrap();

    // a revoked token cannot be rotated; grace is bounded
    assert_error(
        scim.rotate_scim_token(admin::RotateScimTokenRequest {
            organization_id: org.id.clone(),
            token_id: second.id.clone(),
            grace_period: None,
            validity: None,
            keep_previous: false,
        })
        .await,
        Code::FailedPrecondition,
        "TOKEN_REVOKED",
    );
    assert_error(
        scim.rotate_scim_token(admin::RotateScimTokenRequest {
            organization_id: org.id.clone(),
            token_id: third.token.unwrap().id,
            grace_period: Some(days(31)),
            validity: None,
            keep_previous: false,
        })
        .await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
}

#[tokio::test]
async fn a_grace_period_never_extends_the_old_expiry() {
    let h = Harness::start().await;
    let (org, owner) = h.org(&unique_slug("short")).await;
    enable(&h, &owner, &org.id).await;
    let first = issue(&h, &owner, &org.id, Some(days(1))).await;
    let first = first.token.unwrap();
    let rotated = h
        .admin(Some(&owner))
        .scim
        .rotate_scim_token(admin::RotateScimTokenRequest {
            organization_id: org.id.clone(),
            token_id: first.id.clone(),
            grace_period: Some(days(30)),
            validity: None,
            keep_previous: false,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        rotated.previous_token.unwrap().expire_time,
        first.expire_time
    );
}

#[tokio::test]
async fn disabling_scim_stops_tokens_and_releases_scim_managed_identities() {
    let h = Harness::start().await;
    let (org, owner) = h.org(&unique_slug("dis")).await;
    let org_id = Uuid::parse_str(&org.id).unwrap();
    let now = identity_core::time::now_micros();
    let role_id = Uuid::now_v7();
    h.exec(
        &Query::insert()
            .into_table("identity_role")
            .columns([
                "id",
                "org_id",
                "display_name",
                "display_name_lower",
                "member_count",
                "managed_by",
                "version",
                "created_at",
                "updated_at",
            ])
            .values_panic([
                role_id.into(),
                org_id.into(),
                "Engineers".into(),
                "engineers".into(),
                0_i64.into(),
                2_i16.into(),
                1_i64.into(),
                now.into(),
                now.into(),
            ])
            .to_owned(),
    )
    .await;
    let user_id = Uuid::now_v7();
    h.exec(
        &Query::insert()
            .into_table("identity_user")
            .columns([
                "id",
                "org_id",
                "user_name",
                "user_name_lower",
                "active",
                "managed_by",
                "version",
                "created_at",
                "updated_at",
            ])
            .values_panic([
                user_id.into(),
                org_id.into(),
                "ada@example.com".into(),
                "ada@example.com".into(),
                true.into(),
                2_i16.into(),
                1_i64.into(),
                now.into(),
                now.into(),
            ])
            .to_owned(),
    )
    .await;

    let scim = &mut h.admin(Some(&owner)).scim;
    // the default role must exist in this organization
    assert_error(
        scim.enable_scim(admin::EnableScimRequest {
            organization_id: org.id.clone(),
            default_role: Uuid::now_v7().to_string(),
            ..Default::default()
        })
        .await,
        Code::NotFound,
        "ROLE_NOT_FOUND",
    );
    let enabled = scim
        .enable_scim(admin::EnableScimRequest {
            organization_id: org.id.clone(),
            default_role: role_id.to_string(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .settings
        .unwrap();
    assert_eq!(enabled.default_role_id, role_id.to_string());
    let issued = issue(&h, &owner, &org.id, None).await;
    h.authenticate(&issued.secret).await.unwrap();

    let disabled = scim
        .disable_scim(admin::DisableScimRequest {
            organization_id: org.id.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .settings
        .unwrap();
    assert!(!disabled.enabled);
    assert_error(
        h.authenticate(&issued.secret).await,
        Code::Unauthenticated,
        "SCIM_DISABLED",
    );

    // identities stay, now platform-managed
    for table in ["identity_user", "identity_role"] {
        let row = h
            .store
            .db
            .query_one(
                &Query::select()
                    .column("managed_by")
                    .from(table)
                    .and_where(Expr::col("org_id").eq(org_id))
                    .to_owned(),
            )
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{table} row gone"));
        assert_eq!(row.try_get::<i16>("", "managed_by").unwrap(), 1, "{table}");
    }
    // the hand-over is in the change feed: one UPDATED change per released identity
    let updates = h
        .store
        .db
        .query_one(
            &Query::select()
                .expr(Expr::col("sequence").count())
                .from("change_event")
                .and_where(Expr::col("org_id").eq(org_id))
                .and_where(Expr::col("kind").eq(2))
                .to_owned(),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(updates.try_get_by_index::<i64>(0).unwrap(), 2);

    // default role: set, clear, reject unknown
    let cleared = scim
        .set_default_role(admin::SetDefaultRoleRequest {
            organization_id: org.id.clone(),
            default_role: String::new(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .settings
        .unwrap();
    assert_eq!(cleared.default_role_id, "");
    assert!(!cleared.enabled);
    assert_error(
        scim.set_default_role(admin::SetDefaultRoleRequest {
            organization_id: org.id.clone(),
            default_role: Uuid::now_v7().to_string(),
            ..Default::default()
        })
        .await,
        Code::NotFound,
        "ROLE_NOT_FOUND",
    );
    // re-enabling restores unexpired, unrevoked tokens
    enable(&h, &owner, &org.id).await;
    h.authenticate(&issued.secret).await.unwrap();
    let settings = scim
        .get_scim_settings(admin::GetScimSettingsRequest {
            organization_id: org.id.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .settings
        .unwrap();
    assert!(settings.enabled);
}

#[track_caller]
fn denied<T: std::fmt::Debug>(result: Result<T, tonic::Status>) {
    assert_error(result, Code::PermissionDenied, "PERMISSION_DENIED");
}

#[tokio::test]
async fn an_owner_cannot_touch_another_organization() {
    let h = Harness::start().await;
    let (org_a, owner_a) = h.org(&unique_slug("a")).await;
    let (org_b, owner_b) = h.org(&unique_slug("b")).await;
    enable(&h, &owner_b, &org_b.id).await;
    let b_token = issue(&h, &owner_b, &org_b.id, None).await;
    let b_token_id = b_token.token.as_ref().unwrap().id.clone();
    let a = &mut h.admin(Some(&owner_a));

    denied(
        a.orgs
            .get_organization(admin::GetOrganizationRequest {
                key: Some(admin::get_organization_request::Key::OrganizationId(
                    org_b.id.clone(),
                )),
            })
            .await,
    );
    denied(
        a.orgs
            .get_organization(admin::GetOrganizationRequest {
                key: Some(admin::get_organization_request::Key::Slug(
                    org_b.slug.clone(),
                )),
            })
            .await,
    );
    // an unknown slug looks the same to an owner: no probing for other tenants
    denied(
        a.orgs
            .get_organization(admin::GetOrganizationRequest {
                key: Some(admin::get_organization_request::Key::Slug(
                    "no-such-org".into(),
                )),
            })
            .await,
    );
    denied(
        a.orgs
            .create_organization(admin::CreateOrganizationRequest {
                slug: unique_slug("c"),
                display_name: "C".into(),
            })
            .await,
    );
    denied(
        a.orgs
            .create_owner_credential(admin::CreateOwnerCredentialRequest {
                organization_id: org_b.id.clone(),
                description: String::new(),
            })
            .await,
    );
    denied(
        a.scim
            .get_scim_settings(admin::GetScimSettingsRequest {
                organization_id: org_b.id.clone(),
            })
            .await,
    );
    denied(
        a.scim
            .disable_scim(admin::DisableScimRequest {
                organization_id: org_b.id.clone(),
            })
            .await,
    );
    denied(
        a.scim
            .issue_scim_token(admin::IssueScimTokenRequest {
                organization_id: org_b.id.clone(),
                description: String::new(),
                validity: None,
                connection_id: String::new(),
            })
            .await,
    );
    denied(
        a.scim
            .list_scim_tokens(admin::ListScimTokensRequest {
                organization_id: org_b.id.clone(),
                page_size: 0,
                page_token: String::new(),
            })
            .await,
    );
    denied(
        a.scim
            .revoke_scim_token(admin::RevokeScimTokenRequest {
                organization_id: org_b.id.clone(),
                token_id: b_token_id.clone(),
            })
            .await,
    );
    // naming their own organization with B's token id finds nothing
    assert_error(
        a.scim
            .revoke_scim_token(admin::RevokeScimTokenRequest {
                organization_id: org_a.id.clone(),
                token_id: b_token_id.clone(),
            })
            .await,
        Code::NotFound,
        "TOKEN_NOT_FOUND",
    );
    h.authenticate(&b_token.secret).await.unwrap();
    assert_eq!(
        list_tokens(&h, &owner_b, &org_b.id).await[0].status,
        ScimTokenStatus::Active as i32
    );

    // an owner lists only their own organization; the admin sees both
    let listed = a
        .orgs
        .list_organizations(admin::ListOrganizationsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .organizations;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, org_a.id);
    let all = h
        .root()
        .orgs
        .list_organizations(admin::ListOrganizationsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .organizations;
    assert_eq!(all.len(), 2);
    // and reads their own by slug
    let own = a
        .orgs
        .get_organization(admin::GetOrganizationRequest {
            key: Some(admin::get_organization_request::Key::Slug(
                org_a.slug.clone(),
            )),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(own.organization.unwrap().id, org_a.id);
}

#[tokio::test]
async fn missing_or_bad_credentials_are_unauthenticated() {
    let h = Harness::start().await;
    let (org, owner) = h.org(&unique_slug("auth")).await;
    enable(&h, &owner, &org.id).await;
    let scim_secret = issue(&h, &owner, &org.id, None).await.secret;
    let request = || admin::ListOrganizationsRequest::default();

    for credential in [
        None,
        Some("wrong"),
        Some("idown_not-a-real-credential"),
        Some(&*scim_secret),
        Some(&ADMIN_SECRET[..ADMIN_SECRET.len() - 1]),
    ] {
        let result = h.admin(credential).orgs.list_organizations(request()).await;
        assert_error(result, Code::Unauthenticated, "UNAUTHENTICATED");
    }

    // a second owner credential works until revoked; the first keeps working
    let second = h
        .admin(Some(&owner))
        .orgs
        .create_owner_credential(admin::CreateOwnerCredentialRequest {
            organization_id: org.id.clone(),
            description: "ci".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(second.owner_secret.starts_with("idown_"));
    h.admin(Some(&second.owner_secret))
        .orgs
        .list_organizations(request())
        .await
        .unwrap();
    let revoked = h
        .admin(Some(&owner))
        .orgs
        .revoke_owner_credential(admin::RevokeOwnerCredentialRequest {
            organization_id: org.id.clone(),
            credential_id: second.owner_credential.unwrap().id,
        })
        .await
        .unwrap()
        .into_inner()
        .owner_credential
        .unwrap();
    assert!(revoked.revoke_time.is_some());
    assert_error(
        h.admin(Some(&second.owner_secret))
            .orgs
            .list_organizations(request())
            .await,
        Code::Unauthenticated,
        "UNAUTHENTICATED",
    );
    h.admin(Some(&owner))
        .orgs
        .list_organizations(request())
        .await
        .unwrap();
}

#[tokio::test]
async fn without_a_bootstrap_secret_only_owners_authenticate() {
    let h = Harness::start_with(None).await;
    assert_error(
        h.root()
            .orgs
            .list_organizations(admin::ListOrganizationsRequest::default())
            .await,
        Code::Unauthenticated,
        "UNAUTHENTICATED",
    );
    assert_error(
        h.admin(Some(""))
            .orgs
            .list_organizations(admin::ListOrganizationsRequest::default())
            .await,
        Code::Unauthenticated,
        "UNAUTHENTICATED",
    );
}

#[tokio::test]
async fn secrets_are_stored_only_as_hashes_and_listed_as_metadata() {
    let h = Harness::start().await;
    let (org, owner) = h.org(&unique_slug("hash")).await;
    enable(&h, &owner, &org.id).await;
    let issued = issue(&h, &owner, &org.id, None).await;
    h.authenticate(&issued.secret).await.unwrap();

    let listed = list_tokens(&h, &owner, &org.id).await;
    assert_eq!(listed.len(), 1);
    let token = &listed[0];
    assert_eq!(token.hint, &issued.secret[..11]);
    assert_eq!(token.description, "Okta production");
    assert!(token.last_used_time.is_some());
    assert!(token.revoke_time.is_none());
    assert!(!format!("{token:?}").contains(&issued.secret[11..]));

    let rows = identity_core::entity::scim_token::Entity::find()
        .all(&h.store.db)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    let expected = format!("{:x}", Sha256::digest(issued.secret.as_bytes()));
    assert_eq!(rows[0].secret_hash, expected);
    assert!(!format!("{:?}", rows[0]).contains(&issued.secret[11..]));
    let owners = identity_core::entity::owner_credential::Entity::find()
        .all(&h.store.db)
        .await
        .unwrap();
    assert_eq!(owners.len(), 1);
    assert_eq!(
        owners[0].secret_hash,
        format!("{:x}", Sha256::digest(owner.as_bytes()))
    );
    assert!(!format!("{:?}", owners[0]).contains(&owner["idown_".len()..]));
}

#[tokio::test]
async fn last_use_is_written_at_most_once_a_minute() {
    let h = Harness::start().await;
    let (org, owner) = h.org(&unique_slug("used")).await;
    enable(&h, &owner, &org.id).await;
    let issued = issue(&h, &owner, &org.id, None).await;
    let id = issued.token.unwrap().id;
    let last_used = || async {
        identity_core::entity::scim_token::Entity::find_by_id(Uuid::parse_str(&id).unwrap())
            .one(&h.store.db)
            .await
            .unwrap()
            .unwrap()
            .last_used_at
    };
    assert_eq!(last_used().await, None);
    h.authenticate(&issued.secret).await.unwrap();
    let first = last_used().await.expect("recorded");
    h.authenticate(&issued.secret).await.unwrap();
    assert_eq!(last_used().await, Some(first));

    let two_minutes_ago = first - 120_000_000;
    h.store
        .db
        .execute(
            &Query::update()
                .table("scim_token")
                .value("last_used_at", two_minutes_ago)
                .to_owned(),
        )
        .await
        .unwrap();
    h.authenticate(&issued.secret).await.unwrap();
    assert!(last_used().await.unwrap() >= first);
}

#[tokio::test]
async fn organizations_are_validated_unique_and_paged_by_slug() {
    let h = Harness::start().await;
    let orgs = &mut h.root().orgs;
    for bad in ["", "A", "Acme", "acme_inc", "-acme"] {
        assert_error(
            orgs.create_organization(admin::CreateOrganizationRequest {
                slug: bad.into(),
                display_name: "X".into(),
            })
            .await,
            Code::InvalidArgument,
            "INVALID_ARGUMENT",
        );
    }
    assert_error(
        orgs.create_organization(admin::CreateOrganizationRequest {
            slug: "acme".into(),
            display_name: "  ".into(),
        })
        .await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
    for slug in ["charlie", "alpha", "bravo"] {
        h.org(slug).await;
    }
    assert_error(
        orgs.create_organization(admin::CreateOrganizationRequest {
            slug: "alpha".into(),
            display_name: "Again".into(),
        })
        .await,
        Code::AlreadyExists,
        "ORGANIZATION_SLUG_TAKEN",
    );

    let mut seen = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = orgs
            .list_organizations(admin::ListOrganizationsRequest {
                page_size: 2,
                page_token,
            })
            .await
            .unwrap()
            .into_inner();
        assert!(page.organizations.len() <= 2);
        seen.extend(page.organizations.into_iter().map(|o| o.slug));
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    assert_eq!(seen, ["alpha", "bravo", "charlie"]);
    assert_error(
        orgs.list_organizations(admin::ListOrganizationsRequest {
            page_size: 2,
            page_token: "garbage".into(),
        })
        .await,
        Code::InvalidArgument,
        "INVALID_PAGE_TOKEN",
    );
    assert_error(
        orgs.list_organizations(admin::ListOrganizationsRequest {
            page_size: 1001,
            page_token: String::new(),
        })
        .await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
    let by_slug = orgs
        .get_organization(admin::GetOrganizationRequest {
            key: Some(admin::get_organization_request::Key::Slug("bravo".into())),
        })
        .await
        .unwrap()
        .into_inner()
        .organization
        .unwrap();
    let by_id = orgs
        .get_organization(admin::GetOrganizationRequest {
            key: Some(admin::get_organization_request::Key::OrganizationId(
                by_slug.id.clone(),
            )),
        })
        .await
        .unwrap()
        .into_inner()
        .organization
        .unwrap();
    assert_eq!(by_id, by_slug);
    assert_error(
        orgs.get_organization(admin::GetOrganizationRequest {
            key: Some(admin::get_organization_request::Key::OrganizationId(
                Uuid::now_v7().to_string(),
            )),
        })
        .await,
        Code::NotFound,
        "ORGANIZATION_NOT_FOUND",
    );
    assert_error(
        orgs.get_organization(admin::GetOrganizationRequest { key: None })
            .await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
}

#[tokio::test]
async fn tokens_are_paged_newest_first() {
    let h = Harness::start().await;
    let (org, owner) = h.org(&unique_slug("page")).await;
    let mut issued = Vec::new();
    for _ in 0..5 {
        issued.push(issue(&h, &owner, &org.id, None).await.token.unwrap().id);
    }
    issued.reverse();
    let scim = &mut h.admin(Some(&owner)).scim;
    let mut seen = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = scim
            .list_scim_tokens(admin::ListScimTokensRequest {
                organization_id: org.id.clone(),
                page_size: 2,
                page_token,
            })
            .await
            .unwrap()
            .into_inner();
        seen.extend(page.tokens.into_iter().map(|t| t.id));
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    assert_eq!(seen, issued);
}

#[tokio::test]
async fn tokens_expiring_soon_are_flagged_warned_about_once_and_can_be_replaced_without_a_cutoff() {
    use identity_core::store::credentials;
    let h = Harness::start().await;
    let (org, owner) = h.org(&unique_slug("expiry")).await;
    enable(&h, &owner, &org.id).await;
    let soon = issue(&h, &owner, &org.id, Some(days(10))).await;
    let later = issue(&h, &owner, &org.id, None).await;
    let (soon_token, later_token) = (soon.token.unwrap(), later.token.unwrap());
    assert!(soon_token.expires_soon);
    assert!(!later_token.expires_soon);

    // the watch warns about the soon one once, whichever replica asks next
    let now = identity_core::time::now_micros();
    let warned = credentials::take_newly_expiring(&h.store.db, now)
        .await
        .unwrap();
    let ours: Vec<String> = warned
        .iter()
        .filter(|t| t.org_id.to_string() == org.id)
        .map(|t| t.id.to_string())
        .collect();
    assert_eq!(ours, std::slice::from_ref(&soon_token.id));
    let again = credentials::take_newly_expiring(&h.store.db, now)
        .await
        .unwrap();
    assert!(again.iter().all(|t| t.org_id.to_string() != org.id));
    // the gauge's source: the organization's soonest expiry is the soon token's
    let soonest = credentials::soonest_expiries(&h.store.db, now)
        .await
        .unwrap();
    let (_, expires_at) = soonest
        .into_iter()
        .find(|(id, _)| id.to_string() == org.id)
        .expect("the organization has an expiry");
    assert_eq!(
        expires_at / 1_000_000,
        soon_token.expire_time.unwrap().seconds
    );

    // rotation that keeps the previous token working until it is revoked
    let mut scim = h.admin(Some(&owner)).scim;
    assert_error(
        scim.rotate_scim_token(admin::RotateScimTokenRequest {
            organization_id: org.id.clone(),
            token_id: soon_token.id.clone(),
            grace_period: Some(hours(1)),
            validity: None,
            keep_previous: true,
        })
        .await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
    let rotated = scim
        .rotate_scim_token(admin::RotateScimTokenRequest {
            organization_id: org.id.clone(),
            token_id: soon_token.id.clone(),
            grace_period: None,
            validity: None,
            keep_previous: true,
        })
        .await
        .unwrap()
        .into_inner();
    let previous = rotated.previous_token.unwrap();
    assert_eq!(previous.status, ScimTokenStatus::Active as i32);
    assert_eq!(previous.expire_time, soon_token.expire_time);
    h.authenticate(&soon.secret).await.unwrap();
    h.authenticate(&rotated.secret).await.unwrap();
    assert!(!rotated.token.unwrap().expires_soon);
}
