//! The HTTP side of a SCIM resource type, written once. `/Users` and `/Groups` implement
//! [`ScimResource`] (their operations over the core); the axum handlers here extract a request
//! and call them. A single resource is addressed by a [`Target`]: the `{id}` of the path
//! ([`ById`]) or, for `/Me`, the caller's own user ([`OwnUser`]). Bulk runs its operations
//! through the same trait.

use std::future::Future;

use axum::Extension;
use axum::extract::{FromRequestParts, Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use identity_proto::identity::v1::PrincipalKind;
use serde_json::Value;

use super::Reply;
use super::ScimBody;
use crate::error::{ScimError, ScimResult};
use crate::etag::if_match;
use crate::list::{ListParams, Projection, parse_query};
use crate::principal::Principal;
use crate::state::AppState;

/// The operations of one SCIM resource type over the core. `expected_version` is the
/// `If-Match` (or Bulk `version`) the write must match.
pub(crate) trait ScimResource {
    fn create(
        state: &AppState,
        org: &str,
        body: &Value,
        projection: &Projection,
    ) -> impl Future<Output = ScimResult<Reply>> + Send;

    /// `headers` carry `If-None-Match` (absent inside Bulk).
    fn get(
        state: &AppState,
        org: &str,
        id: &str,
        headers: Option<&HeaderMap>,
        projection: &Projection,
    ) -> impl Future<Output = ScimResult<Reply>> + Send;

    fn list(
        state: &AppState,
        org: &str,
        params: &ListParams,
    ) -> impl Future<Output = ScimResult<Reply>> + Send;

    fn replace(
        state: &AppState,
        org: &str,
        id: &str,
        body: &Value,
        expected_version: Option<i64>,
        projection: &Projection,
    ) -> impl Future<Output = ScimResult<Reply>> + Send;

    fn patch(
        state: &AppState,
        org: &str,
        id: &str,
        body: &Value,
        expected_version: Option<i64>,
        projection: &Projection,
    ) -> impl Future<Output = ScimResult<Reply>> + Send;

    fn delete(
        state: &AppState,
        org: &str,
        id: &str,
        expected_version: Option<i64>,
    ) -> impl Future<Output = ScimResult<Reply>> + Send;
}

/// Which resource a request addresses.
pub(crate) trait Target: FromRequestParts<AppState> + Send {
    fn id(&self) -> &str;
}

/// `/Users/{id}`, `/Groups/{id}`.
pub(crate) struct ById(String);

impl FromRequestParts<AppState> for ById {
    type Rejection = <Path<String> as FromRequestParts<AppState>>::Rejection;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Path::<String>::from_request_parts(parts, state)
            .await
            .map(|Path(id)| Self(id))
    }
}

impl Target for ById {
    fn id(&self) -> &str {
        &self.0
    }
}

/// `/Me` (RFC 7644 §3.11): the authenticated subject's own user. A user's own token reaches
/// its user; an organization's provisioning token has no user of its own, so `/Me` is `501 Not
/// Implemented` for it (the RFC's answer when the subject is not a resource).
pub(crate) struct OwnUser(String);

impl OwnUser {
    pub(crate) fn of(principal: &Principal) -> ScimResult<Self> {
        match (principal.kind, principal.user_id.as_deref()) {
            (PrincipalKind::User, Some(user_id)) => Ok(Self(user_id.to_owned())),
            _ => Err(ScimError::not_implemented(
                "/Me is not available for a provisioning client token",
            )),
        }
    }
}

impl FromRequestParts<AppState> for OwnUser {
    type Rejection = ScimError;

    async fn from_request_parts(parts: &mut Parts, _state: &AppState) -> ScimResult<Self> {
        let principal = parts
            .extensions
            .get::<Principal>()
            .ok_or_else(|| ScimError::unauthorized("authentication required"))?;
        Self::of(principal)
    }
}

impl Target for OwnUser {
    fn id(&self) -> &str {
        &self.0
    }
}

// === HTTP handlers ===

pub(crate) async fn post<R: ScimResource>(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    projection: Projection,
    ScimBody(body): ScimBody,
) -> ScimResult<Reply> {
    R::create(&state, &principal.organization_id, &body, &projection).await
}

pub(crate) async fn list<R: ScimResource>(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    RawQuery(query): RawQuery,
) -> ScimResult<Reply> {
    let params = ListParams::from_query(&parse_query(query.as_deref())?, &state.settings.limits)?;
    R::list(&state, &principal.organization_id, &params).await
}

pub(crate) async fn get_one<R: ScimResource, T: Target>(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    target: T,
    projection: Projection,
    headers: HeaderMap,
) -> ScimResult<Reply> {
    R::get(
        &state,
        &principal.organization_id,
        target.id(),
        Some(&headers),
        &projection,
    )
    .await
}

pub(crate) async fn put<R: ScimResource, T: Target>(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    target: T,
    projection: Projection,
    headers: HeaderMap,
    ScimBody(body): ScimBody,
) -> ScimResult<Reply> {
    let expected = if_match(&headers)?;
    R::replace(
        &state,
        &principal.organization_id,
        target.id(),
        &body,
        expected,
        &projection,
    )
    .await
}

pub(crate) async fn patch<R: ScimResource, T: Target>(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    target: T,
    projection: Projection,
    headers: HeaderMap,
    ScimBody(body): ScimBody,
) -> ScimResult<Reply> {
    let expected = if_match(&headers)?;
    R::patch(
        &state,
        &principal.organization_id,
        target.id(),
        &body,
        expected,
        &projection,
    )
    .await
}

pub(crate) async fn delete<R: ScimResource, T: Target>(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    target: T,
    headers: HeaderMap,
) -> ScimResult<Reply> {
    let expected = if_match(&headers)?;
    R::delete(&state, &principal.organization_id, target.id(), expected).await
}
