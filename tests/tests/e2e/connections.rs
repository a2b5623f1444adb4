//! Provisioning connections through the real processes: the groups a connection may sync, its
//! activity summary (last request, counts, recent errors with the request that caused them)
//! and the connection recorded on every change it makes.

use identity_proto::admin::v1 as admin;
use identity_proto::identity::v1 as pb;
use identity_tests::oauth::{connection_token, create_connection, get_connection};
use identity_tests::scim::patch;
use identity_tests::{Stack, unique};
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn groups_outside_the_connection_are_refused_and_nothing_changes() {
    let stack = Stack::start().await;
    let tenant = stack.new_tenant().await;
    let engineering = unique("Engineering");
    let connection_id = create_connection(&stack, &tenant, "Okta", &[&engineering]).await;
    let idp = tenant.with_token(&connection_token(&stack, &tenant, &connection_id).await);

    // a group outside the list: 403 naming it, and no such group exists afterwards
    let sales = unique("Sales");
    let refused = idp
        .post(
            "/Groups",
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": sales}),
        )
        .await;
    refused.expect_error(403, None);
    assert!(
        refused.body["detail"].as_str().unwrap().contains(&sales),
        "{refused}"
    );
    let found = tenant
        .get(&format!("/Groups?filter=displayName%20eq%20%22{sales}%22"))
        .await;
    assert_eq!(found.total(), 0);

    // a listed group, in any case, is pushed as usual
    let created = idp
        .post(
            "/Groups",
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                   "displayName": engineering.to_uppercase()}),
        )
        .await;
    created.expect(201);
    let group_id = created.id();

    // renaming it out of the list is refused and keeps the name
    let renamed = idp
        .patch(
            &format!("/Groups/{group_id}"),
            patch(json!([{"op": "replace", "path": "displayName", "value": sales}])),
        )
        .await;
    renamed.expect_error(403, None);
    let kept = tenant.get(&format!("/Groups/{group_id}")).await;
    assert_eq!(kept.body["displayName"], engineering.to_uppercase());

    // the organization's other roles are out of reach: no membership changes, no delete
    let user = idp
        .post(
            "/Users",
            identity_tests::scim::user(&unique("u@example.com")),
        )
        .await;
    user.expect(201);
    let add = idp
        .patch(
            &format!("/Groups/{}", tenant.default_role_id),
            patch(json!([{"op": "add", "path": "members", "value": [{"value": user.id()}]}])),
        )
        .await;
    add.expect_error(403, None);
    idp.delete(&format!("/Groups/{}", tenant.default_role_id))
        .await
        .expect_error(403, None);
    // a token without a connection is not limited
    tenant
        .post(
            "/Groups",
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": sales}),
        )
        .await
        .expect(201);
}

#[tokio::test]
async fn activity_counts_operations_and_keeps_failed_requests() {
    let stack = Stack::start().await;
    let tenant = stack.new_tenant().await;
    let connection_id = create_connection(&stack, &tenant, "Entra ID", &[]).await;
    let idp = tenant.with_token(&connection_token(&stack, &tenant, &connection_id).await);

    let created = idp
        .post(
            "/Users",
            identity_tests::scim::user(&unique("act@example.com")),
        )
        .await;
    created.expect(201);
    let id = created.id();
    idp.patch(
        &format!("/Users/{id}"),
        patch(json!([{"op": "replace", "path": "displayName", "value": "Renamed"}])),
    )
    .await
    .expect(200);
    idp.patch(
        &format!("/Users/{id}"),
        patch(json!([{"op": "replace", "path": "active", "value": false}])),
    )
    .await
    .expect(200);
    idp.delete(&format!("/Users/{id}")).await.expect(204);
    // a bad request: recorded with the request that caused it
    let bad = idp
        .post(
            "/Users",
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"]}),
        )
        .await;
    bad.expect(400);

    // errors are recorded off the request path: wait for it
    let mut summary = get_connection(&stack, &tenant, &connection_id).await;
    for _ in 0..50 {
        if !summary.activity.as_ref().unwrap().recent_errors.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        summary = get_connection(&stack, &tenant, &connection_id).await;
    }
    let activity = summary.activity.unwrap();
    assert_eq!(
        (
            activity.creates,
            activity.updates,
            activity.deactivations,
            activity.deletes
        ),
        (1, 1, 1, 1),
        "{activity:?}"
    );
    assert!(activity.last_request_time.is_some());
    let error = &activity.recent_errors[0];
    assert_eq!((error.method.as_str(), error.status), ("POST", 400));
    assert!(error.path.ends_with("/scim/v2/Users"), "{error:?}");
    assert_eq!(
        error.scim_type,
        bad.body["scimType"].as_str().unwrap_or_default()
    );
    assert_eq!(error.detail, bad.body["detail"].as_str().unwrap());

    // every change of the connection names it; changes made otherwise name none
    tenant.create_user(&unique("direct@example.com")).await;
    let changes = stack
        .changes()
        .list_changes(pb::ListChangesRequest {
            organization_id: tenant.org_id.clone(),
            after_sequence: 0,
            page_size: 1000,
        })
        .await
        .unwrap()
        .into_inner()
        .changes;
    let of_user: Vec<_> = changes.iter().filter(|c| c.resource_id == id).collect();
    assert_eq!(of_user.len(), 4, "{of_user:?}");
    assert!(of_user.iter().all(|c| c.connection_id == connection_id));
    assert_eq!(changes.last().unwrap().connection_id, "");

    // listed with the others, and its token shows the connection
    let listed = stack
        .admin_client_with(&tenant.owner_secret)
        .connections
        .list_connections(admin::ListConnectionsRequest {
            organization_id: tenant.org_id.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .connections;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].activity.as_ref().unwrap().creates, 1);
    let tokens = stack
        .admin_client_with(&tenant.owner_secret)
        .scim
        .list_scim_tokens(admin::ListScimTokensRequest {
            organization_id: tenant.org_id.clone(),
            page_size: 0,
            page_token: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .tokens;
    assert!(tokens.iter().any(|t| t.connection_id == connection_id));
}

#[tokio::test]
async fn connections_are_per_tenant() {
    let stack = Stack::start().await;
    let tenant = stack.new_tenant().await;
    let other = stack.new_tenant().await;
    let connection_id = create_connection(&stack, &tenant, "Okta", &[]).await;
    // another tenant's owner: NOT_FOUND for this connection, PERMISSION_DENIED for the org
    let status = stack
        .admin_client_with(&other.owner_secret)
        .connections
        .get_connection(admin::GetConnectionRequest {
            organization_id: other.org_id.clone(),
            connection_id: connection_id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::NotFound);
    let status = stack
        .admin_client_with(&other.owner_secret)
        .connections
        .list_connections(admin::ListConnectionsRequest {
            organization_id: tenant.org_id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::PermissionDenied);
    // a token cannot be issued for another tenant's connection
    let status = stack
        .admin_client_with(&other.owner_secret)
        .scim
        .issue_scim_token(admin::IssueScimTokenRequest {
            organization_id: other.org_id.clone(),
            description: String::new(),
            validity: None,
            connection_id,
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::NotFound);
    // bad input is named
    let status = stack
        .admin_client_with(&tenant.owner_secret)
        .connections
        .register_o_auth_client(admin::RegisterOAuthClientRequest {
            organization_id: tenant.org_id.clone(),
            connection_id: uuid::Uuid::new_v4().to_string(),
            name: "Okta".into(),
            redirect_uris: vec!["http://idp.example.com/cb".into()],
            client_credentials: false,
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert!(status.message().contains("redirect_uris[0]"), "{status:?}");
}

#[tokio::test]
async fn an_owner_widens_the_groups_without_replacing_credentials() {
    let stack = Stack::start().await;
    let tenant = stack.new_tenant().await;
    let connection_id = create_connection(&stack, &tenant, "Okta", &["Engineering"]).await;
    let idp = tenant.with_token(&connection_token(&stack, &tenant, &connection_id).await);
    let sales = unique("Sales");
    let group =
        json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": sales});
    idp.post("/Groups", group.clone())
        .await
        .expect_error(403, None);

    let updated = stack
        .admin_client_with(&tenant.owner_secret)
        .connections
        .update_connection(admin::UpdateConnectionRequest {
            organization_id: tenant.org_id.clone(),
            connection_id: connection_id.clone(),
            name: "Okta production".into(),
            update_allowed_groups: true,
            allowed_group_names: vec!["Engineering".into(), sales.clone()],
        })
        .await
        .expect("UpdateConnection")
        .into_inner()
        .connection
        .unwrap();
    assert_eq!(updated.name, "Okta production");
    assert_eq!(
        updated.allowed_group_names,
        ["Engineering".to_owned(), sales.clone()]
    );
    // the same token, now allowed
    idp.post("/Groups", group).await.expect(201);

    // an empty list with update_allowed_groups allows every group
    stack
        .admin_client_with(&tenant.owner_secret)
        .connections
        .update_connection(admin::UpdateConnectionRequest {
            organization_id: tenant.org_id.clone(),
            connection_id,
            name: String::new(),
            update_allowed_groups: true,
            allowed_group_names: vec![],
        })
        .await
        .expect("UpdateConnection");
    idp.post("/Groups", identity_tests::scim::group(&unique("Any"), &[]))
        .await
        .expect(201);
}
