//! `identity.v1.ErrorReason` on the wire: every error of the identity and admin APIs carries a
//! `google.rpc.ErrorInfo` whose `reason` is the enum value's name without its `ERROR_REASON_`
//! prefix (`USER_NOT_FOUND`), in the domain [`crate::ERROR_DOMAIN`]. Both ends convert here, so
//! callers match the generated enum (exhaustively, where a new reason must be mapped before it
//! compiles) instead of string literals.

use crate::identity::v1::ErrorReason;
use tonic_types::{ErrorDetails, StatusExt};

const PREFIX: &str = "ERROR_REASON_";

impl ErrorReason {
    /// The `ErrorInfo.reason` string of this reason.
    pub fn wire_name(self) -> &'static str {
        self.as_str_name()
            .strip_prefix(PREFIX)
            .unwrap_or("UNSPECIFIED")
    }

    /// The reason an `ErrorInfo.reason` string names; `None` for a name this build does not
    /// know (a newer server's reason), which callers treat like a missing reason.
    pub fn from_wire_name(name: &str) -> Option<Self> {
        Self::from_str_name(&format!("{PREFIX}{name}"))
            .filter(|reason| *reason != Self::Unspecified)
    }

    /// Error details holding this reason's `ErrorInfo` (domain [`crate::ERROR_DOMAIN`]), for a
    /// caller to add field violations or metadata to.
    pub fn details(self) -> ErrorDetails {
        let mut details = ErrorDetails::new();
        details.set_error_info(
            self.wire_name(),
            crate::ERROR_DOMAIN,
            std::collections::HashMap::<String, String>::new(),
        );
        details
    }

    /// A status with `code`, `message` and this reason's `ErrorInfo`.
    pub fn status(self, code: tonic::Code, message: impl Into<String>) -> tonic::Status {
        tonic::Status::with_error_details(code, message, self.details())
    }

    /// The reason `status` carries in its `ErrorInfo`, if it carries a known one.
    pub fn of(status: &tonic::Status) -> Option<Self> {
        status
            .get_details_error_info()
            .and_then(|info| Self::from_wire_name(&info.reason))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_round_trips_through_its_wire_name() {
        for value in 1.. {
            let Ok(reason) = ErrorReason::try_from(value) else {
                break;
            };
            assert!(!reason.wire_name().starts_with(PREFIX));
            assert_eq!(
                ErrorReason::from_wire_name(reason.wire_name()),
                Some(reason)
            );
        }
        assert_eq!(ErrorReason::UserNotFound.wire_name(), "USER_NOT_FOUND");
        assert_eq!(ErrorReason::from_wire_name("UNSPECIFIED"), None);
        assert_eq!(
            ErrorReason::from_wire_name("A_REASON_FROM_THE_FUTURE"),
            None
        );
    }

    #[test]
    fn the_reason_is_read_from_the_status_details() {
        let status = ErrorReason::RoleNotFound.status(tonic::Code::NotFound, "gone");
        assert_eq!(status.code(), tonic::Code::NotFound);
        let info = status.get_details_error_info().unwrap();
        assert_eq!(
            (info.reason.as_str(), info.domain.as_str()),
            ("ROLE_NOT_FOUND", crate::ERROR_DOMAIN)
        );
        assert_eq!(ErrorReason::of(&status), Some(ErrorReason::RoleNotFound));
        assert_eq!(ErrorReason::of(&tonic::Status::not_found("bare")), None);
    }
}
