//! Contract tests of the user/role/change store over a fresh store per test: SQLite by default,
//! PostgreSQL when IDENTITY_TEST_DATABASE_URL is set.

use identity_core::entity::organization;
use identity_core::error::CoreError;
use identity_core::ids::{OrgId, RoleId, UserId};
use identity_core::store::changes;
use identity_core::store::paging::ListQuery;
use identity_core::store::roles::{self, RoleChange, RoleData};
use identity_core::store::users::{
    self, Contact, Detail, HeldRole, LookupKey, PasswordChange, UserData,
};
use identity_core::testing::TestDb;
use identity_proto::identity::v1::{ChangeKind, ErrorReason, ManagedBy, ResourceType};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, EntityTrait};
use uuid::Uuid;

fn data(user_name: &str) -> UserData {
    UserData {
        user_name: user_name.into(),
        ..UserData::default()
    }
}

fn with_email(mut data: UserData, email: &str) -> UserData {
    data.emails.push(Contact {
        value: email.into(),
        value_type: Some("work".into()),
        primary: true,
        display: None,
    });
    data
}

fn role_data(name: &str) -> RoleData {
    RoleData {
        display_name: name.into(),
        ..RoleData::default()
    }
}

async fn create(db: &TestDb, org: OrgId, d: UserData) -> users::User {
    users::create_user(&db.db, org, d, PasswordChange::Keep, false)
        .await
        .unwrap()
        .0
}

fn reason_of(err: &CoreError) -> ErrorReason {
    err.reason()
}

async fn set_default_role(db: &TestDb, org: OrgId, role: Option<RoleId>) {
    let mut model: organization::ActiveModel = organization::Entity::find_by_id(org.0)
        .one(&db.db)
        .await
        .unwrap()
        .unwrap()
        .into();
    model.default_role_id = Set(role.map(|r| r.0));
    model.update(&db.db).await.unwrap();
}

async fn feed(db: &TestDb, org: OrgId) -> Vec<(i64, i16, Uuid, i16, i64, Vec<String>)> {
    let mut out = Vec::new();
    let mut after = 0;
    loop {
        let page = changes::list_changes(&db.db, org, after, 1000)
            .await
            .unwrap();
        out.extend(page.changes.iter().map(|c| {
            (
                c.sequence,
                c.resource_type,
                c.resource_id,
                c.kind,
                c.resource_version,
                c.member_user_ids.clone(),
            )
        }));
        match page.changes.last() {
            Some(last) => after = last.sequence,
            None => {
                assert_eq!(
                    page.latest_sequence, after,
                    "the feed ends at latest_sequence"
                );
                return out;
            }
        }
    }
}

#[tokio::test]
async fn create_get_and_lookup() {
    let db = TestDb::new().await;
    let org = db.create_org(true).await;
    let mut d = with_email(data("Alice.Smith"), "Alice@Example.com");
    d.external_id = Some("Ext-1".into());
    d.display_name = Some("Alice".into());
    d.name.given_name = Some("Alice".into());
    d.enterprise.department = Some("R&D".into());
    d.extra_attributes = Some(
        serde_json::json!({"x": {"y": [1, 2]}})
            .as_object()
            .unwrap()
            .clone(),
    );
    let created = create(&db, org, d.clone()).await;
    assert_eq!(created.version, 1);
    assert_eq!(created.data, d);
    assert!(!created.has_password);

    let got = users::get_user(&db.db, org, created.id, Detail::Basic)
        .await
        .unwrap();
    assert_eq!(got, created);

    for key in [
        LookupKey::UserName("alice.smith".into()),
        LookupKey::UserName("ALICE.SMITH".into()),
        LookupKey::Email("alice@EXAMPLE.com".into()),
        LookupKey::ExternalId("Ext-1".into()),
    ] {
        assert_eq!(
            users::lookup_user(&db.db, org, &key, Detail::Basic)
                .await
                .unwrap()
                .id,
            created.id,
            "{key:?}"
        );
    }
    // external ids are case-exact
    let err = users::lookup_user(
        &db.db,
        org,
        &LookupKey::ExternalId("ext-1".into()),
        Detail::Basic,
    )
    .await
    .unwrap_err();
    assert_eq!(reason_of(&err), ErrorReason::UserNotFound);

    let err = users::get_user(&db.db, org, UserId::generate(), Detail::Basic)
        .await
        .unwrap_err();
    assert_eq!(reason_of(&err), ErrorReason::UserNotFound);
    let err = users::get_user(&db.db, OrgId::generate(), created.id, Detail::Basic)
        .await
        .unwrap_err();
    assert_eq!(reason_of(&err), ErrorReason::OrganizationNotFound);
}

/// Every read returns a user's contacts in stored order and, when asked, the roles the user
/// holds ordered by role id, all read in one statement: text that JSON must escape, several of
/// each, a user with none, and another organization's role that must not show.
#[tokio::test]
async fn reads_return_contacts_in_order_and_roles_when_asked() {
    let db = TestDb::new().await;
    let org = db.create_org(true).await;
    let other_org = db.create_org(true).await;
    let contact =
        |value: &str, value_type: Option<&str>, primary: bool, display: Option<&str>| Contact {
            value: value.into(),
            value_type: value_type.map(Into::into),
            primary,
            display: display.map(Into::into),
        };
    let mut d = data("carol");
    d.emails = vec![
        contact(
            "b@example.com",
            Some("work"),
            false,
            Some("\"quoted\" \\ back"),
        ),
        contact("a@example.com", None, false, None),
        contact("名前@example.com", Some("home"), true, Some("名前")),
    ];
    d.phone_numbers = vec![
        contact("+1 555 0101", Some("mobile"), false, None),
        contact("+1 555 0100", Some("work"), true, Some("desk")),
    ];
    let carol = create(&db, org, d.clone()).await;
    let dave = create(&db, org, data("dave")).await;
    let mut held = Vec::new();
    for name in ["zeta \"quoted\"", "alpha", "Ωmega"] {
        let role = roles::create_role(&db.db, org, role_data(name), &[carol.id.0])
            .await
            .unwrap();
        held.push(HeldRole {
            role_id: role.id.0,
            display_name: name.into(),
        });
    }
    held.sort_by_key(|role| role.role_id);
    let elsewhere = create(&db, other_org, data("carol")).await;
    roles::create_role(&db.db, other_org, role_data("theirs"), &[elsewhere.id.0])
        .await
        .unwrap();

    let basic = users::get_user(&db.db, org, carol.id, Detail::Basic)
        .await
        .unwrap();
    assert_eq!(basic.data, d);
    assert_eq!(basic.roles, None);
    let full = users::get_user(&db.db, org, carol.id, Detail::WithRoles)
        .await
        .unwrap();
    assert_eq!(full.data, d);
    assert_eq!(full.roles.as_deref(), Some(&held[..]));
    for key in [
        LookupKey::UserName("CAROL".into()),
        LookupKey::Email("名前@example.com".into()),
    ] {
        let found = users::lookup_user(&db.db, org, &key, Detail::WithRoles)
            .await
            .unwrap();
        assert_eq!((found.id, &found.data), (carol.id, &d), "{key:?}");
        assert_eq!(found.roles.as_deref(), Some(&held[..]), "{key:?}");
    }
    let page = users::list_users(
        &db.db,
        org,
        &ListQuery {
            page_size: 10,
            ..ListQuery::default()
        },
        Detail::WithRoles,
    )
    .await
    .unwrap();
    let listed: Vec<_> = page
        .users
        .iter()
        .map(|user| (user.id, user.roles.clone()))
        .collect();
    assert_eq!(
        listed,
        vec![(carol.id, Some(held.clone())), (dave.id, Some(Vec::new()))]
    );
    assert_eq!(page.users[0].data, d);
}

#[tokio::test]
async fn password_is_hashed_and_verifiable() {
    let db = TestDb::new().await;
    let org = db.create_org(false).await;
    let hash = users::hash_password("s3cret-pass".into()).await.unwrap();
    assert!(hash.starts_with("$argon2"));
    let (user, _) =
        users::create_user(&db.db, org, data("p"), PasswordChange::SetHash(hash), false)
            .await
            .unwrap();
    assert!(user.has_password);
    assert!(
        users::verify_password(&db.db, org, user.id, "s3cret-pass".into())
            .await
            .unwrap()
    );
    assert!(
        !users::verify_password(&db.db, org, user.id, "wrong".into())
            .await
            .unwrap()
    );
    // deactivation blocks the password without deleting it; reactivation restores it
    for active in [false, true] {
        users::modify_user(
            &db.db,
            org,
            user.id,
            None,
            PasswordChange::Keep,
            move |data| {
                data.active = active;
                Ok(())
            },
        )
        .await
        .unwrap();
        assert_eq!(
            users::verify_password(&db.db, org, user.id, "s3cret-pass".into())
                .await
                .unwrap(),
            active
        );
    }
    let cleared = users::modify_user(
        &db.db,
        org,
        user.id,
        None,
        PasswordChange::Clear,
        |_| Ok(()),
    )
    .await
    .unwrap();
    assert!(!cleared.has_password);
}

#[tokio::test]
async fn validation_names_fields() {
    let db = TestDb::new().await;
    let org = db.create_org(false).await;
    let mut d = data("bad\u{7}name");
    d.emails = vec![
        Contact {
            value: "a@example.com".into(),
            primary: true,
            ..Contact::default()
        },
        Contact {
            value: "not-an-email".into(),
            primary: true,
            ..Contact::default()
        },
    ];
    let err = users::create_user(&db.db, org, d, PasswordChange::Keep, false)
        .await
        .unwrap_err();
    let CoreError::InvalidArgument(violations) = err else {
        panic!("{err:?}")
    };
    let fields: Vec<&str> = violations.iter().map(|v| v.field.as_str()).collect();
    assert!(fields.contains(&"user.user_name"), "{fields:?}");
    assert!(fields.contains(&"user.emails[1].value"), "{fields:?}");
    assert!(fields.contains(&"user.emails[1].primary"), "{fields:?}");

    let err = users::create_user(
        &db.db,
        org,
        data(&"x".repeat(257)),
        PasswordChange::Keep,
        false,
    )
    .await
    .unwrap_err();
    assert_eq!(reason_of(&err), ErrorReason::InvalidArgument);
    let err = users::create_user(&db.db, org, data("  "), PasswordChange::Keep, false)
        .await
        .unwrap_err();
    assert_eq!(reason_of(&err), ErrorReason::InvalidArgument);
    // nothing was written
    assert!(feed(&db, org).await.is_empty());
}

#[tokio::test]
async fn uniqueness_of_user_name_and_external_id() {
    let db = TestDb::new().await;
    let org = db.create_org(false).await;
    let other_org = db.create_org(false).await;
    let mut d = data("bob");
    d.external_id = Some("E1".into());
    create(&db, org, d).await;

    let err = users::create_user(&db.db, org, data("BOB"), PasswordChange::Keep, false)
        .await
        .unwrap_err();
    assert_eq!(reason_of(&err), ErrorReason::UserNameTaken);

    let mut d = data("bob2");
    d.external_id = Some("E1".into());
    let err = users::create_user(&db.db, org, d, PasswordChange::Keep, false)
        .await
        .unwrap_err();
    assert_eq!(reason_of(&err), ErrorReason::ExternalIdTaken);

    // case-exact external id, and other organizations are independent
    let mut d = data("bob3");
    d.external_id = Some("e1".into());
    create(&db, org, d).await;
    let mut d = data("bob");
    d.external_id = Some("E1".into());
    create(&db, other_org, d).await;

    // renaming onto a taken name fails too
    let carol = create(&db, org, data("carol")).await;
    let err = users::modify_user(&db.db, org, carol.id, None, PasswordChange::Keep, |d| {
        d.user_name = "Bob".into();
        Ok(())
    })
    .await
    .unwrap_err();
    assert_eq!(reason_of(&err), ErrorReason::UserNameTaken);
}

#[tokio::test]
async fn updates_bump_versions_and_check_expected_version() {
    let db = TestDb::new().await;
    let org = db.create_org(false).await;
    let user = create(&db, org, data("dave")).await;
    let updated = users::modify_user(&db.db, org, user.id, Some(1), PasswordChange::Keep, |d| {
        d.title = Some("Engineer".into());
        Ok(())
    })
    .await
    .unwrap();
    assert_eq!(updated.version, 2);
    assert_eq!(updated.data.title.as_deref(), Some("Engineer"));
    assert!(updated.updated_at >= user.updated_at);

    let err = users::modify_user(&db.db, org, user.id, Some(1), PasswordChange::Keep, |d| {
        d.title = None;
        Ok(())
    })
    .await
    .unwrap_err();
    assert!(
        matches!(
            err,
            CoreError::VersionMismatch {
                expected: 1,
                actual: 2
            }
        ),
        "{err:?}"
    );

    let err = users::delete_user(&db.db, org, user.id, Some(7), |_| Ok(()))
        .await
        .unwrap_err();
    assert_eq!(reason_of(&err), ErrorReason::VersionMismatch);
    users::delete_user(&db.db, org, user.id, Some(2), |_| Ok(()))
        .await
        .unwrap();
    let err = users::get_user(&db.db, org, user.id, Detail::Basic)
        .await
        .unwrap_err();
    assert_eq!(reason_of(&err), ErrorReason::UserNotFound);
    let err = users::delete_user(&db.db, org, user.id, None, |_| Ok(()))
        .await
        .unwrap_err();
    assert_eq!(reason_of(&err), ErrorReason::UserNotFound);

    let kinds: Vec<(i64, i16, i64)> = feed(&db, org)
        .await
        .iter()
        .map(|c| (c.0, c.3, c.4))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (1, ChangeKind::Created as i16, 1),
            (2, ChangeKind::Updated as i16, 2),
            (3, ChangeKind::Deleted as i16, 0),
        ]
    );
}

#[tokio::test]
async fn adopt_existing_platform_users() {
    let db = TestDb::new().await;
    let org = db.create_org(true).await;
    let by_name = create(&db, org, data("erin")).await;
    let by_email = create(
        &db,
        org,
        with_email(data("frank-platform"), "Frank@Example.com"),
    )
    .await;
    let role = roles::create_role(&db.db, org, role_data("staff"), &[by_name.id.0])
        .await
        .unwrap();

    let mut scim = with_email(data("ERIN"), "erin@example.com");
    scim.managed_by = ManagedBy::Scim;
    scim.title = Some("Adopted".into());
    let (adopted, was_adopted) = users::create_user(&db.db, org, scim, PasswordChange::Keep, true)
        .await
        .unwrap();
    assert!(was_adopted);
    assert_eq!(adopted.id, by_name.id);
    assert_eq!(adopted.version, 2);
    assert_eq!(adopted.data.managed_by, ManagedBy::Scim);
    assert_eq!(adopted.data.title.as_deref(), Some("Adopted"));
    // its roles are kept
    assert!(
        roles::check_membership(&db.db, org, role.id, adopted.id)
            .await
            .unwrap()
    );

    let mut scim = with_email(data("frank"), "frank@EXAMPLE.com");
    scim.managed_by = ManagedBy::Scim;
    let (adopted, was_adopted) = users::create_user(&db.db, org, scim, PasswordChange::Keep, true)
        .await
        .unwrap();
    assert!(was_adopted);
    assert_eq!(adopted.id, by_email.id);
    assert_eq!(adopted.data.user_name, "frank");

    // a SCIM-managed user is never adopted
    let mut again = data("erin");
    again.managed_by = ManagedBy::Scim;
    let err = users::create_user(&db.db, org, again, PasswordChange::Keep, true)
        .await
        .unwrap_err();
    assert_eq!(reason_of(&err), ErrorReason::UserNameTaken);
    // without adopt_existing, a platform user's name is simply taken
    create(&db, org, data("gina")).await;
    let err = users::create_user(&db.db, org, data("gina"), PasswordChange::Keep, false)
        .await
        .unwrap_err();
    assert_eq!(reason_of(&err), ErrorReason::UserNameTaken);
}

#[tokio::test]
async fn scim_users_join_the_default_role() {
    let db = TestDb::new().await;
    let org = db.create_org(true).await;
    let role = roles::create_role(&db.db, org, role_data("everyone"), &[])
        .await
        .unwrap();
    set_default_role(&db, org, Some(role.id)).await;

    let platform = create(&db, org, data("platform-user")).await;
    let mut d = data("scim-user");
    d.managed_by = ManagedBy::Scim;
    let scim = create(&db, org, d).await;
    assert!(
        !roles::check_membership(&db.db, org, role.id, platform.id)
            .await
            .unwrap()
    );
    assert!(
        roles::check_membership(&db.db, org, role.id, scim.id)
            .await
            .unwrap()
    );
    let role_now = roles::get_role(&db.db, org, role.id).await.unwrap();
    assert_eq!((role_now.member_count, role_now.version), (1, 2));

    let events = feed(&db, org).await;
    let last = events.last().unwrap();
    assert_eq!(last.1, ResourceType::Role as i16);
    assert_eq!(last.3, ChangeKind::MembersAdded as i16);
    assert_eq!(last.5, vec![scim.id.to_string()]);

    let err = roles::delete_role(&db.db, org, role.id, None)
        .await
        .unwrap_err();
    assert_eq!(reason_of(&err), ErrorReason::RoleIsDefault);
    set_default_role(&db, org, None).await;
    roles::delete_role(&db.db, org, role.id, None)
        .await
        .unwrap();
}

#[tokio::test]
async fn membership_operations_touch_only_differences() {
    let db = TestDb::new().await;
    let org = db.create_org(false).await;
    let mut ids = Vec::new();
    for n in 0..6 {
        ids.push(create(&db, org, data(&format!("m{n}"))).await.id.0);
    }
    let role = roles::create_role(&db.db, org, role_data("team"), &ids[0..2])
        .await
        .unwrap();
    assert_eq!((role.member_count, role.version), (2, 1));

    let add = |users: Vec<Uuid>| RoleChange {
        add: users,
        ..RoleChange::default()
    };
    let out = roles::modify_role(
        &db.db,
        org,
        role.id,
        Some(1),
        add(vec![ids[1], ids[2], ids[2]]),
    )
    .await
    .unwrap();
    assert_eq!(
        (out.added, out.role.member_count, out.role.version),
        (1, 3, 2)
    );

    // nothing changes: no version bump, no change row
    let before = feed(&db, org).await.len();
    let out = roles::modify_role(&db.db, org, role.id, None, add(vec![ids[0]]))
        .await
        .unwrap();
    assert_eq!((out.added, out.role.version), (0, 2));
    assert_eq!(feed(&db, org).await.len(), before);

    let out = roles::modify_role(
        &db.db,
        org,
        role.id,
        None,
        RoleChange {
            remove: vec![ids[0], ids[5]],
            ..RoleChange::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        (out.removed, out.role.member_count, out.role.version),
        (1, 2, 3)
    );

    // replace: {1,2} -> {2,3,4}
    let out = roles::modify_role(
        &db.db,
        org,
        role.id,
        Some(3),
        RoleChange {
            replace_members: Some(vec![ids[2], ids[3], ids[4]]),
            ..RoleChange::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        (
            out.added,
            out.removed,
            out.role.member_count,
            out.role.version
        ),
        (2, 1, 3, 4)
    );

    // combined change: one version increment, net delta
    let out = roles::modify_role(
        &db.db,
        org,
        role.id,
        Some(4),
        RoleChange {
            attributes: Some(Box::new(|d: &mut RoleData| {
                d.description = Some("the team".into());
                Ok(())
            })),
            replace_members: None,
            remove: vec![ids[2]],
            add: vec![ids[2], ids[5]],
        },
    )
    .await
    .unwrap();
    assert_eq!(
        (
            out.added,
            out.removed,
            out.role.member_count,
            out.role.version
        ),
        (1, 0, 4, 5)
    );
    assert_eq!(out.role.data.description.as_deref(), Some("the team"));

    // unknown users fail the whole change
    let ghost = Uuid::now_v7();
    let err = roles::modify_role(&db.db, org, role.id, None, add(vec![ids[0], ghost]))
        .await
        .unwrap_err();
    assert_eq!(reason_of(&err), ErrorReason::UserNotFound);
    assert!(err.to_string().contains(&ghost.to_string()), "{err}");
    assert!(
        !roles::check_membership(&db.db, org, role.id, UserId(ids[0]))
            .await
            .unwrap()
    );

    let err = roles::modify_role(&db.db, org, role.id, Some(1), add(vec![ids[0]]))
        .await
        .unwrap_err();
    assert_eq!(reason_of(&err), ErrorReason::VersionMismatch);

    // members page by user id
    let (page1, token) = roles::list_members(&db.db, org, role.id, 3, "")
        .await
        .unwrap();
    assert_eq!(page1.len(), 3);
    assert!(!token.is_empty());
    let (page2, token2) = roles::list_members(&db.db, org, role.id, 3, &token)
        .await
        .unwrap();
    assert_eq!(page2.len(), 1);
    assert!(token2.is_empty());
    let mut listed: Vec<Uuid> = page1.iter().chain(&page2).map(|m| m.user_id.0).collect();
    let mut expected = vec![ids[2], ids[3], ids[4], ids[5]];
    expected.sort();
    assert_eq!(listed, expected, "ordered by user id");
    listed.dedup();
    assert_eq!(
        page1[0].user_name,
        format!("m{}", ids.iter().position(|x| *x == expected[0]).unwrap())
    );

    // deleting a user removes its memberships and decrements counts
    users::delete_user(&db.db, org, UserId(ids[3]), None, |_| Ok(()))
        .await
        .unwrap();
    let role_now = roles::get_role(&db.db, org, role.id).await.unwrap();
    assert_eq!((role_now.member_count, role_now.version), (3, 6));
    let (roles_of_4, _) = roles::list_user_roles(&db.db, org, UserId(ids[4]), 10, "")
        .await
        .unwrap();
    assert_eq!(roles_of_4.len(), 1);

    let events = feed(&db, org).await;
    let seqs: Vec<i64> = events.iter().map(|e| e.0).collect();
    assert_eq!(
        seqs,
        (1..=seqs.len() as i64).collect::<Vec<_>>(),
        "gap-free"
    );
    let last_two: Vec<(i16, i16)> = events[events.len() - 2..]
        .iter()
        .map(|e| (e.1, e.3))
        .collect();
    assert_eq!(
        last_two,
        vec![
            (ResourceType::Role as i16, ChangeKind::MembersRemoved as i16),
            (ResourceType::User as i16, ChangeKind::Deleted as i16),
        ]
    );
}

#[tokio::test]
async fn role_uniqueness_and_updates() {
    let db = TestDb::new().await;
    let org = db.create_org(false).await;
    let mut d = role_data("Admins");
    d.external_id = Some("G1".into());
    let admins = roles::create_role(&db.db, org, d, &[]).await.unwrap();
    let err = roles::create_role(&db.db, org, role_data("admins"), &[])
        .await
        .unwrap_err();
    assert_eq!(reason_of(&err), ErrorReason::RoleNameTaken);
    let mut d = role_data("Other");
    d.external_id = Some("G1".into());
    let err = roles::create_role(&db.db, org, d, &[]).await.unwrap_err();
    assert_eq!(reason_of(&err), ErrorReason::ExternalIdTaken);
    let err = roles::create_role(&db.db, org, role_data("x"), &[Uuid::now_v7()])
        .await
        .unwrap_err();
    assert_eq!(reason_of(&err), ErrorReason::UserNotFound);
    let err = roles::create_role(&db.db, org, role_data(""), &[])
        .await
        .unwrap_err();
    assert_eq!(reason_of(&err), ErrorReason::InvalidArgument);

    let other = roles::create_role(&db.db, org, role_data("Other"), &[])
        .await
        .unwrap();
    let err = roles::modify_role(
        &db.db,
        org,
        other.id,
        None,
        RoleChange {
            attributes: Some(Box::new(|d: &mut RoleData| {
                d.display_name = "ADMINS".into();
                Ok(())
            })),
            ..RoleChange::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(reason_of(&err), ErrorReason::RoleNameTaken);

    let err = roles::delete_role(&db.db, org, admins.id, Some(9))
        .await
        .unwrap_err();
    assert_eq!(reason_of(&err), ErrorReason::VersionMismatch);
    roles::delete_role(&db.db, org, admins.id, Some(1))
        .await
        .unwrap();
    let err = roles::get_role(&db.db, org, admins.id).await.unwrap_err();
    assert_eq!(reason_of(&err), ErrorReason::RoleNotFound);
}

#[tokio::test]
async fn tenant_isolation_in_the_store() {
    let db = TestDb::new().await;
    let org_a = db.create_org(false).await;
    let org_b = db.create_org(false).await;
    let user_a = create(&db, org_a, with_email(data("shared"), "shared@example.com")).await;
    let role_a = roles::create_role(&db.db, org_a, role_data("r"), &[user_a.id.0])
        .await
        .unwrap();
    let user_b = create(&db, org_b, data("b-user")).await;

    assert_eq!(
        reason_of(
            &users::get_user(&db.db, org_b, user_a.id, Detail::Basic)
                .await
                .unwrap_err()
        ),
        ErrorReason::UserNotFound
    );
    assert_eq!(
        reason_of(
            &users::lookup_user(
                &db.db,
                org_b,
                &LookupKey::Email("shared@example.com".into()),
                Detail::Basic,
            )
            .await
            .unwrap_err()
        ),
        ErrorReason::UserNotFound
    );
    assert_eq!(
        reason_of(
            &users::modify_user(
                &db.db,
                org_b,
                user_a.id,
                None,
                PasswordChange::Keep,
                |_| Ok(())
            )
            .await
            .unwrap_err()
        ),
        ErrorReason::UserNotFound
    );
    assert_eq!(
        reason_of(
            &users::delete_user(&db.db, org_b, user_a.id, None, |_| Ok(()))
                .await
                .unwrap_err()
        ),
        ErrorReason::UserNotFound
    );
    assert_eq!(
        reason_of(&roles::get_role(&db.db, org_b, role_a.id).await.unwrap_err()),
        ErrorReason::RoleNotFound
    );
    // org B's role cannot take org A's user, and org A's role cannot be changed through org B
    let role_b = roles::create_role(&db.db, org_b, role_data("r"), &[])
        .await
        .unwrap();
    let add_a = RoleChange {
        add: vec![user_a.id.0],
        ..RoleChange::default()
    };
    assert_eq!(
        reason_of(
            &roles::modify_role(&db.db, org_b, role_b.id, None, add_a)
                .await
                .unwrap_err()
        ),
        ErrorReason::UserNotFound
    );
    let add_b = RoleChange {
        add: vec![user_b.id.0],
        ..RoleChange::default()
    };
    assert_eq!(
        reason_of(
            &roles::modify_role(&db.db, org_b, role_a.id, None, add_b)
                .await
                .unwrap_err()
        ),
        ErrorReason::RoleNotFound
    );
    assert!(
        !roles::check_membership(&db.db, org_b, role_a.id, user_a.id)
            .await
            .unwrap()
    );
    assert!(
        roles::check_membership(&db.db, org_a, role_a.id, user_a.id)
            .await
            .unwrap()
    );
    // a missing organization is told apart from a "no", whatever the ids
    assert_eq!(
        reason_of(
            &roles::check_membership(&db.db, OrgId::generate(), role_a.id, user_a.id)
                .await
                .unwrap_err()
        ),
        ErrorReason::OrganizationNotFound
    );
    let (batch, missing) = users::batch_get_users(&db.db, org_b, &[user_a.id, user_b.id])
        .await
        .unwrap();
    assert_eq!(batch.len(), 1);
    assert_eq!(missing, vec![user_a.id]);
    let listed = users::list_users(
        &db.db,
        org_b,
        &ListQuery {
            page_size: 100,
            ..ListQuery::default()
        },
        Detail::Basic,
    )
    .await
    .unwrap();
    assert_eq!(listed.users.len(), 1);
    assert_eq!(feed(&db, org_b).await.len(), 2);
    assert_eq!(
        users::get_user(&db.db, org_a, user_a.id, Detail::Basic)
            .await
            .unwrap()
            .version,
        1
    );
}

#[tokio::test]
async fn concurrent_creates_of_one_user_name() {
    let db = TestDb::new().await;
    let org = db.create_org(false).await;
    let mut tasks = Vec::new();
    for n in 0..16 {
        let conn = db.db.clone();
        tasks.push(tokio::spawn(async move {
            let name = if n % 2 == 0 { "Race" } else { "race" };
            users::create_user(&conn, org, data(name), PasswordChange::Keep, false).await
        }));
    }
    let mut ok = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => ok += 1,
            Err(err) => assert_eq!(reason_of(&err), ErrorReason::UserNameTaken, "{err:?}"),
        }
    }
    assert_eq!(ok, 1);
    assert_eq!(feed(&db, org).await.len(), 1);
}

#[tokio::test]
async fn concurrent_member_adds_keep_exact_counts() {
    let db = TestDb::new().await;
    let org = db.create_org(false).await;
    let role = roles::create_role(&db.db, org, role_data("busy"), &[])
        .await
        .unwrap();
    let mut ids = Vec::new();
    for n in 0..24 {
        ids.push(create(&db, org, data(&format!("c{n}"))).await.id.0);
    }
    let mut tasks = Vec::new();
    for chunk in ids.chunks(3) {
        let conn = db.db.clone();
        let chunk = chunk.to_vec();
        tasks.push(tokio::spawn(async move {
            roles::modify_role(
                &conn,
                org,
                role.id,
                None,
                RoleChange {
                    add: chunk,
                    ..RoleChange::default()
                },
            )
            .await
        }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap().unwrap().added, 3);
    }
    let role_now = roles::get_role(&db.db, org, role.id).await.unwrap();
    assert_eq!(role_now.member_count, 24);
    assert_eq!(role_now.version, 9);
    let (members, _) = roles::list_members(&db.db, org, role.id, 10_000, "")
        .await
        .unwrap();
    assert_eq!(members.len(), 24);
    let seqs: Vec<i64> = feed(&db, org).await.iter().map(|e| e.0).collect();
    assert_eq!(seqs, (1..=seqs.len() as i64).collect::<Vec<_>>());
}

/// Holds the organization's write lock from outside, as a writer on another replica would, until
/// the returned transaction ends.
async fn hold_org_lock(db: &TestDb, org: OrgId) -> sea_orm::DatabaseTransaction {
    use sea_orm::{ColumnTrait, QueryFilter, TransactionTrait};
    let holder = db.db.begin().await.unwrap();
    organization::Entity::update_many()
        .col_expr(
            organization::Column::ChangeSeq,
            sea_orm::sea_query::Expr::col(organization::Column::ChangeSeq),
        )
        .filter(organization::Column::Id.eq(org.0))
        .exec(&holder)
        .await
        .unwrap();
    holder
}

/// Group commit: writes of one organization queued behind its lock commit together, each
/// answered with its own outcome. A failing write (a name taken before the batch, or by an
/// earlier write of the same batch) leaves nothing behind while the rest commit, and the feed
/// stays gap-free and in order.
#[tokio::test]
async fn queued_writes_of_one_organization_commit_together() {
    use identity_core::store::org_writes;
    let db = TestDb::new().await;
    let org = db.create_org(false).await;
    create(&db, org, data("taken")).await;

    let holder = hold_org_lock(&db, org).await;
    let spawn_create = |name: &'static str| {
        let conn = db.db.clone();
        tokio::spawn(async move {
            let created = users::create_user(&conn, org, data(name), PasswordChange::Keep, false)
                .await
                .map(|(user, _)| user);
            (created, identity_core::time::now_micros())
        })
    };
    // the first write's batch opens and waits for the lock
    let first = spawn_create("first");
    while org_writes::queued(&db.db, org) != Some(0) {
        tokio::task::yield_now().await;
    }
    let names = ["b1", "b2", "taken", "twin", "b3", "twin", "b4"];
    let queued: Vec<_> = names.iter().map(|name| spawn_create(name)).collect();
    while org_writes::queued(&db.db, org) != Some(names.len()) {
        tokio::task::yield_now().await;
    }
    holder.commit().await.unwrap();

    first.await.unwrap().0.unwrap();
    let mut outcomes = Vec::new();
    let mut answered = Vec::new();
    for task in queued {
        let (created, answered_at) = task.await.unwrap();
        if let Ok(user) = &created {
            answered.push((user.clone(), answered_at));
        }
        outcomes.push(created.map(|user| user.id));
    }
    let failed: Vec<(&str, ErrorReason)> = names
        .iter()
        .zip(&outcomes)
        .filter_map(|(name, outcome)| outcome.as_ref().err().map(|e| (*name, reason_of(e))))
        .collect();
    assert_eq!(
        failed,
        [
            ("taken", ErrorReason::UserNameTaken),
            ("twin", ErrorReason::UserNameTaken)
        ]
    );
    // the first "twin" is the one that committed
    assert!(outcomes[3].is_ok(), "{:?}", outcomes[3]);
    let created: Vec<Uuid> = outcomes
        .iter()
        .filter_map(|o| o.as_ref().ok())
        .map(|id| id.0)
        .collect();
    assert_eq!(created.len(), 5);
    let entries = feed(&db, org).await;
    let seqs: Vec<i64> = entries.iter().map(|e| e.0).collect();
    assert_eq!(seqs, (1..=7).collect::<Vec<_>>());
    // in arrival order after "taken" and "first"
    let fed: Vec<Uuid> = entries[2..].iter().map(|e| e.2).collect();
    assert_eq!(fed, created);

    // every answer came after the last write of the batch ran: one commit answered them all
    let last_run = answered
        .iter()
        .map(|(user, _)| user.created_at)
        .max()
        .unwrap();
    for (user, answered_at) in &answered {
        assert!(
            *answered_at >= last_run,
            "{} was answered before the batch's last write ran",
            user.data.user_name
        );
    }
}

/// A queued write whose caller stopped waiting before its batch started (a cancelled call, a
/// client that gave up) is dropped unrun: the caller was told it failed, so it must not commit.
#[tokio::test]
async fn queued_write_whose_caller_left_is_not_committed() {
    use identity_core::store::org_writes;
    let db = TestDb::new().await;
    let org = db.create_org(false).await;
    let holder = hold_org_lock(&db, org).await;
    let spawn_create = |name: &'static str| {
        let conn = db.db.clone();
        tokio::spawn(async move {
            users::create_user(&conn, org, data(name), PasswordChange::Keep, false).await
        })
    };
    let first = spawn_create("first");
    while org_writes::queued(&db.db, org) != Some(0) {
        tokio::task::yield_now().await;
    }
    let gone = spawn_create("gone");
    while org_writes::queued(&db.db, org) != Some(1) {
        tokio::task::yield_now().await;
    }
    let kept = spawn_create("kept");
    while org_writes::queued(&db.db, org) != Some(2) {
        tokio::task::yield_now().await;
    }
    gone.abort();
    assert!(gone.await.unwrap_err().is_cancelled());
    holder.commit().await.unwrap();

    first.await.unwrap().unwrap();
    kept.await.unwrap().unwrap();
    let err = users::lookup_user(
        &db.db,
        org,
        &LookupKey::UserName("gone".into()),
        Detail::Basic,
    )
    .await
    .unwrap_err();
    assert_eq!(reason_of(&err), ErrorReason::UserNotFound);
    let seqs: Vec<i64> = feed(&db, org).await.iter().map(|e| e.0).collect();
    assert_eq!(seqs, [1, 2]);
}

/// Membership lists larger than one statement chunk (500) and one page of the replace walk
/// (1000): counts, deltas and paging stay exact.
#[tokio::test]
async fn large_member_lists_cross_chunk_boundaries() {
    let db = TestDb::new().await;
    let org = db.create_org(false).await;
    // created 8 at a time: writes of one organization serialise, but round trips overlap
    use futures::StreamExt;
    let ids: Vec<Uuid> = futures::stream::iter(0..1600)
        .map(|n| {
            let conn = db.db.clone();
            async move {
                users::create_user(
                    &conn,
                    org,
                    data(&format!("bulk{n:04}")),
                    PasswordChange::Keep,
                    false,
                )
                .await
                .unwrap()
                .0
                .id
                .0
            }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    let role = roles::create_role(&db.db, org, role_data("bulk"), &ids[..1100])
        .await
        .unwrap();
    assert_eq!(role.member_count, 1100);

    // keep 500..1100, drop 0..500, add 1100..1600
    let out = roles::modify_role(
        &db.db,
        org,
        role.id,
        Some(1),
        RoleChange {
            replace_members: Some(ids[500..].to_vec()),
            ..RoleChange::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        (
            out.added,
            out.removed,
            out.role.member_count,
            out.role.version
        ),
        (500, 500, 1100, 2)
    );

    let (first, token) = roles::list_members(&db.db, org, role.id, 1000, "")
        .await
        .unwrap();
    let (second, end) = roles::list_members(&db.db, org, role.id, 1000, &token)
        .await
        .unwrap();
    assert_eq!((first.len(), second.len(), end.as_str()), (1000, 100, ""));
    let mut listed: Vec<Uuid> = first.iter().chain(&second).map(|m| m.user_id.0).collect();
    let mut expected = ids[500..].to_vec();
    listed.sort();
    expected.sort();
    assert_eq!(listed, expected);

    let events = feed(&db, org).await;
    let last_two: Vec<(i16, usize)> = events[events.len() - 2..]
        .iter()
        .map(|e| (e.3, e.5.len()))
        .collect();
    assert_eq!(
        last_two,
        vec![
            (ChangeKind::MembersRemoved as i16, 500),
            (ChangeKind::MembersAdded as i16, 500)
        ]
    );
}

/// Retention removes OAuth access tokens once expired (they are minted by the thousand by
/// client-credentials clients); a client not registered for client credentials gets none.
#[tokio::test]
async fn expired_oauth_access_tokens_are_pruned_and_client_credentials_need_registration() {
    use identity_core::entity::scim_token;
    use identity_core::store::{connections, oauth};
    use sea_orm::{ColumnTrait, PaginatorTrait, QueryFilter};
    let db = TestDb::new().await;
    let org = db.create_org(true).await;
    let connection = connections::create(&db.db, org, "Entra", None)
        .await
        .unwrap();
    let settings = oauth::OAuthSettings::default();
    // the token endpoint's clients are authenticated first, as the edge's calls are
    let authenticated = |(client, secret): (oauth::OAuthClient, String)| {
        let db = db.db.clone();
        async move {
            oauth::authenticate_client(&db, &client.client_id, &secret)
                .await
                .unwrap()
        }
    };
    let code_only = authenticated(
        oauth::register_client(&db.db, org, connection.id, "Okta", &[], false)
            .await
            .unwrap(),
    )
    .await;
    let refused = oauth::client_credentials(&db.db, &settings, &code_only, "scim")
        .await
        .unwrap_err();
    assert_eq!(reason_of(&refused), ErrorReason::OauthUnauthorizedClient);

    let entra = authenticated(
        oauth::register_client(&db.db, org, connection.id, "Entra", &[], true)
            .await
            .unwrap(),
    )
    .await;
    for _ in 0..3 {
        oauth::client_credentials(&db.db, &settings, &entra, "scim")
            .await
            .unwrap();
    }
    let minted = || async {
        scim_token::Entity::find()
            .filter(scim_token::Column::OrgId.eq(org.0))
            .filter(scim_token::Column::GrantId.is_not_null())
            .count(&db.db)
            .await
            .unwrap()
    };
    assert_eq!(minted().await, 3);
    // nothing has expired yet
    oauth::prune_expired(&db.db, identity_core::time::now_micros())
        .await
        .unwrap();
    assert_eq!(minted().await, 3);
    // past their expiry (an hour) they go
    let later = identity_core::time::now_micros() + 2 * 3600 * 1_000_000;
    assert!(oauth::prune_expired(&db.db, later).await.unwrap() >= 3);
    assert_eq!(minted().await, 0);
}

#[tokio::test]
async fn portal_links_open_once_before_they_expire_and_sessions_end() {
    use identity_core::store::portal;
    use std::time::Duration;
    let db = TestDb::new().await;
    let org = db.create_org(true).await;
    let now = 1_000_000_000_000_i64;
    let minute = 60_000_000_i64;
    let (link, token) =
        portal::create_link(&db.db, org, "  IT  ", Some(Duration::from_secs(600)), now)
            .await
            .unwrap();
    assert_eq!(link.label, "IT");
    assert_eq!(link.expires_at, now + 10 * minute);
    let (session, session_token) = portal::open(&db.db, &token, now + minute).await.unwrap();
    assert_eq!((session.org_id, session.label.as_str()), (org, "IT"));
    assert_eq!(session.expires_at, now + 61 * minute);
    // spent: a second open fails, as do a forged token and an expired link
    let spent = portal::open(&db.db, &token, now + minute)
        .await
        .unwrap_err();
    assert_eq!(reason_of(&spent), ErrorReason::PortalLinkInvalid);
    let (_, late) = portal::create_link(&db.db, org, "late", None, now)
        .await
        .unwrap();
    let expired = portal::open(&db.db, &late, now + 61 * minute)
        .await
        .unwrap_err();
    assert_eq!(reason_of(&expired), ErrorReason::PortalLinkInvalid);
    assert!(portal::open(&db.db, "idportal_forged", now).await.is_err());
    // the session lives an hour from opening, and only under its own token
    let found = portal::find_session(&db.db, &session_token, now + 60 * minute)
        .await
        .unwrap();
    assert_eq!(found, Some(session));
    assert_eq!(
        portal::find_session(&db.db, &session_token, now + 62 * minute)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        portal::find_session(&db.db, &token, now).await.unwrap(),
        None
    );
    // closing ends a session; revoking stops an unopened link and ends an open one's session,
    // in its own organization only
    portal::close(&db.db, &session_token, now + 2 * minute)
        .await
        .unwrap();
    assert_eq!(
        portal::find_session(&db.db, &session_token, now + 2 * minute)
            .await
            .unwrap(),
        None
    );
    let (unopened, unopened_token) = portal::create_link(&db.db, org, "a", None, now)
        .await
        .unwrap();
    let (opened, opened_token) = portal::create_link(&db.db, org, "b", None, now)
        .await
        .unwrap();
    let (_, live) = portal::open(&db.db, &opened_token, now).await.unwrap();
    let other = db.create_org(true).await;
    let elsewhere = portal::revoke(&db.db, other, opened.id, now + minute)
        .await
        .unwrap_err();
    assert_eq!(reason_of(&elsewhere), ErrorReason::PortalLinkInvalid);
    assert!(
        portal::find_session(&db.db, &live, now + minute)
            .await
            .unwrap()
            .is_some()
    );
    for link in [&unopened, &opened] {
        portal::revoke(&db.db, org, link.id, now + minute)
            .await
            .unwrap();
    }
    assert_eq!(
        portal::find_session(&db.db, &live, now + minute)
            .await
            .unwrap(),
        None
    );
    assert!(
        portal::open(&db.db, &unopened_token, now + minute)
            .await
            .is_err()
    );
    let listed = portal::list(&db.db, org, 100).await.unwrap();
    assert_eq!(listed.len(), 4);
    assert!(listed.iter().all(|link| link.org_id == org));
    // a link needs a label and a sane validity
    for (label, validity) in [
        ("", None),
        ("IT", Some(Duration::from_secs(5))),
        ("IT", Some(Duration::from_secs(8 * 86_400))),
    ] {
        let refused = portal::create_link(&db.db, org, label, validity, now)
            .await
            .unwrap_err();
        assert_eq!(
            reason_of(&refused),
            ErrorReason::InvalidArgument,
            "{label:?} {validity:?}"
        );
    }
}
