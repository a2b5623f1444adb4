//! The setup portal over plain HTTP, as a browser would send it (the pages themselves are driven
//! in headless Chromium by `portal_browser`): one-time links, the session cookie, form tokens,
//! and what a session can and cannot reach across processes.

use identity_proto::admin::v1 as admin;
use identity_proto::admin::v1::organization_service_client::OrganizationServiceClient;
use identity_proto::admin::v1::scim_service_client::ScimServiceClient;
use identity_tests::{Stack, Tenant};
use tonic::Code;

/// An HTTP client that shows redirects instead of following them.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

fn edge(stack: &Stack, path: &str) -> String {
    format!("http://{}{path}", stack.edge_addr())
}

/// Mints a link for `tenant` with the bootstrap credential; returns its path.
async fn mint(stack: &Stack, tenant: &Tenant, label: &str) -> String {
    stack
        .admin_client()
        .portal
        .create_portal_link(admin::CreatePortalLinkRequest {
            organization_id: tenant.org_id.clone(),
            label: label.into(),
            validity: None,
        })
        .await
        .expect("CreatePortalLink")
        .into_inner()
        .path
}

/// Opens `path` (a link) the way the link page's button does; returns the response.
async fn open(stack: &Stack, path: &str) -> reqwest::Response {
    browser()
        .post(edge(stack, path))
        .header("sec-fetch-site", "same-origin")
        .send()
        .await
        .expect("POST link")
}

/// The session token a successful open set as a cookie.
fn session_cookie(response: &reqwest::Response) -> String {
    let cookie = response
        .headers()
        .get("set-cookie")
        .expect("Set-Cookie")
        .to_str()
        .unwrap()
        .to_owned();
    for attribute in ["HttpOnly", "Secure", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(attribute), "{attribute} missing: {cookie}");
    }
    let value = cookie
        .split(';')
        .next()
        .and_then(|pair| pair.strip_prefix("portal_session="))
        .expect("portal_session cookie");
    assert!(value.starts_with("idpses_"), "{cookie}");
    value.to_owned()
}

/// GET `path` with the session cookie; returns status and body.
async fn page(stack: &Stack, session: &str, path: &str) -> (u16, String) {
    let response = browser()
        .get(edge(stack, path))
        .header("cookie", format!("portal_session={session}"))
        .send()
        .await
        .expect("GET page");
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

/// POST a form with the session cookie; returns status, Location and body.
async fn post(
    stack: &Stack,
    session: &str,
    path: &str,
    form: &[(&str, &str)],
    site: &str,
) -> (u16, Option<String>, String) {
    let response = browser()
        .post(edge(stack, path))
        .header("cookie", format!("portal_session={session}"))
        .header("sec-fetch-site", site)
        .form(form)
        .send()
        .await
        .expect("POST form");
    let status = response.status().as_u16();
    let location = response
        .headers()
        .get("location")
        .map(|value| value.to_str().unwrap().to_owned());
    (status, location, response.text().await.unwrap())
}

/// The form token a page carries.
fn csrf_of(body: &str) -> String {
    let marker = "name=\"csrf\" value=\"";
    let start = body.find(marker).expect("a form token on the page") + marker.len();
    body[start..start + 32].to_owned()
}

async fn tokens(stack: &Stack, tenant: &Tenant) -> Vec<admin::ScimToken> {
    stack
        .admin_client()
        .scim
        .list_scim_tokens(admin::ListScimTokensRequest {
            organization_id: tenant.org_id.clone(),
            page_size: 100,
            page_token: String::new(),
        })
        .await
        .expect("ListScimTokens")
        .into_inner()
        .tokens
}

async fn token_count(stack: &Stack, tenant: &Tenant) -> usize {
    tokens(stack, tenant).await.len()
}

#[tokio::test]
async fn a_link_opens_once_and_its_session_sees_only_its_organization() {
    // no token cache: turning SCIM off in the portal refuses the token at once
    let stack = crate::uncached_stack().await;
    let tenant = stack.new_tenant().await;
    let other = stack.new_tenant().await;
    let path = mint(&stack, &tenant, "Jane Doe, IT").await;
    assert!(path.starts_with("/portal/link/idportal_"), "{path}");

    // showing the link's page does not spend it (mail scanners fetch links)
    let shown = browser().get(edge(&stack, &path)).send().await.unwrap();
    assert_eq!(shown.status(), 200);
    assert!(shown.text().await.unwrap().contains("id=\"open\""));

    let opened = open(&stack, &path).await;
    assert_eq!(opened.status(), 303);
    assert_eq!(opened.headers()["location"], "/portal");
    let session = session_cookie(&opened);
    // the edge's request log names the link's route, never its secret
    let secret = path.trim_start_matches("/portal/link/");
    let mut logged = stack.edge_output();
    for _ in 0..50 {
        if logged.iter().any(|line| line.contains("/portal/link/…")) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        logged = stack.edge_output();
    }
    assert!(
        logged.iter().any(|line| line.contains("/portal/link/…")),
        "{logged:?}"
    );
    assert!(
        !logged.iter().any(|line| line.contains(secret)),
        "{logged:?}"
    );

    // single use: the second open, and a forged link, get the same plain page
    for spent in [path.clone(), "/portal/link/idportal_forged".to_owned()] {
        let again = open(&stack, &spent).await;
        assert_eq!(again.status(), 410, "{spent}");
        let body = again.text().await.unwrap();
        assert!(body.contains("id=\"error\""), "{body}");
        assert!(!body.contains("portal_session"), "{body}");
    }

    let (status, overview) = page(&stack, &session, "/portal").await;
    assert_eq!(status, 200, "{overview}");
    assert!(overview.contains(&format!("Organization {}", tenant.slug)));
    assert!(overview.contains("Jane Doe, IT"));
    assert!(overview.contains(&tenant.default_role_name));
    assert!(!overview.contains(&other.slug));
    for (path, shows) in [
        ("/portal/okta", tenant.base_url.as_str()),
        ("/portal/entra", tenant.base_url.as_str()),
        ("/portal/tokens", "Generate SCIM token"),
        ("/portal/connections", "Create connection"),
        ("/portal/settings", "Save default role"),
    ] {
        let (status, body) = page(&stack, &session, path).await;
        assert_eq!(status, 200, "{path}: {body}");
        assert!(body.contains(shows), "{path} shows {shows}");
    }
    let (status, _) = page(&stack, "idpses_forged", "/portal").await;
    assert_eq!(status, 401);
    let anonymous = browser().get(edge(&stack, "/portal")).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);

    // a form without its token, or sent from another site, changes nothing
    let before = token_count(&stack, &tenant).await;
    let (status, _, body) = post(
        &stack,
        &session,
        "/portal/tokens",
        &[("description", "x")],
        "same-origin",
    )
    .await;
    assert_eq!(status, 403, "{body}");
    let csrf = csrf_of(&overview);
    let (status, _, _) = post(
        &stack,
        &session,
        "/portal/tokens",
        &[("csrf", &csrf), ("description", "x")],
        "cross-site",
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(token_count(&stack, &tenant).await, before);

    // with both, the token is issued, shown once, and provisions
    let (status, _, issued) = post(
        &stack,
        &session,
        "/portal/tokens",
        &[("csrf", &csrf), ("description", "Okta production")],
        "same-origin",
    )
    .await;
    assert_eq!(status, 200, "{issued}");
    let start = issued.find("idscim_").expect("the secret on the page");
    let secret: String = issued[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .collect();
    assert_eq!(token_count(&stack, &tenant).await, before + 1);
    tenant.with_token(&secret).get("/Users").await.expect(200);
    let (_, listed) = page(&stack, &session, "/portal/tokens").await;
    assert!(!listed.contains(&secret), "a token is shown once");

    // disabling says data is kept; the change is real
    let (status, location, _) = post(
        &stack,
        &session,
        "/portal/settings/scim",
        &[("csrf", &csrf), ("scim", "disable")],
        "same-origin",
    )
    .await;
    assert_eq!(
        (status, location.as_deref()),
        (303, Some("/portal/settings?done=disabled"))
    );
    let (_, settings) = page(&stack, &session, "/portal/settings?done=disabled").await;
    assert!(settings.contains("Users and roles are kept"), "{settings}");
    tenant.with_token(&secret).get("/Users").await.expect(401);

    // the session's token is an admin credential of its organization only, on the identity
    // listener only, and never for owner credentials
    let identity =
        tonic::transport::Channel::from_shared(format!("http://{}", stack.identity_addr()))
            .unwrap()
            .connect_lazy();
    let bearer = identity_proto::client::BearerCredential::new(&session).unwrap();
    let mut scim = ScimServiceClient::with_interceptor(identity.clone(), bearer.clone());
    let own = scim
        .get_scim_settings(admin::GetScimSettingsRequest {
            organization_id: tenant.org_id.clone(),
        })
        .await
        .expect("own settings");
    assert!(!own.into_inner().settings.unwrap().enabled);
    let denied = scim
        .get_scim_settings(admin::GetScimSettingsRequest {
            organization_id: other.org_id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    let mut orgs = OrganizationServiceClient::with_interceptor(identity, bearer);
    let unserved = orgs
        .create_owner_credential(admin::CreateOwnerCredentialRequest {
            organization_id: tenant.org_id.clone(),
            description: "escalation".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(unserved.code(), Code::Unimplemented, "{unserved:?}");
    let on_admin_listener = stack
        .admin_client_with(&session)
        .scim
        .get_scim_settings(admin::GetScimSettingsRequest {
            organization_id: tenant.org_id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(on_admin_listener.code(), Code::Unauthenticated);

    // a session cannot mint links; sign-out forgets the cookie
    let mut minted_by_session =
        identity_proto::admin::v1::portal_service_client::PortalServiceClient::new(
            tonic::transport::Channel::from_shared(stack.admin_endpoint())
                .unwrap()
                .connect_lazy(),
        );
    let mut request = tonic::Request::new(admin::CreatePortalLinkRequest {
        organization_id: tenant.org_id.clone(),
        label: "again".into(),
        validity: None,
    });
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {session}").parse().unwrap(),
    );
    assert_eq!(
        minted_by_session
            .create_portal_link(request)
            .await
            .unwrap_err()
            .code(),
        Code::Unauthenticated
    );
    let (status, _, out) = post(
        &stack,
        &session,
        "/portal/logout",
        &[("csrf", &csrf)],
        "same-origin",
    )
    .await;
    assert_eq!(status, 200, "{out}");
    assert!(out.contains("signed-out"));
    // and ends the session: neither the cookie nor the token is worth anything from here
    let (status, _) = page(&stack, &session, "/portal").await;
    assert_eq!(status, 401);
    let ended = scim
        .get_scim_settings(admin::GetScimSettingsRequest {
            organization_id: tenant.org_id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(ended.code(), Code::Unauthenticated);
}

#[tokio::test]
async fn links_are_minted_only_for_ones_own_organization_with_a_label() {
    let (stack, tenant) = crate::setup().await;
    let other = stack.new_tenant().await;
    let mut owner = stack.admin_client_with(&tenant.owner_secret).portal;
    let request = |org: &str, label: &str, seconds: Option<i64>| admin::CreatePortalLinkRequest {
        organization_id: org.to_owned(),
        label: label.to_owned(),
        validity: seconds.map(|seconds| prost_types::Duration { seconds, nanos: 0 }),
    };
    let minted = owner
        .create_portal_link(request(&tenant.org_id, "IT", Some(600)))
        .await
        .expect("an owner mints for their organization")
        .into_inner();
    let expires = minted.expire_time.unwrap().seconds - chrono::Utc::now().timestamp();
    assert!((590..=600).contains(&expires), "{expires}");
    let denied = owner
        .create_portal_link(request(&other.org_id, "IT", None))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    for (label, seconds, field) in [
        ("", None, "label"),
        ("IT", Some(10), "validity"),
        ("IT", Some(8 * 86_400), "validity"),
    ] {
        let refused = owner
            .create_portal_link(request(&tenant.org_id, label, seconds))
            .await
            .unwrap_err();
        assert_eq!(
            refused.code(),
            Code::InvalidArgument,
            "{label:?} {seconds:?}"
        );
        assert!(refused.message().contains(field), "{refused:?}");
    }
}

/// The seeds' owner steps (default role, a token shown once, the Okta and Entra ID guides, a
/// connection with an OAuth client) followed in the portal in headless Chromium, every page
/// screenshotted at desktop and phone width and checked with axe-core; the consent page
/// approved by the portal session; then what the browser did is checked through the admin API.
#[tokio::test]
async fn the_portal_walks_the_seeds_setup_in_headless_chromium() {
    use crate::{artifacts_dir, run, tool};
    use identity_tests::oauth::{OAuthClient, pkce};
    let Some(chromium) = tool("IDENTITY_TEST_CHROMIUM", "the setup portal in Chromium") else {
        return;
    };
    let Some(node_modules) = tool("IDENTITY_TEST_NODE_MODULES", "the setup portal in Chromium")
    else {
        return;
    };
    let (stack, tenant) = crate::setup().await;
    let role_name = identity_tests::unique("Engineering");
    let role = stack
        .roles()
        .create_role(identity_proto::identity::v1::CreateRoleRequest {
            organization_id: tenant.org_id.clone(),
            role: Some(identity_proto::identity::v1::Role {
                display_name: role_name.clone(),
                ..Default::default()
            }),
            member_user_ids: vec![],
        })
        .await
        .expect("CreateRole")
        .into_inner()
        .role
        .unwrap();
    let idp = OAuthClient::register(&stack, &tenant, &[]).await;
    let (verifier, challenge) = pkce();
    let link = edge(&stack, &mint(&stack, &tenant, "Jane Doe, IT at Acme").await);
    let dir = artifacts_dir("setup-portal");
    let mut command = tokio::process::Command::new("node");
    command
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/browser/portal.mjs"))
        .env("CHROMIUM", chromium)
        .env("NODE_MODULES", node_modules)
        .env("LINK_URL", &link)
        .env("ROLE_NAME", &role_name)
        .env(
            "AUTHORIZE_URL",
            idp.authorize_url(&challenge, "portal-state"),
        )
        .env("REDIRECT_URI", &idp.redirect_uri)
        .env(
            "EXPECT_TEXT",
            format!(
                "Organization {}|Jane Doe, IT at Acme|{}",
                tenant.slug, tenant.base_url
            ),
        )
        .env("SCREENSHOT_DIR", &dir);
    let stdout = run(command, "tests/browser/portal.mjs").await;
    let result: serde_json::Value = serde_json::from_str(stdout.trim().lines().last().unwrap())
        .unwrap_or_else(|e| panic!("result line: {e}: {stdout}"));

    // the default role the browser chose, and SCIM back on
    let settings = stack
        .admin_client()
        .scim
        .get_scim_settings(admin::GetScimSettingsRequest {
            organization_id: tenant.org_id.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .settings
        .unwrap();
    assert_eq!(settings.default_role_id, role.id);
    assert!(settings.enabled);
    // the token the browser copied provisions into that role
    let token = result["token"].as_str().unwrap();
    let created = tenant
        .with_token(token)
        .post(
            "/Users",
            serde_json::json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": identity_tests::unique("portal@example.com"),
            }),
        )
        .await;
    created.expect(201);
    let groups = created.body["groups"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        groups
            .iter()
            .any(|group| group["value"] == role.id.as_str()),
        "{created}"
    );
    // the connection and client it registered exist
    let connection_id = result["connection_id"].as_str().unwrap();
    let connection = identity_tests::oauth::get_connection(&stack, &tenant, connection_id).await;
    assert_eq!(connection.name, "Okta production");
    assert!(
        result["client_id"]
            .as_str()
            .unwrap()
            .starts_with("idclient_")
    );
    // the code the portal session approved works
    let redirected = reqwest::Url::parse(result["code_redirect"].as_str().unwrap()).unwrap();
    let code = redirected
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    let tokens = idp.exchange(&code, &verifier).await;
    assert!(tokens["access_token"].is_string(), "{tokens}");
    for shot in [
        "portal-overview.png",
        "portal-okta-phone.png",
        "consent-portal.png",
    ] {
        let size = std::fs::metadata(dir.join(shot))
            .unwrap_or_else(|e| panic!("screenshot {shot}: {e}"))
            .len();
        assert!(size > 1000, "{shot} is {size} bytes");
    }
    eprintln!("screenshots saved in {}", dir.display());
}

/// "Test connection" runs the operators' self-test from the edge against the public base URL
/// with a token of its own, which is revoked after the run; the throw-away users and groups are
/// gone, and with SCIM off the page says the connection test failed.
#[tokio::test]
async fn the_connection_test_replays_the_providers_and_cleans_up() {
    let stack = crate::uncached_stack().await;
    let tenant = stack.new_tenant().await;
    let session = session_cookie(&open(&stack, &mint(&stack, &tenant, "IT").await).await);
    let (_, overview) = page(&stack, &session, "/portal").await;
    assert!(overview.contains("id=\"test-connection\""));
    let csrf = csrf_of(&overview);
    let before = token_count(&stack, &tenant).await;

    let form = [("csrf", csrf.as_str())];
    let test = || post(&stack, &session, "/portal/test", &form, "same-origin");
    let (status, _, result) = test().await;
    assert_eq!(status, 200, "{result}");
    assert!(result.contains("Every step passed"), "{result}");
    for step in ["connection test", "create user", "clean up"] {
        assert!(result.contains(step), "{step}: {result}");
    }
    // its token is revoked, and nothing it created is left
    let tokens = tokens(&stack, &tenant).await;
    assert_eq!(tokens.len(), before + 1);
    let test_token = tokens
        .iter()
        .find(|token| token.description.contains("connection test"))
        .expect("the test's token");
    assert_eq!(test_token.status, admin::ScimTokenStatus::Revoked as i32);
    let left = tenant
        .get("/Users?filter=userName%20sw%20%22selftest-%22")
        .await;
    left.expect(200);
    assert_eq!(left.total(), 0, "{left}");

    // with SCIM off, the page says so and names the failed step
    stack
        .admin_client()
        .scim
        .disable_scim(admin::DisableScimRequest {
            organization_id: tenant.org_id.clone(),
        })
        .await
        .unwrap();
    let (status, _, failed) = test().await;
    assert_eq!(status, 200, "{failed}");
    assert!(failed.contains("the connection test failed"), "{failed}");
    assert!(failed.contains("FAIL"), "{failed}");
}
