//! Bearer-token authentication of every SCIM request (RFC 7644 §2).
//!
//! The token is checked by the core's `TokenService.AuthenticateScimToken`; a positive answer
//! is cached for `min(configured ttl, token lifetime)`, keyed by the token's SHA-256 (the
//! token itself is never stored or logged), in a bounded cache. Rejections are logged with the
//! core's reason and answered with a generic 401; a core that cannot be reached gives 503, not
//! 401, so an identity provider retries instead of disabling the integration.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use identity_proto::identity::v1::AuthenticateScimTokenRequest;
use tokio::sync::Semaphore;
use tonic::Code;
use tower::{Layer, Service};

use crate::around::{Around, Wrap};
use crate::core_client::outgoing_request;
use crate::error::{CoreFailure, ScimError};
use crate::principal::{Principal, token_key};
use crate::state::AppState;
use crate::throttle::{Overrides, Throttled, client_address};
use identity_proto::identity::v1::ErrorReason;

/// The token of the `Authorization` header: `Bearer <token>` (scheme case-insensitive), or the
/// bare token, which is what Okta's header-auth apps send when the admin pasted only the token
/// into the "Authorization" field (a named normalisation, see `crate::quirks`).
fn bearer_token(request: &Request) -> Option<&str> {
    let value = request
        .headers()
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .trim();
    match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => {
            let token = token.trim();
            (!token.is_empty()).then_some(token)
        }
        Some(_) => None,
        None if !value.is_empty() => {
            crate::quirks::Quirk::BareAuthorizationToken.seen();
            Some(value)
        }
        None => None,
    }
}

/// What a provider's admin is told when the core rejects a token. An unknown token says nothing
/// more than "authentication failed"; a token that did exist was held by this caller, so saying
/// it expired or was revoked reveals nothing new and tells the admin what to fix.
fn rejection_detail(reason: Option<ErrorReason>) -> &'static str {
    match reason {
        Some(ErrorReason::TokenExpired) => {
            "token expired: issue a new SCIM token in the admin console"
        }
        Some(ErrorReason::TokenRevoked) => {
            "token revoked: issue a new SCIM token in the admin console"
        }
        Some(ErrorReason::ScimDisabled) => "SCIM provisioning is disabled for this organization",
        _ => "authentication failed",
    }
}

/// The layer in front of every SCIM route: first one of the edge's `max_concurrent_requests`
/// slots (others wait; health probes and OAuth are not limited, so a busy edge is not
/// restarted), then the bearer token resolved to a [`Principal`] (or 401 / 503), the
/// organization's limits, and the request.
///
/// One layer (`crate::around`) rather than tower's concurrency limit and axum's `from_fn`:
/// `Router::layer` boxes and clones each layer per route and per request.
#[derive(Debug, Clone)]
pub(crate) struct Authenticate {
    state: AppState,
    slots: Arc<Semaphore>,
}

impl Authenticate {
    pub(crate) fn new(state: AppState) -> Self {
        let slots = Arc::new(Semaphore::new(state.settings.max_concurrent_requests));
        Self { state, slots }
    }
}

impl<S> Layer<S> for Authenticate {
    type Service = Around<S, Authenticate>;

    fn layer(&self, next: S) -> Around<S, Authenticate> {
        Around::new(next, self.clone())
    }
}

impl<S> Wrap<S> for Authenticate
where
    S: Service<Request, Response = Response, Error = Infallible> + Send + 'static,
    S::Future: Send + 'static,
{
    fn wrap(&self, next: S, request: Request) -> impl Future<Output = Response> + Send + 'static {
        let gate = self.clone();
        async move {
            // the semaphore is never closed
            let _slot = gate.slots.acquire().await;
            authenticate(&gate.state, request, next).await
        }
    }
}

/// Resolves the bearer token to a [`Principal`] or answers 401 / 503, then runs `next`.
async fn authenticate<S>(state: &AppState, mut request: Request, next: S) -> Response
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    let Some(token) = bearer_token(&request) else {
        tracing::info!("scim request without bearer token rejected");
        crate::metrics::token_rejected("missing");
        return ScimError::unauthorized("authentication required").into_response();
    };
    let key = token_key(token);
    let principal = match state.tokens.get(&key) {
        Some(principal) => principal,
        None => {
            // a token the core refused moments ago is refused again without asking it
            if let Some(refusal) = state.throttle.recently_refused(&key) {
                crate::metrics::token_rejected("recently_refused");
                return refusal.into_response();
            }
            // an address that keeps presenting refused tokens is not heard until its budget
            // refills (see `throttle`)
            let address = address_of(state, &request);
            if let Err(throttled) = state.throttle.check_address(address) {
                return refuse(state, throttled, Client::Address(address));
            }
            match resolve(state, token, key).await {
                Ok(principal) => principal,
                Err(error) => {
                    if error.status == axum::http::StatusCode::UNAUTHORIZED {
                        state.throttle.remember_refused(key, error.clone());
                        state.throttle.charge_refusal(address);
                    }
                    return error.into_response();
                }
            }
        }
    };
    tracing::Span::current().record("organization.id", principal.organization_id.as_str());
    // held until the response is built: the organization's slot
    let heavy = crate::fair::is_heavy(&request);
    let _slot = match state.throttle.admit(
        &principal.organization_id,
        &principal.token_id,
        principal.limits,
        heavy,
    ) {
        Ok(slot) => slot,
        Err(throttled) => {
            return refuse(
                state,
                throttled,
                Client::Organization(&principal.organization_id),
            );
        }
    };
    // a costly request also waits for a heavy-work slot, shared fairly between organizations
    let heavy_slot = if heavy {
        state.throttle.heavy_slot(&principal.organization_id).await
    } else {
        None
    };
    let organization = principal.organization_id.clone();
    let connection = principal.connection_id.clone();
    let resource_type = crate::metrics::resource_type(request.uri().path());
    let method = request.method().clone();
    // the full path, base path included (this runs inside the nested SCIM router), for a
    // connection's activity
    let path = connection.as_ref().map(|_| {
        request
            .extensions()
            .get::<axum::extract::OriginalUri>()
            .map_or_else(|| request.uri().path(), |original| original.path())
            .to_owned()
    });
    request.extensions_mut().insert(principal);
    let response = crate::fair::holding(
        heavy_slot.is_some(),
        crate::core_client::for_connection(
            connection.as_deref(),
            crate::around::call(next, request),
        ),
    )
    .await;
    drop(heavy_slot);
    crate::metrics::scim_operation(
        &organization,
        resource_type,
        method.as_str(),
        response.status().as_u16(),
    );
    if let (Some(connection), Some(path)) = (connection, path)
        && response.status().as_u16() >= 400
    {
        record_failure(state, organization, connection, method, path, &response);
    }
    response
}

/// Middleware for endpoints that work before anyone is authenticated (OAuth): each request
/// spends its source address's budget first, or is answered 429.
pub async fn budget_unauthenticated(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let address = address_of(&state, &request);
    match state.throttle.admit_unauthenticated(address) {
        Ok(()) => next.run(request).await,
        Err(throttled) => refuse(&state, throttled, Client::Address(address)),
    }
}

/// The client's address as the edge is configured to see it.
fn address_of(state: &AppState, request: &Request) -> Option<std::net::IpAddr> {
    client_address(
        request.headers(),
        state.settings.client_address_header.as_ref(),
        request.extensions(),
    )
}

/// Who a throttled request is charged to: its organization, or before authentication its
/// source address.
enum Client<'a> {
    Organization(&'a str),
    Address(Option<std::net::IpAddr>),
}

/// The 429 of a throttled request (counted under its organization, empty before
/// authentication), held when its client came back before its last `Retry-After`.
fn refuse(state: &AppState, throttled: Throttled, client: Client<'_>) -> Response {
    let (organization, key) = match client {
        Client::Organization(organization) => (organization, organization.to_owned()),
        Client::Address(address) => ("", crate::throttle::address_key(address)),
    };
    crate::metrics::throttled(organization, throttled.reason.as_str());
    tracing::info!(reason = throttled.reason.as_str(), "request throttled");
    state.throttle.refusal(&key, throttled).into_response()
}

/// Records a failed request in its connection's activity, off the request's path: the client
/// gets its answer whether or not the record is written (it is activity, not data). The SCIM
/// error travels on the response as an extension (see `ScimError`'s `IntoResponse`).
fn record_failure(
    state: &AppState,
    organization_id: String,
    connection_id: String,
    method: axum::http::Method,
    path: String,
    response: &Response,
) {
    let error = response.extensions().get::<ScimError>();
    let request = crate::core_client::outgoing_request(
        identity_proto::identity::v1::RecordProvisioningErrorRequest {
            organization_id,
            connection_id,
            method: method.to_string(),
            path,
            status: i32::from(response.status().as_u16()),
            scim_type: error
                .and_then(|e| e.scim_type)
                .map(|t| t.as_str().to_owned())
                .unwrap_or_default(),
            detail: error.map(|e| e.detail.clone()).unwrap_or_default(),
        },
    );
    let mut client = state.core.provisioning.clone();
    tokio::spawn(async move {
        if let Err(status) = client.record_provisioning_error(request).await {
            tracing::debug!(code = ?status.code(), "failed request not recorded in the connection's activity");
        }
    });
}

async fn resolve(state: &AppState, token: &str, key: [u8; 32]) -> Result<Principal, ScimError> {
    let mut tokens = state.core.tokens.clone();
    let request = outgoing_request(AuthenticateScimTokenRequest {
        token: token.to_owned(),
    });
    match tokens.authenticate_scim_token(request).await {
        Ok(response) => {
            let response = response.into_inner();
            let kind = response.principal_kind();
            let principal = Principal {
                organization_id: response.organization_id,
                token_id: response.token_id,
                kind,
                user_id: (!response.principal_user_id.is_empty())
                    .then_some(response.principal_user_id),
                connection_id: (!response.connection_id.is_empty())
                    .then_some(response.connection_id),
                limits: response
                    .rate_limits
                    .map(|limits| Overrides {
                        per_second: limits.requests_per_second,
                        burst: limits.burst,
                        concurrency: limits.max_concurrent_requests,
                    })
                    .unwrap_or_default(),
            };
            state
                .tokens
                .insert(key, principal.clone(), response.expires_in_seconds);
            Ok(principal)
        }
        Err(status) if matches!(status.code(), Code::Unauthenticated | Code::InvalidArgument) => {
            let failure = CoreFailure::of(&status);
            tracing::warn!(
                reason = failure.reason.map_or("unknown", ErrorReason::wire_name),
                "scim token rejected"
            );
            crate::metrics::token_rejected(match failure.reason {
                Some(ErrorReason::TokenExpired) => "expired",
                Some(ErrorReason::TokenRevoked) => "revoked",
                Some(ErrorReason::ScimDisabled) => "scim_disabled",
                Some(ErrorReason::TokenUnknown) => "unknown",
                _ => "invalid",
            });
            Err(ScimError::invalid_token(rejection_detail(failure.reason)))
        }
        Err(status) => {
            tracing::warn!(code = ?status.code(), "token check failed: core unavailable");
            crate::metrics::token_rejected("core_unavailable");
            let error = ScimError::from(status);
            // whatever went wrong, the client must not read it as "your token is bad"
            if error.status == axum::http::StatusCode::UNAUTHORIZED {
                Err(ScimError::unavailable(
                    "authentication is temporarily unavailable",
                    crate::error::RETRY_AFTER_SECS,
                ))
            } else {
                Err(error)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        let request = Request::builder()
            .header(header::AUTHORIZATION, "bearer abc")
            .body(axum::body::Body::empty())
            .unwrap();
        assert_eq!(bearer_token(&request), Some("abc"));
        let request = Request::builder()
            .header(header::AUTHORIZATION, "Basic abc")
            .body(axum::body::Body::empty())
            .unwrap();
        assert_eq!(bearer_token(&request), None);
    }
}
