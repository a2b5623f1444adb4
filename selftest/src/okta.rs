//! What Okta sends (its SCIM 2.0 app, as replayed in `tests/tests/e2e/okta_flow.rs`): lookups
//! with `startIndex=1&count=100`, lower-case PATCH ops with path-less values, GET-then-PUT
//! profile updates, paged imports, deactivation instead of deletion, group push.

use super::report::{
    CONNECTION_TEST, CREATE_USER, DEACTIVATE_USER, DELETE_GROUP, FIND_USER, GROUP_MEMBERS,
    IMPORT_USERS, PUSH_GROUP, RENAME_GROUP, Reporter, StepResult, UPDATE_USER_PATCH,
    UPDATE_USER_PUT,
};
use super::{
    Ctx, Dialect, Flow, GROUP_SCHEMA, PATCHED, USER_SCHEMA, delete_group, expect_list, patch_op,
    random_hex, read_back,
};
use serde_json::json;
use std::collections::HashSet;
use std::io::{self, Write};

/// Okta's import page size.
const IMPORT_PAGE: usize = 100;

pub(super) async fn steps<W: Write>(
    ctx: &mut Ctx,
    reporter: &mut Reporter<'_, W>,
) -> io::Result<Flow> {
    let okta = Dialect::Okta;
    if !reporter
        .step(okta, CONNECTION_TEST, connection_test(ctx))
        .await?
    {
        return Ok(Flow::Stop);
    }
    reporter.step(okta, CREATE_USER, create_user(ctx)).await?;
    reporter.step(okta, FIND_USER, find_user(ctx)).await?;
    reporter.step(okta, IMPORT_USERS, import_users(ctx)).await?;
    reporter
        .step(okta, UPDATE_USER_PUT, update_user_put(ctx))
        .await?;
    reporter
        .step(okta, UPDATE_USER_PATCH, update_user_patch(ctx))
        .await?;
    reporter.step(okta, PUSH_GROUP, push_group(ctx)).await?;
    reporter
        .step(okta, GROUP_MEMBERS, group_members(ctx))
        .await?;
    reporter.step(okta, RENAME_GROUP, rename_group(ctx)).await?;
    // Okta's deprovisioning is the deactivation: it never deletes a user (clean-up does)
    reporter
        .step(okta, DEACTIVATE_USER, deactivate_user(ctx))
        .await?;
    reporter.step(okta, DELETE_GROUP, delete_group(ctx)).await?;
    Ok(Flow::Continue)
}

/// "Test API Credentials": one user, then the server's capabilities.
async fn connection_test(ctx: &mut Ctx) -> StepResult {
    let users = ctx.scim.get("/Users?startIndex=1&count=1").await?;
    let users = users.expect(&[200])?;
    expect_list(&users)?;
    let config = ctx.scim.get("/ServiceProviderConfig").await?;
    let config = config.expect(&[200])?;
    // the later steps, and Okta's profile updates, use PATCH
    config.expect_value("/patch/supported", &json!(true))?;
    Ok(())
}

fn lookup(user_name: &str) -> String {
    format!("/Users?filter=userName eq \"{user_name}\"&startIndex=1&count=100")
}

/// The existence check, then the create with Okta's body (password included).
async fn create_user(ctx: &mut Ctx) -> StepResult {
    let none = ctx.scim.get(&lookup(&ctx.user_name)).await?;
    none.expect(&[200])?.expect_ids(&[])?;
    ctx.sent_create = true;
    let body = json!({
        "schemas": [USER_SCHEMA],
        "userName": ctx.user_name,
        "name": { "givenName": "Selftest", "familyName": "Okta" },
        "emails": [{ "primary": true, "value": ctx.user_name, "type": "work" }],
        "displayName": "Selftest Okta",
        "locale": "en-US",
        "externalId": format!("00u{}", ctx.tag),
        "groups": [],
        "password": format!("St{}!", random_hex(20)),
        "active": true
    });
    let created = ctx.scim.post("/Users", &body).await?.expect(&[201])?;
    ctx.user_id = Some(created.string("id")?);
    created.expect_value("/userName", &json!(ctx.user_name))?;
    created.expect_value("/active", &json!(true))?;
    if created.body.get("password").is_some() {
        return Err(created.check_failed("the password was returned").into());
    }
    Ok(())
}

/// Read by id, and found by the same lookup Okta matches with.
async fn find_user(ctx: &mut Ctx) -> StepResult {
    let id = ctx.user()?;
    let read = read_back(&ctx.scim, &format!("/Users/{id}")).await?;
    read.expect_value("/id", &json!(id))?;
    let found = ctx.scim.get(&lookup(&ctx.user_name)).await?;
    found.expect(&[200])?.expect_ids(&[&id])?;
    Ok(())
}

/// An import: index paging with integer counters, the first page and the second when there is
/// one, no user twice; when that covered everyone, the self-test user is among them.
async fn import_users(ctx: &mut Ctx) -> StepResult {
    let mut seen = HashSet::new();
    let mut start = 1;
    for _ in 0..2 {
        let page = ctx
            .scim
            .get(&format!("/Users?startIndex={start}&count={IMPORT_PAGE}"))
            .await?
            .expect(&[200])?;
        let total = expect_list(&page)?;
        page.expect_value("/startIndex", &json!(start))?;
        let ids = page.resource_ids();
        page.expect_value("/itemsPerPage", &json!(ids.len()))?;
        if ids.len() > IMPORT_PAGE {
            return Err(page
                .check_failed(format!("{} users on a page of {IMPORT_PAGE}", ids.len()))
                .into());
        }
        for id in &ids {
            if !seen.insert(id.clone()) {
                return Err(page
                    .check_failed(format!("user {id} is on two pages"))
                    .into());
            }
        }
        let read = start - 1 + ids.len();
        if ids.is_empty() || read as u64 >= total {
            if let Some(id) = &ctx.user_id
                && !seen.contains(id)
            {
                return Err(page
                    .check_failed(format!("the self-test user {id} is on no page"))
                    .into());
            }
            break;
        }
        start = read + 1;
    }
    Ok(())
}

/// GET, change the name, PUT the whole resource back.
async fn update_user_put(ctx: &mut Ctx) -> StepResult {
    let target = format!("/Users/{}", ctx.user()?);
    let mut body = read_back(&ctx.scim, &target).await?.body;
    body["name"] = json!({ "givenName": "Put", "familyName": "Okta" });
    body["displayName"] = json!("Put Okta");
    let put = ctx.scim.put(&target, &body).await?.expect(&[200])?;
    put.expect_value("/name/givenName", &json!("Put"))?;
    put.expect_value("/displayName", &json!("Put Okta"))?;
    put.expect_value("/userName", &json!(ctx.user_name))?;
    Ok(())
}

/// A path-less `replace` of the name, as Okta's PATCH profile sync sends it.
async fn update_user_patch(ctx: &mut Ctx) -> StepResult {
    let target = format!("/Users/{}", ctx.user()?);
    let body = patch_op(json!([{ "op": "replace", "value": {
        "name": { "givenName": "Patched", "familyName": "Okta" },
        "displayName": "Patched Okta"
    } }]));
    ctx.scim.patch(&target, &body).await?.expect(PATCHED)?;
    let after = read_back(&ctx.scim, &target).await?;
    after.expect_value("/name/givenName", &json!("Patched"))?;
    after.expect_value("/displayName", &json!("Patched Okta"))?;
    Ok(())
}

/// The group lookup, then the group created with the user as its member.
async fn push_group(ctx: &mut Ctx) -> StepResult {
    let user = ctx.user()?;
    let lookup = format!(
        "/Groups?filter=displayName eq \"{}\"&startIndex=1&count=100",
        ctx.group_name
    );
    ctx.scim
        .get(&lookup)
        .await?
        .expect(&[200])?
        .expect_ids(&[])?;
    let body = json!({
        "schemas": [GROUP_SCHEMA],
        "displayName": ctx.group_name,
        "members": [{ "value": user, "display": ctx.user_name }]
    });
    let created = ctx.scim.post("/Groups", &body).await?.expect(&[201])?;
    let id = created.string("id")?;
    ctx.group_id = Some(id.clone());
    created.expect_value("/displayName", &json!(ctx.group_name))?;
    let group = read_back(&ctx.scim, &format!("/Groups/{id}")).await?;
    group.expect_members(&[&user])?;
    Ok(())
}

/// Okta's member removal by value filter, then the member added back.
async fn group_members(ctx: &mut Ctx) -> StepResult {
    let user = ctx.user()?;
    let target = format!("/Groups/{}", ctx.group()?);
    let remove =
        patch_op(json!([{ "op": "remove", "path": format!("members[value eq \"{user}\"]") }]));
    ctx.scim.patch(&target, &remove).await?.expect(PATCHED)?;
    let group = read_back(&ctx.scim, &target).await?;
    group.expect_members(&[])?;
    let add = patch_op(json!([{ "op": "add", "path": "members", "value": [
        { "value": user, "display": ctx.user_name }
    ] }]));
    ctx.scim.patch(&target, &add).await?.expect(PATCHED)?;
    let group = read_back(&ctx.scim, &target).await?;
    group.expect_members(&[&user])?;
    Ok(())
}

/// Okta renames with a path-less replace that repeats the id.
async fn rename_group(ctx: &mut Ctx) -> StepResult {
    let id = ctx.group()?;
    let target = format!("/Groups/{id}");
    let body = patch_op(
        json!([{ "op": "replace", "value": { "id": id, "displayName": ctx.renamed_group } }]),
    );
    ctx.scim.patch(&target, &body).await?.expect(PATCHED)?;
    let group = read_back(&ctx.scim, &target).await?;
    group.expect_value("/displayName", &json!(ctx.renamed_group))?;
    Ok(())
}

/// `active: false` by PATCH: the user is kept, blocked.
async fn deactivate_user(ctx: &mut Ctx) -> StepResult {
    let target = format!("/Users/{}", ctx.user()?);
    let body = patch_op(json!([{ "op": "replace", "value": { "active": false } }]));
    ctx.scim.patch(&target, &body).await?.expect(PATCHED)?;
    let after = read_back(&ctx.scim, &target).await?;
    after.expect_value("/active", &json!(false))?;
    Ok(())
}
