//! The `identity-admin` command logic against the real admin service: what a script sees on
//! stdout and stderr. (The compiled binary itself is exercised by the workspace e2e tests.)

mod admin_support;

use admin_support::{ADMIN_SECRET, Harness, unique_slug};
use clap::Parser;
use identity_admin::{Cli, CliError, run};

struct Output {
    stdout: String,
    stderr: String,
}

async fn cli(h: &Harness, credential: &str, args: &[&str]) -> Result<Output, CliError> {
    let endpoint = h.endpoint();
    let mut argv = vec![
        "identity-admin",
        "--endpoint",
        &endpoint,
        "--credential",
        credential,
    ];
    argv.extend_from_slice(args);
    let parsed = Cli::try_parse_from(argv).expect("arguments parse");
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    run(parsed, &mut stdout, &mut stderr).await?;
    Ok(Output {
        stdout: String::from_utf8(stdout).unwrap(),
        stderr: String::from_utf8(stderr).unwrap(),
    })
}

#[tokio::test]
async fn a_script_can_set_up_a_tenant_and_capture_secrets() {
    let h = Harness::start().await;
    let slug = unique_slug("cli");

    // org create prints the owner secret alone on stdout
    let created = cli(
        &h,
        ADMIN_SECRET,
        &["org", "create", "--slug", &slug, "--name", "CLI Org"],
    )
    .await
    .unwrap();
    let owner = created.stdout.trim_end_matches('\n');
    assert!(owner.starts_with("idown_"), "{:?}", created.stdout);
    assert_eq!(created.stdout.lines().count(), 1);
    assert!(created.stderr.contains(&slug));
    assert!(!created.stderr.contains(owner));

    // the owner acts on their organization by slug
    cli(&h, owner, &["scim", "enable", "--org", &slug])
        .await
        .unwrap();
    let issued = cli(
        &h,
        owner,
        &[
            "token",
            "issue",
            "--org",
            &slug,
            "--description",
            "Okta",
            "--validity-days",
            "30",
        ],
    )
    .await
    .unwrap();
    let token = issued.stdout.trim_end_matches('\n');
    assert!(token.starts_with("idscim_"), "{:?}", issued.stdout);
    assert_eq!(issued.stdout.lines().count(), 1);
    assert!(issued.stderr.contains(&token[..11]), "{}", issued.stderr);
    assert!(!issued.stderr.contains(token));
    h.authenticate(token).await.unwrap();

    // json listing: metadata only
    let listed = cli(
        &h,
        owner,
        &["--output", "json", "token", "list", "--org", &slug],
    )
    .await
    .unwrap();
    let json: serde_json::Value = serde_json::from_str(&listed.stdout).unwrap();
    let tokens = json["tokens"].as_array().unwrap();
    assert_eq!(tokens.len(), 1);
    assert_eq!(tokens[0]["status"], "SCIM_TOKEN_STATUS_ACTIVE");
    assert_eq!(tokens[0]["description"], "Okta");
    assert!(!listed.stdout.contains(token));
    let token_id = tokens[0]["id"].as_str().unwrap().to_owned();

    // rotate with zero grace: new secret alone on stdout, old one dead
    let rotated = cli(
        &h,
        owner,
        &[
            "token",
            "rotate",
            "--org",
            &slug,
            &token_id,
            "--grace-hours",
            "0",
        ],
    )
    .await
    .unwrap();
    let new_token = rotated.stdout.trim_end_matches('\n');
    assert!(new_token.starts_with("idscim_") && new_token != token);
    h.authenticate(new_token).await.unwrap();
    assert!(h.authenticate(token).await.is_err());

    // human listing is a table with both tokens
    let table = cli(&h, owner, &["token", "list", "--org", &slug])
        .await
        .unwrap();
    assert_eq!(table.stdout.lines().count(), 3, "{}", table.stdout);
    assert!(table.stdout.starts_with("ID"));
    assert!(table.stdout.contains("revoked") && table.stdout.contains("active"));

    let settings = cli(&h, owner, &["scim", "disable", "--org", &slug])
        .await
        .unwrap();
    assert!(settings.stdout.contains("disabled"), "{}", settings.stdout);
    assert!(h.authenticate(new_token).await.is_err());

    let orgs = cli(&h, owner, &["--output", "json", "org", "list"])
        .await
        .unwrap();
    let json: serde_json::Value = serde_json::from_str(&orgs.stdout).unwrap();
    assert_eq!(json["organizations"][0]["slug"], slug.as_str());
}

#[tokio::test]
async fn failures_name_the_message_and_reason() {
    let h = Harness::start().await;
    let (org_a, owner_a) = h.org(&unique_slug("a")).await;
    let (org_b, _) = h.org(&unique_slug("b")).await;
    let _ = org_a;

    let err = cli(&h, &owner_a, &["token", "list", "--org", &org_b.id])
        .await
        .err()
        .expect("another organization is refused");
    assert!(err.to_string().ends_with("(PERMISSION_DENIED)"), "{err}");

    let err = cli(&h, "idown_wrong", &["org", "list"])
        .await
        .err()
        .unwrap();
    assert_eq!(err.to_string(), "unauthenticated (UNAUTHENTICATED)");

    let err = cli(
        &h,
        ADMIN_SECRET,
        &["org", "create", "--slug", &org_b.slug, "--name", "x"],
    )
    .await
    .err()
    .unwrap();
    assert!(
        err.to_string().ends_with("(ORGANIZATION_SLUG_TAKEN)"),
        "{err}"
    );

    let err = cli(&h, ADMIN_SECRET, &["org", "get", "no-such-org"])
        .await
        .err()
        .unwrap();
    assert!(
        err.to_string().ends_with("(ORGANIZATION_NOT_FOUND)"),
        "{err}"
    );

    // nothing listens on port 9 of this host
    let parsed = Cli::try_parse_from([
        "identity-admin",
        "--endpoint",
        "http://127.0.0.1:9",
        "--credential",
        "x",
        "org",
        "list",
    ])
    .unwrap();
    let err = run(parsed, &mut Vec::new(), &mut Vec::new())
        .await
        .unwrap_err();
    assert!(err.to_string().ends_with("(UNAVAILABLE)"), "{err}");
}

#[tokio::test]
async fn an_owner_sets_up_roles_and_the_default_role_by_name() {
    let h = Harness::start().await;
    let slug = unique_slug("cli-roles");
    let created = cli(
        &h,
        ADMIN_SECRET,
        &["org", "create", "--slug", &slug, "--name", "Roles Org"],
    )
    .await
    .unwrap();
    let owner = created.stdout.trim_end_matches('\n').to_owned();
    for name in ["Engineering", "Sales"] {
        let made = cli(
            &h,
            &owner,
            &[
                "role",
                "create",
                "--org",
                &slug,
                name,
                "--description",
                "team",
            ],
        )
        .await
        .unwrap();
        assert!(made.stdout.contains(name), "{}", made.stdout);
    }

    // the seeds' flow: enable SCIM with the default role the owner knows by name
    let enabled = cli(
        &h,
        &owner,
        &[
            "scim",
            "enable",
            "--org",
            &slug,
            "--default-role",
            "engineering",
        ],
    )
    .await
    .unwrap();
    assert!(
        enabled.stdout.contains("Engineering") || enabled.stderr.contains("Engineering"),
        "{}{}",
        enabled.stdout,
        enabled.stderr
    );

    cli(
        &h,
        &owner,
        &["role", "rename", "--org", &slug, "Sales", "Sales Team"],
    )
    .await
    .unwrap();
    let listed = cli(
        &h,
        &owner,
        &["role", "list", "--org", &slug, "--output", "json"],
    )
    .await
    .unwrap();
    let roles: serde_json::Value = serde_json::from_str(&listed.stdout).unwrap();
    let summary: Vec<(String, bool)> = roles["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|role| {
            (
                role["name"].as_str().unwrap().to_owned(),
                role["isDefault"].as_bool().unwrap_or(false),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("Engineering".to_owned(), true),
            ("Sales Team".to_owned(), false)
        ]
    );

    // the default role cannot be deleted; the reason reaches the script
    let refused = cli(
        &h,
        &owner,
        &["role", "delete", "--org", &slug, "Engineering"],
    )
    .await
    .err()
    .expect("deleting the default role fails");
    assert!(refused.to_string().contains("ROLE_IS_DEFAULT"), "{refused}");
    cli(
        &h,
        &owner,
        &["role", "delete", "--org", &slug, "sales team"],
    )
    .await
    .unwrap();
    let listed = cli(&h, &owner, &["role", "list", "--org", &slug])
        .await
        .unwrap();
    assert!(listed.stdout.contains("Engineering"));
    assert!(!listed.stdout.contains("Sales"), "{}", listed.stdout);
}
