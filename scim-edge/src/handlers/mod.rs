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
pub(crate) mod resource;
pub(crate) mod search;
pub(crate) mod users;

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
    /// The body already encoded (a large list, rendered off the async workers).
    pub(crate) encoded: Option<Vec<u8>>,
    pub(crate) etag: Option<String>,
    pub(crate) location: Option<String>,
}

impl Reply {
    /// 200 with `body`.
    pub(crate) fn ok(body: Value) -> Self {
        Self {
            status: StatusCode::OK,
            body: Some(body),
            encoded: None,
            etag: None,
            location: None,
        }
    }

    /// 200 with the list `render` builds. A large list (`large`) takes milliseconds of CPU to
    /// render and encode, so that runs on a blocking thread: the async workers go on serving
    /// other requests (other organizations' included) meanwhile.
    pub(crate) async fn list(large: bool, render: impl FnOnce() -> Value + Send + 'static) -> Self {
        if !large {
            return Self::ok(render());
        }
        let encoded = tokio::task::spawn_blocking(move || serde_json::to_vec(&render()))
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default();
        Self {
            encoded: Some(encoded),
            ..Self::empty(StatusCode::OK)
        }
    }

    /// A single resource: its `meta.version` becomes the `ETag` header.
    pub(crate) fn resource(status: StatusCode, body: Value) -> Self {
        let etag = body["meta"]["version"].as_str().map(str::to_owned);
        Self {
            status,
            body: Some(body),
            encoded: None,
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
            encoded: None,
            etag: None,
            location: None,
        }
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let encoded = match (self.encoded, &self.body) {
            (Some(encoded), _) => Some(encoded),
            (None, Some(body)) => Some(serde_json::to_vec(body).unwrap_or_default()),
            (None, None) => None,
        };
        let mut response = match encoded {
            Some(bytes) => {
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

    async fn from_request(request: Request, _state: &S) -> Result<Self, Self::Rejection> {
        // the envelope bounds every body (`crate::envelope`); axum's own 2 MiB default must not
        // apply on top of the configured limit
        let bytes = axum::body::to_bytes(request.into_body(), usize::MAX)
            .await
            .map_err(|error| {
                if is_over_limit(&error) {
                    ScimError::payload_too_large("the request body is too large")
                } else {
                    ScimError::invalid_syntax("the request body could not be read")
                }
            })?;
        parse_json(&bytes).map(Self)
    }
}

/// Whether reading a body failed because it outgrew the envelope's limit.
fn is_over_limit(error: &axum::Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(error) = cause {
        if error.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        cause = error.source();
    }
    false
}

/// Parses a request body as JSON. The values are counted first, without building anything: a
/// tree costs up to ~80 times its text (4 MiB of `[{"a":1},…]` is hundreds of MB as a
/// `serde_json::Value`), so a body over [`MAX_JSON_VALUES`] is refused before it is built.
pub(crate) fn parse_json(bytes: &[u8]) -> Result<Value, ScimError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ScimError::invalid_syntax("the request body is empty"));
    }
    // every value takes at least a byte, so only a body longer than the limit is counted (an
    // ordinary SCIM body is parsed once); a syntax error is reported by the real parse below
    if bytes.len() > MAX_JSON_VALUES && count_json_values(bytes) > MAX_JSON_VALUES {
        return Err(ScimError::payload_too_large(format!(
            "the request body holds more than {MAX_JSON_VALUES} json values"
        )));
    }
    serde_json::from_slice(bytes).map_err(|error| {
        ScimError::invalid_syntax(format!(
            "the request body is not valid json: line {} column {}",
            error.line(),
            error.column()
        ))
    })
}

/// The most JSON values (objects, arrays, strings, numbers, booleans, nulls) one request body may
/// hold: a Bulk request of 1,000 operations or a group of 100,000 members fits, while the tree
/// of a body at the limit stays in the tens of MB.
pub(crate) const MAX_JSON_VALUES: usize = 250_000;

/// The number of values in a JSON text, counted while it is read and discarded (memory stays
/// constant whatever the body holds). Counting stops one past [`MAX_JSON_VALUES`], and at a
/// syntax error (the count so far is returned).
fn count_json_values(bytes: &[u8]) -> usize {
    use serde::Deserializer as _;
    let mut count = 0;
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let _ = deserializer.deserialize_any(Counter(&mut count));
    count
}

/// A visitor that counts every value it sees and keeps none; past [`MAX_JSON_VALUES`] it stops.
struct Counter<'c>(&'c mut usize);

impl Counter<'_> {
    fn one<E: serde::de::Error>(&mut self) -> Result<(), E> {
        *self.0 += 1;
        if *self.0 > MAX_JSON_VALUES {
            // stop reading: the caller sees the count over the limit
            return Err(E::custom("too many values"));
        }
        Ok(())
    }
}

impl<'de> serde::de::DeserializeSeed<'de> for Counter<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Counter<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any json value")
    }

    fn visit_bool<E: serde::de::Error>(mut self, _: bool) -> Result<(), E> {
        self.one()
    }
    fn visit_i64<E: serde::de::Error>(mut self, _: i64) -> Result<(), E> {
        self.one()
    }
    fn visit_u64<E: serde::de::Error>(mut self, _: u64) -> Result<(), E> {
        self.one()
    }
    fn visit_f64<E: serde::de::Error>(mut self, _: f64) -> Result<(), E> {
        self.one()
    }
    fn visit_str<E: serde::de::Error>(mut self, _: &str) -> Result<(), E> {
        self.one()
    }
    fn visit_unit<E: serde::de::Error>(mut self) -> Result<(), E> {
        self.one()
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
        self.one()?;
        while seq.next_element_seed(Counter(&mut *self.0))?.is_some() {}
        Ok(())
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(mut self, mut map: A) -> Result<(), A::Error> {
        self.one()?;
        while map.next_key::<serde::de::IgnoredAny>()?.is_some() {
            map.next_value_seed(Counter(&mut *self.0))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod json_limit_tests {
    use super::*;

    #[test]
    fn values_are_counted_without_building_them() {
        assert_eq!(count_json_values(br#"{"a":[1,2,{"b":null}],"c":"x"}"#), 7);
        assert_eq!(count_json_values(b"[]"), 1);
        assert_eq!(count_json_values(b"[1,"), 2);
    }

    #[test]
    fn a_body_of_many_small_values_is_refused_before_it_is_built() {
        let mut body = String::from("[");
        for _ in 0..MAX_JSON_VALUES / 2 + 1 {
            body.push_str(r#"{"a":1},"#);
        }
        body.push_str("{}]");
        let error = parse_json(body.as_bytes()).unwrap_err();
        assert_eq!(error.status, StatusCode::PAYLOAD_TOO_LARGE);
        // at the limit it is parsed
        let fits = format!("[{}1]", "1,".repeat(MAX_JSON_VALUES - 2));
        assert!(parse_json(fits.as_bytes()).is_ok());
        // a syntax error keeps its precise message
        let broken = parse_json(br#"{"a": }"#).unwrap_err();
        assert_eq!(broken.status, StatusCode::BAD_REQUEST);
    }
}
