//! The provisioning sequence Microsoft Entra ID sends (seed doc 003 and Entra's SCIM validator):
//! match by userName, create with the enterprise extension, PATCH with capitalised ops and
//! string booleans, manager as a bare id, group member add/remove by value list, soft delete
//! (active "False") then DELETE.

use crate::{expect_patched, setup};
use identity_tests::scim::{self, ENTERPRISE_SCHEMA, GROUP_SCHEMA, USER_SCHEMA, enc, patch};
use identity_tests::unique;
use serde_json::json;

#[tokio::test]
async fn entra_user_and_group_lifecycle() {
    let (_stack, tenant) = setup().await;
    let upn = format!("{}@entra.example", unique("entra"));
    let lookup = format!("/Users?filter={}", enc(&format!("userName eq \"{upn}\"")));
    let none = tenant.get(&lookup).await;
    none.expect(200);
    assert_eq!(none.total(), 0);

    let manager = tenant.create_user(&unique("entra-manager")).await;
    let manager_id = manager["id"].as_str().unwrap();
    let created = tenant
        .post(
            "/Users",
            json!({
                "schemas": [USER_SCHEMA, ENTERPRISE_SCHEMA],
                "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
                "userName": upn,
                "active": true,
                "displayName": "Entra User",
                "emails": [{ "primary": true, "type": "work", "value": upn }],
                "meta": { "resourceType": "User" },
                "name": { "formatted": "Entra User", "familyName": "User", "givenName": "Entra" },
                "title": "Analyst",
                "preferredLanguage": "en-US",
                ENTERPRISE_SCHEMA: { "employeeNumber": "E-17", "department": "Finance" }
            }),
        )
        .await;
    created.expect(201);
    assert_eq!(
        created.body[ENTERPRISE_SCHEMA]["employeeNumber"],
        json!("E-17")
    );
    let id = created.id();
    let path = format!("/Users/{id}");
    tenant.get(&path).await.expect(200);
    assert_eq!(tenant.get(&lookup).await.resource_ids(), vec![id.clone()]);
    // Entra also matches on externalId
    let by_external = tenant
        .get(&format!(
            "/Users?filter={}",
            enc("externalId eq \"0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef\"")
        ))
        .await;
    assert_eq!(by_external.resource_ids(), vec![id.clone()]);

    let new_mail = format!("{}@entra.example", unique("renamed"));
    expect_patched(
        &tenant
            .patch(
                &path,
                patch(json!([
                    { "op": "Replace", "path": "emails[type eq \"work\"].value", "value": new_mail },
                    { "op": "Replace", "path": "title", "value": "Senior Analyst" },
                    { "op": "Add", "path": format!("{ENTERPRISE_SCHEMA}:manager"), "value": manager_id },
                    { "op": "Replace", "path": format!("{ENTERPRISE_SCHEMA}:department"), "value": "Audit" }
                ])),
            )
            .await,
    );
    let after = tenant.get(&path).await;
    assert_eq!(after.body["emails"][0]["value"], json!(new_mail));
    assert_eq!(after.body["title"], json!("Senior Analyst"));
    assert_eq!(
        after.body[ENTERPRISE_SCHEMA]["manager"]["value"],
        json!(manager_id)
    );
    assert_eq!(after.body[ENTERPRISE_SCHEMA]["department"], json!("Audit"));
    assert_eq!(
        after.body[ENTERPRISE_SCHEMA]["employeeNumber"],
        json!("E-17")
    );

    // groups
    let group_name = unique("Entra Group");
    let group_lookup = format!(
        "/Groups?filter={}&excludedAttributes=members",
        enc(&format!("displayName eq \"{group_name}\""))
    );
    assert_eq!(tenant.get(&group_lookup).await.total(), 0);
    let other = tenant.create_user(&unique("entra-other")).await;
    let other_id = other["id"].as_str().unwrap();
    let group = tenant
        .post(
            "/Groups",
            json!({ "schemas": [GROUP_SCHEMA], "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159", "displayName": group_name, "members": [] }),
        )
        .await;
    group.expect(201);
    let group_path = format!("/Groups/{}", group.id());
    expect_patched(
        &tenant
            .patch(
                &group_path,
                patch(json!([{ "op": "Add", "path": "members", "value": [{ "value": id }, { "value": other_id }] }])),
            )
            .await,
    );
    assert_eq!(
        scim::member_ids(&tenant.get(&group_path).await.body),
        scim::sorted(&[&id, other_id])
    );
    let found = tenant.get(&group_lookup).await;
    assert_eq!(found.total(), 1);
    assert!(found.resources()[0].get("members").is_none(), "{found}");
    expect_patched(
        &tenant
            .patch(
                &group_path,
                patch(json!([{ "op": "Remove", "path": "members", "value": [{ "value": id }] }])),
            )
            .await,
    );
    assert_eq!(
        scim::member_ids(&tenant.get(&group_path).await.body),
        vec![other_id.to_owned()]
    );

    // soft delete, then hard delete
    expect_patched(
        &tenant
            .patch(
                &path,
                patch(json!([{ "op": "Replace", "path": "active", "value": "False" }])),
            )
            .await,
    );
    assert_eq!(tenant.get(&path).await.body["active"], json!(false));
    tenant.delete(&path).await.expect(204);
    tenant.get(&path).await.expect_error(404, None);
    assert_eq!(tenant.get(&lookup).await.total(), 0);
}

/// The rest of Entra's dialect: Test Connection, path-less replace with dotted keys and
/// extension URNs, `Add` on a missing work email, manager removal, the membership probe and
/// the `emails[type eq "work"].value eq` filter form.
#[tokio::test]
async fn entra_dialect_details() {
    let (_stack, tenant) = setup().await;
    // Test Connection: a random guid on userName and on externalId → 200, empty ListResponse
    for attribute in ["userName", "externalId"] {
        let probe = tenant
            .get(&format!(
                "/Users?filter={}",
                enc(&format!("{attribute} eq \"{}\"", uuid_like()))
            ))
            .await;
        probe.expect(200);
        assert_eq!(probe.total(), 0);
        assert_eq!(probe.body["Resources"], json!([]), "{probe}");
    }

    let manager = tenant.create_user(&unique("entra-boss")).await;
    let manager_id = manager["id"].as_str().unwrap();
    let upn = format!("{}@entra.example", unique("dialect"));
    let created = tenant
        .post(
            "/Users",
            json!({ "schemas": [USER_SCHEMA], "userName": upn, "active": "True" }),
        )
        .await;
    created.expect(201);
    assert_eq!(created.body["active"], json!(true));
    let id = created.id();
    let path = format!("/Users/{id}");

    let work_mail = format!("{}@entra.example", unique("work"));
    expect_patched(
        &tenant
            .patch(
                &path,
                patch(json!([
                    { "op": "Replace", "value": {
                        "name.givenName": "Grace",
                        "name.familyName": "Hopper",
                        "displayName": "Grace Hopper",
                        format!("{ENTERPRISE_SCHEMA}:department"): "Navy",
                        format!("{ENTERPRISE_SCHEMA}:manager"): manager_id
                    } },
                    { "op": "Add", "path": "emails[type eq \"work\"].value", "value": work_mail }
                ])),
            )
            .await,
    );
    let after = tenant.get(&path).await;
    assert_eq!(after.body["name"]["givenName"], json!("Grace"));
    assert_eq!(after.body["name"]["familyName"], json!("Hopper"));
    assert_eq!(after.body[ENTERPRISE_SCHEMA]["department"], json!("Navy"));
    assert_eq!(
        after.body[ENTERPRISE_SCHEMA]["manager"]["value"],
        json!(manager_id)
    );
    assert_eq!(
        after.body["emails"],
        json!([{ "type": "work", "value": work_mail, "primary": false }]),
        "Add on a missing work email creates it"
    );

    // Entra's filter form with a sub-attribute after the value path
    let by_work_mail = tenant
        .get(&format!(
            "/Users?filter={}",
            enc(&format!(
                "emails[type eq \"work\"].value eq \"{work_mail}\""
            ))
        ))
        .await;
    by_work_mail.expect(200);
    assert_eq!(by_work_mail.resource_ids(), vec![id.clone()]);

    // manager removed
    expect_patched(
        &tenant
            .patch(
                &path,
                patch(json!([{ "op": "Remove", "path": format!("{ENTERPRISE_SCHEMA}:manager") }])),
            )
            .await,
    );
    let after = tenant.get(&path).await;
    assert!(
        after.body[ENTERPRISE_SCHEMA].get("manager").is_none(),
        "{after}"
    );

    // the membership probe, answered without listing the members
    let group = tenant.create_group(&unique("probe"), &[&id]).await;
    let group_id = group["id"].as_str().unwrap();
    for (member, expected) in [(id.as_str(), 1), (manager_id, 0)] {
        let probe = tenant
            .get(&format!(
                "/Groups?filter={}&excludedAttributes=members",
                enc(&format!("id eq \"{group_id}\" and members eq \"{member}\""))
            ))
            .await;
        probe.expect(200);
        assert_eq!(probe.total(), expected, "{probe}");
    }
}

fn uuid_like() -> String {
    let hex = unique("x").replace("x-", "");
    format!("{}-0000-4000-8000-{}", &hex[..8], &hex[..12])
}
