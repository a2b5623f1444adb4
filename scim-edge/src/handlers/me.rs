//! `/Me` (RFC 7644 §3.11): the authenticated subject's own User resource.
//!
//! A user's own token (PRINCIPAL_KIND_USER) reaches its user through the `/Users` operations;
//! an organization's provisioning token has no user of its own, so `/Me` is `501 Not
//! Implemented` for it (the RFC's answer when the subject is not a resource). Creating oneself
//! with POST /Me is not supported either.

use axum::Extension;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use identity_proto::identity::v1::PrincipalKind;

use super::{Reply, ScimBody, users};
use crate::auth::Principal;
use crate::error::{ScimError, ScimResult};
use crate::etag::if_match;
use crate::list::{Projection, parse_query};
use crate::state::AppState;

fn own_user(principal: &Principal) -> ScimResult<&str> {
    match (principal.kind, principal.user_id.as_deref()) {
        (PrincipalKind::User, Some(user_id)) => Ok(user_id),
        _ => Err(ScimError::not_implemented(
            "/Me is not available for a provisioning client token",
        )),
    }
}

pub(crate) async fn get(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> ScimResult<Reply> {
    let id = own_user(&principal)?;
    let projection = Projection::from_query(&parse_query(query.as_deref())?)?;
    users::get_user(
        &state,
        &principal.organization_id,
        id,
        Some(&headers),
        &projection,
    )
    .await
}

pub(crate) async fn put(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    ScimBody(body): ScimBody,
) -> ScimResult<Reply> {
    let id = own_user(&principal)?;
    let projection = Projection::from_query(&parse_query(query.as_deref())?)?;
    let expected = if_match(&headers)?;
    users::replace_user(
        &state,
        &principal.organization_id,
        id,
        &body,
        expected,
        &projection,
    )
    .await
}

pub(crate) async fn patch(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    ScimBody(body): ScimBody,
) -> ScimResult<Reply> {
    let id = own_user(&principal)?;
    let projection = Projection::from_query(&parse_query(query.as_deref())?)?;
    let expected = if_match(&headers)?;
    users::patch_user(
        &state,
        &principal.organization_id,
        id,
        &body,
        expected,
        &projection,
    )
    .await
}

pub(crate) async fn delete(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
) -> ScimResult<Reply> {
    let id = own_user(&principal)?;
    let expected = if_match(&headers)?;
    users::delete_user(&state, &principal.organization_id, id, expected).await
}

pub(crate) async fn post(Extension(principal): Extension<Principal>) -> ScimResult<Reply> {
    own_user(&principal)?;
    Err(ScimError::not_implemented(
        "creating a user through /Me is not supported",
    ))
}
