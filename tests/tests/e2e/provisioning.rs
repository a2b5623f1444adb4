//! What the seed integrations promise an organization owner, verified the way an owner would:
//! through the core's gRPC API (roles held, active flag, who manages a user), not only through
//! SCIM's own answers.

use crate::setup;
use identity_proto::admin::v1 as admin;
use identity_proto::identity::v1 as pb;
use identity_tests::scim::{self, ENTERPRISE_SCHEMA, USER_SCHEMA, enc, patch};
use identity_tests::{Stack, Tenant, unique};
use serde_json::json;
use tonic_types::StatusExt;

async fn core_user(stack: &Stack, tenant: &Tenant, id: &str) -> Result<pb::User, tonic::Status> {
    stack
        .users()
        .get_user(pb::GetUserRequest {
            organization_id: tenant.org_id.clone(),
            user_id: id.to_owned(),
            ..Default::default()
        })
        .await
        .map(|response| response.into_inner().user.expect("user in response"))
}

async fn holds(stack: &Stack, tenant: &Tenant, role_id: &str, user_id: &str) -> bool {
    stack
        .roles()
        .check_role_membership(pb::CheckRoleMembershipRequest {
            organization_id: tenant.org_id.clone(),
            role_id: role_id.to_owned(),
            user_id: user_id.to_owned(),
        })
        .await
        .expect("CheckRoleMembership")
        .into_inner()
        .is_member
}

/// A 401 whose detail tells the provider's admin what happened.
#[track_caller]
fn expect_unauthorized(response: &identity_tests::Response, detail_start: &str) {
    response.expect_error(401, None);
    let detail = response.body["detail"].as_str().unwrap_or_default();
    assert!(detail.starts_with(detail_start), "{response}");
}

fn reason(status: &tonic::Status) -> String {
    status
        .get_error_details()
        .error_info()
        .map(|info| info.reason.clone())
        .unwrap_or_default()
}

#[tokio::test]
async fn scim_users_join_the_default_role_and_deactivation_keeps_them() {
    let (stack, tenant) = setup().await;
    let created = tenant.create_user(&unique("joiner")).await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(holds(&stack, &tenant, &tenant.default_role_id, &id).await);
    let user = core_user(&stack, &tenant, &id).await.unwrap();
    assert!(user.active);
    assert_eq!(user.managed_by, pb::ManagedBy::Scim as i32);

    // Okta's deactivation: a path-less replace of active
    let path = format!("/Users/{id}");
    crate::expect_patched(
        &tenant
            .patch(
                &path,
                patch(json!([{ "op": "replace", "value": { "active": false } }])),
            )
            .await,
    );
    let user = core_user(&stack, &tenant, &id).await.unwrap();
    assert!(!user.active, "deactivated in the core");
    assert!(
        holds(&stack, &tenant, &tenant.default_role_id, &id).await,
        "deactivation keeps the roles"
    );
    // Entra's reactivation with a string boolean
    crate::expect_patched(
        &tenant
            .patch(
                &path,
                patch(json!([{ "op": "Replace", "path": "active", "value": "True" }])),
            )
            .await,
    );
    assert!(core_user(&stack, &tenant, &id).await.unwrap().active);

    tenant.delete(&path).await.expect(204);
    let gone = core_user(&stack, &tenant, &id).await.unwrap_err();
    assert_eq!(gone.code(), tonic::Code::NotFound);
    assert!(!holds(&stack, &tenant, &tenant.default_role_id, &id).await);
}

#[tokio::test]
async fn existing_members_are_found_and_linked_keeping_their_roles() {
    let (stack, tenant) = setup().await;
    let name = format!("{}@Example.com", unique("Existing"));
    // a member the platform created before SCIM was connected, holding a role of its own
    let mut users = stack.users();
    let member = platform_member(&stack, &tenant, &name, &name).await;
    let admins = platform_role(&stack, &tenant, &member.id).await;

    // the provider's existence check finds the member whatever the case
    let found = tenant
        .get(&format!(
            "/Users?filter={}",
            enc(&format!("userName eq \"{}\"", name.to_lowercase()))
        ))
        .await;
    assert_eq!(found.resource_ids(), vec![member.id.clone()]);
    let by_email = tenant
        .get(&format!(
            "/Users?filter={}",
            enc(&format!("emails.value eq \"{}\"", name.to_uppercase()))
        ))
        .await;
    assert_eq!(by_email.resource_ids(), vec![member.id.clone()]);
    // creating them again is a conflict, not a second account
    tenant
        .post("/Users", scim::user(&name.to_uppercase()))
        .await
        .expect_error(409, Some("uniqueness"));

    // linking: the provider's PUT updates the attributes and takes the user over
    let mut body = scim::user(&name);
    body["externalId"] = json!("okta-00u1");
    body["name"] = json!({ "givenName": "Ex", "familyName": "Isting" });
    tenant
        .put(&format!("/Users/{}", member.id), body)
        .await
        .expect(200);
    let linked = core_user(&stack, &tenant, &member.id).await.unwrap();
    assert_eq!(linked.external_id, "okta-00u1");
    assert_eq!(linked.display_name, "Ex Isting", "display name falls back");
    assert_eq!(linked.managed_by, pb::ManagedBy::Scim as i32);
    assert!(
        holds(&stack, &tenant, &admins.id, &member.id).await,
        "linking leaves existing role assignments untouched"
    );

    // from now on the platform cannot change what the provider owns
    let refused = users
        .update_user(pb::UpdateUserRequest {
            organization_id: tenant.org_id.clone(),
            user: Some(pb::User {
                emails: vec![pb::ContactValue {
                    value: "elsewhere@example.com".into(),
                    primary: true,
                    ..Default::default()
                }],
                managed_by: pb::ManagedBy::Unspecified as i32,
                ..linked.clone()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["emails".into()],
            }),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::FailedPrecondition);
    assert_eq!(reason(&refused), "USER_MANAGED_BY_SCIM");
    let refused = users
        .delete_user(pb::DeleteUserRequest {
            organization_id: tenant.org_id.clone(),
            user_id: member.id.clone(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(reason(&refused), "USER_MANAGED_BY_SCIM");

    // only an owner removes members: through the admin API, whoever manages the user
    stack
        .admin_client_with(&tenant.owner_secret)
        .orgs
        .remove_member(admin::RemoveMemberRequest {
            organization_id: tenant.org_id.clone(),
            user_id: member.id.clone(),
        })
        .await
        .unwrap();
    let gone = core_user(&stack, &tenant, &member.id).await.unwrap_err();
    assert_eq!(gone.code(), tonic::Code::NotFound);
    assert!(!holds(&stack, &tenant, &admins.id, &member.id).await);
    tenant
        .get(&format!("/Users/{}", member.id))
        .await
        .expect_error(404, None);
}

/// A member the platform created before SCIM was connected.
async fn platform_member(stack: &Stack, tenant: &Tenant, user_name: &str, email: &str) -> pb::User {
    stack
        .users()
        .create_user(pb::CreateUserRequest {
            organization_id: tenant.org_id.clone(),
            user: Some(pb::User {
                user_name: user_name.to_owned(),
                emails: vec![pb::ContactValue {
                    value: email.to_owned(),
                    primary: true,
                    ..Default::default()
                }],
                active: true,
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .user
        .unwrap()
}

/// A role of the platform's own, held by `user_id`.
async fn platform_role(stack: &Stack, tenant: &Tenant, user_id: &str) -> pb::Role {
    stack
        .roles()
        .create_role(pb::CreateRoleRequest {
            organization_id: tenant.org_id.clone(),
            role: Some(pb::Role {
                display_name: unique("admins"),
                ..Default::default()
            }),
            member_user_ids: vec![user_id.to_owned()],
        })
        .await
        .unwrap()
        .into_inner()
        .role
        .unwrap()
}

fn provider_user(email: &str) -> serde_json::Value {
    json!({
        "schemas": [USER_SCHEMA],
        "userName": email,
        "externalId": unique("okta"),
        "emails": [{ "value": email, "type": "work", "primary": true }],
        "active": true,
    })
}

#[tokio::test]
async fn members_are_linked_by_email_only_in_verified_domains() {
    let (stack, tenant) = setup().await;
    let verified = format!("{}.test", unique("acme"));
    let other = format!("{}.test", unique("other"));
    // members whose user names are not their emails: the provider's `userName eq` finds neither
    let ada = platform_member(&stack, &tenant, &unique("ada"), &format!("Ada@{verified}")).await;
    let bob = platform_member(&stack, &tenant, &unique("bob"), &format!("bob@{other}")).await;
    let admins = platform_role(&stack, &tenant, &ada.id).await;

    // an owner cannot claim a domain: the platform adds it once it checked ownership
    let set_domains = |credential: String, domains: Vec<String>| {
        let stack = &stack;
        let org = tenant.org_id.clone();
        async move {
            stack
                .admin_client_with(&credential)
                .scim
                .set_verified_domains(admin::SetVerifiedDomainsRequest {
                    organization_id: org,
                    verified_domains: domains,
                })
                .await
                .map(|r| r.into_inner().settings.unwrap().verified_domains)
        }
    };
    let refused = set_domains(tenant.owner_secret.clone(), vec![verified.clone()])
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::PermissionDenied, "{refused:?}");
    let bad = set_domains(stack.admin_token().to_owned(), vec!["not a domain".into()])
        .await
        .unwrap_err();
    assert_eq!(bad.code(), tonic::Code::InvalidArgument, "{bad:?}");
    let domains = set_domains(
        stack.admin_token().to_owned(),
        vec![verified.to_uppercase(), verified.clone()],
    )
    .await
    .unwrap();
    assert_eq!(domains, vec![verified.clone()], "lowercase, once");

    // in a verified domain: the member is linked, keeping its id and its roles
    let linked = tenant
        .post("/Users", provider_user(&format!("ada@{verified}")))
        .await;
    linked.expect(201);
    assert_eq!(linked.body["id"], json!(ada.id), "{}", linked.body);
    assert_eq!(linked.body["userName"], json!(format!("ada@{verified}")));
    let member = core_user(&stack, &tenant, &ada.id).await.unwrap();
    assert_eq!(member.managed_by, pb::ManagedBy::Scim as i32);
    assert!(
        holds(&stack, &tenant, &admins.id, &ada.id).await,
        "roles kept"
    );
    assert!(
        holds(&stack, &tenant, &tenant.default_role_id, &ada.id).await,
        "and the default role joined"
    );

    // the account email moves only within verified domains
    let move_email = |address: String| {
        patch(json!([{
            "op": "replace",
            "path": "emails",
            "value": [{ "value": address, "type": "work", "primary": true }],
        }]))
    };
    let path = format!("/Users/{}", ada.id);
    tenant
        .patch(
            &path,
            move_email(format!("ada@{}.test", unique("personal"))),
        )
        .await
        .expect_error(400, Some("invalidValue"));
    let moved = tenant
        .patch(&path, move_email(format!("ada.lovelace@{verified}")))
        .await;
    moved.expect(200);
    assert_eq!(
        moved.body["emails"][0]["value"],
        json!(format!("ada.lovelace@{verified}"))
    );

    // elsewhere: never linked, a new account as before
    let created = tenant
        .post("/Users", provider_user(&format!("bob@{other}")))
        .await;
    created.expect(201);
    assert_ne!(created.body["id"], json!(bob.id));
    let untouched = core_user(&stack, &tenant, &bob.id).await.unwrap();
    assert_eq!(untouched.managed_by, pb::ManagedBy::Platform as i32);

    // the owner may remove the domain; from then on nothing links
    let domains = set_domains(tenant.owner_secret.clone(), vec![])
        .await
        .unwrap();
    assert!(domains.is_empty());
    let carol = platform_member(
        &stack,
        &tenant,
        &unique("carol"),
        &format!("carol@{verified}"),
    )
    .await;
    let created = tenant
        .post("/Users", provider_user(&format!("carol@{verified}")))
        .await;
    created.expect(201);
    assert_ne!(created.body["id"], json!(carol.id));
}

#[tokio::test]
async fn disabling_scim_keeps_users_and_roles_and_hands_them_back() {
    let stack = crate::uncached_stack().await;
    let tenant = stack.new_tenant().await;
    let user = tenant.create_user(&unique("stays")).await;
    let id = user["id"].as_str().unwrap().to_owned();
    stack
        .admin_client_with(&tenant.owner_secret)
        .scim
        .disable_scim(admin::DisableScimRequest {
            organization_id: tenant.org_id.clone(),
        })
        .await
        .unwrap();
    expect_unauthorized(&tenant.get("/Users").await, "SCIM provisioning is disabled");
    let kept = core_user(&stack, &tenant, &id).await.unwrap();
    assert_eq!(kept.managed_by, pb::ManagedBy::Platform as i32);
    assert!(holds(&stack, &tenant, &tenant.default_role_id, &id).await);
}

#[tokio::test]
async fn revoked_and_expired_tokens_tell_the_admin_why() {
    let stack = crate::uncached_stack().await;
    let tenant = stack.new_tenant().await;
    let mut owner = stack.admin_client_with(&tenant.owner_secret);

    tenant.get("/Users").await.expect(200);
    owner
        .scim
        .revoke_scim_token(admin::RevokeScimTokenRequest {
            organization_id: tenant.org_id.clone(),
            token_id: tenant.token_id.clone(),
        })
        .await
        .unwrap();
    expect_unauthorized(&tenant.get("/Users").await, "token revoked");

    let short = owner
        .scim
        .issue_scim_token(admin::IssueScimTokenRequest {
            organization_id: tenant.org_id.clone(),
            description: "short-lived".into(),
            validity: Some(prost_types::Duration {
                seconds: 1,
                nanos: 0,
            }),
            connection_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let short_tenant = tenant.with_token(&short.secret);
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    expect_unauthorized(&short_tenant.get("/Users").await, "token expired");
    // an unknown token learns nothing
    let unknown = tenant
        .with_token("idscim_not-a-real-token")
        .get("/Users")
        .await;
    unknown.expect_error(401, None);
    assert_eq!(unknown.body["detail"], json!("authentication failed"));
}

#[tokio::test]
async fn okta_header_auth_sends_the_bare_token() {
    let (stack, tenant) = setup().await;
    assert_eq!(
        stack.normalization_count("bare_authorization_token").await,
        0
    );
    let bare = tenant.with_token("");
    let response = bare
        .request(
            reqwest::Method::GET,
            "/Users?startIndex=1&count=1",
            None,
            &[("authorization", &tenant.scim_token)],
        )
        .await;
    response.expect(200);
    // operators see which provider habit was relied on
    assert_eq!(
        stack.normalization_count("bare_authorization_token").await,
        1
    );
    let wrong_scheme = bare
        .request(
            reqwest::Method::GET,
            "/Users",
            None,
            &[("authorization", &format!("Basic {}", tenant.scim_token))],
        )
        .await;
    wrong_scheme.expect_error(401, None);
}

#[tokio::test]
async fn display_name_falls_back_and_the_manager_round_trips() {
    let (stack, tenant) = setup().await;
    let manager = tenant.create_user(&unique("boss")).await;
    let manager_id = manager["id"].as_str().unwrap();
    // the Auzmor flow: manager by id and display name
    let created = tenant
        .post(
            "/Users",
            json!({
                "schemas": [USER_SCHEMA, ENTERPRISE_SCHEMA],
                "userName": unique("report"),
                "name": { "givenName": "Ada", "familyName": "Lovelace" },
                ENTERPRISE_SCHEMA: {
                    "manager": { "value": manager_id, "displayName": "The Boss" }
                }
            }),
        )
        .await;
    created.expect(201);
    assert_eq!(created.body["displayName"], json!("Ada Lovelace"));
    let fetched = tenant.get(&format!("/Users/{}", created.id())).await;
    assert_eq!(
        fetched.body[ENTERPRISE_SCHEMA]["manager"]["value"],
        json!(manager_id)
    );
    assert_eq!(
        fetched.body[ENTERPRISE_SCHEMA]["manager"]["displayName"],
        json!("The Boss")
    );
    let user = core_user(&stack, &tenant, &created.id()).await.unwrap();
    let enterprise = user.enterprise.expect("enterprise attributes");
    assert_eq!(enterprise.manager_id, manager_id);
}
