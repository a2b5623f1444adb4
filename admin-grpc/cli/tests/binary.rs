//! The compiled `identity-admin` binary against the in-memory admin API of
//! `admin_grpc::testing`: secrets alone on stdout, errors with their reason.

use admin_grpc::testing::{ORG_A, ORG_B, Served, serve};
use uuid::Uuid;

/// Runs the compiled `identity-admin` against the served fake.
fn admin_cli(s: &Served, credential: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_identity-admin"))
        .args(args)
        .env("IDENTITY_ADMIN_ENDPOINT", format!("http://{}", s.addr))
        .env("IDENTITY_ADMIN_CREDENTIAL", credential)
        .env_remove("IDENTITY_ADMIN_ORG")
        .env_remove("IDENTITY_ADMIN_CREDENTIAL_FILE")
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_binary_prints_secrets_alone_and_errors_with_reason() {
    let s = serve().await;
    let out = tokio::task::block_in_place(|| {
        admin_cli(
            &s,
            "idown_a",
            &["token", "issue", "--org", "acme", "--validity-days", "2"],
        )
    });
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "idscim_issued\n");
    assert!(
        String::from_utf8(out.stderr)
            .unwrap()
            .contains("idscim_Test")
    );
    // the slug was resolved, then the token issued for the resolved id
    assert_eq!(
        s.fake.calls()[1],
        format!("issue_scim_token {ORG_A}  Some(172800s)")
    );

    let out = tokio::task::block_in_place(|| {
        admin_cli(
            &s,
            "idown_a",
            &[
                "token",
                "rotate",
                "--org",
                &ORG_A.to_string(),
                &Uuid::from_u128(0x70).to_string(),
                "--grace-hours",
                "0",
            ],
        )
    });
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "idscim_rotated\n");
    assert!(s.fake.calls().last().unwrap().ends_with("Some(0ns)"));

    let out = tokio::task::block_in_place(|| {
        admin_cli(
            &s,
            "idown_a",
            &["token", "list", "--org", &ORG_B.to_string()],
        )
    });
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        "error: the credential does not administer this organization (PERMISSION_DENIED)\n"
    );

    let out = tokio::task::block_in_place(|| {
        admin_cli(
            &s,
            "admin-secret",
            &["org", "create", "--slug", "acme", "--name", "Acme"],
        )
    });
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "idown_new\n");
}
