//! Filter translation, sorting and keyset paging, checked against the real database (SQLite, or
//! PostgreSQL with IDENTITY_TEST_DATABASE_URL): every operator, the case rules, LIKE escaping,
//! null and presence, multi-valued paths, element matches and the refusal of bad filters.

mod common;

use common::{and, b, cmp, element, i, not, null, or, s, ts};
use identity_core::error::CoreError;
use identity_core::ids::OrgId;
use identity_core::store::paging::ListQuery;
use identity_core::store::roles::{self, RoleData};
use identity_core::store::users::{self, Contact, Detail, PasswordChange, User, UserData};
use identity_core::testing::TestDb;
use identity_proto::identity::v1::{ErrorReason, Filter, ManagedBy, Operator as Op};
use std::collections::BTreeSet;

struct Fixture {
    db: TestDb,
    org: OrgId,
    alice: User,
    bob: User,
    carol: User,
}

fn contact(value: &str, kind: &str, primary: bool) -> Contact {
    Contact {
        value: value.into(),
        value_type: Some(kind.into()),
        primary,
        display: None,
    }
}

async fn fixture() -> Fixture {
    let db = TestDb::new().await;
    let org = db.create_org(true).await;
    // a user of another organization that no filter may ever return
    let other = db.create_org(true).await;
    let stranger = UserData {
        user_name: "alice".into(),
        ..UserData::default()
    };
    users::create_user(&db.db, other, stranger, PasswordChange::Keep, false)
        .await
        .unwrap();

    let mut a = UserData {
        user_name: "alice".into(),
        external_id: Some("A-1".into()),
        display_name: Some("Alice Smith".into()),
        title: Some("Engineer".into()),
        nick_name: Some("al_%x".into()),
        emails: vec![
            contact("alice@example.com", "work", true),
            contact("alice@home.org", "home", false),
        ],
        phone_numbers: vec![contact("+1 555 0100", "mobile", true)],
        managed_by: ManagedBy::Scim,
        ..UserData::default()
    };
    a.enterprise.department = Some("R&D".into());
    let alice = users::create_user(&db.db, org, a, PasswordChange::Keep, false)
        .await
        .unwrap()
        .0;
    let bob = UserData {
        user_name: "Bob".into(),
        external_id: Some("a-1".into()),
        display_name: Some("bob jones".into()),
        nick_name: Some("al%x".into()),
        active: false,
        emails: vec![contact("bob@EXAMPLE.com", "work", true)],
        ..UserData::default()
    };
    let bob = users::create_user(&db.db, org, bob, PasswordChange::Keep, false)
        .await
        .unwrap()
        .0;
    let carol = UserData {
        user_name: "carol".into(),
        title: Some("Engineering Manager".into()),
        nick_name: Some("alxx".into()),
        ..UserData::default()
    };
    let carol = users::create_user(&db.db, org, carol, PasswordChange::Keep, false)
        .await
        .unwrap()
        .0;
    Fixture {
        db,
        org,
        alice,
        bob,
        carol,
    }
}

fn query(filter: Option<Filter>) -> ListQuery {
    ListQuery {
        filter,
        page_size: 100,
        ..ListQuery::default()
    }
}

async fn names(f: &Fixture, filter: Filter) -> BTreeSet<String> {
    users::list_users(&f.db.db, f.org, &query(Some(filter.clone())), Detail::Basic)
        .await
        .unwrap_or_else(|e| panic!("{filter:?}: {e:?}"))
        .users
        .into_iter()
        .map(|u| u.data.user_name)
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

async fn refused(f: &Fixture, filter: Filter) -> CoreError {
    let err = users::list_users(&f.db.db, f.org, &query(Some(filter.clone())), Detail::Basic)
        .await
        .expect_err("filter should be refused");
    assert_eq!(
        err.reason(),
        ErrorReason::InvalidFilter,
        "{filter:?}: {err:?}"
    );
    err
}

#[tokio::test]
async fn string_operators_and_case_rules() {
    let f = fixture().await;
    let cases: Vec<(Filter, &[&str])> = vec![
        (cmp("user_name", Op::Eq, s("ALICE")), &["alice"]),
        (cmp("user_name", Op::Ne, s("alice")), &["Bob", "carol"]),
        (cmp("display_name", Op::Co, s("SMITH")), &["alice"]),
        (cmp("user_name", Op::Sw, s("b")), &["Bob"]),
        (cmp("display_name", Op::Ew, s("JONES")), &["Bob"]),
        (cmp("user_name", Op::Gt, s("bob")), &["carol"]),
        (cmp("user_name", Op::Ge, s("bob")), &["Bob", "carol"]),
        (cmp("user_name", Op::Lt, s("BOB")), &["alice"]),
        (cmp("user_name", Op::Le, s("BOB")), &["alice", "Bob"]),
        // ne matches absent values
        (cmp("title", Op::Ne, s("engineer")), &["Bob", "carol"]),
        (cmp("title", Op::Pr, None), &["alice", "carol"]),
        (cmp("title", Op::Eq, null()), &["Bob"]),
        (cmp("title", Op::Ne, null()), &["alice", "carol"]),
        // LIKE wildcards in values are literal text
        (cmp("nick_name", Op::Co, s("_%")), &["alice"]),
        (cmp("nick_name", Op::Sw, s("al%")), &["Bob"]),
        (cmp("nick_name", Op::Sw, s("al_")), &["alice"]),
        (cmp("nick_name", Op::Ew, s("%x")), &["alice", "Bob"]),
        // case-exact attributes
        (cmp("external_id", Op::Eq, s("A-1")), &["alice"]),
        (cmp("external_id", Op::Eq, s("a-1")), &["Bob"]),
        (cmp("external_id", Op::Sw, s("A")), &["alice"]),
        (cmp("external_id", Op::Co, s("-1")), &["alice", "Bob"]),
        (cmp("external_id", Op::Co, s("a-")), &["Bob"]),
        (cmp("external_id", Op::Ew, s("A-1")), &["alice"]),
        (cmp("external_id", Op::Ew, s("xA-1")), &[]),
        (cmp("external_id", Op::Ne, s("A-1")), &["Bob", "carol"]),
        (cmp("enterprise.department", Op::Eq, s("r&d")), &["alice"]),
        (cmp("name.given_name", Op::Pr, None), &[]),
    ];
    for (filter, expected) in cases {
        assert_eq!(names(&f, filter.clone()).await, set(expected), "{filter:?}");
    }
}

#[tokio::test]
async fn typed_attributes() {
    let f = fixture().await;
    let alice_id = f.alice.id.to_string();
    let bob_created = f.bob.created_at;
    let rfc3339 = chrono::DateTime::from_timestamp_micros(bob_created)
        .unwrap()
        .to_rfc3339();
    let cases: Vec<(Filter, &[&str])> = vec![
        (cmp("active", Op::Eq, b(false)), &["Bob"]),
        (cmp("active", Op::Ne, b(true)), &["Bob"]),
        (cmp("active", Op::Pr, None), &["alice", "Bob", "carol"]),
        (cmp("id", Op::Eq, s(&alice_id)), &["alice"]),
        (cmp("id", Op::Ne, s(&alice_id)), &["Bob", "carol"]),
        (cmp("id", Op::Eq, s("not-a-uuid")), &[]),
        (
            cmp("id", Op::Ne, s("not-a-uuid")),
            &["alice", "Bob", "carol"],
        ),
        (cmp("version", Op::Ge, i(1)), &["alice", "Bob", "carol"]),
        (cmp("version", Op::Gt, i(1)), &[]),
        (cmp("managed_by", Op::Eq, s("SCIM")), &["alice"]),
        (cmp("managed_by", Op::Eq, i(1)), &["Bob", "carol"]),
        (
            cmp("managed_by", Op::Ne, s("MANAGED_BY_PLATFORM")),
            &["alice"],
        ),
        (
            cmp("create_time", Op::Ge, ts(bob_created)),
            &["Bob", "carol"],
        ),
        (cmp("create_time", Op::Lt, ts(bob_created)), &["alice"]),
        (cmp("create_time", Op::Le, s(&rfc3339)), &["alice", "Bob"]),
        (
            cmp("update_time", Op::Gt, ts(0)),
            &["alice", "Bob", "carol"],
        ),
    ];
    for (filter, expected) in cases {
        assert_eq!(names(&f, filter.clone()).await, set(expected), "{filter:?}");
    }
}

#[tokio::test]
async fn multi_valued_paths_and_element_matches() {
    let f = fixture().await;
    let cases: Vec<(Filter, &[&str])> = vec![
        (
            cmp("emails.value", Op::Ew, s("EXAMPLE.COM")),
            &["alice", "Bob"],
        ),
        (cmp("emails.value", Op::Eq, s("ALICE@HOME.ORG")), &["alice"]),
        (
            cmp("emails.value", Op::Ne, s("bob@example.com")),
            &["alice", "carol"],
        ),
        (cmp("emails.value", Op::Pr, None), &["alice", "Bob"]),
        (cmp("emails.value", Op::Eq, null()), &["carol"]),
        (cmp("emails.type", Op::Eq, s("HOME")), &["alice"]),
        (cmp("emails.primary", Op::Eq, b(true)), &["alice", "Bob"]),
        (cmp("phone_numbers.value", Op::Co, s("555")), &["alice"]),
        (cmp("phone_numbers.type", Op::Eq, s("mobile")), &["alice"]),
        (
            element(
                "emails",
                and(vec![
                    cmp("type", Op::Eq, s("work")),
                    cmp("value", Op::Co, s("home")),
                ]),
            ),
            &[],
        ),
        (
            element(
                "emails",
                and(vec![
                    cmp("type", Op::Eq, s("home")),
                    cmp("value", Op::Co, s("HOME")),
                ]),
            ),
            &["alice"],
        ),
        (
            element("emails", not(cmp("primary", Op::Eq, b(true)))),
            &["alice"],
        ),
        (
            or(vec![
                cmp("user_name", Op::Eq, s("alice")),
                cmp("user_name", Op::Eq, s("carol")),
            ]),
            &["alice", "carol"],
        ),
        (not(cmp("active", Op::Eq, b(true))), &["Bob"]),
        (
            and(vec![
                cmp("active", Op::Eq, b(true)),
                cmp("title", Op::Co, s("engineer")),
            ]),
            &["alice", "carol"],
        ),
    ];
    for (filter, expected) in cases {
        assert_eq!(names(&f, filter.clone()).await, set(expected), "{filter:?}");
    }
}

#[tokio::test]
async fn bad_filters_are_refused() {
    let f = fixture().await;
    refused(&f, cmp("no_such_attribute", Op::Eq, s("x"))).await;
    refused(&f, cmp("emails.nope", Op::Eq, s("x"))).await;
    refused(&f, cmp("active", Op::Gt, b(true))).await;
    refused(&f, cmp("active", Op::Eq, s("true"))).await;
    refused(&f, cmp("version", Op::Eq, s("1"))).await;
    refused(&f, cmp("version", Op::Co, i(1))).await;
    refused(&f, cmp("user_name", Op::Eq, i(1))).await;
    refused(&f, cmp("user_name", Op::Pr, s("x"))).await;
    refused(&f, cmp("user_name", Op::Unspecified, s("x"))).await;
    refused(&f, cmp("user_name", Op::Eq, None)).await;
    refused(&f, cmp("title", Op::Gt, null())).await;
    refused(&f, cmp("id", Op::Co, s("abc"))).await;
    refused(&f, cmp("create_time", Op::Gt, s("yesterday"))).await;
    refused(&f, Filter { kind: None }).await;
    refused(&f, and(vec![])).await;
    refused(&f, element("title", cmp("value", Op::Eq, s("x")))).await;
    refused(
        &f,
        element("emails", element("emails", cmp("value", Op::Pr, None))),
    )
    .await;
    refused(&f, element("emails", cmp("user_name", Op::Eq, s("x")))).await;
    // roles-only attributes are unknown on users
    refused(&f, cmp("members.user_id", Op::Eq, s("x"))).await;

    let mut deep = cmp("user_name", Op::Pr, None);
    for _ in 0..16 {
        deep = not(deep);
    }
    refused(&f, deep).await;
    let mut shallow = cmp("user_name", Op::Pr, None);
    for _ in 0..15 {
        shallow = not(shallow);
    }
    // 15 negations: 16 levels deep, accepted (and an odd number of them negates)
    assert_eq!(names(&f, shallow).await, set(&[]));
    let wide = or((0..300)
        .map(|n| cmp("user_name", Op::Eq, s(&n.to_string())))
        .collect());
    refused(&f, wide).await;
}

#[tokio::test]
async fn sorting_and_keyset_paging() {
    let f = fixture().await;
    let list = |order_by: &str, descending: bool| {
        let q = ListQuery {
            order_by: order_by.into(),
            descending,
            page_size: 100,
            ..ListQuery::default()
        };
        let db = f.db.db.clone();
        let org = f.org;
        async move {
            users::list_users(&db, org, &q, Detail::Basic)
                .await
                .unwrap()
                .users
                .into_iter()
                .map(|u| u.data.user_name)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(list("", false).await, ["alice", "Bob", "carol"]);
    assert_eq!(list("user_name", true).await, ["carol", "Bob", "alice"]);
    // absent titles sort as empty strings, first when ascending
    assert_eq!(list("title", false).await, ["Bob", "alice", "carol"]);
    // by primary email; none sorts first
    assert_eq!(list("emails.value", false).await, ["carol", "alice", "Bob"]);
    assert_eq!(list("active", false).await, ["Bob", "alice", "carol"]);
    assert_eq!(list("id", false).await, ["alice", "Bob", "carol"]);

    let err = users::list_users(
        &f.db.db,
        f.org,
        &ListQuery {
            order_by: "emails.type".into(),
            page_size: 10,
            ..ListQuery::default()
        },
        Detail::Basic,
    )
    .await
    .unwrap_err();
    assert_eq!(err.reason(), ErrorReason::InvalidArgument);

    // page through every order one row at a time
    for (order_by, descending) in [
        ("", false),
        ("user_name", true),
        ("title", false),
        ("emails.value", true),
        ("active", false),
        ("id", true),
    ] {
        let mut q = ListQuery {
            order_by: order_by.into(),
            descending,
            page_size: 1,
            include_total_size: true,
            ..ListQuery::default()
        };
        let mut seen = Vec::new();
        loop {
            let page = users::list_users(&f.db.db, f.org, &q, Detail::Basic)
                .await
                .unwrap();
            assert_eq!(page.total_size, Some(3));
            seen.extend(page.users.into_iter().map(|u| u.data.user_name));
            if page.next_page_token.is_empty() {
                break;
            }
            q.page_token = page.next_page_token;
        }
        assert_eq!(
            seen,
            list(order_by, descending).await,
            "{order_by} {descending}"
        );
    }

    // a token belongs to its query
    let first = users::list_users(
        &f.db.db,
        f.org,
        &ListQuery {
            page_size: 1,
            ..ListQuery::default()
        },
        Detail::Basic,
    )
    .await
    .unwrap();
    let other = ListQuery {
        page_size: 1,
        page_token: first.next_page_token.clone(),
        order_by: "user_name".into(),
        ..ListQuery::default()
    };
    let err = users::list_users(&f.db.db, f.org, &other, Detail::Basic)
        .await
        .unwrap_err();
    assert_eq!(err.reason(), ErrorReason::InvalidPageToken);
    let garbage = ListQuery {
        page_size: 1,
        page_token: "%%%".into(),
        ..ListQuery::default()
    };
    assert_eq!(
        users::list_users(&f.db.db, f.org, &garbage, Detail::Basic)
            .await
            .unwrap_err()
            .reason(),
        ErrorReason::InvalidPageToken
    );

    // skip is an offset without a token
    let skipped = users::list_users(
        &f.db.db,
        f.org,
        &ListQuery {
            page_size: 1,
            skip: 1,
            include_total_size: true,
            ..ListQuery::default()
        },
        Detail::Basic,
    )
    .await
    .unwrap();
    assert_eq!(skipped.users[0].id, f.bob.id);
    assert_eq!(skipped.total_size, Some(3));
    let filtered_total = users::list_users(
        &f.db.db,
        f.org,
        &ListQuery {
            filter: Some(cmp("active", Op::Eq, b(true))),
            page_size: 1,
            include_total_size: true,
            ..ListQuery::default()
        },
        Detail::Basic,
    )
    .await
    .unwrap();
    assert_eq!(filtered_total.total_size, Some(2));
    assert_eq!(filtered_total.users[0].id, f.alice.id);
    let _ = &f.carol;
}

#[tokio::test]
async fn role_filters() {
    let f = fixture().await;
    let mk = |name: &str, description: Option<&str>| RoleData {
        display_name: name.into(),
        description: description.map(Into::into),
        ..RoleData::default()
    };
    roles::create_role(
        &f.db.db,
        f.org,
        mk("Admins", Some("all powers")),
        &[f.alice.id.0, f.bob.id.0],
    )
    .await
    .unwrap();
    roles::create_role(&f.db.db, f.org, mk("Readers", None), &[f.carol.id.0])
        .await
        .unwrap();
    roles::create_role(&f.db.db, f.org, mk("Empty", None), &[])
        .await
        .unwrap();
    let role_names = |filter: Filter| {
        let db = f.db.db.clone();
        let org = f.org;
        async move {
            roles::list_roles(&db, org, &query(Some(filter)))
                .await
                .unwrap()
                .roles
                .into_iter()
                .map(|r| r.data.display_name)
                .collect::<BTreeSet<_>>()
        }
    };
    let alice = f.alice.id.to_string();
    assert_eq!(
        role_names(cmp("display_name", Op::Eq, s("admins"))).await,
        set(&["Admins"])
    );
    assert_eq!(
        role_names(cmp("description", Op::Co, s("POWER"))).await,
        set(&["Admins"])
    );
    assert_eq!(
        role_names(cmp("members.user_id", Op::Eq, s(&alice))).await,
        set(&["Admins"])
    );
    assert_eq!(
        role_names(cmp("members.user_id", Op::Pr, None)).await,
        set(&["Admins", "Readers"])
    );
    assert_eq!(
        role_names(cmp("members.user_id", Op::Eq, null())).await,
        set(&["Empty"])
    );
    assert_eq!(
        role_names(element("members", cmp("value", Op::Eq, s(&alice)))).await,
        set(&["Admins"])
    );
    assert_eq!(
        role_names(not(cmp("members.user_id", Op::Eq, s(&alice)))).await,
        set(&["Readers", "Empty"])
    );
    // case-exact ids: an upper-case spelling of the same UUID still parses to the same id
    assert_eq!(
        role_names(cmp("members.user_id", Op::Eq, s(&alice.to_uppercase()))).await,
        set(&["Admins"])
    );
    let err = roles::list_roles(
        &f.db.db,
        f.org,
        &query(Some(cmp("user_name", Op::Eq, s("x")))),
    )
    .await
    .unwrap_err();
    assert_eq!(err.reason(), ErrorReason::InvalidFilter);
    let sorted: Vec<String> = roles::list_roles(
        &f.db.db,
        f.org,
        &ListQuery {
            order_by: "display_name".into(),
            page_size: 10,
            ..ListQuery::default()
        },
    )
    .await
    .unwrap()
    .roles
    .into_iter()
    .map(|r| r.data.display_name)
    .collect();
    assert_eq!(sorted, ["Admins", "Empty", "Readers"]);
}
