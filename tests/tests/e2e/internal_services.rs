//! The platform's internal services on identity.v1, across real processes: service
//! credentials and their scopes, users' access tokens and introspection, batched role checks,
//! and the change stream (resumption, replicas, retention).

use crate::{expect_patched, setup};
use futures::StreamExt;
use identity_proto::admin::v1 as admin;
use identity_proto::client::IdentityClient;
use identity_proto::identity::v1 as pb;
use identity_tests::scim::patch;
use identity_tests::{Stack, unique};
use serde_json::json;
use std::time::{Duration, Instant};
use tonic::Code;
use tonic_types::StatusExt;

fn reason(status: &tonic::Status) -> String {
    status
        .get_error_details()
        .error_info()
        .map(|info| info.reason.clone())
        .unwrap_or_default()
}

#[track_caller]
fn assert_status<T: std::fmt::Debug>(result: Result<T, tonic::Status>, code: Code, why: &str) {
    let status = result.expect_err("the call must fail");
    assert_eq!(status.code(), code, "{status:?}");
    assert_eq!(reason(&status), why, "{status:?}");
}

fn lookup(org: &str, user_name: &str) -> pb::LookupUserRequest {
    pb::LookupUserRequest {
        organization_id: org.to_owned(),
        key: Some(pb::lookup_user_request::Key::UserName(user_name.to_owned())),
        ..Default::default()
    }
}

async fn issue_token(client: &IdentityClient, org: &str, user_id: &str) -> String {
    client
        .access_tokens
        .clone()
        .issue_access_token(pb::IssueAccessTokenRequest {
            organization_id: org.to_owned(),
            user_id: user_id.to_owned(),
            scopes: vec!["reports:read".into()],
            ttl: None,
        })
        .await
        .expect("IssueAccessToken")
        .into_inner()
        .token
}

async fn introspect(client: &IdentityClient, token: &str) -> pb::IntrospectTokenResponse {
    client
        .access_tokens
        .clone()
        .introspect_token(pb::IntrospectTokenRequest {
            token: token.to_owned(),
            organization_id: String::new(),
        })
        .await
        .expect("IntrospectToken")
        .into_inner()
}

/// A WatchChanges stream of `org` after `cursor`.
async fn watch(
    client: &IdentityClient,
    org: &str,
    cursor: i64,
) -> tonic::Streaming<pb::WatchChangesResponse> {
    client
        .changes
        .clone()
        .watch_changes(pb::WatchChangesRequest {
            organization_id: org.to_owned(),
            after_sequence: cursor,
        })
        .await
        .expect("WatchChanges")
        .into_inner()
}

/// The next message of a stream, within 10 s.
async fn next_message(
    stream: &mut tonic::Streaming<pb::WatchChangesResponse>,
) -> pb::WatchChangesResponse {
    tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .expect("changes within 10 s")
        .expect("stream open")
        .expect("no error")
}

async fn latest_sequence(client: &IdentityClient, org: &str) -> i64 {
    client
        .changes
        .clone()
        .list_changes(pb::ListChangesRequest {
            organization_id: org.to_owned(),
            after_sequence: 0,
            page_size: 1,
        })
        .await
        .expect("ListChanges")
        .into_inner()
        .latest_sequence
}

#[tokio::test]
async fn identity_calls_need_a_credential_and_stay_in_its_scope() {
    let (stack, tenant) = setup().await;
    let other = stack.new_tenant().await;
    let user_name = unique("scoped");
    tenant.create_user(&user_name).await;

    // no credential, or one nobody issued: refused before any handler runs
    let mut anonymous = pb::user_service_client::UserServiceClient::new(
        tonic::transport::Channel::from_shared(format!("http://{}", stack.identity_addr()))
            .unwrap()
            .connect_lazy(),
    );
    assert_status(
        anonymous
            .lookup_user(lookup(&tenant.org_id, &user_name))
            .await,
        Code::Unauthenticated,
        "UNAUTHENTICATED",
    );
    let forged = stack.identity_client_with("idsvc_not-a-real-credential");
    assert_status(
        forged
            .users
            .clone()
            .lookup_user(lookup(&tenant.org_id, &user_name))
            .await,
        Code::Unauthenticated,
        "UNAUTHENTICATED",
    );

    // a read-only credential of the tenant reads its organization and nothing else
    let reader = stack.identity_client_with(&stack.service_credential(&tenant, false).await);
    let found = reader
        .users
        .clone()
        .lookup_user(lookup(&tenant.org_id, &user_name))
        .await
        .expect("lookup in scope")
        .into_inner()
        .user
        .unwrap();
    assert_eq!(found.user_name, user_name);
    assert_status(
        reader
            .users
            .clone()
            .lookup_user(lookup(&other.org_id, &user_name))
            .await,
        Code::PermissionDenied,
        "PERMISSION_DENIED",
    );
    let new_user = pb::CreateUserRequest {
        organization_id: tenant.org_id.clone(),
        user: Some(pb::User {
            user_name: unique("platform"),
            active: true,
            ..Default::default()
        }),
        ..Default::default()
    };
    assert_status(
        reader.users.clone().create_user(new_user.clone()).await,
        Code::PermissionDenied,
        "PERMISSION_DENIED",
    );

    // read-write: platform writes pass, writes claiming SCIM ownership stay with the edge
    let writer = stack.identity_client_with(&stack.service_credential(&tenant, true).await);
    writer
        .users
        .clone()
        .create_user(new_user.clone())
        .await
        .expect("platform write");
    let mut as_scim = new_user.clone();
    if let Some(user) = as_scim.user.as_mut() {
        user.user_name = unique("claimed");
        user.managed_by = pb::ManagedBy::Scim as i32;
    }
    assert_status(
        writer.users.clone().create_user(as_scim).await,
        Code::PermissionDenied,
        "PERMISSION_DENIED",
    );
    let mut scim_tokens = pb::token_service_client::TokenServiceClient::new(
        stack.identity_channel_with(&stack.service_credential(&tenant, true).await),
    );
    assert_status(
        scim_tokens
            .authenticate_scim_token(pb::AuthenticateScimTokenRequest {
                token: tenant.scim_token.clone(),
            })
            .await,
        Code::PermissionDenied,
        "PERMISSION_DENIED",
    );

    // a revoked credential stops working within the core's 5 s credential cache
    let secret = stack.service_credential(&tenant, false).await;
    let revocable = stack.identity_client_with(&secret);
    revocable
        .users
        .clone()
        .lookup_user(lookup(&tenant.org_id, &user_name))
        .await
        .expect("before revocation");
    let owner = stack.admin_client_with(&tenant.owner_secret);
    let listed = owner
        .service_credentials
        .clone()
        .list_service_credentials(admin::ListServiceCredentialsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .credentials;
    assert_eq!(listed.len(), 4, "{listed:#?}");
    let id = listed
        .iter()
        .find(|c| secret.starts_with(&c.hint))
        .map(|c| c.id.clone())
        .expect("the credential is listed by its hint");
    owner
        .service_credentials
        .clone()
        .revoke_service_credential(admin::RevokeServiceCredentialRequest { credential_id: id })
        .await
        .expect("RevokeServiceCredential");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let outcome = revocable
            .users
            .clone()
            .lookup_user(lookup(&tenant.org_id, &user_name))
            .await;
        match outcome {
            Err(status) if status.code() == Code::Unauthenticated => break,
            other => assert!(
                Instant::now() < deadline,
                "still accepted 15 s after revocation: {other:?}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The issue's end-to-end promise: an identity provider deactivates a user over SCIM; right
/// after the SCIM response a separate service's introspection says inactive, and a watcher that
/// was following the feed receives the deactivation.
#[tokio::test]
async fn a_scim_deactivation_revokes_tokens_and_reaches_watchers() {
    let (stack, tenant) = setup().await;
    let created = tenant.create_user(&unique("leaver")).await;
    let user_id = created["id"].as_str().unwrap().to_owned();
    let platform = stack.identity_client_with(&stack.service_credential(&tenant, true).await);
    let token = issue_token(&platform, &tenant.org_id, &user_id).await;
    assert!(token.starts_with("idat_"), "{token}");

    // a separate consumer (its own credential and connection) introspects and watches
    let consumer = stack.identity_client_with(&stack.service_credential(&tenant, false).await);
    let active = introspect(&consumer, &token).await;
    assert!(active.active, "{active:?}");
    assert_eq!(active.user_id, user_id);
    assert_eq!(active.organization_id, tenant.org_id);
    assert_eq!(active.scopes, ["reports:read"]);
    assert!(
        active
            .roles
            .iter()
            .any(|role| role.id == tenant.default_role_id
                && role.display_name == tenant.default_role_name),
        "{active:?}"
    );
    let cursor = latest_sequence(&consumer, &tenant.org_id).await;
    let mut stream = watch(&consumer, &tenant.org_id, cursor).await;

    expect_patched(
        &tenant
            .patch(
                &format!("/Users/{user_id}"),
                patch(json!([{ "op": "replace", "path": "active", "value": false }])),
            )
            .await,
    );
    let after = introspect(&consumer, &token).await;
    assert!(!after.active, "{after:?}");
    assert_eq!(after.inactive_reason, pb::InactiveReason::Revoked as i32);
    assert!(
        after.user_id.is_empty(),
        "inactive answers carry nothing else"
    );

    let message = next_message(&mut stream).await;
    let change = &message.changes[0];
    assert_eq!(change.sequence, cursor + 1);
    assert_eq!(change.resource_id, user_id);
    assert_eq!(change.kind, pb::ChangeKind::Deactivated as i32);

    // reactivation does not bring old tokens back; new ones work
    expect_patched(
        &tenant
            .patch(
                &format!("/Users/{user_id}"),
                patch(json!([{ "op": "replace", "path": "active", "value": true }])),
            )
            .await,
    );
    assert!(!introspect(&consumer, &token).await.active);
    let fresh = issue_token(&platform, &tenant.org_id, &user_id).await;
    assert!(introspect(&consumer, &fresh).await.active);

    // a SCIM DELETE revokes as well
    tenant
        .delete(&format!("/Users/{user_id}"))
        .await
        .expect(204);
    let deleted = introspect(&consumer, &fresh).await;
    assert!(!deleted.active);
    assert_eq!(deleted.inactive_reason, pb::InactiveReason::Revoked as i32);
}

#[tokio::test]
async fn tokens_and_role_checks_reject_bad_input_clearly() {
    let (stack, tenant) = setup().await;
    let other = stack.new_tenant().await;
    let user_id = tenant.create_user(&unique("holder")).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let platform = stack.identity_client_with(&stack.service_credential(&tenant, true).await);
    let mut tokens = platform.access_tokens.clone();
    let token = issue_token(&platform, &tenant.org_id, &user_id).await;

    // malformed and unknown tokens
    let malformed = tokens
        .introspect_token(pb::IntrospectTokenRequest {
            token: "Bearer something".into(),
            organization_id: String::new(),
        })
        .await
        .expect_err("malformed");
    assert_eq!(malformed.code(), Code::InvalidArgument);
    let fields: Vec<String> = malformed
        .get_error_details()
        .bad_request()
        .map(|b| b.field_violations.iter().map(|v| v.field.clone()).collect())
        .unwrap_or_default();
    assert_eq!(fields, ["token"]);
    let unknown = introspect(&platform, &format!("idat_{}", "A".repeat(43))).await;
    assert!(!unknown.active);
    assert_eq!(unknown.inactive_reason, pb::InactiveReason::Unknown as i32);

    // another organization's token: named mismatch, and a caller scoped elsewhere
    assert_status(
        tokens
            .introspect_token(pb::IntrospectTokenRequest {
                token: token.clone(),
                organization_id: other.org_id.clone(),
            })
            .await,
        Code::PermissionDenied,
        "PERMISSION_DENIED",
    );
    let outsider = stack.identity_client_with(&stack.service_credential(&other, false).await);
    let mut outsider_tokens = outsider.access_tokens.clone();
    assert_status(
        outsider_tokens
            .introspect_token(pb::IntrospectTokenRequest {
                token: token.clone(),
                organization_id: other.org_id.clone(),
            })
            .await,
        Code::PermissionDenied,
        "TOKEN_OF_ANOTHER_ORGANIZATION",
    );
    assert_status(
        outsider_tokens
            .introspect_token(pb::IntrospectTokenRequest {
                token: token.clone(),
                organization_id: String::new(),
            })
            .await,
        Code::PermissionDenied,
        "PERMISSION_DENIED",
    );

    // bad issue requests change nothing
    assert_status(
        tokens
            .issue_access_token(pb::IssueAccessTokenRequest {
                organization_id: tenant.org_id.clone(),
                user_id: user_id.clone(),
                scopes: vec!["has space".into()],
                ttl: None,
            })
            .await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
    assert_status(
        tokens
            .issue_access_token(pb::IssueAccessTokenRequest {
                organization_id: tenant.org_id.clone(),
                user_id: uuid::Uuid::now_v7().to_string(),
                scopes: vec![],
                ttl: None,
            })
            .await,
        Code::NotFound,
        "USER_NOT_FOUND",
    );

    // revoke one, then all of the user's tokens
    let second = issue_token(&platform, &tenant.org_id, &user_id).await;
    let third = issue_token(&platform, &tenant.org_id, &user_id).await;
    tokens
        .revoke_access_token(pb::RevokeAccessTokenRequest {
            organization_id: tenant.org_id.clone(),
            key: Some(pb::revoke_access_token_request::Key::Token(second.clone())),
        })
        .await
        .expect("RevokeAccessToken");
    assert!(!introspect(&platform, &second).await.active);
    assert!(introspect(&platform, &third).await.active);
    let revoked = tokens
        .revoke_user_access_tokens(pb::RevokeUserAccessTokensRequest {
            organization_id: tenant.org_id.clone(),
            user_id: user_id.clone(),
        })
        .await
        .expect("RevokeUserAccessTokens")
        .into_inner();
    assert_eq!(revoked.revoked_count, 2, "the first and third tokens");
    assert!(!introspect(&platform, &token).await.active);
    assert!(!introspect(&platform, &third).await.active);

    // an oversized batch of role checks is refused, naming the field
    let check = pb::RoleMembershipCheck {
        user_id: user_id.clone(),
        role: Some(pb::role_membership_check::Role::RoleId(
            tenant.default_role_id.clone(),
        )),
    };
    let oversized = platform
        .roles
        .clone()
        .batch_check_role_membership(pb::BatchCheckRoleMembershipRequest {
            organization_id: tenant.org_id.clone(),
            checks: vec![check; 101],
        })
        .await
        .expect_err("101 checks");
    assert_eq!(oversized.code(), Code::InvalidArgument);
    assert!(oversized.message().contains("checks"), "{oversized:?}");
}

#[tokio::test]
async fn batch_role_checks_answer_by_id_and_by_name_in_order() {
    let (stack, tenant) = setup().await;
    let member = tenant.create_user(&unique("member")).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let group_name = unique("auditors");
    let group = tenant.create_group(&group_name, &[&member]).await;
    let group_id = group["id"].as_str().unwrap().to_owned();
    let outsider = tenant.create_user(&unique("outsider")).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let reader = stack.identity_client_with(&stack.service_credential(&tenant, false).await);
    use pb::role_membership_check::Role;
    let check = |user: &str, role: Role| pb::RoleMembershipCheck {
        user_id: user.to_owned(),
        role: Some(role),
    };
    let answers = reader
        .roles
        .clone()
        .batch_check_role_membership(pb::BatchCheckRoleMembershipRequest {
            organization_id: tenant.org_id.clone(),
            checks: vec![
                check(&member, Role::RoleId(group_id.clone())),
                check(&outsider, Role::RoleId(group_id.clone())),
                check(&member, Role::RoleDisplayName(group_name.clone())),
                check(&member, Role::RoleDisplayName(group_name.to_uppercase())),
                check(
                    &outsider,
                    Role::RoleDisplayName(tenant.default_role_name.clone()),
                ),
                check(&member, Role::RoleId(uuid::Uuid::now_v7().to_string())),
            ],
        })
        .await
        .expect("BatchCheckRoleMembership")
        .into_inner()
        .is_member;
    assert_eq!(answers, [true, false, true, false, true, false]);
}

/// Collects changes from `stream` until `until` (inclusive) has arrived.
async fn collect_until(
    stream: &mut tonic::Streaming<pb::WatchChangesResponse>,
    until: i64,
    into: &mut Vec<i64>,
) {
    while into.last().copied().unwrap_or(i64::MIN) < until {
        let message = next_message(stream).await;
        into.extend(message.changes.iter().map(|c| c.sequence));
    }
}

#[tokio::test]
async fn a_reconnecting_watcher_loses_and_duplicates_nothing() {
    let (stack, tenant) = setup().await;
    let reader = stack.identity_client_with(&stack.service_credential(&tenant, false).await);
    let start = latest_sequence(&reader, &tenant.org_id).await;
    let mut seen = Vec::new();
    let mut stream = watch(&reader, &tenant.org_id, start).await;
    for _ in 0..3 {
        tenant.create_user(&unique("first-wave")).await;
    }
    let mid = latest_sequence(&reader, &tenant.org_id).await;
    collect_until(&mut stream, mid, &mut seen).await;
    // the client goes away; writes continue while it is disconnected
    drop(stream);
    for _ in 0..3 {
        tenant.create_user(&unique("second-wave")).await;
    }
    let resume_from = *seen.last().unwrap();
    let mut stream = watch(&reader, &tenant.org_id, resume_from).await;
    for _ in 0..2 {
        tenant.create_user(&unique("third-wave")).await;
    }
    let end = latest_sequence(&reader, &tenant.org_id).await;
    collect_until(&mut stream, end, &mut seen).await;
    let expected: Vec<i64> = (start + 1..=end).collect();
    assert_eq!(seen, expected, "every change once, in order");
}

#[tokio::test]
async fn a_change_written_through_one_replica_streams_from_another() {
    let mut stack = Stack::start().await;
    let tenant = stack.new_tenant().await;
    let replica = stack.start_replica().await;
    let credential = stack.service_credential(&tenant, false).await;
    let second = IdentityClient::connect_lazy(&format!("http://{replica}"), &credential).unwrap();
    let cursor = latest_sequence(&second, &tenant.org_id).await;
    let mut stream = watch(&second, &tenant.org_id, cursor).await;
    // the edge writes through the first core only
    let created = tenant.create_user(&unique("replicated")).await;
    let message = next_message(&mut stream).await;
    assert_eq!(message.changes[0].sequence, cursor + 1);
    assert_eq!(
        message.changes[0].resource_id,
        created["id"].as_str().unwrap()
    );
    assert_eq!(message.changes[0].kind, pb::ChangeKind::Created as i32);
}

#[tokio::test]
async fn a_cursor_older_than_retention_is_refused_with_a_resync_hint() {
    let stack = Stack::builder()
        .with_edge(true)
        .core_env("IDENTITY_CHANGE_RETENTION_SECS", "1")
        .core_env("IDENTITY_RETENTION_INTERVAL_SECS", "1")
        .start()
        .await;
    let tenant = stack.new_tenant().await;
    tenant.create_user(&unique("ephemeral")).await;
    let reader = stack.identity_client_with(&stack.service_credential(&tenant, false).await);
    let mut changes = reader.changes.clone();
    let request = |after| pb::ListChangesRequest {
        organization_id: tenant.org_id.clone(),
        after_sequence: after,
        page_size: 10,
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    let expired = loop {
        match changes.list_changes(request(0)).await {
            Err(status) => break status,
            Ok(_) => assert!(Instant::now() < deadline, "nothing pruned within 20 s"),
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert_eq!(expired.code(), Code::FailedPrecondition, "{expired:?}");
    assert_eq!(reason(&expired), "CURSOR_EXPIRED");
    assert!(expired.message().contains("resynchronise"), "{expired:?}");
    let latest: i64 = expired
        .get_error_details()
        .error_info()
        .and_then(|info| info.metadata.get("latest_sequence").cloned())
        .expect("latest_sequence in ErrorInfo metadata")
        .parse()
        .unwrap();
    assert!(latest >= 1);
    assert_status(
        changes
            .watch_changes(pb::WatchChangesRequest {
                organization_id: tenant.org_id.clone(),
                after_sequence: 0,
            })
            .await,
        Code::FailedPrecondition,
        "CURSOR_EXPIRED",
    );
    // resuming from the hint works, and new changes flow again
    let mut stream = changes
        .watch_changes(pb::WatchChangesRequest {
            organization_id: tenant.org_id.clone(),
            after_sequence: latest,
        })
        .await
        .expect("watch from the hint")
        .into_inner();
    tenant.create_user(&unique("after-resync")).await;
    let message = next_message(&mut stream).await;
    assert!(message.changes[0].sequence > latest);
}

/// Rotating the edge's credential without downtime: while the core is configured with the
/// previous one as well, both are accepted as the edge; anything else still is not.
#[tokio::test]
async fn the_previous_edge_credential_is_accepted_during_its_rotation() {
    let previous = format!("previous-edge-{}", uuid::Uuid::new_v4().simple());
    let stack = Stack::builder()
        .with_edge(true)
        .core_env("IDENTITY_EDGE_CREDENTIAL_PREVIOUS", previous.clone())
        .start()
        .await;
    let tenant = stack.new_tenant().await;
    tenant.create_user(&unique("rotating")).await;
    let check = |credential: &str| {
        let mut tokens = pb::token_service_client::TokenServiceClient::new(
            stack.identity_channel_with(credential),
        );
        let token = tenant.scim_token.clone();
        async move {
            tokens
                .authenticate_scim_token(pb::AuthenticateScimTokenRequest { token })
                .await
        }
    };
    check(stack.edge_credential())
        .await
        .expect("the current credential");
    check(&previous).await.expect("the previous credential");
    assert_status(
        check("neither-current-nor-previous").await,
        Code::Unauthenticated,
        "UNAUTHENTICATED",
    );
}

/// The client helper's change stream survives a core restart: it reconnects with backoff and
/// resumes after the last change it yielded, so the sequence stays contiguous.
#[tokio::test]
async fn the_client_helper_follows_the_feed_across_a_core_restart() {
    let (mut stack, tenant) = setup().await;
    let reader = stack.identity_client_with(&stack.service_credential(&tenant, false).await);
    let start = latest_sequence(&reader, &tenant.org_id).await;
    let retry = identity_proto::client::RetryPolicy {
        max_retries: 20,
        initial_backoff: Duration::from_millis(50),
        max_backoff: Duration::from_millis(500),
    };
    let mut changes = Box::pin(reader.follow_changes(tenant.org_id.clone(), start, retry));
    let mut seen = Vec::new();
    let mut take = async |count: usize, seen: &mut Vec<i64>| {
        for _ in 0..count {
            let change = tokio::time::timeout(Duration::from_secs(20), changes.next())
                .await
                .expect("a change within 20 s")
                .expect("the stream goes on")
                .expect("no error");
            seen.push(change.sequence);
        }
    };
    tenant.create_user(&unique("before-restart")).await;
    take(1, &mut seen).await;
    stack.restart_core().await;
    // the edge reconnects too; each creation is at least one change
    tenant.create_user(&unique("after-restart")).await;
    let end = latest_sequence(&reader, &tenant.org_id).await;
    let remaining = usize::try_from(end - seen[0]).unwrap();
    take(remaining, &mut seen).await;
    let expected: Vec<i64> = (start + 1..=end).collect();
    assert_eq!(
        seen, expected,
        "every change once, in order, across the restart"
    );
}
