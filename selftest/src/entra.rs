//! What Microsoft Entra ID sends (as replayed in `tests/tests/e2e/entra_flow.rs`): lookups
//! without paging, the enterprise extension, capitalised PATCH ops with `"True"`/`"False"`
//! strings and dotted keys, member `Add`/`Remove` by value list, soft delete then DELETE.

use super::report::{
    CONNECTION_TEST, CREATE_USER, DEACTIVATE_USER, DELETE_GROUP, DELETE_USER, FIND_USER,
    GROUP_MEMBERS, PUSH_GROUP, RENAME_GROUP, Reporter, StepResult, UPDATE_USER,
};
use super::{
    Ctx, Dialect, ENTERPRISE_SCHEMA, Flow, GROUP_SCHEMA, NAME_PREFIX, PATCHED, USER_SCHEMA, delete,
    delete_group, expect_list, patch_op, read_back,
};
use serde_json::json;
use std::io::{self, Write};

pub(super) async fn steps<W: Write>(
    ctx: &mut Ctx,
    reporter: &mut Reporter<'_, W>,
) -> io::Result<Flow> {
    let entra = Dialect::Entra;
    if !reporter
        .step(entra, CONNECTION_TEST, connection_test(ctx))
        .await?
    {
        return Ok(Flow::Stop);
    }
    reporter.step(entra, CREATE_USER, create_user(ctx)).await?;
    reporter.step(entra, FIND_USER, find_user(ctx)).await?;
    reporter.step(entra, UPDATE_USER, update_user(ctx)).await?;
    reporter.step(entra, PUSH_GROUP, push_group(ctx)).await?;
    reporter
        .step(entra, GROUP_MEMBERS, group_members(ctx))
        .await?;
    reporter
        .step(entra, RENAME_GROUP, rename_group(ctx))
        .await?;
    reporter
        .step(entra, DEACTIVATE_USER, deactivate_user(ctx))
        .await?;
    reporter.step(entra, DELETE_USER, delete_user(ctx)).await?;
    reporter
        .step(entra, DELETE_GROUP, delete_group(ctx))
        .await?;
    Ok(Flow::Continue)
}

fn lookup(user_name: &str) -> String {
    format!("/Users?filter=userName eq \"{user_name}\"")
}

/// "Test Connection": a random userName must give an empty list, not an error.
async fn connection_test(ctx: &mut Ctx) -> StepResult {
    let probe = ctx
        .scim
        .get(&lookup(&uuid::Uuid::new_v4().to_string()))
        .await?
        .expect(&[200])?;
    expect_list(&probe)?;
    probe.expect_ids(&[])?;
    Ok(())
}

/// The match by userName, then the create with the enterprise extension.
async fn create_user(ctx: &mut Ctx) -> StepResult {
    let none = ctx.scim.get(&lookup(&ctx.user_name)).await?;
    none.expect(&[200])?.expect_ids(&[])?;
    ctx.sent_create = true;
    let body = json!({
        "schemas": [USER_SCHEMA, ENTERPRISE_SCHEMA],
        "externalId": external_id(ctx),
        "userName": ctx.user_name,
        "active": true,
        "displayName": "Selftest Entra",
        "emails": [{ "primary": true, "type": "work", "value": ctx.user_name }],
        "meta": { "resourceType": "User" },
        "name": { "formatted": "Selftest Entra", "familyName": "Entra", "givenName": "Selftest" },
        "title": "Self-test",
        "preferredLanguage": "en-US",
        ENTERPRISE_SCHEMA: { "employeeNumber": ctx.tag, "department": "Testing" }
    });
    let created = ctx.scim.post("/Users", &body).await?.expect(&[201])?;
    ctx.user_id = Some(created.string("id")?);
    created.expect_value("/userName", &json!(ctx.user_name))?;
    created.expect_value("/active", &json!(true))?;
    created.expect_value(
        &format!("/{ENTERPRISE_SCHEMA}/department"),
        &json!("Testing"),
    )?;
    Ok(())
}

/// Entra's objectId, which it sends as externalId: a GUID, here derived from the run's tag.
fn external_id(ctx: &Ctx) -> String {
    format!("5e1f7e57-0000-4000-8000-{}", ctx.tag)
}

/// Found by userName and by externalId, the two ways Entra matches.
async fn find_user(ctx: &mut Ctx) -> StepResult {
    let id = ctx.user()?;
    let by_name = ctx.scim.get(&lookup(&ctx.user_name)).await?;
    by_name.expect(&[200])?.expect_ids(&[&id])?;
    let by_external_id = format!("/Users?filter=externalId eq \"{}\"", external_id(ctx));
    let found = ctx.scim.get(&by_external_id).await?;
    found.expect(&[200])?.expect_ids(&[&id])?;
    Ok(())
}

/// One PATCH the way Entra batches attribute changes: `Replace` with a value path, a path-less
/// `Replace` with dotted keys and an extension attribute, `"True"` for a boolean.
async fn update_user(ctx: &mut Ctx) -> StepResult {
    let target = format!("/Users/{}", ctx.user()?);
    let mail = format!("{NAME_PREFIX}{}-2@selftest.invalid", ctx.tag);
    let body = patch_op(json!([
        { "op": "Replace", "path": "emails[type eq \"work\"].value", "value": mail },
        { "op": "Replace", "path": "title", "value": "Senior self-test" },
        { "op": "Replace", "value": {
            "name.givenName": "Updated",
            "displayName": "Updated Entra",
            format!("{ENTERPRISE_SCHEMA}:department"): "Audit"
        } },
        { "op": "Replace", "path": "active", "value": "True" }
    ]));
    ctx.scim.patch(&target, &body).await?.expect(PATCHED)?;
    let after = read_back(&ctx.scim, &target).await?;
    after.expect_value("/emails/0/value", &json!(mail))?;
    after.expect_value("/title", &json!("Senior self-test"))?;
    after.expect_value("/name/givenName", &json!("Updated"))?;
    after.expect_value("/name/familyName", &json!("Entra"))?;
    after.expect_value("/displayName", &json!("Updated Entra"))?;
    after.expect_value(&format!("/{ENTERPRISE_SCHEMA}/department"), &json!("Audit"))?;
    after.expect_value("/active", &json!(true))?;
    Ok(())
}

/// The group match (members excluded), then the create: empty, members follow by PATCH.
async fn push_group(ctx: &mut Ctx) -> StepResult {
    let lookup = format!(
        "/Groups?filter=displayName eq \"{}\"&excludedAttributes=members",
        ctx.group_name
    );
    ctx.scim
        .get(&lookup)
        .await?
        .expect(&[200])?
        .expect_ids(&[])?;
    ctx.sent_create = true;
    let body = json!({
        "schemas": [GROUP_SCHEMA],
        "externalId": format!("5e1f7e57-0000-4000-8001-{}", ctx.tag),
        "displayName": ctx.group_name,
        "members": []
    });
    let created = ctx.scim.post("/Groups", &body).await?.expect(&[201])?;
    ctx.group_id = Some(created.string("id")?);
    created.expect_value("/displayName", &json!(ctx.group_name))?;
    Ok(())
}

/// `Add` with a value list, the membership probe Entra uses, `Remove` with a value list.
async fn group_members(ctx: &mut Ctx) -> StepResult {
    let user = ctx.user()?;
    let group = ctx.group()?;
    let target = format!("/Groups/{group}");
    let add = patch_op(json!([{ "op": "Add", "path": "members", "value": [{ "value": user }] }]));
    ctx.scim.patch(&target, &add).await?.expect(PATCHED)?;
    let after = read_back(&ctx.scim, &target).await?;
    after.expect_members(&[&user])?;
    let probe = format!(
        "/Groups?filter=id eq \"{group}\" and members eq \"{user}\"&excludedAttributes=members"
    );
    let probe = ctx.scim.get(&probe).await?.expect(&[200])?;
    probe.expect_ids(&[&group])?;
    let remove =
        patch_op(json!([{ "op": "Remove", "path": "members", "value": [{ "value": user }] }]));
    ctx.scim.patch(&target, &remove).await?.expect(PATCHED)?;
    let after = read_back(&ctx.scim, &target).await?;
    after.expect_members(&[])?;
    Ok(())
}

async fn rename_group(ctx: &mut Ctx) -> StepResult {
    let target = format!("/Groups/{}", ctx.group()?);
    let body =
        patch_op(json!([{ "op": "Replace", "path": "displayName", "value": ctx.renamed_group }]));
    ctx.scim.patch(&target, &body).await?.expect(PATCHED)?;
    let group = read_back(&ctx.scim, &target).await?;
    group.expect_value("/displayName", &json!(ctx.renamed_group))?;
    Ok(())
}

/// The soft delete: `active` replaced with the string `"False"`.
async fn deactivate_user(ctx: &mut Ctx) -> StepResult {
    let target = format!("/Users/{}", ctx.user()?);
    let body = patch_op(json!([{ "op": "Replace", "path": "active", "value": "False" }]));
    ctx.scim.patch(&target, &body).await?.expect(PATCHED)?;
    let after = read_back(&ctx.scim, &target).await?;
    after.expect_value("/active", &json!(false))?;
    Ok(())
}

/// The hard delete Entra sends later: gone by id and by name.
async fn delete_user(ctx: &mut Ctx) -> StepResult {
    let target = format!("/Users/{}", ctx.user()?);
    delete(&ctx.scim, &target, &[204]).await?;
    ctx.user_id = None;
    ctx.scim.get(&target).await?.expect(&[404])?;
    let gone = ctx.scim.get(&lookup(&ctx.user_name)).await?;
    gone.expect(&[200])?.expect_ids(&[])?;
    Ok(())
}
