//! identity.v1 across processes: what SCIM writes through the edge is what the core's gRPC API
//! reads, and the change feed records those writes in order, without gaps.

use crate::{expect_patched, setup};
use identity_proto::identity::v1 as pb;
use identity_tests::scim::{self, ENTERPRISE_SCHEMA, USER_SCHEMA, patch};
use identity_tests::unique;
use serde_json::json;

/// The number inside `W/"<n>"`.
fn version_of(etag: &str) -> i64 {
    etag.trim_start_matches("W/")
        .trim_matches('"')
        .parse()
        .unwrap_or_else(|_| panic!("meta.version {etag} carries the core version"))
}

#[tokio::test]
async fn scim_user_is_readable_over_grpc() {
    let (stack, tenant) = setup().await;
    let user_name = unique("grpc");
    let created = tenant
        .post(
            "/Users",
            json!({
                "schemas": [USER_SCHEMA, ENTERPRISE_SCHEMA],
                "userName": user_name,
                "externalId": "grpc-ext",
                "name": { "givenName": "Grace", "familyName": "Hopper" },
                "emails": [{ "value": scim::email_of(&user_name), "type": "work", "primary": true }],
                "active": true,
                ENTERPRISE_SCHEMA: { "department": "Navy", "manager": { "value": "mgr-1", "displayName": "Boss" } }
            }),
        )
        .await;
    created.expect(201);
    let id = created.id();
    let user = stack
        .users()
        .get_user(pb::GetUserRequest {
            organization_id: tenant.org_id.clone(),
            user_id: id.clone(),
            ..Default::default()
        })
        .await
        .expect("GetUser")
        .into_inner()
        .user
        .unwrap();
    assert_eq!(user.id, id);
    assert_eq!(user.organization_id, tenant.org_id);
    assert_eq!(user.user_name, user_name);
    assert_eq!(user.external_id, "grpc-ext");
    assert_eq!(user.name.as_ref().unwrap().given_name, "Grace");
    assert_eq!(user.emails[0].value, scim::email_of(&user_name));
    assert!(user.emails[0].primary);
    assert!(user.active);
    assert_eq!(user.managed_by, pb::ManagedBy::Scim as i32);
    let enterprise = user.enterprise.unwrap();
    assert_eq!(enterprise.department, "Navy");
    assert_eq!(enterprise.manager_id, "mgr-1");
    assert_eq!(enterprise.manager_display_name, "Boss");
    assert_eq!(user.version, version_of(&created.etag()));

    let looked_up = stack
        .users()
        .lookup_user(pb::LookupUserRequest {
            organization_id: tenant.org_id.clone(),
            key: Some(pb::lookup_user_request::Key::UserName(
                user_name.to_uppercase(),
            )),
            ..Default::default()
        })
        .await
        .expect("LookupUser")
        .into_inner()
        .user
        .unwrap();
    assert_eq!(looked_up.id, id);

    // another organization cannot read it over gRPC either
    let other = stack.new_tenant().await;
    let status = stack
        .users()
        .get_user(pb::GetUserRequest {
            organization_id: other.org_id.clone(),
            user_id: id.clone(),
            ..Default::default()
        })
        .await
        .expect_err("another organization's user");
    assert_eq!(status.code(), tonic::Code::NotFound);

    // a SCIM group is a role
    let group = tenant.create_group(&unique("grpc-group"), &[&id]).await;
    let role = stack
        .roles()
        .get_role(pb::GetRoleRequest {
            organization_id: tenant.org_id.clone(),
            role_id: group["id"].as_str().unwrap().to_owned(),
        })
        .await
        .expect("GetRole")
        .into_inner()
        .role
        .unwrap();
    assert_eq!(role.display_name, group["displayName"].as_str().unwrap());
    assert_eq!(role.member_count, 1);
    assert_eq!(role.managed_by, pb::ManagedBy::Scim as i32);
}

#[tokio::test]
async fn change_feed_follows_scim_writes_in_order() {
    let (stack, tenant) = setup().await;
    let mut feed = stack.changes();
    let before = feed
        .list_changes(pb::ListChangesRequest {
            organization_id: tenant.org_id.clone(),
            after_sequence: 0,
            page_size: 1000,
        })
        .await
        .expect("ListChanges")
        .into_inner();
    let start = before.latest_sequence;

    let first = tenant.create_user(&unique("feed-a")).await;
    let first_id = first["id"].as_str().unwrap().to_owned();
    let second = tenant.create_user(&unique("feed-b")).await;
    let second_id = second["id"].as_str().unwrap().to_owned();
    let user_path = format!("/Users/{first_id}");
    expect_patched(
        &tenant
            .patch(
                &user_path,
                patch(json!([{ "op": "replace", "path": "title", "value": "Fed" }])),
            )
            .await,
    );
    let updated = tenant.get(&user_path).await;
    let group = tenant.create_group(&unique("feed-group"), &[]).await;
    let group_id = group["id"].as_str().unwrap().to_owned();
    let group_path = format!("/Groups/{group_id}");
    expect_patched(
        &tenant
            .patch(
                &group_path,
                patch(
                    json!([{ "op": "add", "path": "members", "value": [{ "value": second_id }] }]),
                ),
            )
            .await,
    );
    expect_patched(
        &tenant
            .patch(&group_path, patch(json!([{ "op": "remove", "path": format!("members[value eq \"{second_id}\"]") }])))
            .await,
    );
    tenant.delete(&user_path).await.expect(204);

    let page = feed
        .list_changes(pb::ListChangesRequest {
            organization_id: tenant.org_id.clone(),
            after_sequence: start,
            page_size: 1000,
        })
        .await
        .expect("ListChanges")
        .into_inner();
    let changes = page.changes;
    // numbered without gaps, in order, right after what was there before
    for (offset, change) in changes.iter().enumerate() {
        assert_eq!(change.sequence, start + 1 + offset as i64, "{changes:#?}");
        assert_eq!(change.organization_id, tenant.org_id);
    }
    assert_eq!(
        page.latest_sequence,
        changes.last().expect("changes were recorded").sequence
    );

    use pb::ChangeKind as K;
    use pb::ResourceType as R;
    let expected: Vec<(R, &str, K, Vec<String>)> = vec![
        (R::User, &first_id, K::Created, vec![]),
        (R::User, &second_id, K::Created, vec![]),
        (R::User, &first_id, K::Updated, vec![]),
        (R::Role, &group_id, K::Created, vec![]),
        (R::Role, &group_id, K::MembersAdded, vec![second_id.clone()]),
        (
            R::Role,
            &group_id,
            K::MembersRemoved,
            vec![second_id.clone()],
        ),
        (R::User, &first_id, K::Deleted, vec![]),
    ];
    // other entries may interleave (the default role's memberships); these appear in this order
    let mut position = 0;
    for (resource_type, resource_id, kind, members) in &expected {
        let found = changes[position..]
            .iter()
            .position(|c| {
                c.resource_type == *resource_type as i32
                    && c.resource_id == *resource_id
                    && c.kind == *kind as i32
            })
            .unwrap_or_else(|| {
                panic!("{kind:?} of {resource_id} after position {position}: {changes:#?}")
            });
        let change = &changes[position + found];
        if !members.is_empty() {
            assert_eq!(&change.member_user_ids, members);
        }
        position += found + 1;
    }
    let update = changes
        .iter()
        .find(|c| c.resource_id == first_id && c.kind == K::Updated as i32)
        .unwrap();
    assert_eq!(update.resource_version, version_of(&updated.etag()));
    let deletion = changes
        .iter()
        .find(|c| c.kind == K::Deleted as i32)
        .unwrap();
    assert_eq!(deletion.resource_version, 0);

    // reading from a later point returns only what follows it
    let tail = feed
        .list_changes(pb::ListChangesRequest {
            organization_id: tenant.org_id.clone(),
            after_sequence: page.latest_sequence - 1,
            page_size: 1000,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(tail.changes.len(), 1);
    assert_eq!(tail.changes[0].kind, K::Deleted as i32);
}

/// A platform service watching the feed hears of a SCIM deactivation as it happens: the edge's
/// write, committed by the core, arrives on a `WatchChanges` stream opened before it.
#[tokio::test]
async fn watch_changes_delivers_a_scim_deactivation() {
    use futures::StreamExt;
    let (stack, tenant) = setup().await;
    let created = tenant.create_user(&unique("watched")).await;
    let id = created["id"].as_str().unwrap().to_owned();
    let latest = stack
        .changes()
        .list_changes(pb::ListChangesRequest {
            organization_id: tenant.org_id.clone(),
            after_sequence: 0,
            page_size: 1,
        })
        .await
        .unwrap()
        .into_inner()
        .latest_sequence;
    let mut stream = stack
        .changes()
        .watch_changes(pb::WatchChangesRequest {
            organization_id: tenant.org_id.clone(),
            after_sequence: latest,
        })
        .await
        .unwrap()
        .into_inner();

    expect_patched(
        &tenant
            .patch(
                &format!("/Users/{id}"),
                patch(json!([{ "op": "replace", "value": { "active": false } }])),
            )
            .await,
    );
    let message = tokio::time::timeout(std::time::Duration::from_secs(10), stream.next())
        .await
        .expect("the deactivation within 10 s")
        .expect("stream open")
        .expect("no error");
    let change = &message.changes[0];
    assert_eq!(change.sequence, latest + 1);
    assert_eq!(change.resource_id, id);
    assert_eq!(change.resource_type, pb::ResourceType::User as i32);
    assert_eq!(change.kind, pb::ChangeKind::Deactivated as i32);
}

/// Each listener's reflection lists the services that listener serves, and no others.
#[tokio::test]
async fn reflection_lists_each_listeners_own_services() {
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    let (stack, _) = setup().await;
    for (addr, own, foreign) in [
        (stack.identity_addr(), "identity.v1.", "admin.v1."),
        (stack.admin_addr(), "admin.v1.", "identity.v1."),
    ] {
        let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await
            .unwrap();
        let mut client = ServerReflectionClient::new(channel);
        let request = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        };
        let mut answers = client
            .server_reflection_info(futures::stream::iter([request]))
            .await
            .unwrap()
            .into_inner();
        let answer = answers.message().await.unwrap().unwrap();
        let Some(MessageResponse::ListServicesResponse(list)) = answer.message_response else {
            panic!("not a service list: {answer:?}");
        };
        let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
        assert!(
            names.iter().any(|n| n.starts_with(own)),
            "{addr}: {names:?}"
        );
        assert!(
            !names.iter().any(|n| n.starts_with(foreign)),
            "{addr}: {names:?}"
        );
        assert!(
            names.contains(&"grpc.health.v1.Health".to_owned()),
            "{names:?}"
        );
    }
}
