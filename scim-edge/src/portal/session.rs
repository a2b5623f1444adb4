//! A portal session as the edge sees it: the cookie, the session the core describes for it,
//! the form token derived from it, and the extractor that admits a posted form only from this
//! site with that token. Also what of a link's path may be logged.

use axum::extract::{Form, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use identity_proto::identity::v1 as pb;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tonic::Code;

use super::page;
use crate::core_client::outgoing_request;
use crate::state::AppState;

/// The cookie that holds a session's token.
const SESSION_COOKIE: &str = "portal_session";

/// The `Set-Cookie` value that gives the browser `token` for `max_age` seconds (an empty token
/// and 0 forget it): HttpOnly, Secure, and Lax so the consent page, reached by a redirect from
/// the identity provider, sees it.
pub(super) fn set_session_cookie(token: &str, max_age: i64) -> Option<axum::http::HeaderValue> {
    axum::http::HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={token}; Path=/; Max-Age={max_age}; HttpOnly; Secure; SameSite=Lax"
    ))
    .ok()
}

/// Where a link is opened; the rest of the path is the link's secret.
pub(super) const LINK_PATH: &str = "/portal/link/";

/// `path` as logs may show it: a portal link's secret is cut off (an unopened link in a log
/// would open the portal for whoever reads it).
pub(crate) fn loggable_path(path: &str) -> std::borrow::Cow<'_, str> {
    match path.strip_prefix(LINK_PATH) {
        Some(secret) if !secret.is_empty() => format!("{LINK_PATH}…").into(),
        _ => path.into(),
    }
}

/// A live portal session: its token (the bearer of its admin calls), what the core says of it,
/// and its form token.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    pub(super) token: String,
    pub info: pb::PortalSession,
    pub csrf: String,
}

/// The form token of a session: derived from its secret, so the edge checks it without storing
/// anything, and useless without the cookie (which a cross-site page cannot read).
fn csrf_of(session_token: &str) -> String {
    let digest = Sha256::digest(format!("portal-form:{session_token}").as_bytes());
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// The session token in the request's cookies, if any.
fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.trim().to_owned())
        .filter(|value| !value.is_empty())
}

impl Session {
    /// The session of the request's cookie: `Ok(None)` without a cookie or for one the core
    /// does not know (ended, forged); `Err` when the core cannot answer.
    pub(crate) async fn of_headers(
        state: &AppState,
        headers: &HeaderMap,
    ) -> Result<Option<Self>, tonic::Status> {
        let Some(token) = session_cookie(headers) else {
            return Ok(None);
        };
        let mut portal = state.core.portal.clone();
        let request = outgoing_request(pb::DescribePortalSessionRequest {
            session_token: token.clone(),
        });
        match portal.describe_portal_session(request).await {
            Ok(response) => Ok(response.into_inner().session.map(|info| Self {
                csrf: csrf_of(&token),
                token,
                info,
            })),
            Err(status) if status.code() == Code::Unauthenticated => Ok(None),
            Err(status) => Err(status),
        }
    }

    /// The session's token, for a call the core authorizes by it (the consent page's approval).
    pub(crate) fn token(&self) -> &str {
        &self.token
    }

    /// `message` as an admin call of this session: its token as the bearer credential.
    pub(super) fn call<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = outgoing_request(message);
        if let Ok(value) = format!("Bearer {}", self.token).parse() {
            request.metadata_mut().insert("authorization", value);
        }
        request
    }

    pub(super) fn organization_id(&self) -> String {
        self.info.organization_id.clone()
    }

    /// Whether a posted form comes from this site and carries this session's form token.
    pub(crate) fn is_genuine_post(&self, headers: &HeaderMap, csrf: &str) -> bool {
        !is_cross_site(headers) && bool::from(csrf.as_bytes().ct_eq(self.csrf.as_bytes()))
    }

    /// The refusal of a posted form, if it is refused: when the browser says it came from
    /// another site, or when its form token is not this session's. Nothing is changed by a
    /// refused post.
    fn refusal(&self, headers: &HeaderMap, csrf: &str) -> Option<Response> {
        if !self.is_genuine_post(headers, csrf) {
            tracing::info!(
                org_id = %self.info.organization_id,
                "portal form refused: cross-site or without its form token"
            );
            return Some(page::refused());
        }
        None
    }
}

/// Whether the browser marked the request as coming from another site (Fetch Metadata).
pub(super) fn is_cross_site(headers: &HeaderMap) -> bool {
    headers
        .get("sec-fetch-site")
        .is_some_and(|value| value.as_bytes() == b"cross-site")
}

/// The session of every portal page: without one the page says the session ended.
impl FromRequestParts<AppState> for Session {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        match Session::of_headers(state, &parts.headers).await {
            Ok(Some(session)) => Ok(session),
            Ok(None) => Err(page::session_ended()),
            Err(status) => Err(page::unavailable(&status)),
        }
    }
}

/// A form posted from a session's page. Extracting it checks the session, that the post
/// comes from this site and that it carries the session's form token; a refused post never
/// reaches its handler, so it changes nothing.
pub(super) struct Posted<T> {
    pub(super) session: Session,
    pub(super) form: T,
}

/// A posted form's fields with its form token.
#[derive(Debug, Deserialize)]
struct WithFormToken<T> {
    #[serde(default)]
    csrf: String,
    #[serde(flatten)]
    fields: T,
}

impl<T: DeserializeOwned + Send + 'static> FromRequest<AppState> for Posted<T> {
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = request.into_parts();
        let session = Session::from_request_parts(&mut parts, state).await?;
        let headers = parts.headers.clone();
        let Form(posted) =
            Form::<WithFormToken<T>>::from_request(Request::from_parts(parts, body), state)
                .await
                .map_err(|rejection| {
                    page::problem(&session, StatusCode::BAD_REQUEST, &rejection.body_text())
                })?;
        if let Some(refused) = session.refusal(&headers, &posted.csrf) {
            return Err(refused);
        }
        Ok(Self {
            session,
            form: posted.fields,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; portal_session=idpses_x"),
        );
        assert_eq!(session_cookie(&headers).as_deref(), Some("idpses_x"));
        let mut headers = HeaderMap::new();
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("portal_session_other=1"),
        );
        headers.append(header::COOKIE, HeaderValue::from_static("portal_session="));
        assert_eq!(session_cookie(&headers), None);
    }

    #[test]
    fn link_secrets_are_not_logged() {
        assert_eq!(
            loggable_path("/portal/link/idportal_secret"),
            "/portal/link/…"
        );
        assert_eq!(loggable_path("/scim/v2/Users/1"), "/scim/v2/Users/1");
        assert_eq!(loggable_path("/portal"), "/portal");
    }

    #[test]
    fn form_tokens_depend_on_the_session() {
        assert_eq!(csrf_of("idpses_a"), csrf_of("idpses_a"));
        assert_ne!(csrf_of("idpses_a"), csrf_of("idpses_b"));
        assert_eq!(csrf_of("idpses_a").len(), 32);
    }

    #[test]
    fn cross_site_posts_are_recognised() {
        let mut headers = HeaderMap::new();
        assert!(!is_cross_site(&headers));
        headers.insert("sec-fetch-site", HeaderValue::from_static("same-origin"));
        assert!(!is_cross_site(&headers));
        headers.insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
        assert!(is_cross_site(&headers));
    }
}
