//! The OAuth flow driven by software nobody here wrote: PyPI `authlib` as the identity
//! provider's OAuth client (`tests/oauth/authlib_flow.py`), and headless Chromium, driven by
//! npm `playwright-core`, as the owner's browser on the consent page
//! (`tests/browser/consent.mjs`, which saves screenshots as artifacts).
//!
//! They need a Python with `tests/oauth/requirements.txt` (`IDENTITY_TEST_PYTHON`), Chromium
//! (`IDENTITY_TEST_CHROMIUM`) and playwright-core (`IDENTITY_TEST_NODE_MODULES`); `.ci/run`
//! provides all three. Without them a test says so and passes, unless `CI` is set.

use crate::{artifacts_dir, run, tool};
use identity_tests::oauth::{OAuthClient, pkce};
use identity_tests::unique;

#[tokio::test]
async fn authlib_runs_the_code_flow_provisions_refreshes_and_is_refused_after_reuse() {
    let Some(python) = tool("IDENTITY_TEST_PYTHON", "the authlib OAuth client") else {
        return;
    };
    let stack = crate::uncached_stack().await;
    let tenant = stack.new_tenant().await;
    let client = OAuthClient::register(&stack, &tenant, &[]).await;
    let user_name = unique("authlib@example.com");
    let mut command = tokio::process::Command::new(python);
    command
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/oauth/authlib_flow.py"
        ))
        .env("EDGE_URL", &client.issuer)
        .env("CLIENT_ID", &client.client_id)
        .env("CLIENT_SECRET", &client.client_secret)
        .env("REDIRECT_URI", &client.redirect_uri)
        .env("OWNER_CREDENTIAL", &tenant.owner_secret)
        .env("USER_NAME", &user_name);
    let stdout = run(command, "tests/oauth/authlib_flow.py").await;
    let summary: serde_json::Value = serde_json::from_str(stdout.trim().lines().last().unwrap())
        .unwrap_or_else(|e| panic!("summary line: {e}: {stdout}"));

    // what authlib saw is what the service holds
    let user_id = summary["user_id"].as_str().expect("user_id").to_owned();
    let found = tenant.get(&format!("/Users/{user_id}")).await;
    found.expect(200);
    assert_eq!(found.body["userName"], user_name);
    let activity = client.connection(&stack).await.activity.unwrap();
    assert_eq!(activity.creates, 1);
    let grants = client.grants(&stack).await;
    assert_eq!(grants.len(), 1);
    assert_eq!(grants[0].revoke_reason, "refresh_token_reuse");
}

#[tokio::test]
async fn the_consent_page_works_in_headless_chromium() {
    let Some(chromium) = tool("IDENTITY_TEST_CHROMIUM", "the consent page in Chromium") else {
        return;
    };
    let Some(node_modules) = tool("IDENTITY_TEST_NODE_MODULES", "the consent page in Chromium")
    else {
        return;
    };
    let stack = crate::uncached_stack().await;
    let tenant = stack.new_tenant().await;
    let client = OAuthClient::register(&stack, &tenant, &[]).await;
    let connection = client.connection(&stack).await;
    let (verifier, challenge) = pkce();
    let state = unique("state");
    let dir = artifacts_dir("oauth-consent");
    let mut command = tokio::process::Command::new("node");
    command
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/browser/consent.mjs"))
        .env("CHROMIUM", chromium)
        .env("NODE_MODULES", node_modules)
        .env("AUTHORIZE_URL", client.authorize_url(&challenge, &state))
        .env("REDIRECT_URI", &client.redirect_uri)
        .env("OWNER_CREDENTIAL", &tenant.owner_secret)
        .env("WRONG_CREDENTIAL", "idown_not-the-owner")
        .env(
            "EXPECT_TEXT",
            format!("Organization {}|{}|Okta", tenant.slug, connection.name),
        )
        .env("SCREENSHOT_DIR", &dir)
        // an unknown client: the error page
        .env(
            "ERROR_URL",
            client
                .authorize_url(&challenge, &state)
                .replace(&client.client_id, "idclient_unknown"),
        );
    let stdout = run(command, "tests/browser/consent.mjs").await;
    let result: serde_json::Value = serde_json::from_str(stdout.trim().lines().last().unwrap())
        .unwrap_or_else(|e| panic!("result line: {e}: {stdout}"));
    let redirected = reqwest::Url::parse(result["redirected_to"].as_str().unwrap()).unwrap();
    let param = |name: &str| {
        redirected
            .query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    assert_eq!(param("state").as_deref(), Some(state.as_str()));
    // the code the browser carried works exactly once, for this client, with this verifier
    let tokens = client
        .exchange(&param("code").expect("code in the redirect"), &verifier)
        .await;
    tenant
        .with_token(tokens["access_token"].as_str().unwrap())
        .get("/Users")
        .await
        .expect(200);
    for shot in ["consent.png", "consent-rejected.png", "error.png"] {
        let size = std::fs::metadata(dir.join(shot))
            .unwrap_or_else(|e| panic!("screenshot {shot}: {e}"))
            .len();
        assert!(size > 1000, "{shot} is {size} bytes");
    }
    eprintln!("screenshots saved in {}", dir.display());
}
