//! The whole HTTP error surface of the edge (RFC 7644 §3.12).
//!
//! Every failure becomes a SCIM error body (`schemas`, `status` as a string, `scimType` where the
//! RFC defines one, `detail`) with `Content-Type: application/scim+json`: never HTML, never
//! empty. Errors born in the edge use the constructors below; errors from the core arrive as
//! `tonic::Status` and are mapped by `From<tonic::Status>` through their `ErrorInfo` reason.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use identity_proto::identity::v1::ErrorReason;
use serde_json::json;
use tonic::Code;
use tonic_types::StatusExt;

/// Seconds a client is asked to wait before retrying when the core is unavailable.
pub const RETRY_AFTER_SECS: u64 = 5;

/// The SCIM error schema URN.
pub const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

/// The `scimType` keywords of RFC 7644 §3.12, Table 9.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScimType {
    InvalidFilter,
    TooMany,
    Uniqueness,
    Mutability,
    InvalidSyntax,
    InvalidPath,
    NoTarget,
    InvalidValue,
    InvalidVers,
    Sensitive,
    /// RFC 9865 §3: the cursor is malformed, expired or belongs to another query.
    InvalidCursor,
}

impl ScimType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidFilter => "invalidFilter",
            Self::TooMany => "tooMany",
            Self::Uniqueness => "uniqueness",
            Self::Mutability => "mutability",
            Self::InvalidSyntax => "invalidSyntax",
            Self::InvalidPath => "invalidPath",
            Self::NoTarget => "noTarget",
            Self::InvalidValue => "invalidValue",
            Self::InvalidVers => "invalidVers",
            Self::Sensitive => "sensitive",
            Self::InvalidCursor => "invalidCursor",
        }
    }
}

/// A SCIM error response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status} {detail}")]
pub struct ScimError {
    pub status: StatusCode,
    pub scim_type: Option<ScimType>,
    /// Human-readable, lowercase, no trailing period; never contains secrets.
    pub detail: String,
    /// Seconds for a `Retry-After` header (503 and 429).
    pub retry_after: Option<u64>,
    /// A 401 for a presented token that was refused: the challenge carries RFC 6750's
    /// `error="invalid_token"`, which tells an OAuth client to refresh.
    pub invalid_token: bool,
}

impl ScimError {
    pub fn new(status: StatusCode, scim_type: Option<ScimType>, detail: impl Into<String>) -> Self {
        Self {
            status,
            scim_type,
            detail: detail.into(),
            retry_after: None,
            invalid_token: false,
        }
    }

    fn bad_request(scim_type: ScimType, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, Some(scim_type), detail)
    }

    pub fn invalid_filter(detail: impl Into<String>) -> Self {
        Self::bad_request(ScimType::InvalidFilter, detail)
    }
    pub fn invalid_syntax(detail: impl Into<String>) -> Self {
        Self::bad_request(ScimType::InvalidSyntax, detail)
    }
    pub fn invalid_path(detail: impl Into<String>) -> Self {
        Self::bad_request(ScimType::InvalidPath, detail)
    }
    pub fn invalid_value(detail: impl Into<String>) -> Self {
        Self::bad_request(ScimType::InvalidValue, detail)
    }
    pub fn no_target(detail: impl Into<String>) -> Self {
        Self::bad_request(ScimType::NoTarget, detail)
    }
    pub fn mutability(detail: impl Into<String>) -> Self {
        Self::bad_request(ScimType::Mutability, detail)
    }
    pub fn too_many(detail: impl Into<String>) -> Self {
        Self::bad_request(ScimType::TooMany, detail)
    }
    pub fn invalid_cursor(detail: impl Into<String>) -> Self {
        Self::bad_request(ScimType::InvalidCursor, detail)
    }
    pub fn uniqueness(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, Some(ScimType::Uniqueness), detail)
    }
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, None, detail)
    }
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, None, detail)
    }
    /// A 401 for a token that was presented and refused (unknown, expired, revoked).
    pub fn invalid_token(detail: impl Into<String>) -> Self {
        Self {
            invalid_token: true,
            ..Self::unauthorized(detail)
        }
    }
    pub fn precondition_failed(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::PRECONDITION_FAILED, None, detail)
    }
    pub fn not_implemented(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_IMPLEMENTED, None, detail)
    }
    pub fn payload_too_large(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, None, detail)
    }
    pub fn unavailable(detail: impl Into<String>, retry_after: u64) -> Self {
        Self {
            retry_after: Some(retry_after),
            ..Self::new(StatusCode::SERVICE_UNAVAILABLE, None, detail)
        }
    }
    /// A 429 with `Retry-After` (RFC 6585), for a client over its limits.
    pub fn too_many_requests(detail: impl Into<String>, retry_after: u64) -> Self {
        Self {
            retry_after: Some(retry_after),
            ..Self::new(StatusCode::TOO_MANY_REQUESTS, None, detail)
        }
    }
    pub fn internal() -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, None, "internal error")
    }

    /// The JSON body, also used inside Bulk responses.
    pub fn to_json(&self) -> serde_json::Value {
        let mut body = json!({
            "schemas": [ERROR_SCHEMA],
            "status": self.status.as_u16().to_string(),
            "detail": self.detail,
        });
        if let Some(scim_type) = self.scim_type {
            body["scimType"] = json!(scim_type.as_str());
        }
        body
    }
}

/// The RFC 6750 §3 challenge of a 401: bare when no token came, `invalid_token` (with the
/// detail as description) when one was refused.
fn bearer_challenge(error: &ScimError) -> HeaderValue {
    if error.invalid_token {
        let challenge = format!(
            "Bearer realm=\"scim\", error=\"invalid_token\", error_description=\"{}\"",
            error.detail.replace(['"', '\\'], "")
        );
        if let Ok(value) = HeaderValue::from_str(&challenge) {
            return value;
        }
    }
    HeaderValue::from_static("Bearer realm=\"scim\"")
}

/// The response also carries the error itself as an extension, so middleware (the
/// connection's activity record) reads it without parsing the body back.
impl IntoResponse for ScimError {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.to_json()).unwrap_or_default();
        let mut response = (self.status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/scim+json"),
        );
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, bearer_challenge(&self));
        }
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response.extensions_mut().insert(self);
        response
    }
}

pub type ScimResult<T> = Result<T, ScimError>;

// === impl From<tonic::Status> ===

/// What the core said about a failed call: its code, the `ErrorInfo` reason and the first
/// `BadRequest` field violation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoreFailure {
    pub code: Code,
    /// `None` when the status carries no reason this build knows (transport failures, a newer
    /// core's reason).
    pub reason: Option<ErrorReason>,
    pub field: Option<String>,
    pub message: String,
}

impl CoreFailure {
    pub fn of(status: &tonic::Status) -> Self {
        let details = status.get_error_details();
        Self {
            code: status.code(),
            reason: details
                .error_info()
                .and_then(|info| ErrorReason::from_wire_name(&info.reason)),
            field: details
                .bad_request()
                .and_then(|bad| bad.field_violations.first())
                .map(|violation| {
                    if violation.description.is_empty() {
                        violation.field.clone()
                    } else {
                        format!("{}: {}", violation.field, violation.description)
                    }
                }),
            message: status.message().to_owned(),
        }
    }

    fn reason_is(&self, reason: ErrorReason) -> bool {
        self.reason == Some(reason)
    }
}

/// Whether the core refused a call because the expected version was stale.
pub fn is_version_mismatch(status: &tonic::Status) -> bool {
    let failure = CoreFailure::of(status);
    failure.reason_is(ErrorReason::VersionMismatch)
        || (failure.reason.is_none() && failure.code == Code::Aborted)
}

impl ScimError {
    /// Maps a core failure where an unknown user is a reference in the request body (a group
    /// member, a manager), not the resource addressed by the URL: that is the client's bad
    /// value (400 invalidValue), not a 404 for the request.
    pub fn from_member_reference(status: tonic::Status) -> Self {
        let failure = CoreFailure::of(&status);
        if failure.reason_is(ErrorReason::UserNotFound) {
            return Self::invalid_value(format!(
                "a referenced member does not exist: {}",
                lowercase_detail(&failure.message)
            ));
        }
        Self::from(status)
    }
}

/// The table from the core's error reasons (`proto/identity/v1/error_reason.proto`) to SCIM
/// errors; the gRPC code decides only when a reason is missing (transport failures, errors of
/// middleware).
impl From<tonic::Status> for ScimError {
    fn from(status: tonic::Status) -> Self {
        let failure = CoreFailure::of(&status);
        let message = lowercase_detail(&failure.message);
        match failure.reason {
            Some(reason) => Self::from_reason(reason, failure, message),
            None => Self::from_code(failure.code, message),
        }
    }
}

impl ScimError {
    /// Every reason is named here, so a reason added to the contract does not compile until
    /// it is given its SCIM error.
    fn from_reason(reason: ErrorReason, failure: CoreFailure, message: String) -> Self {
        match reason {
            ErrorReason::UserNameTaken => Self::uniqueness("userName is already taken"),
            ErrorReason::ExternalIdTaken => Self::uniqueness("externalId is already taken"),
            ErrorReason::RoleNameTaken => Self::uniqueness("displayName is already taken"),
            ErrorReason::UserNotFound => Self::not_found("user not found"),
            ErrorReason::RoleNotFound => Self::not_found("group not found"),
            ErrorReason::OrganizationNotFound => Self::not_found("organization not found"),
            ErrorReason::TokenNotFound => Self::not_found("token not found"),
            ErrorReason::VersionMismatch => {
                Self::precondition_failed("the resource was changed: version mismatch")
            }
            ErrorReason::InvalidFilter => Self::invalid_filter(message),
            ErrorReason::InvalidPageToken => {
                Self::invalid_cursor("the cursor is invalid or belongs to another query")
            }
            ErrorReason::InvalidArgument => Self::invalid_value(match failure.field {
                Some(field) => format!("invalid value for {field}"),
                None => message,
            }),
            ErrorReason::RoleIsDefault => Self::new(
                StatusCode::CONFLICT,
                None,
                "the organization's default group cannot be deleted",
            ),
            ErrorReason::Unauthenticated
            | ErrorReason::TokenUnknown
            | ErrorReason::TokenExpired
            | ErrorReason::TokenRevoked
            | ErrorReason::ScimDisabled
            // the token's connection was deleted while the token was still cached
            | ErrorReason::ConnectionNotFound => Self::unauthorized("authentication failed"),
            ErrorReason::PermissionDenied => Self::new(StatusCode::FORBIDDEN, None, "forbidden"),
            // the connection's group list is the owner's choice: say which group and why
            ErrorReason::RoleOutsideConnection => {
                Self::new(StatusCode::FORBIDDEN, None, message)
            }
            ErrorReason::Unavailable => {
                Self::unavailable("the service is unavailable", RETRY_AFTER_SECS)
            }
            ErrorReason::Internal => Self::internal(),
            // reasons the edge's SCIM calls are never given (platform-side writes, the change
            // feed, token introspection, OAuth, organizations, the setup portal): the gRPC code
            // decides
            ErrorReason::Unspecified
            | ErrorReason::OrganizationSlugTaken
            | ErrorReason::UserManagedByScim
            | ErrorReason::RoleManagedByScim
            | ErrorReason::TooManyAttempts
            | ErrorReason::CursorExpired
            | ErrorReason::TokenOfAnotherOrganization
            | ErrorReason::UserInactive
            | ErrorReason::OauthInvalidClient
            | ErrorReason::OauthInvalidGrant
            | ErrorReason::OauthInvalidRequest
            | ErrorReason::OauthUnsupportedGrantType
            | ErrorReason::OauthInvalidScope
            | ErrorReason::OauthRedirectUriMismatch
            | ErrorReason::AuthorizationRequestExpired
            | ErrorReason::OwnerCredentialRejected
            | ErrorReason::OauthUnauthorizedClient
            | ErrorReason::PortalLinkInvalid
            | ErrorReason::PortalSessionInvalid => Self::from_code(failure.code, message),
        }
    }

    fn from_code(code: Code, message: String) -> Self {
        match code {
            Code::NotFound => Self::not_found("resource not found"),
            Code::AlreadyExists => Self::uniqueness(message),
            Code::Aborted | Code::FailedPrecondition => Self::precondition_failed(message),
            Code::InvalidArgument => Self::invalid_value(message),
            // the core never answers OUT_OF_RANGE itself: it is gRPC's message size limit, which
            // the core's shortened pages keep lists under; the client asked for too much at once
            Code::OutOfRange => Self::too_many(
                "the response would be too large; ask for fewer results (count) or fewer attributes",
            ),
            Code::Unauthenticated => Self::unauthorized("authentication failed"),
            Code::PermissionDenied => Self::new(StatusCode::FORBIDDEN, None, "forbidden"),
            Code::ResourceExhausted => {
                Self::too_many_requests("too many requests", RETRY_AFTER_SECS)
            }
            // transport failures (connection refused, reset) arrive as Unavailable / Unknown
            // without ErrorInfo (the core's own errors always carry one); a deadline is the core
            // being too slow: all are retryable
            Code::Unavailable | Code::Unknown | Code::DeadlineExceeded | Code::Cancelled => {
                Self::unavailable("the identity service is unavailable", RETRY_AFTER_SECS)
            }
            Code::Unimplemented => Self::not_implemented("not implemented"),
            _ => Self::internal(),
        }
    }
}

/// Core messages are lowercase already; this keeps the error-message style when one is not,
/// and never lets an empty detail through.
fn lowercase_detail(message: &str) -> String {
    let trimmed = message.trim().trim_end_matches('.');
    if trimmed.is_empty() {
        return "invalid request".to_owned();
    }
    let mut chars = trimmed.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic_types::{ErrorDetails, StatusExt};

    fn status(code: Code, reason: &str) -> tonic::Status {
        let details = ErrorDetails::with_error_info(reason, identity_proto::ERROR_DOMAIN, []);
        tonic::Status::with_error_details(code, "Core said no.", details)
    }

    #[test]
    fn reasons_map_to_scim_errors() {
        let cases = [
            (
                "USER_NAME_TAKEN",
                Code::AlreadyExists,
                409,
                Some(ScimType::Uniqueness),
            ),
            (
                "EXTERNAL_ID_TAKEN",
                Code::AlreadyExists,
                409,
                Some(ScimType::Uniqueness),
            ),
            (
                "ROLE_NAME_TAKEN",
                Code::AlreadyExists,
                409,
                Some(ScimType::Uniqueness),
            ),
            ("USER_NOT_FOUND", Code::NotFound, 404, None),
            ("ROLE_NOT_FOUND", Code::NotFound, 404, None),
            ("VERSION_MISMATCH", Code::Aborted, 412, None),
            (
                "INVALID_FILTER",
                Code::InvalidArgument,
                400,
                Some(ScimType::InvalidFilter),
            ),
            (
                "INVALID_PAGE_TOKEN",
                Code::InvalidArgument,
                400,
                Some(ScimType::InvalidCursor),
            ),
            (
                "INVALID_ARGUMENT",
                Code::InvalidArgument,
                400,
                Some(ScimType::InvalidValue),
            ),
            ("UNAVAILABLE", Code::Unavailable, 503, None),
            ("UNAUTHENTICATED", Code::Unauthenticated, 401, None),
            ("TOKEN_REVOKED", Code::Unauthenticated, 401, None),
        ];
        for (reason, code, http, scim_type) in cases {
            let error = ScimError::from(status(code, reason));
            assert_eq!(error.status.as_u16(), http, "{reason}");
            assert_eq!(error.scim_type, scim_type, "{reason}");
        }
        let unavailable = ScimError::from(status(Code::Unavailable, "UNAVAILABLE"));
        assert_eq!(unavailable.retry_after, Some(RETRY_AFTER_SECS));
    }

    #[test]
    fn an_oversized_message_is_too_many_not_the_clients_bad_value() {
        // what tonic answers when a message passes the size limit
        let oversized = tonic::Status::out_of_range(
            "Error, decoded message length too large: found 20000000 bytes, the limit is: 16777216 bytes",
        );
        let error = ScimError::from(oversized);
        assert_eq!(error.status.as_u16(), 400);
        assert_eq!(error.scim_type, Some(ScimType::TooMany));
    }

    #[test]
    fn transport_errors_are_503_with_retry_after() {
        let error = ScimError::from(tonic::Status::unavailable("tcp connect error"));
        assert_eq!(error.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(error.retry_after, Some(RETRY_AFTER_SECS));
        let response = error.into_response();
        assert_eq!(response.headers()[header::RETRY_AFTER], "5");
    }

    #[test]
    fn bad_request_field_is_named_in_the_detail() {
        let mut details =
            ErrorDetails::with_error_info("INVALID_ARGUMENT", identity_proto::ERROR_DOMAIN, []);
        details.add_bad_request_violation("user.emails[0].value", "not an email address");
        let status =
            tonic::Status::with_error_details(Code::InvalidArgument, "invalid argument", details);
        let error = ScimError::from(status);
        assert_eq!(error.scim_type, Some(ScimType::InvalidValue));
        assert!(
            error.detail.contains("user.emails[0].value"),
            "{}",
            error.detail
        );
    }

    #[test]
    fn unknown_member_is_a_bad_value_not_a_missing_resource() {
        let error = ScimError::from_member_reference(status(Code::NotFound, "USER_NOT_FOUND"));
        assert_eq!(error.status, StatusCode::BAD_REQUEST);
        assert_eq!(error.scim_type, Some(ScimType::InvalidValue));
        let error = ScimError::from_member_reference(status(Code::NotFound, "ROLE_NOT_FOUND"));
        assert_eq!(error.status, StatusCode::NOT_FOUND);
    }

    #[test]
    fn error_body_has_the_rfc_shape() {
        let body = ScimError::invalid_filter("bad filter").to_json();
        assert_eq!(body["schemas"], json!([ERROR_SCHEMA]));
        assert_eq!(body["status"], "400");
        assert_eq!(body["scimType"], "invalidFilter");
        assert_eq!(body["detail"], "bad filter");
    }
}
