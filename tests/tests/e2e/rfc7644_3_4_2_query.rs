//! RFC 7644 §3.4.2 — querying: every filter operator, precedence of `and`/`or`/`not`, valuePath,
//! `meta.lastModified`, URN-qualified and case-insensitive names, `invalidFilter`, sorting,
//! `startIndex`/`count` paging with exact `totalResults`, and RFC 9865 cursor paging.

use crate::setup;
use identity_tests::scim::{self, ENTERPRISE_SCHEMA, LIST_RESPONSE, USER_SCHEMA, enc};
use identity_tests::{Tenant, unique};
use serde_json::{Value, json};
use std::collections::BTreeSet;

/// Four users whose names share a unique prefix: alice, bob, carol, dave.
struct People {
    prefix: String,
    ids: std::collections::HashMap<&'static str, String>,
}

impl People {
    fn name(&self, who: &str) -> String {
        format!("{}-{who}", self.prefix)
    }
}

async fn seed(tenant: &Tenant) -> People {
    let prefix = unique("q");
    let specs: [(&str, Value); 4] = [
        (
            "alice",
            json!({ "title": "Engineer", "active": true, "dept": "R&D", "number": "100", "home": false }),
        ),
        (
            "bob",
            json!({ "title": "Manager", "active": false, "dept": "Sales", "number": "200", "home": true }),
        ),
        (
            "carol",
            json!({ "title": null, "active": true, "dept": "R&D", "number": "300", "home": false }),
        ),
        (
            "dave",
            json!({ "title": "Engineer", "active": true, "dept": "Support", "number": "400", "home": false }),
        ),
    ];
    let mut ids = std::collections::HashMap::new();
    for (who, spec) in specs {
        let user_name = format!("{prefix}-{who}");
        let mut emails = vec![
            json!({ "value": format!("{who}@{prefix}.example"), "type": "work", "primary": true }),
        ];
        if spec["home"] == json!(true) {
            emails.push(json!({ "value": format!("{who}.home@{prefix}.example"), "type": "home" }));
        }
        let mut body = json!({
            "schemas": [USER_SCHEMA, ENTERPRISE_SCHEMA],
            "userName": user_name,
            "externalId": format!("ext-{user_name}"),
            "name": { "givenName": who, "familyName": "Query" },
            "emails": emails,
            "active": spec["active"],
            ENTERPRISE_SCHEMA: { "department": spec["dept"], "employeeNumber": spec["number"] }
        });
        if let Some(title) = spec["title"].as_str() {
            body["title"] = json!(title);
        }
        let created = tenant.create_user_with(body).await;
        ids.insert(who, created["id"].as_str().unwrap().to_owned());
    }
    People { prefix, ids }
}

/// userNames returned by `GET /Users?filter=…`, asserting totalResults matches.
async fn names(tenant: &Tenant, filter: &str) -> BTreeSet<String> {
    let response = tenant
        .get(&format!("{}&count=1000", scim::users_filter(filter)))
        .await;
    response.expect(200);
    let found: BTreeSet<String> = response
        .resources()
        .iter()
        .map(|r| r["userName"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        response.total() as usize,
        found.len(),
        "totalResults for {filter}:\n{response}"
    );
    found
}

fn set(people: &People, who: &[&str]) -> BTreeSet<String> {
    who.iter().map(|w| people.name(w)).collect()
}

#[tokio::test]
async fn every_comparison_operator() {
    let (_stack, tenant) = setup().await;
    let p = seed(&tenant).await;
    let n = |w: &str| p.name(w);
    let cases: Vec<(String, Vec<&str>)> = vec![
        (format!("userName eq \"{}\"", n("alice")), vec!["alice"]),
        (
            format!(
                "userName ne \"{}\" and userName sw \"{}\"",
                n("alice"),
                p.prefix
            ),
            vec!["bob", "carol", "dave"],
        ),
        (format!("userName co \"{}-ali\"", p.prefix), vec!["alice"]),
        (format!("userName sw \"{}-b\"", p.prefix), vec!["bob"]),
        (format!("userName ew \"{}-carol\"", p.prefix), vec!["carol"]),
        (
            format!("userName sw \"{}\" and title pr", p.prefix),
            vec!["alice", "bob", "dave"],
        ),
        (
            format!("userName gt \"{}\"", n("bob")),
            vec!["carol", "dave"],
        ),
        (
            format!("userName ge \"{}\"", n("bob")),
            vec!["bob", "carol", "dave"],
        ),
        (
            format!(
                "userName lt \"{}\" and userName sw \"{}\"",
                n("bob"),
                p.prefix
            ),
            vec!["alice"],
        ),
        (
            format!(
                "userName le \"{}\" and userName sw \"{}\"",
                n("bob"),
                p.prefix
            ),
            vec!["alice", "bob"],
        ),
        ("active eq false".to_owned(), vec!["bob"]),
        ("title eq \"engineer\"".to_owned(), vec!["alice", "dave"]),
        ("emails.type eq \"home\"".to_owned(), vec!["bob"]),
        (
            format!(
                "emails.value ew \"@{}.example\" and name.givenName eq \"carol\"",
                p.prefix
            ),
            vec!["carol"],
        ),
        (format!("externalId eq \"ext-{}\"", n("dave")), vec!["dave"]),
        // externalId is caseExact (RFC 7643 §3.1)
        (format!("externalId eq \"EXT-{}\"", n("dave")), vec![]),
        (format!("id eq \"{}\"", p.ids["carol"]), vec!["carol"]),
    ];
    for (filter, expected) in cases {
        assert_eq!(
            names(&tenant, &filter).await,
            set(&p, &expected),
            "filter {filter}"
        );
    }
}

/// The identity providers' existence check, `userName eq` alone, answers like any list: the
/// user or an empty list, `count=0` only counting, a later `startIndex` past the one result.
#[tokio::test]
async fn a_unique_key_filter_answers_like_a_list() {
    let (_stack, tenant) = setup().await;
    let p = seed(&tenant).await;
    let alice = p.name("alice");
    let filter = scim::users_filter(&format!("userName eq \"{}\"", alice.to_uppercase()));
    let found = tenant.get(&filter).await;
    found.expect(200);
    assert_eq!(found.body["schemas"], json!([LIST_RESPONSE]));
    assert_eq!(found.total(), 1);
    assert_eq!(found.body["startIndex"], json!(1));
    assert_eq!(found.body["itemsPerPage"], json!(1));
    assert_eq!(found.resources()[0]["userName"], json!(alice));
    let counted = tenant.get(&format!("{filter}&count=0")).await;
    counted.expect(200);
    assert_eq!(counted.total(), 1);
    assert!(counted.resources().is_empty(), "{counted}");
    let later = tenant.get(&format!("{filter}&startIndex=2")).await;
    later.expect(200);
    assert_eq!(later.total(), 1);
    assert!(later.resources().is_empty(), "{later}");
    let missing = tenant
        .get(&scim::users_filter(&format!(
            "userName eq \"{}\"",
            unique("nobody")
        )))
        .await;
    missing.expect(200);
    assert_eq!(missing.total(), 0);
    assert!(missing.resources().is_empty(), "{missing}");
}

#[tokio::test]
async fn logical_precedence_and_not() {
    let (_stack, tenant) = setup().await;
    let p = seed(&tenant).await;
    let n = |w: &str| p.name(w);
    let cases: Vec<(String, Vec<&str>)> = vec![
        // and binds tighter than or: alice or (carol and inactive) = alice
        (
            format!(
                "userName eq \"{}\" or userName eq \"{}\" and active eq false",
                n("alice"),
                n("carol")
            ),
            vec!["alice"],
        ),
        // parentheses override it: (alice or carol) and inactive = nobody
        (
            format!(
                "(userName eq \"{}\" or userName eq \"{}\") and active eq false",
                n("alice"),
                n("carol")
            ),
            vec![],
        ),
        // not negates the whole group; carol (no title) does not equal "Engineer" either
        (
            format!(
                "userName sw \"{}\" and not (title eq \"Engineer\")",
                p.prefix
            ),
            vec!["bob", "carol"],
        ),
        (
            format!(
                "userName sw \"{}\" and not (active eq true or title eq \"Manager\")",
                p.prefix
            ),
            vec![],
        ),
        (
            format!(
                "(title eq \"Engineer\" or title eq \"Manager\") and not (userName eq \"{}\")",
                n("dave")
            ),
            vec!["alice", "bob"],
        ),
    ];
    for (filter, expected) in cases {
        assert_eq!(
            names(&tenant, &filter).await,
            set(&p, &expected),
            "filter {filter}"
        );
    }
}

#[tokio::test]
async fn value_path_filters() {
    let (_stack, tenant) = setup().await;
    let p = seed(&tenant).await;
    let cases: Vec<(String, Vec<&str>)> = vec![
        (
            format!(
                "emails[type eq \"work\" and value co \"alice@{}\"]",
                p.prefix
            ),
            vec!["alice"],
        ),
        ("emails[type eq \"home\"]".to_owned(), vec!["bob"]),
        // both conditions must hold for the same email: bob's home email is not primary
        (
            "emails[type eq \"home\" and primary eq true]".to_owned(),
            vec![],
        ),
        (
            format!(
                "userName sw \"{}\" and emails[type eq \"work\" and primary eq true]",
                p.prefix
            ),
            vec!["alice", "bob", "carol", "dave"],
        ),
    ];
    for (filter, expected) in cases {
        assert_eq!(
            names(&tenant, &filter).await,
            set(&p, &expected),
            "filter {filter}"
        );
    }
}

#[tokio::test]
async fn urn_qualified_and_case_insensitive_names() {
    let (_stack, tenant) = setup().await;
    let p = seed(&tenant).await;
    let n = |w: &str| p.name(w);
    let cases: Vec<(String, Vec<&str>)> = vec![
        (
            format!("{ENTERPRISE_SCHEMA}:department eq \"R&D\""),
            vec!["alice", "carol"],
        ),
        (
            format!("{ENTERPRISE_SCHEMA}:employeeNumber ge \"300\""),
            vec!["carol", "dave"],
        ),
        (
            format!("{USER_SCHEMA}:userName eq \"{}\"", n("alice")),
            vec!["alice"],
        ),
        (
            format!("{USER_SCHEMA}:name.givenName eq \"bob\""),
            vec!["bob"],
        ),
        // attribute names, operators and (caseExact=false) values are case-insensitive
        (
            format!("USERNAME EQ \"{}\"", n("alice").to_uppercase()),
            vec!["alice"],
        ),
        (format!("userName Eq \"{}\"", n("bob")), vec!["bob"]),
        ("Emails[Type EQ \"HOME\"]".to_owned(), vec!["bob"]),
        (
            format!("userName sw \"{}\" AND Active eq FALSE", p.prefix),
            vec!["bob"],
        ),
    ];
    for (filter, expected) in cases {
        assert_eq!(
            names(&tenant, &filter).await,
            set(&p, &expected),
            "filter {filter}"
        );
    }
}

#[tokio::test]
async fn meta_last_modified_comparisons() {
    let (_stack, tenant) = setup().await;
    let p = seed(&tenant).await;
    let scope = format!("userName sw \"{}\"", p.prefix);
    assert_eq!(
        names(
            &tenant,
            &format!("{scope} and meta.lastModified gt \"2000-01-01T00:00:00Z\"")
        )
        .await,
        set(&p, &["alice", "bob", "carol", "dave"])
    );
    assert!(
        names(
            &tenant,
            &format!("{scope} and meta.lastModified gt \"2999-01-01T00:00:00Z\"")
        )
        .await
        .is_empty()
    );
    let alice = tenant.get(&format!("/Users/{}", p.ids["alice"])).await;
    let boundary = alice.body["meta"]["lastModified"]
        .as_str()
        .unwrap()
        .to_owned();
    // bob changes after alice was last modified
    let bob_path = format!("/Users/{}", p.ids["bob"]);
    crate::expect_patched(
        &tenant
            .patch(
                &bob_path,
                scim::patch(json!([{ "op": "replace", "path": "nickName", "value": "B" }])),
            )
            .await,
    );
    let boundary_time =
        chrono::DateTime::parse_from_rfc3339(&boundary).expect("RFC 3339 lastModified");
    let mut expected = BTreeSet::new();
    for (who, id) in &p.ids {
        let user = tenant.get(&format!("/Users/{id}")).await;
        let modified = chrono::DateTime::parse_from_rfc3339(
            user.body["meta"]["lastModified"].as_str().unwrap(),
        )
        .unwrap();
        if modified > boundary_time {
            expected.insert(p.name(who));
        }
    }
    assert!(expected.contains(&p.name("bob")), "bob was modified later");
    // the filter agrees with the timestamps the server itself shows
    assert_eq!(
        names(
            &tenant,
            &format!("{scope} and meta.lastModified gt \"{boundary}\"")
        )
        .await,
        expected
    );
    assert!(
        names(
            &tenant,
            &format!("{scope} and meta.lastModified ge \"{boundary}\"")
        )
        .await
        .contains(&p.name("alice"))
    );
}

#[tokio::test]
async fn invalid_filters_are_400_invalid_filter() {
    let (_stack, tenant) = setup().await;
    for filter in [
        "userName eq",
        "userName zz \"x\"",
        "(userName eq \"x\"",
        "userName eq \"x\" and",
        "emails[type eq \"work\"",
        "userName eq \"unterminated",
        "and or not",
    ] {
        tenant
            .get(&scim::users_filter(filter))
            .await
            .expect_error(400, Some("invalidFilter"));
    }
    tenant
        .get(&scim::groups_filter("displayName eq"))
        .await
        .expect_error(400, Some("invalidFilter"));
}

#[tokio::test]
async fn sort_by_and_sort_order() {
    let (_stack, tenant) = setup().await;
    let p = seed(&tenant).await;
    let filter = enc(&format!("userName sw \"{}\"", p.prefix));
    let order = |response: &identity_tests::Response| -> Vec<String> {
        response
            .resources()
            .iter()
            .map(|r| r["userName"].as_str().unwrap().to_owned())
            .collect()
    };
    let ascending: Vec<String> = ["alice", "bob", "carol", "dave"]
        .iter()
        .map(|w| p.name(w))
        .collect();
    let mut descending = ascending.clone();
    descending.reverse();

    let asc = tenant
        .get(&format!("/Users?filter={filter}&sortBy=userName"))
        .await;
    asc.expect(200);
    assert_eq!(order(&asc), ascending);
    let asc2 = tenant
        .get(&format!(
            "/Users?filter={filter}&sortBy=userName&sortOrder=ascending"
        ))
        .await;
    assert_eq!(order(&asc2), ascending);
    let desc = tenant
        .get(&format!(
            "/Users?filter={filter}&sortBy=userName&sortOrder=descending"
        ))
        .await;
    desc.expect(200);
    assert_eq!(order(&desc), descending);
    // employeeNumbers follow the same order; sorting by an extension attribute by URN
    let by_number = tenant
        .get(&format!(
            "/Users?filter={filter}&sortBy={}&sortOrder=descending",
            enc(&format!("{ENTERPRISE_SCHEMA}:employeeNumber"))
        ))
        .await;
    by_number.expect(200);
    assert_eq!(order(&by_number), descending);
    let by_given = tenant
        .get(&format!("/Users?filter={filter}&sortBy=name.givenName"))
        .await;
    assert_eq!(order(&by_given), ascending);
}

#[tokio::test]
async fn start_index_and_count_paging() {
    let (_stack, tenant) = setup().await;
    let p = seed(&tenant).await;
    let base = format!(
        "/Users?filter={}&sortBy=userName",
        enc(&format!("userName sw \"{}\"", p.prefix))
    );
    let page = |response: &identity_tests::Response| -> Vec<String> {
        response
            .resources()
            .iter()
            .map(|r| r["userName"].as_str().unwrap().to_owned())
            .collect()
    };

    let middle = tenant.get(&format!("{base}&startIndex=2&count=2")).await;
    middle.expect(200);
    assert_eq!(middle.body["schemas"], json!([LIST_RESPONSE]));
    assert_eq!(middle.total(), 4);
    assert_eq!(middle.body["itemsPerPage"], json!(2));
    assert_eq!(middle.body["startIndex"], json!(2));
    assert_eq!(page(&middle), vec![p.name("bob"), p.name("carol")]);

    let last = tenant.get(&format!("{base}&startIndex=4&count=2")).await;
    assert_eq!(page(&last), vec![p.name("dave")]);
    assert_eq!(last.total(), 4);
    assert_eq!(last.body["itemsPerPage"], json!(1));

    let beyond = tenant.get(&format!("{base}&startIndex=9&count=2")).await;
    beyond.expect(200);
    assert_eq!(beyond.total(), 4);
    assert!(page(&beyond).is_empty());

    // startIndex below 1 is treated as 1 (RFC 7644 §3.4.2.4)
    for start in ["0", "-5"] {
        let first = tenant
            .get(&format!("{base}&startIndex={start}&count=1"))
            .await;
        first.expect(200);
        assert_eq!(
            first.body["startIndex"],
            json!(1),
            "startIndex={start}:\n{first}"
        );
        assert_eq!(page(&first), vec![p.name("alice")]);
    }

    // count=0 (and negative counts, clamped to 0) gives totals only
    for count in ["0", "-3"] {
        let totals = tenant.get(&format!("{base}&count={count}")).await;
        totals.expect(200);
        assert_eq!(totals.total(), 4, "count={count}:\n{totals}");
        assert!(page(&totals).is_empty(), "count={count}:\n{totals}");
        assert_eq!(totals.body["itemsPerPage"], json!(0));
    }

    // counts above the maximum are clamped, not refused
    let clamped = tenant.get(&format!("{base}&count=5000")).await;
    clamped.expect(200);
    assert_eq!(page(&clamped).len(), 4);

    // no filter: the tenant holds exactly these four users
    let everything = tenant.get("/Users?count=1").await;
    everything.expect(200);
    assert_eq!(everything.total(), 4);
    assert_eq!(everything.resources().len(), 1);
}

#[tokio::test]
async fn cursor_paging_walks_every_result_exactly_once() {
    let (_stack, tenant) = setup().await;
    let prefix = unique("cursor");
    let mut created = BTreeSet::new();
    for i in 0..7 {
        let user = tenant.create_user(&format!("{prefix}-{i}")).await;
        created.insert(user["id"].as_str().unwrap().to_owned());
    }
    let filter = enc(&format!("userName sw \"{prefix}\""));
    let mut seen = Vec::new();
    let mut url = format!("/Users?filter={filter}&count=3&cursor=");
    let mut pages = 0;
    loop {
        let response = tenant.get(&url).await;
        response.expect(200);
        pages += 1;
        assert!(
            pages <= 3,
            "7 results in pages of 3 take 3 pages:\n{response}"
        );
        let ids = response.resource_ids();
        assert!(ids.len() <= 3, "{response}");
        seen.extend(ids);
        match response.body.get("nextCursor").and_then(Value::as_str) {
            Some(next) => {
                assert!(!next.is_empty());
                url = format!("/Users?filter={filter}&count=3&cursor={}", enc(next));
            }
            None => break,
        }
    }
    assert_eq!(pages, 3);
    let unique_seen: BTreeSet<String> = seen.iter().cloned().collect();
    assert_eq!(unique_seen.len(), seen.len(), "no result twice: {seen:?}");
    assert_eq!(unique_seen, created);
}

#[tokio::test]
async fn cursor_with_start_index_is_400_and_bad_cursor_is_400() {
    let (_stack, tenant) = setup().await;
    tenant
        .get("/Users?cursor=&startIndex=1")
        .await
        .expect_error(400, Some("invalidValue"));
    let bad = tenant.get("/Users?cursor=definitely-not-a-cursor").await;
    bad.expect(400);
    // RFC 9865 §4 names invalidCursor; the contract allows invalidValue
    let scim_type = bad.body["scimType"].as_str().unwrap_or_default();
    assert!(
        scim_type == "invalidCursor" || scim_type == "invalidValue",
        "{bad}"
    );
}

#[tokio::test]
async fn group_filters() {
    let (_stack, tenant) = setup().await;
    let user = tenant.create_user(&unique("gf")).await;
    let uid = user["id"].as_str().unwrap();
    let name = unique("Filtered Group");
    let group = tenant.create_group(&name, &[uid]).await;
    tenant.create_group(&unique("Other Group"), &[]).await;
    let by_name = tenant
        .get(&scim::groups_filter(&format!(
            "displayName eq \"{}\"",
            name.to_lowercase()
        )))
        .await;
    by_name.expect(200);
    assert_eq!(by_name.total(), 1);
    assert_eq!(
        by_name.resource_ids(),
        vec![group["id"].as_str().unwrap().to_owned()]
    );
    // the groups a user is in (members.value is caseExact)
    let by_member = tenant
        .get(&scim::groups_filter(&format!("members.value eq \"{uid}\"")))
        .await;
    by_member.expect(200);
    let mut ids = by_member.resource_ids();
    ids.sort();
    assert_eq!(
        ids,
        scim::sorted(&[group["id"].as_str().unwrap(), &tenant.default_role_id])
    );
    let by_value_path = tenant
        .get(&scim::groups_filter(&format!(
            "members[value eq \"{uid}\"] and displayName sw \"Filtered\""
        )))
        .await;
    by_value_path.expect(200);
    assert_eq!(
        by_value_path.resource_ids(),
        vec![group["id"].as_str().unwrap().to_owned()]
    );
}

/// A page whose users would not fit in one gRPC message (here 150 users of ~60 KB each, 9 MB)
/// comes back shorter than `count`, with `itemsPerPage` saying so, and a client that walks
/// `startIndex` by `itemsPerPage` still sees every user exactly once: never a `400
/// invalidValue` for a valid request.
#[tokio::test]
async fn a_page_too_large_for_one_message_is_shortened_and_the_walk_stays_exact() {
    let (_stack, tenant) = setup().await;
    let acme = "urn:example:params:scim:schemas:extension:acme:2.0:User";
    let prefix = unique("big");
    // just under the core's 64 KiB of unmodelled attributes per user
    let blob = "x".repeat(60 * 1024);
    let users = 150;
    let mut created = BTreeSet::new();
    for i in 0..users {
        let mut body = scim::user(&format!("{prefix}-{i:02}"));
        body["schemas"] = json!([USER_SCHEMA, acme]);
        body[acme] = json!({ "blob": blob });
        created.insert(tenant.post("/Users", body).await.expect(201).id());
    }
    let filter = enc(&format!(r#"userName sw "{prefix}-""#));
    let first = tenant
        .get(&format!("/Users?filter={filter}&startIndex=1&count=1000"))
        .await;
    first.expect(200);
    let shown = first.resources().len();
    assert!(shown < users, "a 9 MB page was sent whole ({shown} users)");
    assert_eq!(first.body["itemsPerPage"], json!(shown));
    assert_eq!(first.body["totalResults"], json!(users));

    let mut seen = Vec::new();
    let mut start = 1;
    while start <= users {
        let page = tenant
            .get(&format!(
                "/Users?filter={filter}&startIndex={start}&count=1000"
            ))
            .await;
        page.expect(200);
        let ids = page.resource_ids();
        assert!(!ids.is_empty(), "an empty page at {start} before the end");
        assert_eq!(page.body["itemsPerPage"], json!(ids.len()));
        start += ids.len();
        seen.extend(ids);
    }
    assert_eq!(seen.len(), users, "every user once");
    assert_eq!(seen.into_iter().collect::<BTreeSet<_>>(), created);
}
