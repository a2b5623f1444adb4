//! identity.v1.AccessTokenService: users' opaque access tokens and their introspection
//! (RFC 7662 semantics: an unusable token is `active: false`, not an error).

use crate::error::{CoreError, CoreResult};
use crate::ids::{OrgId, TokenId, UserId};
use crate::service::caller::{Access, Caller};
use crate::store::access_tokens::{self, Introspection, TokenKey};
use crate::store::users::{self, PasswordCheck};
use crate::time::to_timestamp;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use identity_proto::identity::v1 as pb;
use identity_proto::identity::v1::ErrorReason;
use identity_proto::identity::v1::access_token_service_server::AccessTokenService;
use sea_orm::DatabaseConnection;
use std::num::NonZeroU32;
use std::sync::Arc;
use tonic::{Request, Response, Status};

const MICROS_PER_SECOND: i64 = 1_000_000;
/// Lifetime of a token when the request sets none.
pub const DEFAULT_TTL_SECS: i64 = 3_600;
/// The longest lifetime a token may be issued with (30 days).
pub const MAX_TTL_SECS: i64 = 30 * 24 * 3_600;
/// The most scopes one token may carry.
pub const MAX_SCOPES: usize = 32;
/// The longest scope.
pub const MAX_SCOPE_LEN: usize = 128;

/// Password checks allowed per minute for one sign-in name of an organization (each replica).
pub const PASSWORD_CHECKS_PER_MINUTE: u32 = 10;
/// The longest user name and password a check reads.
const MAX_USER_NAME_CHARS: usize = 256;
const MAX_PASSWORD_BYTES: usize = 1024;

/// The budget of password checks per sign-in name: GCRA buckets from `governor` (as the edge's
/// rate limits), one per (organization, lowercase user name), held in a bounded cache that
/// forgets idle names, so a guesser walking many names cannot grow the core's memory.
#[derive(Clone)]
struct PasswordAttempts {
    buckets: moka::sync::Cache<(uuid::Uuid, String), Arc<DefaultDirectRateLimiter>>,
}

impl std::fmt::Debug for PasswordAttempts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordAttempts")
            .field("names", &self.buckets.entry_count())
            .finish()
    }
}

impl PasswordAttempts {
    fn new() -> Self {
        Self {
            buckets: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_idle(std::time::Duration::from_secs(600))
                .build(),
        }
    }

    /// Takes one attempt for `user_name` of `org`, or says when the next one is allowed.
    fn take(&self, org: OrgId, user_name: &str) -> CoreResult<()> {
        let per_minute = NonZeroU32::new(PASSWORD_CHECKS_PER_MINUTE).unwrap_or(NonZeroU32::MIN);
        let bucket = self
            .buckets
            .get_with((org.0, user_name.to_lowercase()), || {
                Arc::new(RateLimiter::direct(Quota::per_minute(per_minute)))
            });
        bucket
            .check()
            .map_err(|not_until| CoreError::TooManyAttempts {
                retry_after: not_until.wait_time_from(DefaultClock::default().now()),
            })
    }
}

/// The AccessTokenService handlers.
#[derive(Debug, Clone)]
pub struct AccessTokenServiceImpl {
    db: DatabaseConnection,
    password_attempts: PasswordAttempts,
}

impl AccessTokenServiceImpl {
    pub fn new(db: DatabaseConnection) -> Self {
        Self {
            db,
            password_attempts: PasswordAttempts::new(),
        }
    }
}

/// RFC 6749 §3.3 scope tokens: printable ASCII except space, `"` and `\`.
fn validate_scopes(scopes: &[String]) -> CoreResult<()> {
    if scopes.len() > MAX_SCOPES {
        return Err(CoreError::invalid("scopes", "at most 32 scopes"));
    }
    for (index, scope) in scopes.iter().enumerate() {
        let valid = !scope.is_empty()
            && scope.len() <= MAX_SCOPE_LEN
            && scope
                .bytes()
                .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b));
        if !valid {
            return Err(CoreError::invalid(
                format!("scopes[{index}]"),
                "must be 1 to 128 printable ASCII characters without space, quote or backslash",
            ));
        }
    }
    Ok(())
}

/// The requested lifetime in microseconds, defaulted and bounded.
fn ttl_micros(ttl: Option<&prost_types::Duration>) -> CoreResult<i64> {
    let Some(ttl) = ttl else {
        return Ok(DEFAULT_TTL_SECS * MICROS_PER_SECOND);
    };
    if ttl.seconds < 1 || ttl.seconds > MAX_TTL_SECS || ttl.nanos < 0 {
        return Err(CoreError::invalid(
            "ttl",
            "must be between 1 second and 30 days",
        ));
    }
    Ok(ttl.seconds * MICROS_PER_SECOND + i64::from(ttl.nanos) / 1_000)
}

fn well_formed(field: &str, token: &str) -> CoreResult<()> {
    if token.is_empty() {
        return Err(CoreError::invalid(field, "is required"));
    }
    if !access_tokens::is_well_formed(token) {
        return Err(CoreError::invalid(
            field,
            "is not an access token (expected \"idat_\" and 43 base64url characters)",
        ));
    }
    Ok(())
}

fn inactive(reason: pb::InactiveReason) -> pb::IntrospectTokenResponse {
    pb::IntrospectTokenResponse {
        active: false,
        inactive_reason: reason as i32,
        ..Default::default()
    }
}

#[tonic::async_trait]
impl AccessTokenService for AccessTokenServiceImpl {
    async fn issue_access_token(
        &self,
        request: Request<pb::IssueAccessTokenRequest>,
    ) -> Result<Response<pb::IssueAccessTokenResponse>, Status> {
        let (caller, req) = Caller::split(request)?;
        let org = caller.org(&req.organization_id, Access::Write)?;
        let user = UserId::parse("user_id", &req.user_id)?;
        validate_scopes(&req.scopes)?;
        let ttl = ttl_micros(req.ttl.as_ref())?;
        let (row, token) = access_tokens::issue(&self.db, org, user, &req.scopes, ttl).await?;
        tracing::info!(org_id = %org, user_id = %user, token_id = %row.id, "access token issued");
        Ok(Response::new(pb::IssueAccessTokenResponse {
            token,
            token_id: row.id.to_string(),
            expire_time: Some(to_timestamp(row.expires_at)),
        }))
    }

    async fn introspect_token(
        &self,
        request: Request<pb::IntrospectTokenRequest>,
    ) -> Result<Response<pb::IntrospectTokenResponse>, Status> {
        let (caller, req) = Caller::split(request)?;
        well_formed("token", &req.token)?;
        let named = if req.organization_id.is_empty() {
            None
        } else {
            Some(caller.org(&req.organization_id, Access::Read)?)
        };
        let found = match access_tokens::introspect(&self.db, &req.token).await? {
            Introspection::Inactive(reason) => return Ok(Response::new(inactive(reason))),
            Introspection::Active(found) => found,
        };
        let org = crate::ids::OrgId(found.token.org_id);
        if named.is_some_and(|named| named != org) {
            return Err(CoreError::PermissionDenied {
                reason: ErrorReason::TokenOfAnotherOrganization,
                message: "the token belongs to another organization".into(),
            }
            .into());
        }
        // a caller learns nothing about tokens of organizations it may not read
        caller.check_org(org, Access::Read)?;
        let token = found.token;
        Ok(Response::new(pb::IntrospectTokenResponse {
            active: true,
            inactive_reason: pb::InactiveReason::Unspecified as i32,
            token_id: token.id.to_string(),
            organization_id: token.org_id.to_string(),
            user_id: token.user_id.to_string(),
            user_name: found.user_name,
            scopes: token
                .scopes
                .split_ascii_whitespace()
                .map(str::to_owned)
                .collect(),
            roles: found
                .roles
                .into_iter()
                .map(|(id, display_name)| pb::TokenRole {
                    id: id.to_string(),
                    display_name,
                })
                .collect(),
            issue_time: Some(to_timestamp(token.created_at)),
            expire_time: Some(to_timestamp(token.expires_at)),
        }))
    }

    async fn revoke_access_token(
        &self,
        request: Request<pb::RevokeAccessTokenRequest>,
    ) -> Result<Response<pb::RevokeAccessTokenResponse>, Status> {
        use pb::revoke_access_token_request::Key;
        let (caller, req) = Caller::split(request)?;
        let org = caller.org(&req.organization_id, Access::Write)?;
        let key = match &req.key {
            Some(Key::TokenId(id)) => TokenKey::Id(TokenId::parse("token_id", id)?),
            Some(Key::Token(token)) => {
                well_formed("token", token)?;
                TokenKey::Secret(token)
            }
            None => return Err(CoreError::invalid("key", "token_id or token is required").into()),
        };
        access_tokens::revoke(&self.db, org, key).await?;
        Ok(Response::new(pb::RevokeAccessTokenResponse {}))
    }

    async fn revoke_user_access_tokens(
        &self,
        request: Request<pb::RevokeUserAccessTokensRequest>,
    ) -> Result<Response<pb::RevokeUserAccessTokensResponse>, Status> {
        let (caller, req) = Caller::split(request)?;
        let org = caller.org(&req.organization_id, Access::Write)?;
        let user = UserId::parse("user_id", &req.user_id)?;
        if !crate::store::users::exists(&self.db, org, user.0).await? {
            return Err(CoreError::user_not_found(user).into());
        }
        let revoked =
            access_tokens::revoke_user_tokens(&self.db, org, user, crate::time::now_micros())
                .await?;
        tracing::info!(org_id = %org, user_id = %user, revoked, "user access tokens revoked");
        Ok(Response::new(pb::RevokeUserAccessTokensResponse {
            revoked_count: revoked as i64,
        }))
    }

    async fn check_password(
        &self,
        request: Request<pb::CheckPasswordRequest>,
    ) -> Result<Response<pb::CheckPasswordResponse>, Status> {
        let (caller, req) = Caller::split(request)?;
        let org = caller.org(&req.organization_id, Access::Read)?;
        let user_name = req.user_name.trim();
        if user_name.is_empty() || user_name.chars().count() > MAX_USER_NAME_CHARS {
            return Err(
                CoreError::invalid("user_name", "is required, at most 256 characters").into(),
            );
        }
        if req.password.is_empty() || req.password.len() > MAX_PASSWORD_BYTES {
            return Err(CoreError::invalid("password", "is required, at most 1024 bytes").into());
        }
        // counted before the check, so a burst of guesses is refused without hashing
        self.password_attempts.take(org, user_name)?;
        match users::check_password(&self.db, org, user_name, req.password).await? {
            PasswordCheck::Matched { user, active: true } => {
                tracing::info!(org_id = %org, user_id = %user, "password accepted");
                Ok(Response::new(pb::CheckPasswordResponse {
                    matched: true,
                    user_id: user.to_string(),
                }))
            }
            PasswordCheck::Matched {
                user,
                active: false,
            } => {
                tracing::info!(org_id = %org, user_id = %user, "password of a deactivated user");
                Err(CoreError::FailedPrecondition {
                    reason: ErrorReason::UserInactive,
                    message: "the user is deactivated".into(),
                }
                .into())
            }
            PasswordCheck::Mismatch => {
                tracing::info!(org_id = %org, "password refused");
                Ok(Response::new(pb::CheckPasswordResponse::default()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_follow_rfc_6749() {
        validate_scopes(&["read:users".into(), "billing".into()]).unwrap();
        assert!(validate_scopes(&["two words".into()]).is_err());
        assert!(validate_scopes(&["".into()]).is_err());
        assert!(validate_scopes(&vec!["a".to_owned(); 33]).is_err());
    }

    #[test]
    fn ttls_are_defaulted_and_bounded() {
        assert_eq!(ttl_micros(None).unwrap(), 3_600_000_000);
        let ttl = |seconds| prost_types::Duration { seconds, nanos: 0 };
        assert_eq!(ttl_micros(Some(&ttl(60))).unwrap(), 60_000_000);
        assert!(ttl_micros(Some(&ttl(0))).is_err());
        assert!(ttl_micros(Some(&ttl(MAX_TTL_SECS + 1))).is_err());
    }
}
