//! The contract from a second language: `docs/examples/python/identity_example.py` (grpcio,
//! stubs generated from the same `.proto` files) runs against the real stack and must see what
//! the Rust clients see.
//!
//! It needs a Python with the example's requirements, named by `IDENTITY_TEST_PYTHON` (CI builds
//! one; see `.ci/run`). Without it the test says so and passes, unless `CI` is set: in CI a
//! missing interpreter is a failure, so the contract is always proven there.

use crate::{expect_patched, setup};
use identity_proto::identity::v1 as pb;
use identity_tests::scim::patch;
use identity_tests::unique;
use serde_json::{Value, json};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};

pub(crate) fn python() -> Option<String> {
    let python = std::env::var("IDENTITY_TEST_PYTHON")
        .ok()
        .filter(|p| !p.is_empty());
    if python.is_none() {
        let in_ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
        assert!(
            !in_ci,
            "CI must run the Python example: set IDENTITY_TEST_PYTHON"
        );
        eprintln!("IDENTITY_TEST_PYTHON is not set: the Python example is not run");
    }
    python
}

#[tokio::test]
async fn the_python_example_reads_checks_introspects_and_follows_the_stream() {
    let Some(python) = python() else { return };
    let (stack, tenant) = setup().await;
    let user_name = unique("py-user");
    let user_id = tenant.create_user(&user_name).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let role_name = unique("py-role");
    tenant.create_group(&role_name, &[&user_id]).await;
    let writer = stack.identity_client_with(&stack.service_credential(&tenant, true).await);
    let token = writer
        .access_tokens
        .clone()
        .issue_access_token(pb::IssueAccessTokenRequest {
            organization_id: tenant.org_id.clone(),
            user_id: user_id.clone(),
            scopes: vec!["reports:read".into()],
            ttl: None,
        })
        .await
        .expect("IssueAccessToken")
        .into_inner()
        .token;

    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/examples/python/identity_example.py"
    );
    let mut child = tokio::process::Command::new(&python)
        .arg(script)
        .args(["--target", &stack.identity_addr().to_string()])
        .args(["--organization-id", &tenant.org_id])
        .args(["--user-name", &user_name])
        .args(["--role-name", &role_name])
        .args(["--token", &token])
        .args(["--watch-user-id", &user_id])
        .args(["--watch-timeout-secs", "30"])
        // a read-only credential: everything the example does is a read
        .env(
            "IDENTITY_CREDENTIAL",
            stack.service_credential(&tenant, false).await,
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start the Python example");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut output: Vec<Value> = Vec::new();
    let read_line = async |lines: &mut tokio::io::Lines<_>| {
        tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await
            .expect("a line within 60 s")
            .expect("readable stdout")
    };
    // everything up to "watching", then the deactivation it is waiting for
    loop {
        let Some(line) = read_line(&mut lines).await else {
            let failed = child.wait_with_output().await.unwrap();
            panic!(
                "the example ended early: {output:?}\n{}",
                String::from_utf8_lossy(&failed.stderr)
            );
        };
        let value: Value = serde_json::from_str(&line).expect("JSON lines");
        let watching = value["step"] == "watching";
        output.push(value);
        if watching {
            break;
        }
    }
    expect_patched(
        &tenant
            .patch(
                &format!("/Users/{user_id}"),
                patch(json!([{ "op": "replace", "path": "active", "value": false }])),
            )
            .await,
    );
    while let Some(line) = read_line(&mut lines).await {
        output.push(serde_json::from_str(&line).expect("JSON lines"));
    }
    let finished = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .expect("the example exits")
        .unwrap();
    assert!(
        finished.status.success(),
        "{:?}: {}",
        finished.status,
        String::from_utf8_lossy(&finished.stderr)
    );

    let step = |name: &str| {
        output
            .iter()
            .find(|v| v["step"] == name)
            .unwrap_or_else(|| panic!("no {name} step in {output:#?}"))
            .clone()
    };
    let lookup = step("lookup");
    assert_eq!(lookup["user_id"], user_id.as_str());
    assert_eq!(lookup["active"], true);
    let check = step("check_role");
    assert_eq!(check["is_member"], true, "{check}");
    let introspected = step("introspect");
    assert_eq!(introspected["active"], true);
    assert_eq!(introspected["user_id"], user_id.as_str());
    assert!(
        introspected["roles"]
            .as_array()
            .unwrap()
            .contains(&json!(role_name)),
        "{introspected}"
    );
    assert_eq!(introspected["scopes"], json!(["reports:read"]));
    let deactivation = output
        .iter()
        .find(|v| v["step"] == "change" && v["resource_id"] == user_id.as_str())
        .unwrap_or_else(|| panic!("no change of the user in {output:#?}"));
    assert_eq!(deactivation["kind"], "CHANGE_KIND_DEACTIVATED");
    let after = step("introspect_after");
    assert_eq!(after["active"], false);
    assert_eq!(after["inactive_reason"], "INACTIVE_REASON_REVOKED");
}
