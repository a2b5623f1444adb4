//! A provisioning connection with an OAuth client, and the HTTP steps of the authorization
//! code flow as an identity provider and its admin's browser take them (without following
//! redirects, so every step's answer can be checked).

use crate::{Stack, Tenant};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use identity_proto::admin::v1 as admin;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// A connection of a tenant and one OAuth client registered for it.
#[derive(Debug, Clone)]
pub struct OAuthClient {
    pub tenant: Tenant,
    pub connection_id: String,
    pub client_id: String,
    pub client_secret: String,
    pub redirect_uri: String,
    /// `http://<edge>`, where the OAuth endpoints are.
    pub issuer: String,
    http: reqwest::Client,
}

/// A PKCE verifier and its S256 challenge (RFC 7636 §4.1, §4.2).
pub fn pkce() -> (String, String) {
    let verifier = format!("{}{}", crate::unique("verifier"), "x".repeat(43));
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

/// Creates a connection named `name` (limited to `groups` when not empty) in `tenant`.
pub async fn create_connection(
    stack: &Stack,
    tenant: &Tenant,
    name: &str,
    groups: &[&str],
) -> String {
    stack
        .admin_client_with(&tenant.owner_secret)
        .connections
        .create_connection(admin::CreateConnectionRequest {
            organization_id: tenant.org_id.clone(),
            name: name.into(),
            allowed_group_names: groups.iter().map(|g| (*g).to_owned()).collect(),
        })
        .await
        .expect("CreateConnection")
        .into_inner()
        .connection
        .expect("connection")
        .id
}

/// A SCIM token of `tenant` that belongs to `connection_id`.
pub async fn connection_token(stack: &Stack, tenant: &Tenant, connection_id: &str) -> String {
    stack
        .admin_client_with(&tenant.owner_secret)
        .scim
        .issue_scim_token(admin::IssueScimTokenRequest {
            organization_id: tenant.org_id.clone(),
            description: "connection token".into(),
            validity: None,
            connection_id: connection_id.into(),
        })
        .await
        .expect("IssueScimToken")
        .into_inner()
        .secret
}

/// An HTTP response: status, `Location`, `WWW-Authenticate` and the body (JSON when it is).
#[derive(Debug, Clone)]
pub struct HttpAnswer {
    pub status: u16,
    pub location: Option<String>,
    pub www_authenticate: Option<String>,
    pub text: String,
    pub json: Value,
}

impl HttpAnswer {
    async fn of(response: reqwest::Response) -> Self {
        let header = |name| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let location = header(reqwest::header::LOCATION);
        let www_authenticate = header(reqwest::header::WWW_AUTHENTICATE);
        let status = response.status().as_u16();
        let text = response.text().await.expect("response body");
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Self {
            status,
            location,
            www_authenticate,
            text,
            json,
        }
    }

    /// The RFC 6749 error code of a JSON error body.
    pub fn error(&self) -> &str {
        self.json["error"].as_str().unwrap_or_default()
    }

    /// A query parameter of the `Location` header.
    pub fn location_param(&self, name: &str) -> Option<String> {
        let location = reqwest::Url::parse(self.location.as_deref()?).ok()?;
        location
            .query_pairs()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.into_owned())
    }
}

impl OAuthClient {
    /// A new connection in `tenant` with a client whose redirect URI is a loopback address.
    pub async fn register(stack: &Stack, tenant: &Tenant, groups: &[&str]) -> Self {
        let connection_id =
            create_connection(stack, tenant, &crate::unique("Okta production"), groups).await;
        Self::register_for(stack, tenant, &connection_id).await
    }

    /// A client for an existing connection, allowed both the authorization code and the
    /// client credentials grants.
    pub async fn register_for(stack: &Stack, tenant: &Tenant, connection_id: &str) -> Self {
        Self::register_with(stack, tenant, connection_id, true).await
    }

    /// A client of a new connection that may use the authorization code grant only.
    pub async fn register_code_only(stack: &Stack, tenant: &Tenant) -> Self {
        let connection_id =
            create_connection(stack, tenant, &crate::unique("Okta production"), &[]).await;
        Self::register_with(stack, tenant, &connection_id, false).await
    }

    async fn register_with(
        stack: &Stack,
        tenant: &Tenant,
        connection_id: &str,
        client_credentials: bool,
    ) -> Self {
        // an ordinary high port: browsers refuse some low ones (9, for instance) outright
        let redirect_uri = format!("http://127.0.0.1:43219/{}/callback", crate::unique("okta"));
        let registered = stack
            .admin_client_with(&tenant.owner_secret)
            .connections
            .register_o_auth_client(admin::RegisterOAuthClientRequest {
                organization_id: tenant.org_id.clone(),
                connection_id: connection_id.into(),
                name: "Okta".into(),
                redirect_uris: vec![redirect_uri.clone()],
                client_credentials,
            })
            .await
            .expect("RegisterOAuthClient")
            .into_inner();
        Self {
            tenant: tenant.clone(),
            connection_id: connection_id.into(),
            client_id: registered.client.expect("client").client_id,
            client_secret: registered.client_secret,
            redirect_uri,
            issuer: format!("http://{}", stack.edge_addr()),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("http client"),
        }
    }

    /// The authorization URL an identity provider sends the admin's browser to.
    pub fn authorize_url(&self, challenge: &str, state: &str) -> String {
        let mut url = reqwest::Url::parse(&format!("{}/oauth/authorize", self.issuer)).unwrap();
        url.query_pairs_mut().extend_pairs([
            ("response_type", "code"),
            ("client_id", self.client_id.as_str()),
            ("redirect_uri", self.redirect_uri.as_str()),
            ("scope", "scim"),
            ("state", state),
            ("code_challenge", challenge),
            ("code_challenge_method", "S256"),
        ]);
        url.into()
    }

    /// GET of any URL, redirects not followed.
    pub async fn get(&self, url: &str) -> HttpAnswer {
        HttpAnswer::of(self.http.get(url).send().await.expect("GET")).await
    }

    /// Opens the consent page; returns it and the pending request's id.
    pub async fn consent_page(&self, challenge: &str, state: &str) -> (HttpAnswer, String) {
        let page = self.get(&self.authorize_url(challenge, state)).await;
        assert_eq!(page.status, 200, "consent page: {}", page.text);
        let request_id = hidden_request_id(&page.text).expect("request_id in the consent form");
        (page, request_id)
    }

    /// Posts the consent form.
    pub async fn decide(&self, request_id: &str, credential: &str, decision: &str) -> HttpAnswer {
        let response = self
            .http
            .post(format!("{}/oauth/authorize", self.issuer))
            .form(&[
                ("request_id", request_id),
                ("owner_credential", credential),
                ("decision", decision),
            ])
            .send()
            .await
            .expect("POST consent");
        HttpAnswer::of(response).await
    }

    /// A fresh authorization code (the owner approves), with the verifier it needs.
    pub async fn code(&self) -> (String, String) {
        let (verifier, challenge) = pkce();
        let (_, request_id) = self.consent_page(&challenge, "st").await;
        let approved = self
            .decide(&request_id, &self.tenant.owner_secret, "approve")
            .await;
        assert_eq!(approved.status, 303, "approval: {}", approved.text);
        assert_eq!(approved.location_param("state").as_deref(), Some("st"));
        let code = approved
            .location_param("code")
            .expect("code in the redirect");
        (code, verifier)
    }

    /// POSTs `form` to the token endpoint with client_secret_basic.
    pub async fn token(&self, form: &[(&str, &str)]) -> HttpAnswer {
        self.token_as(&self.client_id, &self.client_secret, form)
            .await
    }

    /// POSTs `form` to the token endpoint authenticated as another client.
    pub async fn token_as(
        &self,
        client_id: &str,
        secret: &str,
        form: &[(&str, &str)],
    ) -> HttpAnswer {
        let response = self
            .http
            .post(format!("{}/oauth/token", self.issuer))
            .basic_auth(client_id, Some(secret))
            .form(form)
            .send()
            .await
            .expect("POST token");
        HttpAnswer::of(response).await
    }

    /// Exchanges `code` for tokens; panics unless it succeeds.
    pub async fn exchange(&self, code: &str, verifier: &str) -> Value {
        let answer = self.try_exchange(code, &self.redirect_uri, verifier).await;
        assert_eq!(answer.status, 200, "token exchange: {}", answer.text);
        answer.json
    }

    /// Presents `code` to the token endpoint as this client, whatever the outcome.
    pub async fn try_exchange(&self, code: &str, redirect_uri: &str, verifier: &str) -> HttpAnswer {
        self.token(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", verifier),
        ])
        .await
    }

    /// POSTs to the revocation endpoint.
    pub async fn revoke(&self, token: &str, hint: &str) -> HttpAnswer {
        let response = self
            .http
            .post(format!("{}/oauth/revoke", self.issuer))
            .basic_auth(&self.client_id, Some(&self.client_secret))
            .form(&[("token", token), ("token_type_hint", hint)])
            .send()
            .await
            .expect("POST revoke");
        HttpAnswer::of(response).await
    }

    /// The connection as the owner reads it through the admin API.
    pub async fn connection(&self, stack: &Stack) -> admin::Connection {
        get_connection(stack, &self.tenant, &self.connection_id).await
    }

    /// The connection's grants, newest first, as the owner lists them.
    pub async fn grants(&self, stack: &Stack) -> Vec<admin::Grant> {
        stack
            .admin_client_with(&self.tenant.owner_secret)
            .connections
            .list_grants(admin::ListGrantsRequest {
                organization_id: self.tenant.org_id.clone(),
                connection_id: self.connection_id.clone(),
            })
            .await
            .expect("ListGrants")
            .into_inner()
            .grants
    }
}

/// A connection of `tenant` with its activity, as the owner reads it.
pub async fn get_connection(stack: &Stack, tenant: &Tenant, id: &str) -> admin::Connection {
    stack
        .admin_client_with(&tenant.owner_secret)
        .connections
        .get_connection(admin::GetConnectionRequest {
            organization_id: tenant.org_id.clone(),
            connection_id: id.into(),
        })
        .await
        .expect("GetConnection")
        .into_inner()
        .connection
        .expect("connection")
}

/// The value of the consent form's hidden `request_id` input.
pub fn hidden_request_id(html: &str) -> Option<String> {
    let start = html.find("name=\"request_id\"")?;
    let rest = &html[start..];
    let value = rest.find("value=\"")? + "value=\"".len();
    let end = rest[value..].find('"')?;
    Some(rest[value..value + end].to_owned())
}
