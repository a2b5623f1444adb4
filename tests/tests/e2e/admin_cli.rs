//! The real `identity-admin` CLI against the real core: organization → SCIM enable → token issue
//! → the token works at the edge → revoke → rejected; rotation keeps the old token valid for the
//! grace period; failures exit 1 with `error: …` on stderr.

use identity_proto::admin::v1 as admin;
use identity_proto::identity::v1 as pb;
use identity_tests::{Stack, Tenant, binary_path, unique};

#[derive(Debug)]
struct Output {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs `identity-admin --endpoint <admin listener> ARGS` with the credential in the environment
/// (so it never appears in the process list).
async fn cli(stack: &Stack, credential: &str, args: &[&str]) -> Output {
    let output = tokio::process::Command::new(binary_path("identity-admin"))
        .arg("--endpoint")
        .arg(stack.admin_endpoint())
        .args(args)
        .env("IDENTITY_ADMIN_CREDENTIAL", credential)
        .env_remove("IDENTITY_ADMIN_ENDPOINT")
        .env_remove("IDENTITY_ADMIN_CREDENTIAL_FILE")
        .env_remove("IDENTITY_ADMIN_ORG")
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

#[track_caller]
fn ok(output: &Output) -> &str {
    assert_eq!(output.code, Some(0), "identity-admin failed: {output:?}");
    output.stdout.trim()
}

#[track_caller]
fn failed(output: &Output) {
    assert_eq!(
        output.code,
        Some(1),
        "identity-admin must exit 1: {output:?}"
    );
    assert!(
        output.stderr.starts_with("error: ") || output.stderr.contains("\nerror: "),
        "{output:?}"
    );
    assert!(
        output.stdout.trim().is_empty(),
        "nothing on stdout on failure: {output:?}"
    );
}

/// A secret printed "alone on stdout": one token, no label, no extra lines.
#[track_caller]
fn secret(output: &Output, prefix: &str) -> String {
    let out = ok(output);
    assert!(
        !out.contains(char::is_whitespace),
        "the secret alone on stdout: {out:?}"
    );
    assert!(out.starts_with(prefix), "{out:?} starts with {prefix}");
    out.to_owned()
}

async fn org_id(stack: &Stack, slug: &str) -> String {
    stack
        .admin_client()
        .orgs
        .get_organization(admin::GetOrganizationRequest {
            key: Some(admin::get_organization_request::Key::Slug(slug.to_owned())),
        })
        .await
        .expect("GetOrganization")
        .into_inner()
        .organization
        .unwrap()
        .id
}

async fn token_id(stack: &Stack, org_id: &str, description: &str) -> String {
    let tokens = stack
        .admin_client()
        .scim
        .list_scim_tokens(admin::ListScimTokensRequest {
            organization_id: org_id.to_owned(),
            page_size: 0,
            page_token: String::new(),
        })
        .await
        .expect("ListScimTokens")
        .into_inner()
        .tokens;
    tokens
        .into_iter()
        .find(|t| t.description == description)
        .unwrap_or_else(|| panic!("token {description} listed"))
        .id
}

fn scim_client(stack: &Stack, org_id: &str, token: &str) -> Tenant {
    Tenant {
        org_id: org_id.to_owned(),
        slug: String::new(),
        default_role_id: String::new(),
        default_role_name: String::new(),
        scim_token: token.to_owned(),
        token_id: String::new(),
        owner_secret: String::new(),
        base_url: stack.scim_base_url(),
        http: reqwest::Client::new(),
    }
}

async fn authenticates(stack: &Stack, token: &str) -> bool {
    stack
        .tokens()
        .authenticate_scim_token(pb::AuthenticateScimTokenRequest {
            token: token.to_owned(),
        })
        .await
        .is_ok()
}

#[tokio::test]
async fn org_scim_token_lifecycle_through_the_cli() {
    // revocation must show at once at the edge: no token cache
    let stack = crate::uncached_stack().await;
    let admin_token = stack.admin_token().to_owned();
    let slug = unique("cli");

    let owner = secret(
        &cli(
            &stack,
            &admin_token,
            &["org", "create", "--slug", &slug, "--name", "CLI Org"],
        )
        .await,
        "idown_",
    );
    let org = org_id(&stack, &slug).await;
    let got = cli(
        &stack,
        &admin_token,
        &["--output", "json", "org", "get", &slug],
    )
    .await;
    let json: serde_json::Value =
        serde_json::from_str(ok(&got)).expect("--output json prints JSON");
    assert!(json.to_string().contains(&org), "{json}");
    assert!(ok(&cli(&stack, &admin_token, &["org", "list"]).await).contains(&slug));

    let role = stack
        .roles()
        .create_role(pb::CreateRoleRequest {
            organization_id: org.clone(),
            role: Some(pb::Role {
                display_name: "cli-default".into(),
                ..Default::default()
            }),
            member_user_ids: vec![],
        })
        .await
        .expect("CreateRole")
        .into_inner()
        .role
        .unwrap();
    ok(&cli(
        &stack,
        &admin_token,
        &["scim", "enable", "--org", &org, "--default-role", &role.id],
    )
    .await);
    let settings = stack
        .admin_client()
        .scim
        .get_scim_settings(admin::GetScimSettingsRequest {
            organization_id: org.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .settings
        .unwrap();
    assert!(settings.enabled);
    assert_eq!(settings.default_role_id, role.id);

    // the organization's own rate limits at the edge, shown with the settings
    let limits = ok(&cli(
        &stack,
        &admin_token,
        &[
            "--output",
            "json",
            "scim",
            "limits",
            "--org",
            &org,
            "--requests-per-second",
            "500",
            "--burst",
            "900",
        ],
    )
    .await)
    .to_owned();
    let limits: serde_json::Value = serde_json::from_str(&limits).unwrap();
    assert_eq!(
        limits["rateLimits"],
        serde_json::json!({ "requestsPerSecond": 500, "burst": 900, "maxConcurrentRequests": 0 })
    );
    // out of range: refused by the command line before any call (clap's usage error)
    let refused = cli(
        &stack,
        &admin_token,
        &["scim", "limits", "--org", &org, "--burst", "100001"],
    )
    .await;
    assert_eq!(refused.code, Some(2), "{refused:?}");

    // the owner credential printed by `org create` administers its organization
    let token = secret(
        &cli(
            &stack,
            &owner,
            &["token", "issue", "--org", &org, "--description", "first"],
        )
        .await,
        "idscim_",
    );
    let client = scim_client(&stack, &org, &token);
    client.get("/Users").await.expect(200);
    assert!(authenticates(&stack, &token).await);
    let listed = ok(&cli(&stack, &owner, &["token", "list", "--org", &org]).await).to_owned();
    assert!(
        !listed.contains(&token),
        "token list never shows secrets: {listed}"
    );

    let first_id = token_id(&stack, &org, "first").await;
    assert!(listed.contains(&first_id), "{listed}");
    ok(&cli(
        &stack,
        &owner,
        &["token", "revoke", "--org", &org, &first_id],
    )
    .await);
    client.get("/Users").await.expect_error(401, None);
    assert!(!authenticates(&stack, &token).await);

    // rotation: the old token stays valid during the grace period, the new one works at once
    let second = secret(
        &cli(
            &stack,
            &admin_token,
            &["token", "issue", "--org", &org, "--description", "second"],
        )
        .await,
        "idscim_",
    );
    let second_id = token_id(&stack, &org, "second").await;
    let rotated = secret(
        &cli(
            &stack,
            &admin_token,
            &[
                "token",
                "rotate",
                "--org",
                &org,
                &second_id,
                "--grace-hours",
                "1",
            ],
        )
        .await,
        "idscim_",
    );
    assert_ne!(rotated, second);
    scim_client(&stack, &org, &second)
        .get("/Users")
        .await
        .expect(200);
    scim_client(&stack, &org, &rotated)
        .get("/Users")
        .await
        .expect(200);

    // rotating with no grace retires the old token at once
    let rotated_id = stack
        .tokens()
        .authenticate_scim_token(pb::AuthenticateScimTokenRequest {
            token: rotated.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .token_id;
    let third = secret(
        &cli(
            &stack,
            &admin_token,
            &[
                "token",
                "rotate",
                "--org",
                &org,
                &rotated_id,
                "--grace-hours",
                "0",
            ],
        )
        .await,
        "idscim_",
    );
    scim_client(&stack, &org, &rotated)
        .get("/Users")
        .await
        .expect_error(401, None);
    scim_client(&stack, &org, &third)
        .get("/Users")
        .await
        .expect(200);

    // disabling SCIM stops every token
    ok(&cli(&stack, &admin_token, &["scim", "disable", "--org", &org]).await);
    scim_client(&stack, &org, &third)
        .get("/Users")
        .await
        .expect_error(401, None);
}

#[tokio::test]
async fn cli_failures_exit_1_with_an_error_line() {
    let stack = Stack::builder().with_edge(false).start().await;
    let admin_token = stack.admin_token().to_owned();
    let slug = unique("cli-fail");
    let owner = secret(
        &cli(
            &stack,
            &admin_token,
            &["org", "create", "--slug", &slug, "--name", "Failing"],
        )
        .await,
        "idown_",
    );
    let org = org_id(&stack, &slug).await;
    let other_slug = unique("cli-other");
    secret(
        &cli(
            &stack,
            &admin_token,
            &["org", "create", "--slug", &other_slug, "--name", "Other"],
        )
        .await,
        "idown_",
    );
    let other = org_id(&stack, &other_slug).await;

    // duplicate slug
    failed(
        &cli(
            &stack,
            &admin_token,
            &["org", "create", "--slug", &slug, "--name", "Again"],
        )
        .await,
    );
    // unknown token
    failed(
        &cli(
            &stack,
            &admin_token,
            &[
                "token",
                "revoke",
                "--org",
                &org,
                &uuid::Uuid::new_v4().to_string(),
            ],
        )
        .await,
    );
    // wrong credential
    failed(
        &cli(
            &stack,
            "idadm_wrong-credential-000000000000",
            &["org", "list"],
        )
        .await,
    );
    // an owner may not act on another organization
    ok(&cli(&stack, &owner, &["scim", "get", "--org", &org]).await);
    failed(&cli(&stack, &owner, &["scim", "get", "--org", &other]).await);
    failed(&cli(&stack, &owner, &["token", "issue", "--org", &other]).await);
    // the credential never shows in the error output
    let output = cli(
        &stack,
        "idadm_wrong-credential-000000000000",
        &["org", "list"],
    )
    .await;
    assert!(
        !output.stderr.contains("idadm_wrong-credential"),
        "{output:?}"
    );
}

#[tokio::test]
async fn credential_file_is_read() {
    let stack = Stack::builder().with_edge(false).start().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("credential");
    std::fs::write(&file, format!("{}\n", stack.admin_token())).unwrap();
    let output = tokio::process::Command::new(binary_path("identity-admin"))
        .arg("--endpoint")
        .arg(stack.admin_endpoint())
        .arg("--credential-file")
        .arg(&file)
        .args(["org", "list"])
        .env_remove("IDENTITY_ADMIN_CREDENTIAL")
        .output()
        .await
        .unwrap();
    assert!(output.status.success(), "{output:?}");
}

#[tokio::test]
async fn an_owner_sets_up_a_connection_with_a_token_and_an_oauth_client() {
    // no token cache at the edge: the deletion at the end shows at once
    let stack = crate::uncached_stack().await;
    let tenant = stack.new_tenant().await;
    let owner = tenant.owner_secret.as_str();
    let org = tenant.slug.as_str();

    let connection = ok(&cli(
        &stack,
        owner,
        &[
            "connection",
            "create",
            "--org",
            org,
            "--name",
            "Okta production",
            "--group",
            "Engineering",
        ],
    )
    .await)
    .to_owned();
    assert!(uuid::Uuid::try_parse(&connection).is_ok(), "{connection}");
    let token = ok(&cli(
        &stack,
        owner,
        &["token", "issue", "--org", org, "--connection", &connection],
    )
    .await)
    .to_owned();
    tenant.with_token(&token).get("/Users").await.expect(200);

    let secret = ok(&cli(
        &stack,
        owner,
        &[
            "connection",
            "register-client",
            "--org",
            org,
            "--connection",
            &connection,
            "--name",
            "Okta",
            "--redirect-uri",
            "https://idp.example.com/oauth/callback",
        ],
    )
    .await)
    .to_owned();
    assert!(secret.starts_with("idcsec_"), "the secret alone on stdout");
    let clients = cli(
        &stack,
        owner,
        &[
            "--output",
            "json",
            "connection",
            "clients",
            "--org",
            org,
            "--connection",
            &connection,
        ],
    )
    .await;
    let clients: serde_json::Value = serde_json::from_str(ok(&clients)).unwrap();
    assert_eq!(
        clients["clients"][0]["redirectUris"][0],
        "https://idp.example.com/oauth/callback"
    );

    let listed = cli(
        &stack,
        owner,
        &["--output", "json", "connection", "list", "--org", org],
    )
    .await;
    let listed: serde_json::Value = serde_json::from_str(ok(&listed)).unwrap();
    assert_eq!(listed["connections"][0]["id"], connection.as_str());
    assert_eq!(
        listed["connections"][0]["allowedGroupNames"],
        serde_json::json!(["Engineering"])
    );
    let shown = ok(&cli(
        &stack,
        owner,
        &["connection", "get", "--org", org, &connection],
    )
    .await)
    .to_owned();
    assert!(
        shown.contains("Okta production") && shown.contains("no recent errors"),
        "{shown}"
    );

    // an unsafe redirect URI is refused with the field named
    let refused = cli(
        &stack,
        owner,
        &[
            "connection",
            "register-client",
            "--org",
            org,
            "--connection",
            &connection,
            "--name",
            "Okta",
            "--redirect-uri",
            "http://idp.example.com/cb",
        ],
    )
    .await;
    failed(&refused);
    assert!(refused.stderr.contains("redirect_uris[0]"), "{refused:?}");

    // widen it to every group, keeping its credentials; an update must change something
    let nothing = cli(
        &stack,
        owner,
        &["connection", "update", "--org", org, &connection],
    )
    .await;
    assert_eq!(nothing.code, Some(2), "a usage error: {nothing:?}");
    assert!(nothing.stderr.contains("--all-groups"), "{nothing:?}");
    let updated = cli(
        &stack,
        owner,
        &[
            "--output",
            "json",
            "connection",
            "update",
            "--org",
            org,
            &connection,
            "--all-groups",
        ],
    )
    .await;
    let updated: serde_json::Value = serde_json::from_str(ok(&updated)).unwrap();
    assert_eq!(updated["allowedGroupNames"], serde_json::json!([]));
    tenant.with_token(&token).get("/Users").await.expect(200);

    ok(&cli(
        &stack,
        owner,
        &["connection", "delete", "--org", org, &connection],
    )
    .await);
    tenant.with_token(&token).get("/Users").await.expect(401);
}

#[tokio::test]
async fn an_owner_mints_a_portal_link_that_opens_once() {
    let (stack, tenant) = crate::setup().await;
    let edge = format!("http://{}", stack.edge_addr());
    let link = ok(&cli(
        &stack,
        &tenant.owner_secret,
        &[
            "portal",
            "link",
            "--org",
            &tenant.slug,
            "--label",
            "Jane Doe, IT",
            "--edge-url",
            &edge,
        ],
    )
    .await)
    .to_owned();
    assert!(
        link.starts_with(&format!("{edge}/portal/link/idportal_")),
        "{link}"
    );
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let opened = browser.post(&link).send().await.unwrap();
    assert_eq!(opened.status(), 303);
    assert!(opened.headers().contains_key("set-cookie"));
    assert_eq!(browser.post(&link).send().await.unwrap().status(), 410);

    let json = cli(
        &stack,
        &tenant.owner_secret,
        &[
            "-o",
            "json",
            "portal",
            "link",
            "--org",
            &tenant.slug,
            "--label",
            "IT",
        ],
    )
    .await;
    let minted: serde_json::Value = serde_json::from_str(ok(&json)).unwrap();
    assert!(
        minted["url"]
            .as_str()
            .unwrap()
            .starts_with("/portal/link/idportal_"),
        "{minted}"
    );
    assert!(minted["expireTime"].is_string(), "{minted}");
    // a validity out of range is refused with its field named
    let refused = cli(
        &stack,
        &tenant.owner_secret,
        &[
            "portal",
            "link",
            "--org",
            &tenant.slug,
            "--label",
            "IT",
            "--valid-minutes",
            "0",
        ],
    )
    .await;
    failed(&refused);
    assert!(refused.stderr.contains("validity"), "{refused:?}");

    // the list shows which link opened; revoking the opened one ends its session, revoking an
    // unopened one stops it opening
    let session = opened
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let listed = cli(
        &stack,
        &tenant.owner_secret,
        &["-o", "json", "portal", "list", "--org", &tenant.slug],
    )
    .await;
    let listed: serde_json::Value = serde_json::from_str(ok(&listed)).unwrap();
    let links = listed["links"].as_array().unwrap();
    let states: Vec<&str> = links.iter().map(|l| l["state"].as_str().unwrap()).collect();
    assert_eq!(states, ["unopened", "session open"], "{listed}");
    let overview = format!("{edge}/portal");
    let with_session = || browser.get(&overview).header("cookie", &session);
    assert_eq!(with_session().send().await.unwrap().status(), 200);
    let opened_id = links[1]["id"].as_str().unwrap();
    ok(&cli(
        &stack,
        &tenant.owner_secret,
        &["portal", "revoke", "--org", &tenant.slug, opened_id],
    )
    .await);
    assert_eq!(with_session().send().await.unwrap().status(), 401);
    let unopened = minted["url"].as_str().unwrap();
    let unopened_id = links[0]["id"].as_str().unwrap();
    ok(&cli(
        &stack,
        &tenant.owner_secret,
        &["portal", "revoke", "--org", &tenant.slug, unopened_id],
    )
    .await);
    let late = browser
        .post(format!("{edge}{unopened}"))
        .send()
        .await
        .unwrap();
    assert_eq!(late.status(), 410);
    // another organization's link is not found
    let other = stack.new_tenant().await;
    failed(
        &cli(
            &stack,
            &other.owner_secret,
            &["portal", "revoke", "--org", &other.slug, opened_id],
        )
        .await,
    );
}
