//! OAuth 2.0 for provisioning connections ("Authenticate with …" in Okta, client credentials
//! in Entra ID), through the real edge and core: RFC 6749 code flow with RFC 7636 PKCE,
//! rotating refresh tokens with reuse detection (RFC 6819 §5.2.2.3), client credentials,
//! RFC 7009 revocation, RFC 8414 metadata and RFC 6750 challenges on SCIM.
//!
//! Every refusal is checked twice: the RFC's error, and that nothing changed (a code that
//! failed validation still works; a refused approval issued no code).

use identity_proto::admin::v1 as admin;
use identity_tests::oauth::{OAuthClient, pkce};
use identity_tests::{Stack, unique};
use serde_json::json;
use std::time::Duration;

fn user(name: &str) -> serde_json::Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": name,
        "name": {"givenName": "Ada", "familyName": "Lovelace"},
        "emails": [{"value": name, "primary": true}],
    })
}

#[tokio::test]
async fn metadata_names_the_endpoints_of_this_issuer() {
    let stack = crate::uncached_stack().await;
    let tenant = stack.new_tenant().await;
    let client = OAuthClient::register(&stack, &tenant, &[]).await;
    let answer = client
        .get(&format!(
            "{}/.well-known/oauth-authorization-server",
            client.issuer
        ))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let metadata = answer.json;
    assert_eq!(metadata["issuer"], client.issuer);
    assert_eq!(
        metadata["token_endpoint"],
        format!("{}/oauth/token", client.issuer)
    );
    assert_eq!(
        metadata["authorization_endpoint"],
        format!("{}/oauth/authorize", client.issuer)
    );
    assert_eq!(
        metadata["revocation_endpoint"],
        format!("{}/oauth/revoke", client.issuer)
    );
    assert_eq!(
        metadata["code_challenge_methods_supported"],
        json!(["S256"])
    );
    assert_eq!(metadata["response_types_supported"], json!(["code"]));
}

#[tokio::test]
async fn code_flow_provisions_refreshes_and_reuse_revokes_the_family() {
    let stack = crate::uncached_stack().await;
    let tenant = stack.new_tenant().await;
    let client = OAuthClient::register(&stack, &tenant, &[]).await;

    // the consent page says who gets access to what
    let (verifier, challenge) = pkce();
    let (page, request_id) = client.consent_page(&challenge, "xyz").await;
    assert!(page.text.contains(&format!("Organization {}", tenant.slug)));
    assert!(page.text.contains(&client.connection_id));
    let approved = client
        .decide(&request_id, &tenant.owner_secret, "approve")
        .await;
    assert_eq!(approved.status, 303);
    assert!(
        approved
            .location
            .as_deref()
            .unwrap()
            .starts_with(&client.redirect_uri)
    );
    assert_eq!(approved.location_param("state").as_deref(), Some("xyz"));
    let code = approved.location_param("code").unwrap();
    let tokens = client.exchange(&code, &verifier).await;
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["scope"], "scim");
    assert!(tokens["expires_in"].as_i64().unwrap() > 0);
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();

    // the access token authorizes SCIM like a pasted token, and the change names the connection
    let idp = tenant.with_token(&access);
    let created = idp.post("/Users", user(&unique("ada@example.com"))).await;
    created.expect(201);
    let user_id = created.id();
    let changes = stack
        .changes()
        .list_changes(identity_proto::identity::v1::ListChangesRequest {
            organization_id: tenant.org_id.clone(),
            after_sequence: 0,
            page_size: 100,
        })
        .await
        .unwrap()
        .into_inner()
        .changes;
    let created_change = changes
        .iter()
        .find(|c| c.resource_id == user_id)
        .expect("the user's change");
    assert_eq!(created_change.connection_id, client.connection_id);
    let activity = client.connection(&stack).await.activity.unwrap();
    assert_eq!(activity.creates, 1);
    assert!(activity.last_request_time.is_some());

    // refresh rotates both tokens
    let refreshed = client
        .token(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)])
        .await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.text);
    let new_access = refreshed.json["access_token"].as_str().unwrap().to_owned();
    let new_refresh = refreshed.json["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(new_refresh, refresh);
    assert_ne!(new_access, access);
    tenant
        .with_token(&new_access)
        .get(&format!("/Users/{user_id}"))
        .await
        .expect(200);

    // the spent refresh token again: invalid_grant, and the whole family is revoked
    let reused = client
        .token(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)])
        .await;
    assert_eq!(reused.status, 400);
    assert_eq!(reused.error(), "invalid_grant");
    let newest = client
        .token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &new_refresh),
        ])
        .await;
    assert_eq!(newest.error(), "invalid_grant");
    let refused = tenant
        .with_token(&new_access)
        .get(&format!("/Users/{user_id}"))
        .await;
    refused.expect(401);
    let challenge = refused.header("www-authenticate").unwrap_or_default();
    assert!(
        challenge.starts_with("Bearer realm=\"scim\"")
            && challenge.contains("error=\"invalid_token\""),
        "{challenge}"
    );
    let grants = client.grants(&stack).await;
    assert_eq!(grants.len(), 1);
    assert_eq!(grants[0].revoke_reason, "refresh_token_reuse");
    assert_eq!(grants[0].client_id, client.client_id);
}

#[tokio::test]
async fn bad_exchanges_give_rfc_errors_and_spend_the_code() {
    let stack = crate::uncached_stack().await;
    let tenant = stack.new_tenant().await;
    let client = OAuthClient::register(&stack, &tenant, &[]).await;
    let (code, verifier) = client.code().await;

    // wrong PKCE verifier: invalid_grant, and the code is spent (a verifier cannot be guessed
    // twice with one code)
    let (wrong_verifier, _) = pkce();
    let exchange = |code: String, redirect: String, verifier: String| {
        let client = client.clone();
        async move { client.try_exchange(&code, &redirect, &verifier).await }
    };
    let bad = exchange(code.clone(), client.redirect_uri.clone(), wrong_verifier).await;
    assert_eq!(
        (bad.status, bad.error()),
        (400, "invalid_grant"),
        "{}",
        bad.text
    );
    let spent = exchange(code, client.redirect_uri.clone(), verifier).await;
    assert_eq!(spent.error(), "invalid_grant", "{}", spent.text);
    // redirect URI other than the authorization request's: invalid_grant, the code is spent
    let (code, verifier) = client.code().await;
    let bad = exchange(
        code.clone(),
        format!("{}/other", client.redirect_uri),
        verifier.clone(),
    )
    .await;
    assert_eq!(bad.error(), "invalid_grant");
    let spent = exchange(code, client.redirect_uri.clone(), verifier).await;
    assert_eq!(spent.error(), "invalid_grant", "{}", spent.text);

    let (code, verifier) = client.code().await;
    // wrong client secret: invalid_client with a Basic challenge
    let bad = client
        .token_as(
            &client.client_id,
            "idcsec_wrong",
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", &client.redirect_uri),
                ("code_verifier", &verifier),
            ],
        )
        .await;
    assert_eq!((bad.status, bad.error()), (401, "invalid_client"));
    assert!(
        bad.www_authenticate
            .unwrap_or_default()
            .starts_with("Basic")
    );
    // unknown grant type
    let bad = client.token(&[("grant_type", "password")]).await;
    assert_eq!(bad.error(), "unsupported_grant_type");

    // failures of the client's own authentication or of the request's form do not spend it
    let tokens = client.exchange(&code, &verifier).await;
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    tenant.with_token(&access).get("/Users").await.expect(200);

    // the code again: invalid_grant, and the tokens issued for it are revoked
    let reused = exchange(code, client.redirect_uri.clone(), verifier).await;
    assert_eq!(reused.error(), "invalid_grant");
    tenant.with_token(&access).get("/Users").await.expect(401);
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let after = client
        .token(&[("grant_type", "refresh_token"), ("refresh_token", refresh)])
        .await;
    assert_eq!(after.error(), "invalid_grant");
}

#[tokio::test]
async fn authorization_requests_are_checked_before_anything_is_shown() {
    let stack = crate::uncached_stack().await;
    let tenant = stack.new_tenant().await;
    let client = OAuthClient::register(&stack, &tenant, &[]).await;
    let (_, challenge) = pkce();

    // a redirect URI that is not registered: an error page, never a redirect
    let mut url = reqwest::Url::parse(&client.authorize_url(&challenge, "s")).unwrap();
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "redirect_uri" {
                "https://attacker.example/cb".to_owned()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    url.query_pairs_mut().clear().extend_pairs(pairs);
    let page = client.get(url.as_str()).await;
    assert_eq!(page.status, 400);
    assert!(page.location.is_none());
    assert!(page.text.contains("id=\"error\""), "{}", page.text);
    assert!(page.text.contains("Redirect URI not registered"));

    // an unknown client: an error page
    let page = client
        .get(
            &client
                .authorize_url(&challenge, "s")
                .replace(&client.client_id, "idclient_nope"),
        )
        .await;
    assert_eq!(page.status, 400);
    assert!(page.text.contains("Unknown application"));

    // no PKCE: the error goes back to the (verified) redirect URI with the state
    let no_pkce = client
        .authorize_url(&challenge, "s")
        .replace("code_challenge_method=S256", "code_challenge_method=plain");
    let answer = client.get(&no_pkce).await;
    assert_eq!(answer.status, 303);
    assert_eq!(
        answer.location_param("error").as_deref(),
        Some("invalid_request")
    );
    assert_eq!(answer.location_param("state").as_deref(), Some("s"));

    // the owner denies: access_denied, no code
    let (_, request_id) = client.consent_page(&challenge, "d").await;
    let denied = client.decide(&request_id, "", "deny").await;
    assert_eq!(denied.status, 303);
    assert_eq!(
        denied.location_param("error").as_deref(),
        Some("access_denied")
    );
    assert_eq!(denied.location_param("code"), None);
    // and the answered request is gone
    let again = client
        .decide(&request_id, &tenant.owner_secret, "approve")
        .await;
    assert_eq!(again.status, 400);
    assert!(again.text.contains("This request expired"));
}

#[tokio::test]
async fn another_organizations_owner_or_client_gets_nothing() {
    let stack = crate::uncached_stack().await;
    let tenant = stack.new_tenant().await;
    let other = stack.new_tenant().await;
    let client = OAuthClient::register(&stack, &tenant, &[]).await;
    let foreign = OAuthClient::register(&stack, &other, &[]).await;

    // the other organization's owner cannot approve for this one
    let (_, challenge) = pkce();
    let (_, request_id) = client.consent_page(&challenge, "s").await;
    let refused = client
        .decide(&request_id, &other.owner_secret, "approve")
        .await;
    assert_eq!(refused.status, 401);
    assert!(refused.location.is_none());
    assert!(refused.text.contains("id=\"error\""));
    assert!(
        refused.text.contains("name=\"request_id\""),
        "the form is shown again"
    );

    // a code of this organization's client, presented by the other's: invalid_grant
    let (code, verifier) = client.code().await;
    let stolen = foreign
        .try_exchange(&code, &client.redirect_uri, &verifier)
        .await;
    assert_eq!(stolen.error(), "invalid_grant");
    // ... which spent it (a stolen code is worth one attempt): the rightful client starts over
    let spent = client
        .try_exchange(&code, &client.redirect_uri, &verifier)
        .await;
    assert_eq!(spent.error(), "invalid_grant");
    let (code, verifier) = client.code().await;
    let tokens = client.exchange(&code, &verifier).await;
    // and the foreign client cannot revoke them either
    let revoked = foreign
        .revoke(tokens["refresh_token"].as_str().unwrap(), "refresh_token")
        .await;
    assert_eq!(revoked.status, 400);
    assert_eq!(revoked.error(), "unauthorized_client");
    // a token of this organization cannot read the other one's users
    let access = tokens["access_token"].as_str().unwrap();
    let theirs = other.create_user(&unique("theirs@example.com")).await;
    tenant
        .with_token(access)
        .get(&format!("/Users/{}", theirs["id"].as_str().unwrap()))
        .await
        .expect(404);
}

#[tokio::test]
async fn deleting_the_connection_stops_its_tokens_and_clients() {
    let stack = crate::uncached_stack().await;
    let tenant = stack.new_tenant().await;
    let client = OAuthClient::register(&stack, &tenant, &[]).await;
    let (code, verifier) = client.code().await;
    let tokens = client.exchange(&code, &verifier).await;
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let pasted =
        identity_tests::oauth::connection_token(&stack, &tenant, &client.connection_id).await;
    tenant.with_token(&access).get("/Users").await.expect(200);
    tenant.with_token(&pasted).get("/Users").await.expect(200);

    stack
        .admin_client_with(&tenant.owner_secret)
        .connections
        .delete_connection(admin::DeleteConnectionRequest {
            organization_id: tenant.org_id.clone(),
            connection_id: client.connection_id.clone(),
        })
        .await
        .expect("DeleteConnection");

    for token in [&access, &pasted] {
        let refused = tenant.with_token(token).get("/Users").await;
        refused.expect(401);
        assert!(
            refused
                .header("www-authenticate")
                .unwrap_or_default()
                .contains("error=\"invalid_token\"")
        );
    }
    let refresh = client
        .token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
        ])
        .await;
    assert_eq!(refresh.error(), "invalid_client");
    let credentials = client.token(&[("grant_type", "client_credentials")]).await;
    assert_eq!(credentials.error(), "invalid_client");
    // the tenant's own token (no connection) still works
    tenant.get("/Users").await.expect(200);
}

#[tokio::test]
async fn client_credentials_only_for_clients_registered_for_it() {
    let stack = crate::uncached_stack().await;
    let tenant = stack.new_tenant().await;
    let client = OAuthClient::register_code_only(&stack, &tenant).await;
    let refused = client
        .token(&[("grant_type", "client_credentials"), ("scope", "scim")])
        .await;
    assert_eq!(refused.error(), "unauthorized_client", "{}", refused.text);
}

#[tokio::test]
async fn client_credentials_for_entra_and_revocation() {
    let stack = crate::uncached_stack().await;
    let tenant = stack.new_tenant().await;
    let client = OAuthClient::register(&stack, &tenant, &[]).await;
    // client_secret_post, as Entra ID sends it
    let response = reqwest::Client::new()
        .post(format!("{}/oauth/token", client.issuer))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", client.client_id.as_str()),
            ("client_secret", client.client_secret.as_str()),
            ("scope", "scim"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["cache-control"].to_str().unwrap(),
        "no-store"
    );
    let tokens: serde_json::Value = response.json().await.unwrap();
    assert!(tokens.get("refresh_token").is_none(), "{tokens}");
    let access = tokens["access_token"].as_str().unwrap();
    tenant
        .with_token(access)
        .post("/Users", user(&unique("entra@example.com")))
        .await
        .expect(201);

    // a scope that is not offered
    let bad = client
        .token(&[("grant_type", "client_credentials"), ("scope", "admin")])
        .await;
    assert_eq!(bad.error(), "invalid_scope");

    // RFC 7009: revocation answers 200, also for an unknown token
    assert_eq!(client.revoke(access, "access_token").await.status, 200);
    assert_eq!(client.revoke("idscim_unknown", "").await.status, 200);
    tenant.with_token(access).get("/Users").await.expect(401);
}

#[tokio::test]
async fn expired_codes_and_consent_requests_are_refused() {
    let stack = Stack::builder()
        .with_edge(true)
        .token_cache_ttl_secs(0)
        .core_env("IDENTITY_OAUTH_CODE_TTL_SECS", "2")
        .core_env("IDENTITY_OAUTH_REQUEST_TTL_SECS", "2")
        .start()
        .await;
    let tenant = stack.new_tenant().await;
    let client = OAuthClient::register(&stack, &tenant, &[]).await;
    let (code, verifier) = client.code().await;
    let (_, challenge) = pkce();
    let (_, request_id) = client.consent_page(&challenge, "late").await;
    // 2 s lifetimes: long enough for the approval above on a loaded machine
    tokio::time::sleep(Duration::from_millis(2500)).await;

    let late = client
        .token(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &client.redirect_uri),
            ("code_verifier", &verifier),
        ])
        .await;
    assert_eq!((late.status, late.error()), (400, "invalid_grant"));
    assert!(
        late.json["error_description"]
            .as_str()
            .unwrap()
            .contains("expired")
    );

    let page = client
        .decide(&request_id, &tenant.owner_secret, "approve")
        .await;
    assert_eq!(page.status, 400);
    assert!(page.location.is_none());
    assert!(page.text.contains("This request expired"));
}

#[tokio::test]
async fn concurrent_client_credentials_all_succeed_and_share_one_grant() {
    let stack = crate::uncached_stack().await;
    let tenant = stack.new_tenant().await;
    let client = OAuthClient::register(&stack, &tenant, &[]).await;
    // found by the oauth benchmark: concurrent exchanges that read before writing failed on
    // SQLite (lock upgrade) and could each create a grant on PostgreSQL
    let answers = futures::future::join_all((0..16).map(|_| {
        let client = client.clone();
        async move { client.token(&[("grant_type", "client_credentials")]).await }
    }))
    .await;
    for answer in &answers {
        assert_eq!(answer.status, 200, "{}", answer.text);
    }
    let grants = client.grants(&stack).await;
    assert_eq!(grants.len(), 1, "{grants:?}");
    assert_eq!(grants[0].kind, admin::GrantKind::ClientCredentials as i32);
}
