//! The one error type of the core and its one mapping to gRPC.
//!
//! Domain and storage code return [`CoreError`]; only `From<CoreError> for tonic::Status` decides
//! the gRPC code and attaches `google.rpc.ErrorInfo` (a stable reason the edge maps to SCIM) and,
//! for bad input, `google.rpc.BadRequest` naming the field. Server-side failures are logged here,
//! exactly once, and their details never reach the caller.

use identity_proto::ERROR_DOMAIN;
use identity_proto::identity::v1::ErrorReason;
use tonic::{Code, Status};
use tonic_types::StatusExt;

/// A field that failed validation: its path in the request and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    /// Path of the field in the request, e.g. `user.emails[1].value`.
    pub field: String,
    /// Lowercase description without trailing period.
    pub description: String,
}

impl FieldViolation {
    pub fn new(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            description: description.into(),
        }
    }
}

/// Every way a core operation can fail.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CoreError {
    #[error("invalid argument: {}", .0.iter().map(|v| format!("{}: {}", v.field, v.description)).collect::<Vec<_>>().join("; "))]
    InvalidArgument(Vec<FieldViolation>),
    #[error("invalid filter: {0}")]
    InvalidFilter(String),
    #[error("invalid page token")]
    InvalidPageToken,
    #[error("{what} not found")]
    NotFound { reason: ErrorReason, what: String },
    #[error("{message}")]
    AlreadyExists {
        reason: ErrorReason,
        message: String,
    },
    #[error("version mismatch: expected {expected}, stored {actual}")]
    VersionMismatch { expected: i64, actual: i64 },
    #[error("{message}")]
    FailedPrecondition {
        reason: ErrorReason,
        message: String,
    },
    #[error("unauthenticated")]
    Unauthenticated { reason: ErrorReason },
    #[error("permission denied: {message}")]
    PermissionDenied {
        reason: ErrorReason,
        message: String,
    },
    #[error(
        "cursor {after_sequence} is older than the retained change feed (oldest accepted cursor: \
         {oldest_cursor}); resynchronise by listing users and roles, then resume from \
         latest_sequence {latest_sequence} (also in ErrorInfo metadata)"
    )]
    CursorExpired {
        after_sequence: i64,
        oldest_cursor: i64,
        latest_sequence: i64,
    },
    /// An OAuth 2.0 failure; the reason selects the gRPC code and the description is what the
    /// client's error_description says.
    #[error("{description}")]
    OAuth {
        reason: ErrorReason,
        description: String,
    },
    /// Too many attempts of one kind (password checks of one sign-in name); the caller may try
    /// again after `retry_after`.
    #[error("too many attempts; try again in {} s", .retry_after.as_secs().max(1))]
    TooManyAttempts { retry_after: std::time::Duration },
    #[error("store unavailable: {0}")]
    Unavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

pub type CoreResult<T> = Result<T, CoreError>;

impl CoreError {
    /// One invalid field.
    pub fn invalid(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self::InvalidArgument(vec![FieldViolation::new(field, description)])
    }

    pub fn user_not_found(id: impl std::fmt::Display) -> Self {
        Self::NotFound {
            reason: ErrorReason::UserNotFound,
            what: format!("user {id}"),
        }
    }

    pub fn role_not_found(id: impl std::fmt::Display) -> Self {
        Self::NotFound {
            reason: ErrorReason::RoleNotFound,
            what: format!("role {id}"),
        }
    }

    /// PERMISSION_DENIED with the generic reason.
    pub fn permission_denied(message: impl Into<String>) -> Self {
        Self::PermissionDenied {
            reason: ErrorReason::PermissionDenied,
            message: message.into(),
        }
    }

    pub fn organization_not_found(id: impl std::fmt::Display) -> Self {
        Self::NotFound {
            reason: ErrorReason::OrganizationNotFound,
            what: format!("organization {id}"),
        }
    }

    pub fn oauth(reason: ErrorReason, description: impl Into<String>) -> Self {
        Self::OAuth {
            reason,
            description: description.into(),
        }
    }

    /// The stable reason carried in `ErrorInfo`.
    pub fn reason(&self) -> ErrorReason {
        match self {
            Self::InvalidArgument(_) => ErrorReason::InvalidArgument,
            Self::InvalidFilter(_) => ErrorReason::InvalidFilter,
            Self::InvalidPageToken => ErrorReason::InvalidPageToken,
            Self::NotFound { reason, .. }
            | Self::AlreadyExists { reason, .. }
            | Self::FailedPrecondition { reason, .. }
            | Self::PermissionDenied { reason, .. }
            | Self::Unauthenticated { reason }
            | Self::OAuth { reason, .. } => *reason,
            Self::CursorExpired { .. } => ErrorReason::CursorExpired,
            Self::VersionMismatch { .. } => ErrorReason::VersionMismatch,
            Self::TooManyAttempts { .. } => ErrorReason::TooManyAttempts,
            Self::Unavailable(_) => ErrorReason::Unavailable,
            Self::Internal(_) => ErrorReason::Internal,
        }
    }
}

/// The gRPC code of an OAuth failure, as documented in ProvisioningService.
fn oauth_code(reason: ErrorReason) -> Code {
    match reason {
        ErrorReason::OauthInvalidClient => Code::Unauthenticated,
        ErrorReason::OauthInvalidGrant => Code::FailedPrecondition,
        ErrorReason::OauthUnauthorizedClient | ErrorReason::OwnerCredentialRejected => {
            Code::PermissionDenied
        }
        ErrorReason::AuthorizationRequestExpired => Code::NotFound,
        _ => Code::InvalidArgument,
    }
}

impl From<sea_orm::DbErr> for CoreError {
    fn from(err: sea_orm::DbErr) -> Self {
        use sea_orm::DbErr;
        match err {
            DbErr::ConnectionAcquire(e) => Self::Unavailable(e.to_string()),
            DbErr::Conn(e) => Self::Unavailable(e.to_string()),
            other if is_transient(&other) => Self::Unavailable(other.to_string()),
            other => Self::Internal(other.to_string()),
        }
    }
}

/// Whether a failed statement is worth retrying as it is: the database was busy or lost the
/// connection, not the request wrong. Such failures are UNAVAILABLE (the edge answers 503 with
/// `Retry-After`), never INTERNAL: the transaction rolled back, so a retry is safe.
/// - PostgreSQL: serialization failure (40001), deadlock (40P01), lock not available (55P03),
///   and connection exceptions (class 08) or an administrator's shutdown (57P01..57P03).
/// - SQLite: busy (5) and locked (6) with their extended codes (517 busy snapshot, 261 busy
///   recovery, ...): the primary code is the low byte.
/// - A connection that broke mid-statement (I/O, protocol, pool closed).
fn is_transient(err: &sea_orm::DbErr) -> bool {
    use sea_orm::sqlx::Error as Sqlx;
    let sqlx = match err {
        sea_orm::DbErr::Exec(sea_orm::RuntimeErr::SqlxError(e))
        | sea_orm::DbErr::Query(sea_orm::RuntimeErr::SqlxError(e)) => e,
        _ => return false,
    };
    match sqlx.as_ref() {
        Sqlx::Database(db) => db.code().is_some_and(|code| transient_code(&code)),
        Sqlx::Io(_) | Sqlx::Protocol(_) | Sqlx::PoolTimedOut | Sqlx::PoolClosed => true,
        _ => false,
    }
}

/// See [`is_transient`]: a database error code (PostgreSQL SQLSTATE or SQLite result code).
fn transient_code(code: &str) -> bool {
    // a SQLSTATE has five characters (08006 is one); SQLite's codes are shorter numbers
    if code.len() < 5
        && let Ok(sqlite) = code.parse::<u32>()
    {
        return matches!(sqlite & 0xff, 5 | 6);
    }
    matches!(
        code,
        "40001" | "40P01" | "55P03" | "57P01" | "57P02" | "57P03"
    ) || code.starts_with("08")
}

impl From<CoreError> for Status {
    fn from(err: CoreError) -> Self {
        let reason = err.reason();
        let mut details = reason.details();
        let (code, message) = match &err {
            CoreError::InvalidArgument(violations) => {
                for v in violations {
                    details.add_bad_request_violation(v.field.clone(), v.description.clone());
                }
                (Code::InvalidArgument, err.to_string())
            }
            CoreError::InvalidFilter(_) => {
                details.add_bad_request_violation("filter", err.to_string());
                (Code::InvalidArgument, err.to_string())
            }
            CoreError::InvalidPageToken => {
                details.add_bad_request_violation("page_token", "malformed or from another query");
                (Code::InvalidArgument, err.to_string())
            }
            CoreError::NotFound { .. } => (Code::NotFound, err.to_string()),
            CoreError::AlreadyExists { .. } => (Code::AlreadyExists, err.to_string()),
            CoreError::VersionMismatch { .. } => (Code::Aborted, err.to_string()),
            CoreError::FailedPrecondition { .. } => (Code::FailedPrecondition, err.to_string()),
            // The reason is in ErrorInfo for the caller's logs; the message stays generic.
            CoreError::Unauthenticated { .. } => (Code::Unauthenticated, "unauthenticated".into()),
            CoreError::PermissionDenied { .. } => (Code::PermissionDenied, err.to_string()),
            CoreError::CursorExpired {
                oldest_cursor,
                latest_sequence,
                ..
            } => {
                details.set_error_info(
                    reason.wire_name(),
                    ERROR_DOMAIN,
                    std::collections::HashMap::from([
                        ("oldest_cursor".to_owned(), oldest_cursor.to_string()),
                        ("latest_sequence".to_owned(), latest_sequence.to_string()),
                    ]),
                );
                (Code::FailedPrecondition, err.to_string())
            }
            CoreError::OAuth { reason, .. } => (oauth_code(*reason), err.to_string()),
            CoreError::TooManyAttempts { retry_after } => {
                details.set_retry_info(Some(*retry_after));
                (Code::ResourceExhausted, err.to_string())
            }
            CoreError::Unavailable(detail) => {
                tracing::warn!(error = %detail, "store unavailable");
                (Code::Unavailable, "store unavailable".into())
            }
            CoreError::Internal(detail) => {
                tracing::error!(error = %detail, "internal error");
                (Code::Internal, "internal error".into())
            }
        };
        Status::with_error_details(code, message, details)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_deadlocked_and_disconnected_databases_are_transient() {
        for code in [
            "40001", "40P01", "55P03", "08006", "57P01", "5", "6", "517", "261",
        ] {
            assert!(transient_code(code), "{code}");
        }
        for code in ["23505", "42P01", "1", "19", "2067", "XX000"] {
            assert!(!transient_code(code), "{code}");
        }
    }

    #[test]
    fn transient_failures_are_unavailable_not_internal() {
        let closed = sea_orm::DbErr::Exec(sea_orm::RuntimeErr::SqlxError(
            sea_orm::sqlx::Error::PoolClosed.into(),
        ));
        assert!(matches!(CoreError::from(closed), CoreError::Unavailable(_)));
        let other = sea_orm::DbErr::Custom("bug".into());
        assert!(matches!(CoreError::from(other), CoreError::Internal(_)));
    }
}
