//! The SCIM-token half of the admin backend: issuing, listing, revoking and rotating an
//! organization's SCIM tokens, with their validity rules (a year by default, two at most; a day
//! of grace after a rotation by default, thirty at most).

use std::time::Duration;

use admin_grpc::{PageRequest, PreviousToken};
use identity_proto::admin::v1 as pb;
use uuid::Uuid;

use crate::admin_backend::{CoreAdminBackend, MAX_DESCRIPTION_CHARS, validate_text};
use crate::error::{CoreError, CoreResult};
use crate::ids::{OrgId, TokenId};
use crate::store::credentials::ScimToken;
use crate::store::credentials::{self, NewScimToken, TokenCursor, TokenState};
use crate::store::org_row;
use crate::time::{now_micros, to_timestamp};

const MICROS_PER_SECOND: i64 = 1_000_000;
const MICROS_PER_HOUR: i64 = 3_600 * MICROS_PER_SECOND;
const MICROS_PER_DAY: i64 = 24 * MICROS_PER_HOUR;

/// Validity of a SCIM token when the request sets none.
pub(crate) const DEFAULT_TOKEN_VALIDITY_DAYS: i64 = 365;
/// The longest validity a SCIM token may be issued with.
pub(crate) const MAX_TOKEN_VALIDITY_DAYS: i64 = 730;
/// How long a rotated token stays valid when the request sets no grace period.
pub(crate) const DEFAULT_ROTATION_GRACE_HOURS: i64 = 24;
/// The longest grace period of a rotation.
pub(crate) const MAX_ROTATION_GRACE_DAYS: i64 = 30;

/// A request duration in micros, bounded.
fn duration_micros(
    field: &str,
    value: Option<Duration>,
    default: i64,
    max: i64,
    allow_zero: bool,
) -> CoreResult<i64> {
    let Some(value) = value else {
        return Ok(default);
    };
    let micros = i64::try_from(value.as_micros()).unwrap_or(i64::MAX);
    if micros == 0 && !allow_zero {
        return Err(CoreError::invalid(field, "must be positive"));
    }
    if micros > max {
        return Err(CoreError::invalid(
            field,
            format!("must be at most {} days", max / MICROS_PER_DAY),
        ));
    }
    Ok(micros)
}

/// A new token's validity in micros: a year by default, two at most.
fn token_validity(validity: Option<Duration>) -> CoreResult<i64> {
    duration_micros(
        "validity",
        validity,
        DEFAULT_TOKEN_VALIDITY_DAYS * MICROS_PER_DAY,
        MAX_TOKEN_VALIDITY_DAYS * MICROS_PER_DAY,
        false,
    )
}

/// A token's metadata at `now`. A token replaced by a rotation whose grace period is over is
/// reported REVOKED (the contract's wording), not EXPIRED.
fn token_pb(row: &ScimToken, now: i64, rotated_away: bool) -> pb::ScimToken {
    let status = match TokenState::of(row, now) {
        TokenState::Active => pb::ScimTokenStatus::Active,
        TokenState::Expired if rotated_away => pb::ScimTokenStatus::Revoked,
        TokenState::Expired => pb::ScimTokenStatus::Expired,
        TokenState::Revoked => pb::ScimTokenStatus::Revoked,
    };
    pb::ScimToken {
        id: row.id.to_string(),
        organization_id: row.org_id.to_string(),
        description: row.description.clone(),
        hint: row.hint.clone(),
        create_time: Some(to_timestamp(row.created_at)),
        expire_time: Some(to_timestamp(row.expires_at)),
        last_used_time: row.last_used_at.map(to_timestamp),
        revoke_time: row.revoked_at.map(to_timestamp),
        status: status as i32,
        expires_soon: credentials::expires_soon(row, now),
        rotated_from_token_id: row
            .rotated_from_token_id
            .map(|id| id.to_string())
            .unwrap_or_default(),
        connection_id: row
            .connection_id
            .map(|id| id.to_string())
            .unwrap_or_default(),
    }
}

impl CoreAdminBackend {
    pub(crate) async fn token_pb_now(
        &self,
        row: &ScimToken,
        now: i64,
    ) -> CoreResult<pb::ScimToken> {
        let rotated = credentials::rotated_away(&self.db, row.org_id, &[row.id]).await?;
        Ok(token_pb(row, now, rotated.contains(&row.id)))
    }

    pub(crate) async fn issue_scim_token_core(
        &self,
        org: OrgId,
        description: &str,
        validity: Option<Duration>,
        connection: Option<Uuid>,
    ) -> CoreResult<pb::IssueScimTokenResponse> {
        validate_text("description", description, MAX_DESCRIPTION_CHARS, false)?;
        let validity = token_validity(validity)?;
        org_row::ensure_org(&self.db, org).await?;
        if let Some(connection) = connection {
            crate::store::connections::get(&self.db, org, connection).await?;
        }
        let now = now_micros();
        let (row, secret) = credentials::insert_scim_token(
            &self.db,
            NewScimToken {
                org_id: org,
                description,
                created_at: now,
                expires_at: now + validity,
                rotated_from: None,
                connection_id: connection,
                grant_id: None,
            },
        )
        .await?;
        tracing::info!(target: "audit", org_id = %org, token_id = %row.id, hint = %row.hint, expires_at = row.expires_at, action = "scim_token.issue", "scim token issued");
        Ok(pb::IssueScimTokenResponse {
            token: Some(token_pb(&row, now, false)),
            secret,
        })
    }

    pub(crate) async fn list_scim_tokens_core(
        &self,
        org: OrgId,
        page: &PageRequest,
    ) -> CoreResult<pb::ListScimTokensResponse> {
        org_row::ensure_org(&self.db, org).await?;
        let after = if page.page_token.is_empty() {
            None
        } else {
            Some(TokenCursor::decode(&page.page_token)?)
        };
        let (rows, next) =
            credentials::list_scim_tokens(&self.db, org, after, u64::from(page.page_size)).await?;
        let ids: Vec<Uuid> = rows.iter().map(|row| row.id).collect();
        let rotated = credentials::rotated_away(&self.db, org, &ids).await?;
        let now = now_micros();
        Ok(pb::ListScimTokensResponse {
            tokens: rows
                .iter()
                .map(|row| token_pb(row, now, rotated.contains(&row.id)))
                .collect(),
            next_page_token: next.map(|c| c.encode()).unwrap_or_default(),
        })
    }

    pub(crate) async fn revoke_scim_token_core(
        &self,
        org: OrgId,
        token: TokenId,
    ) -> CoreResult<pb::ScimToken> {
        let now = now_micros();
        let row = credentials::revoke_scim_token(&self.db, org, token, now).await?;
        tracing::info!(target: "audit", org_id = %org, token_id = %token, action = "scim_token.revoke", "scim token revoked");
        self.token_pb_now(&row, now_micros()).await
    }

    pub(crate) async fn rotate_scim_token_core(
        &self,
        org: OrgId,
        token: TokenId,
        previous: PreviousToken,
        validity: Option<Duration>,
    ) -> CoreResult<pb::RotateScimTokenResponse> {
        let grace = match previous {
            PreviousToken::Grace(grace) => Some(duration_micros(
                "grace_period",
                grace,
                DEFAULT_ROTATION_GRACE_HOURS * MICROS_PER_HOUR,
                MAX_ROTATION_GRACE_DAYS * MICROS_PER_DAY,
                true,
            )?),
            PreviousToken::KeepsWorking => None,
        };
        let validity = token_validity(validity)?;
        let now = now_micros();
        let (new, secret, previous) =
            credentials::rotate_scim_token(&self.db, org, token, validity, grace, now).await?;
        tracing::info!(
            target: "audit",
            org_id = %org,
            token_id = %new.id,
            previous_token_id = %token,
            previous_expires_at = previous.expires_at,
            action = "scim_token.rotate",
            "scim token rotated"
        );
        Ok(pb::RotateScimTokenResponse {
            token: Some(token_pb(&new, now, false)),
            secret,
            previous_token: Some(token_pb(&previous, now, true)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_defaulted_and_bounded() {
        let day = Duration::from_secs(86_400);
        let max = MAX_TOKEN_VALIDITY_DAYS * MICROS_PER_DAY;
        assert_eq!(duration_micros("v", None, 7, max, false).unwrap(), 7);
        assert_eq!(
            duration_micros("v", Some(day * 730), 7, max, false).unwrap(),
            max
        );
        assert!(duration_micros("v", Some(day * 731), 7, max, false).is_err());
        assert!(duration_micros("v", Some(Duration::ZERO), 7, max, false).is_err());
        assert_eq!(
            duration_micros("g", Some(Duration::ZERO), 7, max, true).unwrap(),
            0
        );
    }
}
