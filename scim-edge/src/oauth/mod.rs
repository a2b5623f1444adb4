//! The OAuth 2.0 authorization server's HTTP endpoints (RFC 6749, RFC 7636, RFC 7009,
//! RFC 8414), for identity providers that connect with "Authenticate with …" (Okta's catalog
//! apps: authorization code with PKCE) or with client credentials (Entra ID).
//!
//! Nothing is decided here: the core validates clients, redirect URIs, PKCE, codes and refresh
//! tokens and keeps every secret hashed. This module speaks HTTP: it parses form posts and
//! client authentication, renders the consent and error pages ([`page`]), and turns the core's
//! ErrorInfo reasons into RFC 6749 §5.2 error bodies.
//!
//! The routes live outside the SCIM base path and outside SCIM bearer authentication.

mod page;

use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use base64::Engine;
use identity_proto::identity::v1 as pb;
use identity_proto::identity::v1::ErrorReason;
use serde::Deserialize;
use serde_json::json;
use tonic::Code;

use crate::core_client::{outgoing_request, outgoing_write};
use crate::error::CoreFailure;
use crate::state::AppState;

/// Where the authorization endpoint is served.
pub const AUTHORIZE_PATH: &str = "/oauth/authorize";
/// Where the token endpoint is served.
pub const TOKEN_PATH: &str = "/oauth/token";
/// Where the revocation endpoint is served.
pub const REVOKE_PATH: &str = "/oauth/revoke";
/// Where the authorization server metadata is served (RFC 8414 §3).
pub const METADATA_PATH: &str = "/.well-known/oauth-authorization-server";

/// The OAuth routes, mounted at the root of the edge.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(METADATA_PATH, get(metadata))
        .route(AUTHORIZE_PATH, get(authorize).post(decide))
        .route(TOKEN_PATH, axum::routing::post(token))
        .route(REVOKE_PATH, axum::routing::post(revoke))
}

/// RFC 8414 authorization server metadata.
async fn metadata(State(state): State<AppState>) -> Response {
    let issuer = state.settings.issuer();
    let body = json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}{AUTHORIZE_PATH}"),
        "token_endpoint": format!("{issuer}{TOKEN_PATH}"),
        "revocation_endpoint": format!("{issuer}{REVOKE_PATH}"),
        "response_types_supported": ["code"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "scopes_supported": ["scim"],
        "response_modes_supported": ["query"],
    });
    (
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// Form or query parameters as sent. RFC 6749 §3.1 and §3.2: a parameter sent twice is an
/// error, so they are kept as a list rather than collapsed into a map.
#[derive(Debug, Deserialize)]
#[serde(transparent)]
pub struct Params(Vec<(String, String)>);

impl Params {
    /// The parameters of an `application/x-www-form-urlencoded` body, as axum's `Form` reads it.
    pub fn from_form(body: &[u8]) -> Result<Self, String> {
        serde_urlencoded::from_bytes(body).map_err(|error| error.to_string())
    }

    /// The value of `name`; `Err` when it is repeated.
    fn get(&self, name: &str) -> Result<&str, String> {
        let mut values = self.0.iter().filter(|(key, _)| key == name);
        let first = values.next().map(|(_, value)| value.as_str());
        if values.next().is_some() {
            return Err(format!("{name} is repeated"));
        }
        Ok(first.unwrap_or_default())
    }
}

/// `GET /oauth/authorize`: validates the request and shows the consent page.
async fn authorize(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(params): Query<Params>,
) -> Response {
    let read = |name| params.get(name);
    let (client_id, redirect_uri) = match (read("client_id"), read("redirect_uri")) {
        (Ok(client), Ok(redirect)) if !client.is_empty() && !redirect.is_empty() => {
            (client, redirect)
        }
        _ => {
            return page::error(
                StatusCode::BAD_REQUEST,
                "The request is missing its client or redirect URI",
                "Start again from your identity provider's admin console.",
            );
        }
    };
    let redirect_state = read("state").unwrap_or_default();
    let mut repeated = [
        "response_type",
        "code_challenge",
        "code_challenge_method",
        "scope",
        "state",
    ]
    .into_iter()
    .filter_map(|name| read(name).err());
    let problem = repeated.next();
    let request = pb::StartAuthorizationRequest {
        client_id: client_id.to_owned(),
        redirect_uri: redirect_uri.to_owned(),
        code_challenge: read("code_challenge").unwrap_or_default().to_owned(),
        code_challenge_method: read("code_challenge_method").unwrap_or_default().to_owned(),
        scope: read("scope").unwrap_or_default().to_owned(),
        state: redirect_state.to_owned(),
    };
    let mut core = state.core.provisioning.clone();
    match core.start_authorization(outgoing_request(request)).await {
        Ok(response) => {
            // the client and redirect URI are good from here on: errors go back to the client
            if let Some(problem) = problem {
                return redirect_error(redirect_uri, "invalid_request", &problem, redirect_state);
            }
            if read("response_type").unwrap_or_default() != "code" {
                return redirect_error(
                    redirect_uri,
                    "unsupported_response_type",
                    "response_type must be code",
                    redirect_state,
                );
            }
            let details = response.into_inner().details.unwrap_or_default();
            let portal = portal_approver(&state, &headers, &details).await;
            page::consent(StatusCode::OK, &details, None, portal.as_ref())
        }
        Err(status) => {
            let failure = CoreFailure::of(&status);
            match failure.reason {
                // RFC 6749 §4.1.2.1: never redirect to an unverified URI
                Some(ErrorReason::OauthInvalidClient) => page::error(
                    StatusCode::BAD_REQUEST,
                    "Unknown application",
                    "This identity provider application is not registered, or it was deleted. \
                     Check the client ID in its settings.",
                ),
                Some(ErrorReason::OauthRedirectUriMismatch) => page::error(
                    StatusCode::BAD_REQUEST,
                    "Redirect URI not registered",
                    "The application asked to return to an address that is not registered for \
                     it. Add the exact redirect URI to the OAuth client, then start again.",
                ),
                Some(ErrorReason::OauthInvalidScope) => redirect_error(
                    redirect_uri,
                    "invalid_scope",
                    &failure.message,
                    redirect_state,
                ),
                Some(ErrorReason::OauthInvalidRequest) => redirect_error(
                    redirect_uri,
                    "invalid_request",
                    &failure.message,
                    redirect_state,
                ),
                _ => unavailable_page(&status),
            }
        }
    }
}

fn unavailable_page(status: &tonic::Status) -> Response {
    tracing::warn!(code = ?status.code(), "authorization request failed in the core");
    page::error(
        StatusCode::SERVICE_UNAVAILABLE,
        "Temporarily unavailable",
        "The identity service could not be reached. Try again in a moment.",
    )
}

/// A redirect to the client's (verified) redirect URI carrying an RFC 6749 §4.1.2.1 error.
fn redirect_error(redirect_uri: &str, error: &str, description: &str, state: &str) -> Response {
    let mut pairs = vec![("error", error), ("error_description", description)];
    if !state.is_empty() {
        pairs.push(("state", state));
    }
    redirect_with(redirect_uri, &pairs)
}

/// `303 See Other` to `uri` with `pairs` appended to its query.
fn redirect_with(uri: &str, pairs: &[(&str, &str)]) -> Response {
    let Ok(mut target) = url::Url::parse(uri) else {
        return page::error(
            StatusCode::BAD_REQUEST,
            "Redirect URI not registered",
            "The registered redirect URI is not a valid URL.",
        );
    };
    target.query_pairs_mut().extend_pairs(pairs);
    let mut response = Redirect::to(target.as_str()).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The setup-portal session open in this browser, when it belongs to the request's
/// organization: the consent page then lets it approve. A session of another organization, an
/// ended one, or a core that cannot say, all mean the ordinary owner-credential form.
async fn portal_approver(
    state: &AppState,
    headers: &HeaderMap,
    details: &pb::AuthorizationDetails,
) -> Option<page::PortalApprover> {
    let session = crate::portal::Session::of_headers(state, headers)
        .await
        .ok()
        .flatten()?;
    (session.info.organization_id == details.organization_id).then(|| page::PortalApprover {
        label: session.info.label.clone(),
        csrf: session.csrf.clone(),
    })
}

/// The consent form's fields.
#[derive(Debug, Deserialize)]
struct DecisionForm {
    #[serde(default)]
    request_id: String,
    #[serde(default)]
    owner_credential: String,
    #[serde(default)]
    decision: String,
    /// "portal" when the browser's setup-portal session approves.
    #[serde(default)]
    approver: String,
    /// The portal session's form token.
    #[serde(default)]
    csrf: String,
}

/// `POST /oauth/authorize`: the owner's decision on the consent page.
async fn decide(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<DecisionForm>,
) -> Response {
    let approve = form.decision == "approve";
    let mut portal_session_token = String::new();
    if form.approver == "portal" {
        // the session's cookie and its form token, from this site: otherwise nothing happens
        let session = match crate::portal::Session::of_headers(&state, &headers).await {
            Ok(Some(session)) => session,
            Ok(None) => return expired_page(),
            Err(status) => return unavailable_page(&status),
        };
        if !session.is_genuine_post(&headers, &form.csrf) {
            return page::error(
                StatusCode::FORBIDDEN,
                "Nothing was approved",
                "The form was sent without its security token or from another site. Start                  again from your identity provider's admin console.",
            );
        }
        portal_session_token = session.token().to_owned();
    }
    let request = pb::CompleteAuthorizationRequest {
        request_id: form.request_id.clone(),
        approve,
        owner_credential: form.owner_credential,
        portal_session_token,
    };
    let mut core = state.core.provisioning.clone();
    match core.complete_authorization(outgoing_request(request)).await {
        Ok(response) => {
            let decision = response.into_inner();
            let mut pairs = Vec::new();
            if decision.code.is_empty() {
                pairs.push(("error", "access_denied"));
                pairs.push(("error_description", "the owner denied the request"));
            } else {
                pairs.push(("code", decision.code.as_str()));
            }
            if !decision.state.is_empty() {
                pairs.push(("state", decision.state.as_str()));
            }
            redirect_with(&decision.redirect_uri, &pairs)
        }
        Err(status) => match CoreFailure::of(&status).reason {
            Some(ErrorReason::OwnerCredentialRejected) => {
                let describe = pb::DescribeAuthorizationRequest {
                    request_id: form.request_id,
                };
                match core
                    .describe_authorization(outgoing_request(describe))
                    .await
                {
                    Ok(response) => page::consent(
                        StatusCode::UNAUTHORIZED,
                        &response.into_inner().details.unwrap_or_default(),
                        Some(
                            "That is not an owner credential of this organization. Paste the \
                             owner credential (idown_…) your administrator gave you.",
                        ),
                        None,
                    ),
                    // too many attempts: the request is gone
                    Err(_) => expired_page(),
                }
            }
            Some(ErrorReason::AuthorizationRequestExpired) => expired_page(),
            _ => unavailable_page(&status),
        },
    }
}

fn expired_page() -> Response {
    page::error(
        StatusCode::BAD_REQUEST,
        "This request expired",
        "The authorization request expired or was already answered. Start again from your \
         identity provider's admin console.",
    )
}

/// The client's credentials: HTTP Basic (RFC 6749 §2.3.1, each part form-urlencoded) or the
/// body's client_id and client_secret, never both.
#[derive(Debug)]
struct ClientAuth {
    client_id: String,
    client_secret: String,
    basic: bool,
}

fn client_auth(headers: &HeaderMap, params: &Params) -> Result<ClientAuth, OAuthError> {
    let body_id = params
        .get("client_id")
        .map_err(OAuthError::invalid_request)?;
    let body_secret = params
        .get("client_secret")
        .map_err(OAuthError::invalid_request)?;
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
        .map(|(_, encoded)| encoded.trim());
    match basic {
        Some(encoded) => {
            if !body_secret.is_empty() {
                return Err(OAuthError::invalid_request(
                    "use one client authentication method, not two",
                ));
            }
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .ok_or_else(|| OAuthError::invalid_client(true))?;
            let (id, secret) = decoded
                .split_once(':')
                .ok_or_else(|| OAuthError::invalid_client(true))?;
            let decode = |part: &str| {
                percent_encoding::percent_decode_str(&part.replace('+', " "))
                    .decode_utf8()
                    .map(|text| text.into_owned())
                    .map_err(|_| OAuthError::invalid_client(true))
            };
            Ok(ClientAuth {
                client_id: decode(id)?,
                client_secret: decode(secret)?,
                basic: true,
            })
        }
        None if !body_id.is_empty() => Ok(ClientAuth {
            client_id: body_id.to_owned(),
            client_secret: body_secret.to_owned(),
            basic: false,
        }),
        None => Err(OAuthError::invalid_client(false)),
    }
}

/// An RFC 6749 §5.2 error response.
#[derive(Debug)]
pub struct OAuthError {
    status: StatusCode,
    error: &'static str,
    description: String,
    basic_challenge: bool,
}

impl OAuthError {
    fn invalid_request(description: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            error: "invalid_request",
            description: description.into(),
            basic_challenge: false,
        }
    }

    fn invalid_client(basic: bool) -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            error: "invalid_client",
            description: "client authentication failed".to_owned(),
            basic_challenge: basic,
        }
    }

    /// The core's answer, by its ErrorInfo reason.
    fn from_core(status: &tonic::Status, basic: bool) -> Self {
        let failure = CoreFailure::of(status);
        let error = match failure.reason {
            Some(ErrorReason::OauthInvalidClient) => return Self::invalid_client(basic),
            Some(ErrorReason::OauthInvalidGrant) => "invalid_grant",
            Some(ErrorReason::OauthInvalidRequest | ErrorReason::InvalidArgument) => {
                "invalid_request"
            }
            Some(ErrorReason::OauthUnsupportedGrantType) => "unsupported_grant_type",
            Some(ErrorReason::OauthInvalidScope) => "invalid_scope",
            Some(ErrorReason::OauthUnauthorizedClient) => "unauthorized_client",
            _ => {
                tracing::warn!(code = ?status.code(), "token endpoint: core call failed");
                let unavailable = matches!(
                    status.code(),
                    Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled
                );
                return Self {
                    status: if unavailable {
                        StatusCode::SERVICE_UNAVAILABLE
                    } else {
                        StatusCode::INTERNAL_SERVER_ERROR
                    },
                    error: if unavailable {
                        "temporarily_unavailable"
                    } else {
                        "server_error"
                    },
                    description: "the identity service could not answer".to_owned(),
                    basic_challenge: false,
                };
            }
        };
        Self {
            status: StatusCode::BAD_REQUEST,
            error,
            description: failure.message,
            basic_challenge: false,
        }
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        crate::metrics::oauth_failure(self.error);
        let body = json!({ "error": self.error, "error_description": self.description });
        let mut response = (self.status, no_store(), body.to_string()).into_response();
        if self.basic_challenge {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"oauth\""),
            );
        }
        response
    }
}

/// RFC 6749 §5.1: token responses must not be cached.
fn no_store() -> [(header::HeaderName, &'static str); 3] {
    [
        (header::CONTENT_TYPE, "application/json"),
        (header::CACHE_CONTROL, "no-store"),
        (header::PRAGMA, "no-cache"),
    ]
}

/// `POST /oauth/token`.
async fn token(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(params): Form<Params>,
) -> Result<Response, OAuthError> {
    let (request, basic) = token_request(&headers, &params)?;
    let mut core = state.core.provisioning.clone();
    let tokens = core
        .exchange_token(outgoing_write(request))
        .await
        .map_err(|status| OAuthError::from_core(&status, basic))?
        .into_inner();
    let mut body = json!({
        "access_token": tokens.access_token,
        "token_type": "Bearer",
        "expires_in": tokens.expires_in_seconds,
        "scope": tokens.scope,
    });
    if !tokens.refresh_token.is_empty() {
        body["refresh_token"] = json!(tokens.refresh_token);
    }
    Ok((StatusCode::OK, no_store(), body.to_string()).into_response())
}

/// The token request of `params` with the client's authentication from `headers` or the body
/// (RFC 6749 §2.3.1), and whether the client used HTTP Basic; the core checks the rest.
pub fn token_request(
    headers: &HeaderMap,
    params: &Params,
) -> Result<(pb::ExchangeTokenRequest, bool), OAuthError> {
    let client = client_auth(headers, params)?;
    let field = |name| {
        params
            .get(name)
            .map(str::to_owned)
            .map_err(OAuthError::invalid_request)
    };
    let request = pb::ExchangeTokenRequest {
        grant_type: field("grant_type")?,
        client_id: client.client_id,
        client_secret: client.client_secret,
        code: field("code")?,
        redirect_uri: field("redirect_uri")?,
        code_verifier: field("code_verifier")?,
        refresh_token: field("refresh_token")?,
        scope: field("scope")?,
    };
    Ok((request, client.basic))
}

/// `POST /oauth/revoke` (RFC 7009): 200 for a revoked or unknown token.
async fn revoke(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(params): Form<Params>,
) -> Result<Response, OAuthError> {
    let client = client_auth(&headers, &params)?;
    let token = params.get("token").map_err(OAuthError::invalid_request)?;
    if token.is_empty() {
        return Err(OAuthError::invalid_request("token is required"));
    }
    let request = pb::RevokeOAuthTokenRequest {
        client_id: client.client_id,
        client_secret: client.client_secret,
        token: token.to_owned(),
        token_type_hint: params
            .get("token_type_hint")
            .map_err(OAuthError::invalid_request)?
            .to_owned(),
    };
    let mut core = state.core.provisioning.clone();
    core.revoke_o_auth_token(outgoing_request(request))
        .await
        .map_err(|status| OAuthError::from_core(&status, client.basic))?;
    Ok((StatusCode::OK, no_store(), "{}").into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Params {
        Params(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }

    #[test]
    fn repeated_parameters_are_refused() {
        let p = params(&[("scope", "scim"), ("scope", "scim")]);
        assert!(p.get("scope").is_err());
        assert_eq!(p.get("state").unwrap(), "");
    }

    #[test]
    fn basic_credentials_are_form_decoded() {
        let mut headers = HeaderMap::new();
        let encoded = base64::engine::general_purpose::STANDARD.encode("my%20client:s%3Acret");
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Basic {encoded}")).unwrap(),
        );
        let auth = client_auth(&headers, &params(&[])).unwrap();
        assert_eq!(auth.client_id, "my client");
        assert_eq!(auth.client_secret, "s:cret");
        assert!(auth.basic);
        // two methods at once is ambiguous
        assert!(client_auth(&headers, &params(&[("client_secret", "x")])).is_err());
        // none at all is invalid_client
        let none = client_auth(&HeaderMap::new(), &params(&[])).unwrap_err();
        assert_eq!(none.status, StatusCode::UNAUTHORIZED);
    }
}
