//! Discovery endpoints (RFC 7644 §4): `/ServiceProviderConfig`, `/ResourceTypes[/{name}]` and
//! `/Schemas[/{urn}]`, built by the schema module with this deployment's base URL and limits.
//! The collections are ListResponses; an unknown name or URN is 404.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::Value;

use super::Reply;
use crate::error::{ScimError, ScimResult};
use crate::list::{Paging, list_response};
use crate::schema::{self, ResourceKind};
use crate::state::AppState;

fn collection(resources: Vec<Value>) -> Reply {
    let total = i64::try_from(resources.len()).unwrap_or(i64::MAX);
    Reply::ok(list_response(
        total,
        &Paging::Index { start_index: 1 },
        resources,
        None,
    ))
}

pub(crate) async fn service_provider_config(State(state): State<AppState>) -> Reply {
    Reply::ok(schema::service_provider_config_json(
        &state.settings.base_url,
        &state.settings.limits,
    ))
}

pub(crate) async fn resource_types(State(state): State<AppState>) -> Reply {
    collection(schema::resource_types_json(&state.settings.base_url))
}

pub(crate) async fn resource_type(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> ScimResult<Reply> {
    let kind = [ResourceKind::User, ResourceKind::Group]
        .into_iter()
        .find(|kind| kind.name().eq_ignore_ascii_case(&name))
        .ok_or_else(|| ScimError::not_found(format!("resource type {name} not found")))?;
    Ok(Reply::resource(
        StatusCode::OK,
        schema::resource_type_json(kind, &state.settings.base_url),
    ))
}

pub(crate) async fn schemas(State(state): State<AppState>) -> Reply {
    collection(schema::schemas_json(&state.settings.base_url))
}

pub(crate) async fn schema(
    State(state): State<AppState>,
    Path(urn): Path<String>,
) -> ScimResult<Reply> {
    schema::schema_json(&urn, &state.settings.base_url)
        .map(|body| Reply::resource(StatusCode::OK, body))
        .ok_or_else(|| ScimError::not_found(format!("schema {urn} not found")))
}
