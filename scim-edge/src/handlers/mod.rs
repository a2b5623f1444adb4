//! The SCIM endpoints (RFC 7644 §3): one module per resource endpoint, plus search, Bulk,
//! `/Me` and discovery. This module holds what they share: the JSON body extractor that turns
//! every body problem into a SCIM error, and the response type that sets the SCIM media type,
//! `ETag` and `Location`.
//!
//! Each endpoint is split into an operation (`fn(state, org, input) -> ScimResult<Reply>`) and
//! a thin axum handler around it, so Bulk and `/Me` run exactly the code the plain endpoints
//! run.

pub(crate) mod bulk;
pub(crate) mod discovery;
pub(crate) mod groups;
pub(crate) mod me;
pub(crate) mod search;
pub(crate) mod users;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::error::ScimError;

/// SCIM's media type (RFC 7644 §3.1).
pub(crate) const SCIM_JSON: &str = "application/scim+json";

/// A successful SCIM response.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) body: Option<Value>,
    pub(crate) etag: Option<String>,
    pub(crate) location: Option<String>,
}

impl Reply {
    /// 200 with `body`.
    pub(crate) fn ok(body: Value) -> Self {
        Self {
            status: StatusCode::OK,
            body: Some(body),
            etag: None,
            location: None,
        }
    }

    /// A single resource: its `meta.version` becomes the `ETag` header.
    pub(crate) fn resource(status: StatusCode, body: Value) -> Self {
        let etag = body["meta"]["version"].as_str().map(str::to_owned);
        Self {
            status,
            body: Some(body),
            etag,
            location: None,
        }
    }

    /// 201 with `Location` = `meta.location`.
    pub(crate) fn created(body: Value) -> Self {
        let location = body["meta"]["location"].as_str().map(str::to_owned);
        Self {
            location,
            ..Self::resource(StatusCode::CREATED, body)
        }
    }

    /// A status without body (204, 304).
    pub(crate) fn empty(status: StatusCode) -> Self {
        Self {
            status,
            body: None,
            etag: None,
            location: None,
        }
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let mut response = match &self.body {
            Some(body) => {
                let bytes = serde_json::to_vec(body).unwrap_or_default();
                let mut response = (self.status, bytes).into_response();
                response
                    .headers_mut()
                    .insert(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON));
                response
            }
            None => self.status.into_response(),
        };
        let headers = response.headers_mut();
        if let Some(etag) = self.etag.and_then(|e| HeaderValue::from_str(&e).ok()) {
            headers.insert(header::ETAG, etag);
        }
        if let Some(location) = self.location.and_then(|l| HeaderValue::from_str(&l).ok()) {
            headers.insert(header::LOCATION, location);
        }
        response
    }
}

/// A JSON request body. Any media type is accepted as long as the body is JSON (clients send
/// `application/scim+json` or `application/json`, some nothing); an unreadable body is
/// `400 invalidSyntax`, an oversized one `413`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ScimBody(pub(crate) Value);

impl<S: Send + Sync> FromRequest<S> for ScimBody {
    type Rejection = ScimError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ScimError::payload_too_large("the request body is too large")
                } else {
                    ScimError::invalid_syntax("the request body could not be read")
                }
            })?;
        parse_json(&bytes).map(Self)
    }
}

/// Parses a request body as JSON.
pub(crate) fn parse_json(bytes: &[u8]) -> Result<Value, ScimError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ScimError::invalid_syntax("the request body is empty"));
    }
    serde_json::from_slice(bytes).map_err(|error| {
        ScimError::invalid_syntax(format!(
            "the request body is not valid json: line {} column {}",
            error.line(),
            error.column()
        ))
    })
}
