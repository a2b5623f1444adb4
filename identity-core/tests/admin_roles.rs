//! admin.v1.RoleService and every admin request that names a role (by name or by id), end to
//! end over real tonic clients and a fresh store (SQLite, or PostgreSQL with
//! IDENTITY_TEST_DATABASE_URL set).

mod admin_support;

use admin_support::{Harness, assert_error, unique_slug};
use identity_proto::admin::v1 as admin;
use sea_orm::sea_query::Query;
use tonic::Code;
use uuid::Uuid;

async fn create(h: &Harness, owner: &str, org: &str, name: &str) -> admin::Role {
    h.admin(Some(owner))
        .roles
        .create_role(admin::CreateRoleRequest {
            organization_id: org.to_owned(),
            name: name.to_owned(),
            description: format!("{name} people"),
        })
        .await
        .unwrap()
        .into_inner()
        .role
        .unwrap()
}

async fn list(h: &Harness, owner: &str, org: &str) -> Vec<admin::Role> {
    h.admin(Some(owner))
        .roles
        .list_roles(admin::ListRolesRequest {
            organization_id: org.to_owned(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .roles
}

fn names(roles: &[admin::Role]) -> Vec<&str> {
    roles.iter().map(|r| r.name.as_str()).collect()
}

#[tokio::test]
async fn an_owner_manages_roles_by_name_and_picks_the_default_by_name() {
    let h = Harness::start().await;
    let (org, owner) = h.org(&unique_slug("roles")).await;
    let admin = h.admin(Some(&owner));
    let (mut roles, mut scim) = (admin.roles, admin.scim);

    let engineering = create(&h, &owner, &org.id, "Engineering").await;
    assert!(!engineering.scim_managed && !engineering.is_default);
    assert_eq!(engineering.member_count, 0);
    assert_eq!(engineering.description, "Engineering people");
    create(&h, &owner, &org.id, "sales").await;
    // names are unique without regard to case, listed in that order
    assert_error(
        roles
            .create_role(admin::CreateRoleRequest {
                organization_id: org.id.clone(),
                name: "ENGINEERING".into(),
                description: String::new(),
            })
            .await,
        Code::AlreadyExists,
        "ROLE_NAME_TAKEN",
    );
    assert_error(
        roles
            .create_role(admin::CreateRoleRequest {
                organization_id: org.id.clone(),
                name: "  ".into(),
                description: String::new(),
            })
            .await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
    assert_eq!(
        names(&list(&h, &owner, &org.id).await),
        ["Engineering", "sales"]
    );

    // the seeds' first step: "Define Default Role", by the name the owner sees
    let settings = scim
        .enable_scim(admin::EnableScimRequest {
            organization_id: org.id.clone(),
            default_role: "engineering".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .settings
        .unwrap();
    assert_eq!(settings.default_role_id, engineering.id);
    assert_eq!(settings.default_role_name, "Engineering");
    let listed = list(&h, &owner, &org.id).await;
    assert!(listed[0].is_default && !listed[1].is_default);
    assert_error(
        scim.set_default_role(admin::SetDefaultRoleRequest {
            organization_id: org.id.clone(),
            default_role: "Marketing".into(),
            ..Default::default()
        })
        .await,
        Code::NotFound,
        "ROLE_NOT_FOUND",
    );

    // rename by name; the id and the default stay
    let renamed = roles
        .rename_role(admin::RenameRoleRequest {
            organization_id: org.id.clone(),
            role: "Engineering".into(),
            new_name: "Platform Engineering".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .role
        .unwrap();
    assert_eq!(renamed.id, engineering.id);
    assert!(renamed.is_default);
    assert_error(
        roles
            .rename_role(admin::RenameRoleRequest {
                organization_id: org.id.clone(),
                role: "sales".into(),
                new_name: "platform engineering".into(),
            })
            .await,
        Code::AlreadyExists,
        "ROLE_NAME_TAKEN",
    );

    // the default role cannot go; another can, named by its id
    assert_error(
        roles
            .delete_role(admin::DeleteRoleRequest {
                organization_id: org.id.clone(),
                role: engineering.id.clone(),
            })
            .await,
        Code::FailedPrecondition,
        "ROLE_IS_DEFAULT",
    );
    let sales = list(&h, &owner, &org.id).await.remove(1);
    roles
        .delete_role(admin::DeleteRoleRequest {
            organization_id: org.id.clone(),
            role: sales.id.clone(),
        })
        .await
        .unwrap();
    assert_eq!(
        names(&list(&h, &owner, &org.id).await),
        ["Platform Engineering"]
    );
    assert_error(
        roles
            .delete_role(admin::DeleteRoleRequest {
                organization_id: org.id.clone(),
                role: "sales".into(),
            })
            .await,
        Code::NotFound,
        "ROLE_NOT_FOUND",
    );

    // the default can be set by id too, and cleared
    let settings = scim
        .set_default_role(admin::SetDefaultRoleRequest {
            organization_id: org.id.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .settings
        .unwrap();
    assert_eq!(
        (
            settings.default_role_id.as_str(),
            settings.default_role_name.as_str()
        ),
        ("", "")
    );
    let settings = scim
        .set_default_role(admin::SetDefaultRoleRequest {
            organization_id: org.id.clone(),
            default_role: engineering.id.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .settings
        .unwrap();
    assert_eq!(settings.default_role_name, "Platform Engineering");
}

#[tokio::test]
async fn roles_an_identity_provider_pushed_are_changed_there() {
    let h = Harness::start().await;
    let (org, owner) = h.org(&unique_slug("pushed")).await;
    let org_id = Uuid::parse_str(&org.id).unwrap();
    let now = identity_core::time::now_micros();
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
                Uuid::now_v7().into(),
                org_id.into(),
                "Okta Admins".into(),
                "okta admins".into(),
                0_i64.into(),
                2_i16.into(),
                1_i64.into(),
                now.into(),
                now.into(),
            ])
            .to_owned(),
    )
    .await;
    let listed = list(&h, &owner, &org.id).await;
    assert!(listed[0].scim_managed);
    let mut roles = h.admin(Some(&owner)).roles;
    assert_error(
        roles
            .rename_role(admin::RenameRoleRequest {
                organization_id: org.id.clone(),
                role: "okta admins".into(),
                new_name: "Admins".into(),
            })
            .await,
        Code::FailedPrecondition,
        "ROLE_MANAGED_BY_SCIM",
    );
    assert_error(
        roles
            .delete_role(admin::DeleteRoleRequest {
                organization_id: org.id.clone(),
                role: "Okta Admins".into(),
            })
            .await,
        Code::FailedPrecondition,
        "ROLE_MANAGED_BY_SCIM",
    );
    assert_eq!(names(&list(&h, &owner, &org.id).await), ["Okta Admins"]);
}

#[tokio::test]
async fn role_pages_walk_every_role_once_and_stay_in_their_organization() {
    let h = Harness::start().await;
    let (org, owner) = h.org(&unique_slug("pages")).await;
    let (other, other_owner) = h.org(&unique_slug("other")).await;
    for name in ["delta", "Alpha", "charlie", "Bravo", "echo"] {
        create(&h, &owner, &org.id, name).await;
    }
    create(&h, &other_owner, &other.id, "Alpha").await;

    let mut roles = h.admin(Some(&owner)).roles;
    let (mut seen, mut token) = (Vec::new(), String::new());
    loop {
        let page = roles
            .list_roles(admin::ListRolesRequest {
                organization_id: org.id.clone(),
                page_size: 2,
                page_token: token.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        assert!(page.roles.len() <= 2);
        seen.extend(page.roles.into_iter().map(|r| r.name));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(seen, ["Alpha", "Bravo", "charlie", "delta", "echo"]);
    assert_error(
        roles
            .list_roles(admin::ListRolesRequest {
                organization_id: org.id.clone(),
                page_size: 2,
                page_token: "not-a-token".into(),
            })
            .await,
        Code::InvalidArgument,
        "INVALID_PAGE_TOKEN",
    );

    // another organization's owner sees nothing of it, and its names are its own
    assert_error(
        h.admin(Some(&other_owner))
            .roles
            .list_roles(admin::ListRolesRequest {
                organization_id: org.id.clone(),
                ..Default::default()
            })
            .await,
        Code::PermissionDenied,
        "PERMISSION_DENIED",
    );
    assert_error(
        h.admin(Some(&other_owner))
            .scim
            .enable_scim(admin::EnableScimRequest {
                organization_id: other.id.clone(),
                default_role: "bravo".into(),
                ..Default::default()
            })
            .await,
        Code::NotFound,
        "ROLE_NOT_FOUND",
    );
    let other_alpha = list(&h, &other_owner, &other.id).await.remove(0);
    assert_error(
        roles
            .delete_role(admin::DeleteRoleRequest {
                organization_id: org.id.clone(),
                role: other_alpha.id,
            })
            .await,
        Code::NotFound,
        "ROLE_NOT_FOUND",
    );
    assert_eq!(list(&h, &other_owner, &other.id).await.len(), 1);
}

#[tokio::test]
async fn groups_to_sync_take_role_ids_as_names() {
    let h = Harness::start().await;
    let (org, owner) = h.org(&unique_slug("sync")).await;
    let engineering = create(&h, &owner, &org.id, "Engineering").await;
    let connection = h
        .admin(Some(&owner))
        .connections
        .create_connection(admin::CreateConnectionRequest {
            organization_id: org.id.clone(),
            name: "Okta".into(),
            allowed_group_names: vec![engineering.id.clone(), "Not Pushed Yet".into()],
        })
        .await
        .unwrap()
        .into_inner()
        .connection
        .unwrap();
    assert_eq!(
        connection.allowed_group_names,
        ["Engineering", "Not Pushed Yet"]
    );
}
