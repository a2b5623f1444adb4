//! identity.v1 over a real socket: a tonic client against the server bound on 127.0.0.1:0.
//! Every RPC, its error cases (code, ErrorInfo reason, BadRequest field), tenant isolation and
//! concurrency.

mod common;

use common::{assert_err, bad_fields, cmp, email, reason, role, s, start_server, user};
use identity_proto::identity::v1 as pb;
use identity_proto::identity::v1::lookup_user_request::Key;
use prost_types::FieldMask;
use tonic::Code;

fn mask(paths: &[&str]) -> Option<FieldMask> {
    Some(FieldMask {
        paths: paths.iter().map(|p| p.to_string()).collect(),
    })
}

#[tokio::test]
async fn user_lifecycle_over_grpc() {
    let mut srv = start_server().await;
    let org = srv.store.create_org(true).await.to_string();

    let mut u = user("Grace");
    u.emails = vec![email("grace@example.com", true)];
    u.external_id = "ext-grace".into();
    u.name = Some(pb::PersonName {
        given_name: "Grace".into(),
        family_name: "Hopper".into(),
        ..Default::default()
    });
    let created = srv
        .users
        .create_user(pb::CreateUserRequest {
            organization_id: org.clone(),
            user: Some(u),
            password: "correct horse".into(),
            adopt_existing: false,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!created.adopted);
    let grace = created.user.unwrap();
    assert_eq!(grace.version, 1);
    assert!(grace.has_password);
    assert_eq!(grace.organization_id, org);
    assert_eq!(grace.managed_by, pb::ManagedBy::Platform as i32);
    assert!(grace.create_time.is_some());

    let got = srv
        .users
        .get_user(pb::GetUserRequest {
            organization_id: org.clone(),
            user_id: grace.id.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .user
        .unwrap();
    assert_eq!(got, grace);

    for key in [
        Key::UserName("GRACE".into()),
        Key::Email("Grace@Example.COM".into()),
        Key::ExternalId("ext-grace".into()),
    ] {
        let found = srv
            .users
            .lookup_user(pb::LookupUserRequest {
                organization_id: org.clone(),
                key: Some(key),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .user
            .unwrap();
        assert_eq!(found.id, grace.id);
    }
    assert_err(
        srv.users
            .lookup_user(pb::LookupUserRequest {
                organization_id: org.clone(),
                key: Some(Key::ExternalId("EXT-GRACE".into())),
                ..Default::default()
            })
            .await,
        Code::NotFound,
        "USER_NOT_FOUND",
    );
    let status = assert_err(
        srv.users
            .lookup_user(pb::LookupUserRequest {
                organization_id: org.clone(),
                key: None,
                ..Default::default()
            })
            .await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
    assert_eq!(bad_fields(&status), ["key"]);

    // update by mask
    let updated = srv
        .users
        .update_user(pb::UpdateUserRequest {
            organization_id: org.clone(),
            user: Some(pb::User {
                id: grace.id.clone(),
                title: "Rear Admiral".into(),
                name: Some(pb::PersonName {
                    given_name: "G.".into(),
                    ..Default::default()
                }),
                user_name: "ignored-because-not-in-mask".into(),
                ..Default::default()
            }),
            update_mask: mask(&["title", "name.given_name", "password"]),
            expected_version: Some(1),
            password: String::new(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .user
        .unwrap();
    assert_eq!(updated.version, 2);
    assert_eq!(updated.title, "Rear Admiral");
    assert_eq!(updated.user_name, "Grace");
    let name = updated.name.clone().unwrap();
    assert_eq!(
        (name.given_name.as_str(), name.family_name.as_str()),
        ("G.", "Hopper")
    );
    assert!(!updated.has_password, "masked empty password clears it");

    let status = assert_err(
        srv.users
            .update_user(pb::UpdateUserRequest {
                organization_id: org.clone(),
                user: Some(pb::User {
                    id: grace.id.clone(),
                    ..Default::default()
                }),
                update_mask: mask(&["title", "favourite_colour"]),
                expected_version: None,
                password: String::new(),
                ..Default::default()
            })
            .await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
    assert_eq!(bad_fields(&status), ["update_mask"]);
    assert_err(
        srv.users
            .update_user(pb::UpdateUserRequest {
                organization_id: org.clone(),
                user: Some(pb::User {
                    id: grace.id.clone(),
                    ..Default::default()
                }),
                update_mask: mask(&["title"]),
                expected_version: Some(1),
                password: String::new(),
                ..Default::default()
            })
            .await,
        Code::Aborted,
        "VERSION_MISMATCH",
    );
    let status = assert_err(
        srv.users
            .update_user(pb::UpdateUserRequest {
                organization_id: org.clone(),
                user: Some(pb::User {
                    id: grace.id.clone(),
                    ..Default::default()
                }),
                update_mask: mask(&["user_name"]),
                expected_version: None,
                password: String::new(),
                ..Default::default()
            })
            .await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
    assert_eq!(bad_fields(&status), ["user.user_name"]);

    // replace
    let mut replacement = user("grace.hopper");
    replacement.id = grace.id.clone();
    replacement.emails = vec![email("gh@example.com", true)];
    let replaced = srv
        .users
        .replace_user(pb::ReplaceUserRequest {
            organization_id: org.clone(),
            user: Some(replacement),
            expected_version: Some(2),
            password: "new password".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .user
        .unwrap();
    assert_eq!(replaced.version, 3);
    assert_eq!(replaced.user_name, "grace.hopper");
    assert!(
        replaced.title.is_empty() && replaced.name.is_none() && replaced.external_id.is_empty()
    );
    assert!(replaced.has_password);

    let inactive = srv
        .users
        .set_user_active(pb::SetUserActiveRequest {
            organization_id: org.clone(),
            user_id: grace.id.clone(),
            active: false,
            expected_version: Some(3),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .user
        .unwrap();
    assert!(!inactive.active);
    assert_eq!(inactive.version, 4);
    assert_err(
        srv.users
            .set_user_active(pb::SetUserActiveRequest {
                organization_id: org.clone(),
                user_id: grace.id.clone(),
                active: true,
                expected_version: Some(3),
                ..Default::default()
            })
            .await,
        Code::Aborted,
        "VERSION_MISMATCH",
    );

    // batch get and list
    let other = srv.create_user(&org, user("linus")).await;
    let missing = uuid::Uuid::now_v7().to_string();
    let batch = srv
        .users
        .batch_get_users(pb::BatchGetUsersRequest {
            organization_id: org.clone(),
            user_ids: vec![other.id.clone(), missing.clone(), grace.id.clone()],
        })
        .await
        .unwrap()
        .into_inner();
    let ids: Vec<&str> = batch.users.iter().map(|u| u.id.as_str()).collect();
    assert_eq!(ids, [other.id.as_str(), grace.id.as_str()]);
    assert_eq!(batch.missing_user_ids, std::slice::from_ref(&missing));
    let status = assert_err(
        srv.users
            .batch_get_users(pb::BatchGetUsersRequest {
                organization_id: org.clone(),
                user_ids: vec!["nope".into()],
            })
            .await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
    assert_eq!(bad_fields(&status), ["user_ids[0]"]);
    assert_err(
        srv.users
            .batch_get_users(pb::BatchGetUsersRequest {
                organization_id: org.clone(),
                user_ids: vec![missing.clone(); 1001],
            })
            .await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );

    let page = srv
        .users
        .list_users(pb::ListUsersRequest {
            organization_id: org.clone(),
            filter: Some(cmp("user_name", pb::Operator::Sw, s("GRACE"))),
            page_size: 10,
            include_total_size: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(page.total_size, 1);
    assert_eq!(page.users[0].id, grace.id);
    let mut token = String::new();
    let mut seen = Vec::new();
    loop {
        let page = srv
            .users
            .list_users(pb::ListUsersRequest {
                organization_id: org.clone(),
                order_by: "user_name".into(),
                sort_order: pb::SortOrder::Descending as i32,
                page_size: 1,
                page_token: token,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        seen.extend(page.users.into_iter().map(|u| u.user_name));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(seen, ["linus", "grace.hopper"]);
    let status = assert_err(
        srv.users
            .list_users(pb::ListUsersRequest {
                organization_id: org.clone(),
                page_size: 1001,
                ..Default::default()
            })
            .await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
    assert_eq!(bad_fields(&status), ["page_size"]);
    let status = assert_err(
        srv.users
            .list_users(pb::ListUsersRequest {
                organization_id: org.clone(),
                filter: Some(cmp("shoe_size", pb::Operator::Eq, s("9"))),
                ..Default::default()
            })
            .await,
        Code::InvalidArgument,
        "INVALID_FILTER",
    );
    assert_eq!(bad_fields(&status), ["filter"]);
    assert_err(
        srv.users
            .list_users(pb::ListUsersRequest {
                organization_id: org.clone(),
                page_token: "garbage".into(),
                ..Default::default()
            })
            .await,
        Code::InvalidArgument,
        "INVALID_PAGE_TOKEN",
    );

    // delete
    assert_err(
        srv.users
            .delete_user(pb::DeleteUserRequest {
                organization_id: org.clone(),
                user_id: grace.id.clone(),
                expected_version: Some(1),
                ..Default::default()
            })
            .await,
        Code::Aborted,
        "VERSION_MISMATCH",
    );
    srv.users
        .delete_user(pb::DeleteUserRequest {
            organization_id: org.clone(),
            user_id: grace.id.clone(),
            expected_version: Some(4),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_err(
        srv.users
            .get_user(pb::GetUserRequest {
                organization_id: org.clone(),
                user_id: grace.id.clone(),
                ..Default::default()
            })
            .await,
        Code::NotFound,
        "USER_NOT_FOUND",
    );
    assert_err(
        srv.users
            .delete_user(pb::DeleteUserRequest {
                organization_id: org.clone(),
                user_id: grace.id.clone(),
                expected_version: None,
                ..Default::default()
            })
            .await,
        Code::NotFound,
        "USER_NOT_FOUND",
    );
}

#[tokio::test]
async fn create_user_errors() {
    let mut srv = start_server().await;
    let org = srv.store.create_org(true).await.to_string();
    let create = |u: Option<pb::User>, org: &str| pb::CreateUserRequest {
        organization_id: org.to_owned(),
        user: u,
        ..Default::default()
    };
    let status = assert_err(
        srv.users.create_user(create(None, &org)).await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
    assert_eq!(bad_fields(&status), ["user"]);
    let status = assert_err(
        srv.users
            .create_user(create(Some(user("x")), "not-a-uuid"))
            .await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
    assert_eq!(bad_fields(&status), ["organization_id"]);
    assert_err(
        srv.users
            .create_user(create(Some(user("x")), &uuid::Uuid::now_v7().to_string()))
            .await,
        Code::NotFound,
        "ORGANIZATION_NOT_FOUND",
    );
    let mut bad = user("");
    bad.emails = vec![email("ok@example.com", false), email("not an email", false)];
    bad.phone_numbers = vec![
        pb::ContactValue {
            value: "1".into(),
            primary: true,
            ..Default::default()
        },
        pb::ContactValue {
            value: "2".into(),
            primary: true,
            ..Default::default()
        },
    ];
    let status = assert_err(
        srv.users.create_user(create(Some(bad), &org)).await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
    let mut fields = bad_fields(&status);
    fields.sort();
    assert_eq!(
        fields,
        [
            "user.emails[1].value",
            "user.phone_numbers[1].primary",
            "user.user_name"
        ]
    );

    let mut first = user("dup");
    first.external_id = "X".into();
    srv.users
        .create_user(create(Some(first), &org))
        .await
        .unwrap();
    assert_err(
        srv.users.create_user(create(Some(user("DUP")), &org)).await,
        Code::AlreadyExists,
        "USER_NAME_TAKEN",
    );
    let mut second = user("dup2");
    second.external_id = "X".into();
    assert_err(
        srv.users.create_user(create(Some(second), &org)).await,
        Code::AlreadyExists,
        "EXTERNAL_ID_TAKEN",
    );

    // adoption over the wire
    let mut scim = user("dup");
    scim.managed_by = pb::ManagedBy::Scim as i32;
    let adopted = srv
        .users
        .create_user(pb::CreateUserRequest {
            organization_id: org.clone(),
            user: Some(scim),
            adopt_existing: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(adopted.adopted);
    assert_eq!(adopted.user.unwrap().managed_by, pb::ManagedBy::Scim as i32);
}

#[tokio::test]
async fn roles_over_grpc() {
    let mut srv = start_server().await;
    let org = srv.store.create_org(true).await.to_string();
    let mut ids = Vec::new();
    for n in 0..5 {
        let mut u = user(&format!("member{n}"));
        u.display_name = format!("Member {n}");
        ids.push(srv.create_user(&org, u).await.id);
    }
    let created = srv
        .roles
        .create_role(pb::CreateRoleRequest {
            organization_id: org.clone(),
            role: Some(role("Ops")),
            member_user_ids: ids[0..2].to_vec(),
        })
        .await
        .unwrap()
        .into_inner()
        .role
        .unwrap();
    assert_eq!((created.member_count, created.version), (2, 1));
    let role_id = created.id.clone();
    assert_err(
        srv.roles
            .create_role(pb::CreateRoleRequest {
                organization_id: org.clone(),
                role: Some(role("OPS")),
                member_user_ids: vec![],
            })
            .await,
        Code::AlreadyExists,
        "ROLE_NAME_TAKEN",
    );
    assert_err(
        srv.roles
            .create_role(pb::CreateRoleRequest {
                organization_id: org.clone(),
                role: Some(role("x")),
                member_user_ids: vec![uuid::Uuid::now_v7().to_string()],
            })
            .await,
        Code::NotFound,
        "USER_NOT_FOUND",
    );
    let status = assert_err(
        srv.roles
            .create_role(pb::CreateRoleRequest {
                organization_id: org.clone(),
                role: Some(role("")),
                member_user_ids: vec!["bad".into()],
            })
            .await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
    assert_eq!(bad_fields(&status), ["member_user_ids[0]"]);
    let status = assert_err(
        srv.roles
            .create_role(pb::CreateRoleRequest {
                organization_id: org.clone(),
                role: Some(role("")),
                member_user_ids: vec![],
            })
            .await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
    assert_eq!(bad_fields(&status), ["role.display_name"]);

    let got = srv
        .roles
        .get_role(pb::GetRoleRequest {
            organization_id: org.clone(),
            role_id: role_id.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .role
        .unwrap();
    assert_eq!(got, created);
    assert_err(
        srv.roles
            .get_role(pb::GetRoleRequest {
                organization_id: org.clone(),
                role_id: uuid::Uuid::now_v7().to_string(),
            })
            .await,
        Code::NotFound,
        "ROLE_NOT_FOUND",
    );

    let updated = srv
        .roles
        .update_role(pb::UpdateRoleRequest {
            organization_id: org.clone(),
            role: Some(pb::Role {
                id: role_id.clone(),
                description: "on call".into(),
                ..Default::default()
            }),
            update_mask: mask(&["description"]),
            expected_version: Some(1),
        })
        .await
        .unwrap()
        .into_inner()
        .role
        .unwrap();
    assert_eq!(
        (
            updated.description.as_str(),
            updated.display_name.as_str(),
            updated.version
        ),
        ("on call", "Ops", 2)
    );
    let status = assert_err(
        srv.roles
            .update_role(pb::UpdateRoleRequest {
                organization_id: org.clone(),
                role: Some(pb::Role {
                    id: role_id.clone(),
                    ..Default::default()
                }),
                update_mask: mask(&["member_count"]),
                expected_version: None,
            })
            .await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
    assert_eq!(bad_fields(&status), ["update_mask"]);

    let added = srv
        .roles
        .add_role_members(pb::AddRoleMembersRequest {
            organization_id: org.clone(),
            role_id: role_id.clone(),
            user_ids: vec![ids[1].clone(), ids[2].clone()],
            expected_version: Some(2),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (added.added_count, added.role.unwrap().member_count),
        (1, 3)
    );
    let status = assert_err(
        srv.roles
            .add_role_members(pb::AddRoleMembersRequest {
                organization_id: org.clone(),
                role_id: role_id.clone(),
                user_ids: vec![],
                expected_version: None,
            })
            .await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
    assert_eq!(bad_fields(&status), ["user_ids"]);
    assert_err(
        srv.roles
            .add_role_members(pb::AddRoleMembersRequest {
                organization_id: org.clone(),
                role_id: role_id.clone(),
                user_ids: vec![ids[3].clone()],
                expected_version: Some(2),
            })
            .await,
        Code::Aborted,
        "VERSION_MISMATCH",
    );
    let ghost = uuid::Uuid::now_v7().to_string();
    let status = assert_err(
        srv.roles
            .add_role_members(pb::AddRoleMembersRequest {
                organization_id: org.clone(),
                role_id: role_id.clone(),
                user_ids: vec![ids[3].clone(), ghost.clone()],
                expected_version: None,
            })
            .await,
        Code::NotFound,
        "USER_NOT_FOUND",
    );
    assert!(status.message().contains(&ghost), "{status:?}");

    let removed = srv
        .roles
        .remove_role_members(pb::RemoveRoleMembersRequest {
            organization_id: org.clone(),
            role_id: role_id.clone(),
            user_ids: vec![ids[0].clone(), ghost.clone()],
            expected_version: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (removed.removed_count, removed.role.unwrap().member_count),
        (1, 2)
    );

    let replaced = srv
        .roles
        .replace_role_members(pb::ReplaceRoleMembersRequest {
            organization_id: org.clone(),
            role_id: role_id.clone(),
            user_ids: vec![ids[2].clone(), ids[3].clone(), ids[4].clone()],
            expected_version: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((replaced.added_count, replaced.removed_count), (2, 1));
    let role_now = replaced.role.unwrap();
    assert_eq!((role_now.member_count, role_now.version), (3, 5));

    let modified = srv
        .roles
        .modify_role(pb::ModifyRoleRequest {
            organization_id: org.clone(),
            role_id: role_id.clone(),
            role: Some(pb::Role {
                display_name: "Operations".into(),
                ..Default::default()
            }),
            update_mask: mask(&["display_name"]),
            replace_members: false,
            member_user_ids: vec![],
            remove_user_ids: vec![ids[4].clone()],
            add_user_ids: vec![ids[0].clone(), ids[1].clone()],
            expected_version: Some(5),
        })
        .await
        .unwrap()
        .into_inner();
    let role_now = modified.role.unwrap();
    assert_eq!((modified.added_count, modified.removed_count), (2, 1));
    assert_eq!(
        (
            role_now.display_name.as_str(),
            role_now.member_count,
            role_now.version
        ),
        ("Operations", 4, 6)
    );

    let page = srv
        .roles
        .list_role_members(pb::ListRoleMembersRequest {
            organization_id: org.clone(),
            role_id: role_id.clone(),
            page_size: 3,
            page_token: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(page.members.len(), 3);
    assert!(page.members.windows(2).all(|w| w[0].user_id < w[1].user_id));
    assert!(
        page.members
            .iter()
            .all(|m| m.user_name.starts_with("member") && m.display_name.starts_with("Member "))
    );
    let rest = srv
        .roles
        .list_role_members(pb::ListRoleMembersRequest {
            organization_id: org.clone(),
            role_id: role_id.clone(),
            page_size: 3,
            page_token: page.next_page_token,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(rest.members.len(), 1);
    assert!(rest.next_page_token.is_empty());
    assert_err(
        srv.roles
            .list_role_members(pb::ListRoleMembersRequest {
                organization_id: org.clone(),
                role_id: role_id.clone(),
                page_size: 10_001,
                page_token: String::new(),
            })
            .await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );

    let user_roles = srv
        .roles
        .list_user_roles(pb::ListUserRolesRequest {
            organization_id: org.clone(),
            user_id: ids[0].clone(),
            page_size: 0,
            page_token: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(user_roles.roles.len(), 1);
    assert_err(
        srv.roles
            .list_user_roles(pb::ListUserRolesRequest {
                organization_id: org.clone(),
                user_id: ghost.clone(),
                page_size: 0,
                page_token: String::new(),
            })
            .await,
        Code::NotFound,
        "USER_NOT_FOUND",
    );
    let check = |user_id: &str| pb::CheckRoleMembershipRequest {
        organization_id: org.clone(),
        role_id: role_id.clone(),
        user_id: user_id.to_owned(),
    };
    assert!(
        srv.roles
            .check_role_membership(check(&ids[0]))
            .await
            .unwrap()
            .into_inner()
            .is_member
    );
    assert!(
        !srv.roles
            .check_role_membership(check(&ids[4]))
            .await
            .unwrap()
            .into_inner()
            .is_member
    );

    let listed = srv
        .roles
        .list_roles(pb::ListRolesRequest {
            organization_id: org.clone(),
            filter: Some(cmp("members.user_id", pb::Operator::Eq, s(&ids[0]))),
            include_total_size: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (listed.total_size, listed.roles[0].id.as_str()),
        (1, role_id.as_str())
    );

    assert_err(
        srv.roles
            .delete_role(pb::DeleteRoleRequest {
                organization_id: org.clone(),
                role_id: role_id.clone(),
                expected_version: Some(1),
            })
            .await,
        Code::Aborted,
        "VERSION_MISMATCH",
    );
    srv.roles
        .delete_role(pb::DeleteRoleRequest {
            organization_id: org.clone(),
            role_id: role_id.clone(),
            expected_version: Some(6),
        })
        .await
        .unwrap();
    assert_err(
        srv.roles
            .delete_role(pb::DeleteRoleRequest {
                organization_id: org.clone(),
                role_id: role_id.clone(),
                expected_version: None,
            })
            .await,
        Code::NotFound,
        "ROLE_NOT_FOUND",
    );
    assert!(
        !srv.roles
            .check_role_membership(check(&ids[0]))
            .await
            .unwrap()
            .into_inner()
            .is_member
    );
}

#[tokio::test]
async fn change_feed_over_grpc() {
    let mut srv = start_server().await;
    let org = srv.store.create_org(true).await.to_string();
    let u = srv.create_user(&org, user("feed")).await;
    let r = srv
        .roles
        .create_role(pb::CreateRoleRequest {
            organization_id: org.clone(),
            role: Some(role("feeders")),
            member_user_ids: vec![],
        })
        .await
        .unwrap()
        .into_inner()
        .role
        .unwrap();
    srv.roles
        .add_role_members(pb::AddRoleMembersRequest {
            organization_id: org.clone(),
            role_id: r.id.clone(),
            user_ids: vec![u.id.clone()],
            expected_version: None,
        })
        .await
        .unwrap();
    srv.users
        .delete_user(pb::DeleteUserRequest {
            organization_id: org.clone(),
            user_id: u.id.clone(),
            expected_version: None,
            ..Default::default()
        })
        .await
        .unwrap();

    let all = srv
        .changes
        .list_changes(pb::ListChangesRequest {
            organization_id: org.clone(),
            after_sequence: 0,
            page_size: 0,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(all.latest_sequence, 5);
    let summary: Vec<(i64, i32, String, i32, i64, Vec<String>)> = all
        .changes
        .iter()
        .map(|c| {
            (
                c.sequence,
                c.resource_type,
                c.resource_id.clone(),
                c.kind,
                c.resource_version,
                c.member_user_ids.clone(),
            )
        })
        .collect();
    use pb::{ChangeKind as K, ResourceType as T};
    assert_eq!(
        summary,
        vec![
            (
                1,
                T::User as i32,
                u.id.clone(),
                K::Created as i32,
                1,
                vec![]
            ),
            (
                2,
                T::Role as i32,
                r.id.clone(),
                K::Created as i32,
                1,
                vec![]
            ),
            (
                3,
                T::Role as i32,
                r.id.clone(),
                K::MembersAdded as i32,
                2,
                vec![u.id.clone()]
            ),
            (
                4,
                T::Role as i32,
                r.id.clone(),
                K::MembersRemoved as i32,
                3,
                vec![u.id.clone()]
            ),
            (
                5,
                T::User as i32,
                u.id.clone(),
                K::Deleted as i32,
                0,
                vec![]
            ),
        ]
    );
    let tail = srv
        .changes
        .list_changes(pb::ListChangesRequest {
            organization_id: org.clone(),
            after_sequence: 3,
            page_size: 1,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        tail.changes.iter().map(|c| c.sequence).collect::<Vec<_>>(),
        [4]
    );
    assert_err(
        srv.changes
            .list_changes(pb::ListChangesRequest {
                organization_id: org.clone(),
                after_sequence: 0,
                page_size: 1001,
            })
            .await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
    assert_err(
        srv.changes
            .list_changes(pb::ListChangesRequest {
                organization_id: uuid::Uuid::now_v7().to_string(),
                after_sequence: 0,
                page_size: 0,
            })
            .await,
        Code::NotFound,
        "ORGANIZATION_NOT_FOUND",
    );
}

/// Every RPC, called with organization B and ids of organization A, behaves as for unknown ids
/// and leaves A untouched.
#[tokio::test]
async fn tenant_isolation_for_every_rpc() {
    let mut srv = start_server().await;
    let org_a = srv.store.create_org(true).await.to_string();
    let org_b = srv.store.create_org(true).await.to_string();
    let mut ua = user("alpha");
    ua.emails = vec![email("alpha@example.com", true)];
    ua.external_id = "alpha-ext".into();
    let user_a = srv.create_user(&org_a, ua).await;
    let role_a = srv
        .roles
        .create_role(pb::CreateRoleRequest {
            organization_id: org_a.clone(),
            role: Some(role("alpha-role")),
            member_user_ids: vec![user_a.id.clone()],
        })
        .await
        .unwrap()
        .into_inner()
        .role
        .unwrap();
    let user_b = srv.create_user(&org_b, user("beta")).await;
    let role_b = srv
        .roles
        .create_role(pb::CreateRoleRequest {
            organization_id: org_b.clone(),
            role: Some(role("beta-role")),
            member_user_ids: vec![],
        })
        .await
        .unwrap()
        .into_inner()
        .role
        .unwrap();
    let b = || org_b.clone();

    assert_err(
        srv.users
            .get_user(pb::GetUserRequest {
                organization_id: b(),
                user_id: user_a.id.clone(),
                ..Default::default()
            })
            .await,
        Code::NotFound,
        "USER_NOT_FOUND",
    );
    for key in [
        Key::UserName("alpha".into()),
        Key::Email("alpha@example.com".into()),
        Key::ExternalId("alpha-ext".into()),
    ] {
        assert_err(
            srv.users
                .lookup_user(pb::LookupUserRequest {
                    organization_id: b(),
                    key: Some(key),
                    ..Default::default()
                })
                .await,
            Code::NotFound,
            "USER_NOT_FOUND",
        );
    }
    let batch = srv
        .users
        .batch_get_users(pb::BatchGetUsersRequest {
            organization_id: b(),
            user_ids: vec![user_a.id.clone()],
        })
        .await
        .unwrap()
        .into_inner();
    assert!(batch.users.is_empty());
    let listed = srv
        .users
        .list_users(pb::ListUsersRequest {
            organization_id: b(),
            include_total_size: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (listed.total_size, listed.users[0].id.as_str()),
        (1, user_b.id.as_str())
    );
    let foreign_user = pb::User {
        id: user_a.id.clone(),
        user_name: "hijack".into(),
        ..Default::default()
    };
    assert_err(
        srv.users
            .update_user(pb::UpdateUserRequest {
                organization_id: b(),
                user: Some(foreign_user.clone()),
                update_mask: mask(&["user_name"]),
                ..Default::default()
            })
            .await,
        Code::NotFound,
        "USER_NOT_FOUND",
    );
    assert_err(
        srv.users
            .replace_user(pb::ReplaceUserRequest {
                organization_id: b(),
                user: Some(foreign_user),
                ..Default::default()
            })
            .await,
        Code::NotFound,
        "USER_NOT_FOUND",
    );
    assert_err(
        srv.users
            .set_user_active(pb::SetUserActiveRequest {
                organization_id: b(),
                user_id: user_a.id.clone(),
                active: false,
                expected_version: None,
                ..Default::default()
            })
            .await,
        Code::NotFound,
        "USER_NOT_FOUND",
    );
    assert_err(
        srv.users
            .delete_user(pb::DeleteUserRequest {
                organization_id: b(),
                user_id: user_a.id.clone(),
                expected_version: None,
                ..Default::default()
            })
            .await,
        Code::NotFound,
        "USER_NOT_FOUND",
    );

    assert_err(
        srv.roles
            .get_role(pb::GetRoleRequest {
                organization_id: b(),
                role_id: role_a.id.clone(),
            })
            .await,
        Code::NotFound,
        "ROLE_NOT_FOUND",
    );
    let listed = srv
        .roles
        .list_roles(pb::ListRolesRequest {
            organization_id: b(),
            include_total_size: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (listed.total_size, listed.roles[0].id.as_str()),
        (1, role_b.id.as_str())
    );
    assert_err(
        srv.roles
            .update_role(pb::UpdateRoleRequest {
                organization_id: b(),
                role: Some(pb::Role {
                    id: role_a.id.clone(),
                    display_name: "x".into(),
                    ..Default::default()
                }),
                update_mask: mask(&["display_name"]),
                expected_version: None,
            })
            .await,
        Code::NotFound,
        "ROLE_NOT_FOUND",
    );
    assert_err(
        srv.roles
            .delete_role(pb::DeleteRoleRequest {
                organization_id: b(),
                role_id: role_a.id.clone(),
                expected_version: None,
            })
            .await,
        Code::NotFound,
        "ROLE_NOT_FOUND",
    );
    assert_err(
        srv.roles
            .add_role_members(pb::AddRoleMembersRequest {
                organization_id: b(),
                role_id: role_a.id.clone(),
                user_ids: vec![user_b.id.clone()],
                expected_version: None,
            })
            .await,
        Code::NotFound,
        "ROLE_NOT_FOUND",
    );
    // org B's role cannot take org A's user
    assert_err(
        srv.roles
            .add_role_members(pb::AddRoleMembersRequest {
                organization_id: b(),
                role_id: role_b.id.clone(),
                user_ids: vec![user_a.id.clone()],
                expected_version: None,
            })
            .await,
        Code::NotFound,
        "USER_NOT_FOUND",
    );
    assert_err(
        srv.roles
            .remove_role_members(pb::RemoveRoleMembersRequest {
                organization_id: b(),
                role_id: role_a.id.clone(),
                user_ids: vec![user_a.id.clone()],
                expected_version: None,
            })
            .await,
        Code::NotFound,
        "ROLE_NOT_FOUND",
    );
    assert_err(
        srv.roles
            .replace_role_members(pb::ReplaceRoleMembersRequest {
                organization_id: b(),
                role_id: role_a.id.clone(),
                user_ids: vec![],
                expected_version: None,
            })
            .await,
        Code::NotFound,
        "ROLE_NOT_FOUND",
    );
    assert_err(
        srv.roles
            .modify_role(pb::ModifyRoleRequest {
                organization_id: b(),
                role_id: role_a.id.clone(),
                replace_members: true,
                ..Default::default()
            })
            .await,
        Code::NotFound,
        "ROLE_NOT_FOUND",
    );
    assert_err(
        srv.roles
            .list_role_members(pb::ListRoleMembersRequest {
                organization_id: b(),
                role_id: role_a.id.clone(),
                page_size: 0,
                page_token: String::new(),
            })
            .await,
        Code::NotFound,
        "ROLE_NOT_FOUND",
    );
    assert_err(
        srv.roles
            .list_user_roles(pb::ListUserRolesRequest {
                organization_id: b(),
                user_id: user_a.id.clone(),
                page_size: 0,
                page_token: String::new(),
            })
            .await,
        Code::NotFound,
        "USER_NOT_FOUND",
    );
    let check = srv
        .roles
        .check_role_membership(pb::CheckRoleMembershipRequest {
            organization_id: b(),
            role_id: role_a.id.clone(),
            user_id: user_a.id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!check.is_member);
    let feed_b = srv
        .changes
        .list_changes(pb::ListChangesRequest {
            organization_id: b(),
            after_sequence: 0,
            page_size: 0,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(feed_b.changes.iter().all(|c| c.organization_id == org_b));
    assert_eq!(feed_b.latest_sequence, 2);

    // A is untouched
    let a_now = srv
        .users
        .get_user(pb::GetUserRequest {
            organization_id: org_a.clone(),
            user_id: user_a.id.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .user
        .unwrap();
    assert_eq!(a_now, user_a);
    let role_now = srv
        .roles
        .get_role(pb::GetRoleRequest {
            organization_id: org_a.clone(),
            role_id: role_a.id.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .role
        .unwrap();
    assert_eq!(role_now, role_a);
    // an unknown organization is NOT_FOUND everywhere
    let ghost_org = uuid::Uuid::now_v7().to_string();
    assert_err(
        srv.users
            .list_users(pb::ListUsersRequest {
                organization_id: ghost_org.clone(),
                ..Default::default()
            })
            .await,
        Code::NotFound,
        "ORGANIZATION_NOT_FOUND",
    );
    assert_err(
        srv.roles
            .list_roles(pb::ListRolesRequest {
                organization_id: ghost_org.clone(),
                ..Default::default()
            })
            .await,
        Code::NotFound,
        "ORGANIZATION_NOT_FOUND",
    );
    assert_err(
        srv.users
            .get_user(pb::GetUserRequest {
                organization_id: ghost_org.clone(),
                user_id: user_a.id.clone(),
                ..Default::default()
            })
            .await,
        Code::NotFound,
        "ORGANIZATION_NOT_FOUND",
    );
    assert_err(
        srv.roles
            .get_role(pb::GetRoleRequest {
                organization_id: ghost_org.clone(),
                role_id: role_a.id.clone(),
            })
            .await,
        Code::NotFound,
        "ORGANIZATION_NOT_FOUND",
    );
    assert_err(
        srv.roles
            .check_role_membership(pb::CheckRoleMembershipRequest {
                organization_id: ghost_org.clone(),
                role_id: role_a.id.clone(),
                user_id: user_a.id.clone(),
            })
            .await,
        Code::NotFound,
        "ORGANIZATION_NOT_FOUND",
    );
    assert_err(
        srv.roles
            .create_role(pb::CreateRoleRequest {
                organization_id: ghost_org,
                role: Some(role("x")),
                member_user_ids: vec![],
            })
            .await,
        Code::NotFound,
        "ORGANIZATION_NOT_FOUND",
    );
}

#[tokio::test]
async fn concurrency_over_grpc() {
    let srv = start_server().await;
    let org = srv.store.create_org(true).await.to_string();
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let mut client = srv.users.clone();
        let org = org.clone();
        tasks.push(tokio::spawn(async move {
            client
                .create_user(pb::CreateUserRequest {
                    organization_id: org,
                    user: Some(user("same-name")),
                    ..Default::default()
                })
                .await
        }));
    }
    let mut ok = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => ok += 1,
            Err(status) => {
                assert_eq!(status.code(), Code::AlreadyExists, "{status:?}");
                assert_eq!(common::reason(&status), "USER_NAME_TAKEN");
            }
        }
    }
    assert_eq!(ok, 1);

    let mut roles_client = srv.roles.clone();
    let role_id = roles_client
        .create_role(pb::CreateRoleRequest {
            organization_id: org.clone(),
            role: Some(role("crowd")),
            member_user_ids: vec![],
        })
        .await
        .unwrap()
        .into_inner()
        .role
        .unwrap()
        .id;
    let mut ids = Vec::new();
    let mut users_client = srv.users.clone();
    for n in 0..32 {
        ids.push(
            users_client
                .create_user(pb::CreateUserRequest {
                    organization_id: org.clone(),
                    user: Some(user(&format!("crowd{n}"))),
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner()
                .user
                .unwrap()
                .id,
        );
    }
    let mut tasks = Vec::new();
    for chunk in ids.chunks(2) {
        let mut client = srv.roles.clone();
        let req = pb::AddRoleMembersRequest {
            organization_id: org.clone(),
            role_id: role_id.clone(),
            user_ids: chunk.to_vec(),
            expected_version: None,
        };
        tasks.push(tokio::spawn(
            async move { client.add_role_members(req).await },
        ));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap().unwrap().into_inner().added_count, 2);
    }
    let role_now = roles_client
        .get_role(pb::GetRoleRequest {
            organization_id: org.clone(),
            role_id: role_id.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .role
        .unwrap();
    assert_eq!((role_now.member_count, role_now.version), (32, 17));
    let members = roles_client
        .list_role_members(pb::ListRoleMembersRequest {
            organization_id: org.clone(),
            role_id,
            page_size: 0,
            page_token: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .members;
    let mut listed: Vec<String> = members.into_iter().map(|m| m.user_id).collect();
    ids.sort();
    listed.sort();
    assert_eq!(listed, ids);
}

/// Issue 4: while an identity provider owns a user, the platform may edit the profile but not
/// the emails, the password, the ownership, nor remove the user; provisioning writes may.
#[tokio::test]
async fn scim_managed_users_are_guarded_from_platform_writes() {
    let mut srv = start_server().await;
    let org = srv.store.create_org(true).await.to_string();
    let mut provisioned = user("linus");
    provisioned.emails = vec![email("linus@example.com", true)];
    provisioned.managed_by = pb::ManagedBy::Scim as i32;
    let linus = srv.create_user(&org, provisioned).await;
    assert_eq!(linus.managed_by, pb::ManagedBy::Scim as i32);

    // platform-side writes the provider owns are refused and change nothing
    let mut other_email = linus.clone();
    other_email.emails = vec![email("linus@elsewhere.example", true)];
    other_email.managed_by = pb::ManagedBy::Unspecified as i32;
    let refused: [(
        &str,
        Result<tonic::Response<pb::UpdateUserResponse>, tonic::Status>,
    ); 3] = [
        (
            "emails",
            srv.users
                .update_user(pb::UpdateUserRequest {
                    organization_id: org.clone(),
                    user: Some(other_email.clone()),
                    update_mask: mask(&["emails"]),
                    ..Default::default()
                })
                .await,
        ),
        (
            "password",
            srv.users
                .update_user(pb::UpdateUserRequest {
                    organization_id: org.clone(),
                    user: Some(pb::User {
                        managed_by: pb::ManagedBy::Unspecified as i32,
                        ..linus.clone()
                    }),
                    update_mask: mask(&["password"]),
                    password: "new secret".into(),
                    ..Default::default()
                })
                .await,
        ),
        (
            "managed_by",
            srv.users
                .update_user(pb::UpdateUserRequest {
                    organization_id: org.clone(),
                    user: Some(pb::User {
                        managed_by: pb::ManagedBy::Platform as i32,
                        ..linus.clone()
                    }),
                    update_mask: mask(&["managed_by"]),
                    ..Default::default()
                })
                .await,
        ),
    ];
    for (what, result) in refused {
        let status = result.expect_err(what);
        assert_eq!(
            status.code(),
            Code::FailedPrecondition,
            "{what}: {status:?}"
        );
        assert_eq!(reason(&status), "USER_MANAGED_BY_SCIM", "{what}");
    }
    let replace = srv
        .users
        .replace_user(pb::ReplaceUserRequest {
            organization_id: org.clone(),
            user: Some(other_email.clone()),
            ..Default::default()
        })
        .await;
    assert_eq!(reason(&replace.unwrap_err()), "USER_MANAGED_BY_SCIM");
    let delete = srv
        .users
        .delete_user(pb::DeleteUserRequest {
            organization_id: org.clone(),
            user_id: linus.id.clone(),
            ..Default::default()
        })
        .await;
    assert_eq!(reason(&delete.unwrap_err()), "USER_MANAGED_BY_SCIM");
    let unchanged = srv
        .users
        .get_user(pb::GetUserRequest {
            organization_id: org.clone(),
            user_id: linus.id.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .user
        .unwrap();
    assert_eq!(
        unchanged.version, linus.version,
        "refused writes change nothing"
    );

    // the profile stays editable by the platform
    let titled = srv
        .users
        .update_user(pb::UpdateUserRequest {
            organization_id: org.clone(),
            user: Some(pb::User {
                title: "Kernel maintainer".into(),
                ..linus.clone()
            }),
            update_mask: mask(&["title"]),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .user
        .unwrap();
    assert_eq!(titled.title, "Kernel maintainer");
    assert_eq!(titled.managed_by, pb::ManagedBy::Scim as i32);

    // provisioning writes (managed_by = SCIM) may change all of it, and remove the user
    let mut from_provider = other_email.clone();
    from_provider.managed_by = pb::ManagedBy::Scim as i32;
    let replaced = srv
        .users
        .replace_user(pb::ReplaceUserRequest {
            organization_id: org.clone(),
            user: Some(from_provider),
            password: "synced".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .user
        .unwrap();
    assert_eq!(replaced.emails[0].value, "linus@elsewhere.example");
    srv.users
        .delete_user(pb::DeleteUserRequest {
            organization_id: org.clone(),
            user_id: linus.id.clone(),
            requested_by: pb::ManagedBy::Scim as i32,
            ..Default::default()
        })
        .await
        .unwrap();
}

/// WatchChanges replays the retained feed after a cursor, then delivers new commits as they
/// happen, in order; bad cursors are refused before the stream starts.
#[tokio::test]
async fn watch_changes_replays_then_follows() {
    use tokio_stream::StreamExt;
    let mut srv = start_server().await;
    let org = srv.store.create_org(true).await.to_string();
    let mut created = Vec::new();
    for name in ["w1", "w2"] {
        let user = srv.create_user(&org, user(name)).await;
        created.push(user.id);
    }

    // resume after the first change: the second is replayed
    let mut stream = srv
        .changes
        .watch_changes(pb::WatchChangesRequest {
            organization_id: org.clone(),
            after_sequence: 1,
        })
        .await
        .unwrap()
        .into_inner();
    let replayed = tokio::time::timeout(std::time::Duration::from_secs(10), stream.next())
        .await
        .expect("the replayed change")
        .unwrap()
        .unwrap();
    assert_eq!(replayed.changes.len(), 1);
    assert_eq!(replayed.changes[0].sequence, 2);
    assert_eq!(replayed.changes[0].resource_id, created[1]);

    // a change committed while watching arrives on the same stream
    let third = srv.create_user(&org, user("w3")).await;
    let message = tokio::time::timeout(std::time::Duration::from_secs(10), stream.next())
        .await
        .expect("the new change within 10 s")
        .unwrap()
        .unwrap();
    assert_eq!(message.changes[0].sequence, 3);
    assert_eq!(message.changes[0].resource_id, third.id);
    assert_eq!(message.changes[0].kind, pb::ChangeKind::Created as i32);

    for bad in [-1, 99] {
        let status = srv
            .changes
            .watch_changes(pb::WatchChangesRequest {
                organization_id: org.clone(),
                after_sequence: bad,
            })
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "cursor {bad}");
        assert_eq!(bad_fields(&status), vec!["after_sequence".to_owned()]);
    }
    let unknown = srv
        .changes
        .watch_changes(pb::WatchChangesRequest {
            organization_id: uuid::Uuid::now_v7().to_string(),
            after_sequence: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
}

/// Activation changes and renames have their own kinds, so consumers need not diff versions.
#[tokio::test]
async fn change_kinds_name_deactivations_reactivations_and_renames() {
    let mut srv = start_server().await;
    let org = srv.store.create_org(true).await.to_string();
    let u = srv.create_user(&org, user("kinds")).await;
    for active in [false, true] {
        srv.users
            .set_user_active(pb::SetUserActiveRequest {
                organization_id: org.clone(),
                user_id: u.id.clone(),
                active,
                expected_version: None,
                ..Default::default()
            })
            .await
            .unwrap();
    }
    let r = srv
        .roles
        .create_role(pb::CreateRoleRequest {
            organization_id: org.clone(),
            role: Some(role("before")),
            member_user_ids: vec![],
        })
        .await
        .unwrap()
        .into_inner()
        .role
        .unwrap();
    let mut renamed = role("after");
    renamed.id = r.id.clone();
    srv.roles
        .update_role(pb::UpdateRoleRequest {
            organization_id: org.clone(),
            role: Some(renamed),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["display_name".into()],
            }),
            expected_version: None,
        })
        .await
        .unwrap();
    let mut described = role("after");
    described.id = r.id.clone();
    described.description = "same name".into();
    srv.roles
        .update_role(pb::UpdateRoleRequest {
            organization_id: org.clone(),
            role: Some(described),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["description".into()],
            }),
            expected_version: None,
        })
        .await
        .unwrap();
    let kinds: Vec<i32> = srv
        .changes
        .list_changes(pb::ListChangesRequest {
            organization_id: org.clone(),
            after_sequence: 0,
            page_size: 0,
        })
        .await
        .unwrap()
        .into_inner()
        .changes
        .iter()
        .map(|c| c.kind)
        .collect();
    use pb::ChangeKind as K;
    assert_eq!(
        kinds,
        [
            K::Created as i32,
            K::Deactivated as i32,
            K::Reactivated as i32,
            K::Created as i32,
            K::Renamed as i32,
            K::Updated as i32,
        ]
    );
}

/// Retention removes a prefix of the feed; cursors inside it are refused with the resume point,
/// cursors after it still work.
#[tokio::test]
async fn retention_prunes_a_prefix_and_expires_older_cursors() {
    let mut srv = start_server().await;
    let org_id = srv.store.create_org(true).await;
    let org = org_id.to_string();
    for name in ["old-1", "old-2"] {
        srv.create_user(&org, user(name)).await;
    }
    let cutoff = identity_core::time::now_micros() + 1;
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    srv.create_user(&org, user("new-1")).await;
    let pruned = identity_core::store::retention::prune(&srv.store.db, cutoff, cutoff)
        .await
        .unwrap();
    assert_eq!(pruned.changes, 2);

    let expired = srv
        .changes
        .list_changes(pb::ListChangesRequest {
            organization_id: org.clone(),
            after_sequence: 1,
            page_size: 0,
        })
        .await
        .expect_err("cursor 1 is inside the pruned prefix");
    assert_eq!(expired.code(), Code::FailedPrecondition);
    assert_eq!(reason(&expired), "CURSOR_EXPIRED");
    let kept = srv
        .changes
        .list_changes(pb::ListChangesRequest {
            organization_id: org.clone(),
            after_sequence: 2,
            page_size: 0,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(kept.oldest_cursor, 2);
    assert_eq!(
        kept.changes.iter().map(|c| c.sequence).collect::<Vec<_>>(),
        [3]
    );
    // pruning again finds nothing older; the stream from the oldest cursor works
    let again = identity_core::store::retention::prune(&srv.store.db, cutoff, cutoff)
        .await
        .unwrap();
    assert_eq!(again.changes, 0);
}

/// USER_VIEW_WITH_ROLES: every read and write answers with the roles the user holds, in the
/// same call; the basic view leaves them out; an unknown view changes nothing.
#[tokio::test]
async fn user_view_with_roles_answers_in_one_call() {
    let mut srv = start_server().await;
    let org = srv.store.create_org(true).await.to_string();
    let ada = srv.create_user(&org, user("ada")).await;
    let bob = srv.create_user(&org, user("bob")).await;
    let mut role_ids = Vec::new();
    for name in ["Zeta", "Alpha"] {
        let created = srv
            .roles
            .create_role(pb::CreateRoleRequest {
                organization_id: org.clone(),
                role: Some(role(name)),
                member_user_ids: vec![ada.id.clone()],
            })
            .await
            .unwrap()
            .into_inner()
            .role
            .unwrap();
        role_ids.push(created.id);
    }
    role_ids.sort();
    let held =
        |user: &pb::User| -> Vec<String> { user.roles.iter().map(|r| r.role_id.clone()).collect() };
    let with_roles = pb::UserView::WithRoles as i32;

    let got = srv
        .users
        .get_user(pb::GetUserRequest {
            organization_id: org.clone(),
            user_id: ada.id.clone(),
            view: with_roles,
        })
        .await
        .unwrap()
        .into_inner()
        .user
        .unwrap();
    assert_eq!(held(&got), role_ids, "ordered by role id");
    let names: Vec<&str> = got.roles.iter().map(|r| r.display_name.as_str()).collect();
    assert!(names.contains(&"Alpha") && names.contains(&"Zeta"));

    let basic = srv
        .users
        .get_user(pb::GetUserRequest {
            organization_id: org.clone(),
            user_id: ada.id.clone(),
            view: pb::UserView::Basic as i32,
        })
        .await
        .unwrap()
        .into_inner()
        .user
        .unwrap();
    assert!(basic.roles.is_empty());

    // a page: each user with its own roles
    let page = srv
        .users
        .list_users(pb::ListUsersRequest {
            organization_id: org.clone(),
            view: with_roles,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let by_name: std::collections::HashMap<String, Vec<String>> = page
        .users
        .iter()
        .map(|u| (u.user_name.clone(), held(u)))
        .collect();
    assert_eq!(by_name["ada"], role_ids);
    assert!(by_name["bob"].is_empty());

    // writes answer with the roles too
    let mut changed = got.clone();
    changed.title = "Countess".into();
    let replaced = srv
        .users
        .replace_user(pb::ReplaceUserRequest {
            organization_id: org.clone(),
            user: Some(changed),
            view: with_roles,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .user
        .unwrap();
    assert_eq!(held(&replaced), role_ids);
    let deactivated = srv
        .users
        .set_user_active(pb::SetUserActiveRequest {
            organization_id: org.clone(),
            user_id: ada.id.clone(),
            active: false,
            view: with_roles,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .user
        .unwrap();
    assert_eq!(held(&deactivated), role_ids);

    // an unknown view is refused before anything is written
    let status = assert_err(
        srv.users
            .set_user_active(pb::SetUserActiveRequest {
                organization_id: org.clone(),
                user_id: bob.id.clone(),
                active: false,
                view: 99,
                ..Default::default()
            })
            .await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
    assert_eq!(bad_fields(&status), ["view"]);
    let bob_now = srv
        .users
        .get_user(pb::GetUserRequest {
            organization_id: org.clone(),
            user_id: bob.id.clone(),
            view: 0,
        })
        .await
        .unwrap()
        .into_inner()
        .user
        .unwrap();
    assert!(bob_now.active);
    assert_eq!(bob_now.version, bob.version);
}

/// An UpdateUser that changes nothing writes nothing: same version, no change in the feed.
#[tokio::test]
async fn update_that_changes_nothing_writes_nothing() {
    let mut srv = start_server().await;
    let org = srv.store.create_org(true).await.to_string();
    let mut u = user("idle");
    u.title = "Engineer".into();
    let created = srv.create_user(&org, u).await;
    let latest = |srv: &mut common::Server| {
        let mut changes = srv.changes.clone();
        let org = org.clone();
        async move {
            changes
                .list_changes(pb::ListChangesRequest {
                    organization_id: org,
                    after_sequence: 0,
                    page_size: 0,
                })
                .await
                .unwrap()
                .into_inner()
                .latest_sequence
        }
    };
    let before = latest(&mut srv).await;
    let mut same = created.clone();
    same.title = "Engineer".into();
    let answered = srv
        .users
        .update_user(pb::UpdateUserRequest {
            organization_id: org.clone(),
            user: Some(same),
            update_mask: mask(&["title", "active"]),
            expected_version: Some(created.version),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .user
        .unwrap();
    assert_eq!(answered.version, created.version);
    assert_eq!(answered.title, "Engineer");
    assert_eq!(latest(&mut srv).await, before, "no change recorded");

    // a stale version is still refused, change or not
    let status = assert_err(
        srv.users
            .update_user(pb::UpdateUserRequest {
                organization_id: org.clone(),
                user: Some(created.clone()),
                update_mask: mask(&["title"]),
                expected_version: Some(created.version + 1),
                ..Default::default()
            })
            .await,
        Code::Aborted,
        "VERSION_MISMATCH",
    );
    assert_eq!(reason(&status), "VERSION_MISMATCH");

    // a real change writes as before
    let mut retitled = created.clone();
    retitled.title = "Manager".into();
    let changed = srv
        .users
        .update_user(pb::UpdateUserRequest {
            organization_id: org.clone(),
            user: Some(retitled),
            update_mask: mask(&["title"]),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .user
        .unwrap();
    assert_eq!(changed.version, created.version + 1);
    assert_eq!(latest(&mut srv).await, before + 1);
}

/// Offset paging (SCIM startIndex): a walk in order resumes each page where the previous one
/// ended, so a user deleted behind the walk does not make it skip a user; totals follow every
/// write although they are reused between pages.
#[tokio::test]
async fn offset_walk_resumes_by_key_and_totals_follow_writes() {
    let mut srv = start_server().await;
    let org = srv.store.create_org(true).await.to_string();
    let mut ids = Vec::new();
    for i in 0..7 {
        ids.push(srv.create_user(&org, user(&format!("walker{i}"))).await.id);
    }
    let page = |srv: &mut common::Server, skip: i32| {
        let mut users = srv.users.clone();
        let org = org.clone();
        async move {
            let page = users
                .list_users(pb::ListUsersRequest {
                    organization_id: org,
                    page_size: 3,
                    skip,
                    include_total_size: true,
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner();
            let ids: Vec<String> = page.users.into_iter().map(|u| u.id).collect();
            (ids, page.total_size)
        }
    };
    let (first, total) = page(&mut srv, 0).await;
    assert_eq!((first.clone(), total), (ids[0..3].to_vec(), 7));
    // deleting a user the walk has passed: plain OFFSET 3 would now skip ids[3]
    srv.users
        .delete_user(pb::DeleteUserRequest {
            organization_id: org.clone(),
            user_id: ids[0].clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    let (second, total) = page(&mut srv, 3).await;
    assert_eq!(second, ids[3..6].to_vec(), "the walk goes on where it was");
    assert_eq!(total, 6, "the total follows the delete");
    srv.create_user(&org, user("late")).await;
    let (third, total) = page(&mut srv, 6).await;
    assert_eq!(third.len(), 2, "ids[6] and the late user: {third:?}");
    assert_eq!(third[0], ids[6]);
    assert_eq!(total, 7, "the total follows the create");
    // an offset never reached in order starts with OFFSET
    let (jump, total) = page(&mut srv, 4).await;
    assert_eq!(jump, vec![ids[5].clone(), ids[6].clone(), third[1].clone()]);
    assert_eq!(total, 7);
}

fn password_check(org: &str, user_name: &str, password: &str) -> pb::CheckPasswordRequest {
    pb::CheckPasswordRequest {
        organization_id: org.to_owned(),
        user_name: user_name.to_owned(),
        password: password.to_owned(),
    }
}

#[tokio::test]
async fn check_password_answers_alike_for_every_wrong_case_and_refuses_floods() {
    let mut srv = start_server().await;
    let org = srv.store.create_org(true).await.to_string();
    let other_org = srv.store.create_org(true).await.to_string();
    let ada = srv
        .users
        .create_user(pb::CreateUserRequest {
            organization_id: org.clone(),
            user: Some(user("Ada")),
            password: "correct horse battery".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .user
        .unwrap();
    srv.create_user(&org, user("NoPassword")).await;
    let tokens = &mut srv.access_tokens;

    // the right password, the user name compared without regard to case
    let matched = tokens
        .check_password(password_check(&org, "ADA", "correct horse battery"))
        .await
        .unwrap()
        .into_inner();
    assert!(matched.matched);
    assert_eq!(matched.user_id, ada.id);
    // a wrong password, an unknown user, a user without a password, another organization:
    // the same answer
    for (in_org, name, password) in [
        (&org, "ada", "correct horse"),
        (&org, "nobody", "correct horse battery"),
        (&org, "NoPassword", "anything"),
        (&other_org, "ada", "correct horse battery"),
    ] {
        let answer = tokens
            .check_password(password_check(in_org, name, password))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(answer, pb::CheckPasswordResponse::default(), "{name}");
    }
    for (request, field) in [
        (password_check(&org, " ", "x"), "user_name"),
        (password_check(&org, "ada", ""), "password"),
        (password_check(&org, "ada", &"x".repeat(1025)), "password"),
    ] {
        let status = assert_err(
            tokens.check_password(request).await,
            Code::InvalidArgument,
            "INVALID_ARGUMENT",
        );
        assert_eq!(bad_fields(&status), [field]);
    }

    // a deactivated user is refused, but only once the password is right
    srv.users
        .set_user_active(pb::SetUserActiveRequest {
            organization_id: org.clone(),
            user_id: ada.id.clone(),
            active: false,
            ..Default::default()
        })
        .await
        .unwrap();
    let tokens = &mut srv.access_tokens;
    assert_err(
        tokens
            .check_password(password_check(&org, "ada", "correct horse battery"))
            .await,
        Code::FailedPrecondition,
        "USER_INACTIVE",
    );
    assert!(
        !tokens
            .check_password(password_check(&org, "ada", "wrong"))
            .await
            .unwrap()
            .into_inner()
            .matched
    );

    // ten checks a minute per sign-in name: the next is refused with a time to wait, and
    // another name is unaffected
    let mut refused = None;
    for _ in 0..12 {
        if let Err(status) = tokens
            .check_password(password_check(&org, "guessed", "guess"))
            .await
        {
            refused = Some(status);
            break;
        }
    }
    let refused = refused.expect("a flood of guesses is refused");
    assert_eq!(refused.code(), Code::ResourceExhausted);
    assert_eq!(reason(&refused), "TOO_MANY_ATTEMPTS");
    let retry = tonic_types::StatusExt::get_details_retry_info(&refused)
        .and_then(|info| info.retry_delay)
        .expect("RetryInfo");
    assert!(retry > std::time::Duration::ZERO);
    assert!(
        tokens
            .check_password(password_check(&org, "NoPassword", "x"))
            .await
            .is_ok()
    );
}
