//! `identity-admin selftest` against the real stack: every Okta and Entra ID step passes and
//! nothing named `selftest-…` is left; a wrong token stops at the connection test; a step
//! that fails in the middle (a group the connection may not push) still cleans up.

use crate::setup;
use identity_tests::oauth::{connection_token, create_connection};
use identity_tests::scim::{groups_filter, users_filter};
use identity_tests::{Stack, Tenant, binary_path, unique};
use serde_json::Value;

#[derive(Debug)]
struct Output {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs `identity-admin selftest ARGS` against the tenant's SCIM base URL, the token in the
/// environment (never in the process list) and no admin credential at all.
async fn selftest(tenant: &Tenant, token: &str, args: &[&str]) -> Output {
    let output = tokio::process::Command::new(binary_path("identity-admin"))
        .args(args)
        .env("IDENTITY_SELFTEST_SCIM_URL", &tenant.base_url)
        .env("IDENTITY_SELFTEST_TOKEN", token)
        .env_remove("IDENTITY_SELFTEST_TOKEN_FILE")
        .env_remove("IDENTITY_ADMIN_CREDENTIAL")
        .env_remove("IDENTITY_ADMIN_CREDENTIAL_FILE")
        // nothing listens there: the self-test must not need the admin API
        .env("IDENTITY_ADMIN_ENDPOINT", "http://127.0.0.1:1")
        .kill_on_drop(true)
        .output()
        .await
        .expect("run identity-admin");
    Output {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// The steps each dialect prints, in order.
const OKTA_STEPS: &[&str] = &[
    "connection test",
    "create user",
    "find user",
    "import users",
    "update user (PUT)",
    "update user (PATCH)",
    "push group",
    "group members",
    "rename group",
    "deactivate user",
    "delete group",
    "clean up",
];
const ENTRA_STEPS: &[&str] = &[
    "connection test",
    "create user",
    "find user",
    "update user",
    "push group",
    "group members",
    "rename group",
    "deactivate user",
    "delete user",
    "delete group",
    "clean up",
];

/// `(status, dialect, step)` of each human line.
fn parse_lines(stdout: &str) -> Vec<(String, String, String)> {
    stdout
        .lines()
        .map(|line| {
            let status = line[..4].trim().to_owned();
            let dialect = line[5..10].trim().to_owned();
            let rest = &line[11..];
            let step = OKTA_STEPS
                .iter()
                .chain(ENTRA_STEPS)
                .filter(|step| rest.starts_with(**step))
                .max_by_key(|step| step.len())
                .unwrap_or_else(|| panic!("no known step in {line:?}"));
            (status, dialect, (*step).to_owned())
        })
        .collect()
}

/// Asserts that no user and no group of the self-test is left in the tenant.
async fn nothing_left_behind(tenant: &Tenant) {
    let users = tenant.get(&users_filter("userName sw \"selftest-\"")).await;
    users.expect(200);
    assert_eq!(users.total(), 0, "users left behind:\n{users}");
    let groups = tenant
        .get(&groups_filter("displayName sw \"selftest-\""))
        .await;
    groups.expect(200);
    assert_eq!(groups.total(), 0, "groups left behind:\n{groups}");
}

#[tokio::test]
async fn every_step_passes_and_nothing_is_left_behind() {
    let (_stack, tenant) = setup().await;
    // more users than Okta's import page of 100, so the import walks two pages
    for n in 0..100 {
        tenant.create_user(&unique(&format!("existing{n}"))).await;
    }

    let out = selftest(&tenant, &tenant.scim_token, &["selftest"]).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    let lines = parse_lines(&out.stdout);
    let expected: Vec<(String, String, String)> = OKTA_STEPS
        .iter()
        .map(|step| ("okta", *step))
        .chain(ENTRA_STEPS.iter().map(|step| ("entra", *step)))
        .map(|(dialect, step)| ("ok".to_owned(), dialect.to_owned(), step.to_owned()))
        .collect();
    assert_eq!(lines, expected, "{}", out.stdout);
    for line in out.stdout.lines() {
        assert!(line.ends_with(" ms)"), "{line}");
    }
    assert!(!out.stdout.contains(&tenant.scim_token));
    assert!(!out.stderr.contains(&tenant.scim_token));
    nothing_left_behind(&tenant).await;
    // the tenant's own users are untouched
    let existing = tenant.get(&users_filter("userName sw \"existing\"")).await;
    assert_eq!(existing.total(), 100, "{existing}");

    // one dialect, as JSON: an array of the steps, each passed
    let out = selftest(
        &tenant,
        &format!("Bearer {}", tenant.scim_token),
        &["selftest", "--dialect", "entra", "-o", "json"],
    )
    .await;
    assert_eq!(out.code, Some(0), "{out:?}");
    let steps: Value = serde_json::from_str(&out.stdout).expect("one JSON document");
    let steps = steps.as_array().expect("an array");
    let names: Vec<&str> = steps.iter().filter_map(|s| s["step"].as_str()).collect();
    assert_eq!(names, ENTRA_STEPS);
    for step in steps {
        assert_eq!(step["dialect"], "entra", "{step}");
        assert_eq!(step["result"], "ok", "{step}");
        assert!(step["durationMs"].is_u64(), "{step}");
    }
    nothing_left_behind(&tenant).await;
}

#[tokio::test]
async fn a_wrong_token_fails_the_connection_test_and_nothing_else_runs() {
    let (_stack, tenant) = setup().await;
    let out = selftest(&tenant, "idscim_not_a_token", &["selftest"]).await;
    assert_eq!(out.code, Some(1), "{out:?}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{out:?}");
    assert!(
        lines[0].starts_with("FAIL okta  connection test"),
        "{out:?}"
    );
    assert!(
        lines[0].contains("GET /Users?startIndex=1&count=1 → 401 "),
        "{out:?}"
    );
    assert!(
        out.stderr
            .starts_with("error: self-test: the connection test failed"),
        "{out:?}"
    );
    assert!(!out.stdout.contains("idscim_not_a_token"), "{out:?}");

    // Entra's connection test, as JSON
    let out = selftest(
        &tenant,
        "idscim_not_a_token",
        &["selftest", "--dialect", "entra", "--output", "json"],
    )
    .await;
    assert_eq!(out.code, Some(1), "{out:?}");
    let steps: Value = serde_json::from_str(&out.stdout).expect("one JSON document");
    let steps = steps.as_array().expect("an array");
    assert_eq!(steps.len(), 1, "{out:?}");
    assert_eq!(steps[0]["step"], "connection test");
    assert_eq!(steps[0]["result"], "fail");
    assert_eq!(steps[0]["httpStatus"], 401);
    assert!(
        steps[0]["request"]
            .as_str()
            .is_some_and(|request| request.starts_with("GET /Users?filter=userName eq ")),
        "{out:?}"
    );
    nothing_left_behind(&tenant).await;
}

/// A token whose connection may only push `Engineering`: group push is refused with 403, the
/// group steps are skipped, the user steps still run, and clean-up removes the user.
#[tokio::test]
async fn a_failure_in_the_middle_still_cleans_up() {
    let (stack, tenant) = setup().await;
    let token = restricted_token(&stack, &tenant).await;
    let out = selftest(&tenant, &token, &["selftest"]).await;
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(
        out.stderr
            .starts_with("error: self-test: 2 of 23 steps failed, 6 skipped"),
        "{out:?}"
    );
    let lines = parse_lines(&out.stdout);
    let status = |dialect: &str, step: &str| {
        lines
            .iter()
            .find(|(_, d, s)| d == dialect && s == step)
            .map(|(status, _, _)| status.as_str())
            .unwrap_or_else(|| panic!("no {dialect} {step} in\n{}", out.stdout))
    };
    for dialect in ["okta", "entra"] {
        assert_eq!(status(dialect, "push group"), "FAIL", "{}", out.stdout);
        for step in ["group members", "rename group", "delete group"] {
            assert_eq!(status(dialect, step), "skip", "{}", out.stdout);
        }
        for step in ["create user", "deactivate user", "clean up"] {
            assert_eq!(status(dialect, step), "ok", "{}", out.stdout);
        }
    }
    let push = out
        .stdout
        .lines()
        .find(|line| line.starts_with("FAIL okta  push group"))
        .unwrap();
    assert!(push.contains("POST /Groups → 403 "), "{push}");
    nothing_left_behind(&tenant).await;
}

async fn restricted_token(stack: &Stack, tenant: &Tenant) -> String {
    let connection = create_connection(stack, tenant, "Okta", &["Engineering"]).await;
    connection_token(stack, tenant, &connection).await
}
