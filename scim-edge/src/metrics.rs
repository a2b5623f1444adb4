//! The edge's own metrics, recorded through the OpenTelemetry API: exported over OTLP when
//! configured and always readable on `/metrics` in the Prometheus format.
//!
//! Labels are bounded by design: routes are the matched templates (`/scim/v2/Users/{id}`, never
//! an id), organizations are the tenants' ids (as many as tenants, never users), reasons come
//! from a fixed set. No label ever carries a token, a user name or any other personal data.

use std::convert::Infallible;
use std::future::Future;

use crate::around::{Around, Wrap};
use axum::extract::{MatchedPath, Request};
use axum::http::Method;
use axum::response::Response;
use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Histogram};
use std::sync::LazyLock;
use std::time::Instant;

fn meter() -> opentelemetry::metrics::Meter {
    opentelemetry::global::meter("scim-edge")
}

static REQUEST_DURATION: LazyLock<Histogram<f64>> = LazyLock::new(|| {
    meter()
        .f64_histogram("http.server.request.duration")
        .with_unit("s")
        .with_description("HTTP requests by route, method and status, with their latency")
        .with_boundaries(vec![
            0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
        ])
        .build()
});

static SCIM_OPERATIONS: LazyLock<Counter<u64>> = LazyLock::new(|| {
    meter()
        .u64_counter("scim.operations")
        .with_description(
            "Authenticated SCIM requests by organization, resource type, method and status class",
        )
        .build()
});

static TOKEN_REJECTIONS: LazyLock<Counter<u64>> = LazyLock::new(|| {
    meter()
        .u64_counter("scim.token.rejections")
        .with_description("Bearer tokens the edge refused, by reason")
        .build()
});

static REFUSALS_HELD: LazyLock<Histogram<f64>> = LazyLock::new(|| {
    meter()
        .f64_histogram("scim.throttled.held")
        .with_unit("s")
        .with_description(
            "429s held because their client came back before the Retry-After it was given",
        )
        .with_boundaries(vec![0.1, 0.25, 0.5, 1.0, 2.0, 5.0])
        .build()
});

static THROTTLED: LazyLock<Counter<u64>> = LazyLock::new(|| {
    meter()
        .u64_counter("scim.throttled")
        .with_description(
            "Requests answered 429, by organization (empty before authentication) and reason",
        )
        .build()
});

static HEAVY_WAIT: LazyLock<Histogram<f64>> = LazyLock::new(|| {
    meter()
        .f64_histogram("scim.heavy.wait")
        .with_unit("s")
        .with_description(
            "Time heavy requests waited for a heavy-work slot, by organization (see fair.rs)",
        )
        .with_boundaries(vec![0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0])
        .build()
});

static OAUTH_FAILURES: LazyLock<Counter<u64>> = LazyLock::new(|| {
    meter()
        .u64_counter("oauth.token.failures")
        .with_description("Token and revocation requests refused, by RFC 6749 error code")
        .build()
});

/// Per route (where the matched route is known): records every request's duration by route,
/// method and status (a `crate::around` layer rather than `from_fn`, which boxes twice more).
#[derive(Debug, Clone, Copy)]
pub(crate) struct RecordRequests;

impl<S> tower::Layer<S> for RecordRequests {
    type Service = Around<S, RecordRequests>;

    fn layer(&self, next: S) -> Around<S, RecordRequests> {
        Around::new(next, *self)
    }
}

impl<S> Wrap<S> for RecordRequests
where
    S: tower::Service<Request, Response = Response, Error = Infallible> + Send + 'static,
    S::Future: Send + 'static,
{
    fn wrap(&self, next: S, request: Request) -> impl Future<Output = Response> + Send + 'static {
        let route = request
            .extensions()
            .get::<MatchedPath>()
            .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
        let method = method_label(request.method());
        let started = Instant::now();
        async move {
            let response = crate::around::call(next, request).await;
            REQUEST_DURATION.record(
                started.elapsed().as_secs_f64(),
                &[
                    KeyValue::new("http.route", route),
                    KeyValue::new("http.request.method", method),
                    KeyValue::new(
                        "http.response.status_code",
                        i64::from(response.status().as_u16()),
                    ),
                ],
            );
            response
        }
    }
}

/// A method's label: its name when HTTP defines it, else `_OTHER` (OpenTelemetry's convention,
/// which keeps the label set bounded).
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "_OTHER",
    }
}

/// The SCIM resource type a path addresses (`Users`, `Groups`, `Bulk`, …): its first segment
/// that names one, whatever base path precedes it (ids are UUIDs, never these names); `other`
/// when there is none.
pub(crate) fn resource_type(path: &str) -> &'static str {
    path.split('/')
        .find_map(|segment| match segment {
            "Users" => Some("Users"),
            "Groups" => Some("Groups"),
            "Bulk" => Some("Bulk"),
            "Me" => Some("Me"),
            ".search" => Some("search"),
            "ServiceProviderConfig" | "ResourceTypes" | "Schemas" => Some("discovery"),
            _ => None,
        })
        .unwrap_or("other")
}

/// Counts one authenticated SCIM request of `organization`.
pub(crate) fn scim_operation(
    organization: &str,
    resource_type: &'static str,
    method: &str,
    status: u16,
) {
    let class = match status {
        200..=299 => "2xx",
        400..=499 => "4xx",
        500..=599 => "5xx",
        _ => "other",
    };
    SCIM_OPERATIONS.add(
        1,
        &[
            KeyValue::new("organization.id", organization.to_owned()),
            KeyValue::new("scim.resource_type", resource_type),
            KeyValue::new("http.request.method", method.to_owned()),
            KeyValue::new("http.response.status_class", class),
        ],
    );
}

/// Counts one refused bearer token; `reason` is one of a fixed set.
pub(crate) fn token_rejected(reason: &'static str) {
    TOKEN_REJECTIONS.add(1, &[KeyValue::new("reason", reason)]);
}

/// Counts one throttled request.
/// Records how long a heavy request of `organization` waited for its slot.
pub(crate) fn heavy_wait(organization: &str, waited: std::time::Duration) {
    HEAVY_WAIT.record(
        waited.as_secs_f64(),
        &[KeyValue::new("organization", organization.to_owned())],
    );
}

/// Counts one 429 of `organization` (empty before authentication) for `reason`.
pub(crate) fn throttled(organization: &str, reason: &'static str) {
    THROTTLED.add(
        1,
        &[
            KeyValue::new("organization", organization.to_owned()),
            KeyValue::new("reason", reason),
        ],
    );
}

/// Records one 429 held for `held` because its client came back before its `Retry-After`.
pub(crate) fn refusal_held(held: std::time::Duration) {
    REFUSALS_HELD.record(held.as_secs_f64(), &[]);
}

/// Counts one refused token-endpoint or revocation request; `error` is an RFC 6749 code.
pub(crate) fn oauth_failure(error: &'static str) {
    OAUTH_FAILURES.add(1, &[KeyValue::new("error", error)]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_types_come_from_the_first_naming_segment() {
        assert_eq!(resource_type("/scim/v2/Users/abc"), "Users");
        assert_eq!(resource_type("/scim/v2/Groups"), "Groups");
        assert_eq!(resource_type("/scim/v2/.search"), "search");
        assert_eq!(resource_type("/scim/v2/Schemas/urn:x"), "discovery");
        assert_eq!(resource_type("/Users"), "Users");
        assert_eq!(resource_type("/tenant-a/scim/Groups/abc"), "Groups");
        assert_eq!(resource_type("/scim/v2/nope"), "other");
    }
}
