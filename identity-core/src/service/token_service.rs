//! `identity.v1.TokenService`: resolving the bearer tokens identity providers present to the
//! SCIM edge.
//!
//! Every rejection is UNAUTHENTICATED with the same generic message; only the `ErrorInfo`
//! reason (TOKEN_UNKNOWN, TOKEN_REVOKED, TOKEN_EXPIRED, SCIM_DISABLED) tells the edge's logs
//! why. The presented token is hashed before anything else and never logged.

use crate::error::{CoreError, CoreResult};
use crate::ids::TokenId;
use crate::store::credentials::{self, TokenState};
use crate::store::organizations;
use crate::time::now_micros;
use identity_proto::identity::v1::token_service_server::TokenService;
use identity_proto::identity::v1::{
    AuthenticateScimTokenRequest, AuthenticateScimTokenResponse, ErrorReason,
    OrganizationRateLimits, PrincipalKind,
};
use sea_orm::DatabaseConnection;
use tonic::{Request, Response, Status};

/// `last_used_at` is written at most this often per token (micros): tokens are presented on
/// every SCIM request, and a write per request would serialise the edge on the store.
const LAST_USED_RESOLUTION_MICROS: i64 = 60 * 1_000_000;

/// The longest token accepted, far above the 50 characters minted here: a bound on the work an
/// unauthenticated caller can cause.
const MAX_TOKEN_LEN: usize = 512;

/// The TokenService handlers.
#[derive(Debug, Clone)]
pub struct TokenServiceImpl {
    db: DatabaseConnection,
}

impl TokenServiceImpl {
    /// Serves tokens from `db`.
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    async fn authenticate(&self, token: &str) -> CoreResult<AuthenticateScimTokenResponse> {
        if token.is_empty() {
            return Err(CoreError::invalid("token", "is required"));
        }
        let reject = |reason| CoreError::Unauthenticated { reason };
        if token.len() > MAX_TOKEN_LEN {
            return Err(reject(ErrorReason::TokenUnknown));
        }
        let Some(row) = credentials::find_scim_token_by_secret(&self.db, token).await? else {
            tracing::info!(
                reason = ErrorReason::TokenUnknown.wire_name(),
                "scim token rejected"
            );
            return Err(reject(ErrorReason::TokenUnknown));
        };
        let now = now_micros();
        let (reason, limits) = match TokenState::of(&row, now) {
            TokenState::Revoked => (Some(ErrorReason::TokenRevoked), None),
            TokenState::Expired => (Some(ErrorReason::TokenExpired), None),
            TokenState::Active => {
                let org = organizations::get(&self.db, row.org_id).await?;
                (
                    (!org.scim_enabled).then_some(ErrorReason::ScimDisabled),
                    Some(org.rate_limits),
                )
            }
        };
        if let Some(reason) = reason {
            tracing::info!(org_id = %row.org_id, token_id = %row.id, reason = reason.wire_name(), "scim token rejected");
            return Err(reject(reason));
        }
        // skip the write entirely while the stored value is recent; the UPDATE re-checks so
        // concurrent requests still write at most once a minute
        if row
            .last_used_at
            .is_none_or(|at| now - at >= LAST_USED_RESOLUTION_MICROS)
        {
            credentials::touch_scim_token(
                &self.db,
                TokenId(row.id),
                now,
                LAST_USED_RESOLUTION_MICROS,
            )
            .await?;
            if let Some(connection) = row.connection_id {
                crate::store::connections::touch(
                    &self.db,
                    connection,
                    now,
                    LAST_USED_RESOLUTION_MICROS,
                )
                .await?;
            }
        }
        Ok(AuthenticateScimTokenResponse {
            organization_id: row.org_id.to_string(),
            token_id: row.id.to_string(),
            principal_kind: PrincipalKind::ProvisioningClient as i32,
            principal_user_id: String::new(),
            expires_in_seconds: (row.expires_at - now).div_euclid(1_000_000).max(0),
            connection_id: row
                .connection_id
                .map(|id| id.to_string())
                .unwrap_or_default(),
            rate_limits: limits.map(|limits| OrganizationRateLimits {
                requests_per_second: limits.per_second,
                burst: limits.burst,
                max_concurrent_requests: limits.concurrency,
            }),
        })
    }
}

#[tonic::async_trait]
impl TokenService for TokenServiceImpl {
    async fn authenticate_scim_token(
        &self,
        request: Request<AuthenticateScimTokenRequest>,
    ) -> Result<Response<AuthenticateScimTokenResponse>, Status> {
        crate::service::caller::Caller::of(&request)?.require_edge("checking SCIM tokens")?;
        let response = self.authenticate(&request.get_ref().token).await?;
        Ok(Response::new(response))
    }
}
