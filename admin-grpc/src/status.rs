//! Building and reading the rich gRPC errors of the admin API.
//!
//! Errors born in this crate (bad credential, wrong organization, malformed field) carry the
//! same `google.rpc.ErrorInfo` reasons and `BadRequest` field violations as the core's, so a
//! client matches on one set of reason strings whichever side rejected the call.

use identity_proto::identity::v1::ErrorReason;
use tonic::{Code, Status};
use tonic_types::StatusExt;

/// A status with `ErrorInfo { reason, domain: "identity.v1" }`.
pub fn with_reason(code: Code, reason: ErrorReason, message: impl Into<String>) -> Status {
    reason.status(code, message)
}

/// INVALID_ARGUMENT naming the offending request field.
pub fn invalid_argument(field: &str, description: &str) -> Status {
    let mut details = ErrorReason::InvalidArgument.details();
    details.add_bad_request_violation(field, description);
    Status::with_error_details(
        Code::InvalidArgument,
        format!("invalid argument: {field}: {description}"),
        details,
    )
}

pub use identity_runtime::grpc_auth::unauthenticated;

/// PERMISSION_DENIED with `message`.
pub fn permission_denied(message: impl Into<String>) -> Status {
    with_reason(
        Code::PermissionDenied,
        ErrorReason::PermissionDenied,
        message,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_round_trip_through_the_status() {
        let status = permission_denied("not your organization");
        assert_eq!(status.code(), Code::PermissionDenied);
        assert_eq!(
            ErrorReason::of(&status),
            Some(ErrorReason::PermissionDenied)
        );
        let status = invalid_argument("slug", "is required");
        assert_eq!(ErrorReason::of(&status), Some(ErrorReason::InvalidArgument));
        let violations = status.get_details_bad_request().unwrap().field_violations;
        assert_eq!(violations[0].field, "slug");
        assert_eq!(ErrorReason::of(&Status::internal("x")), None);
    }
}
