//! The authorization request: started by the identity provider, described on the consent
//! page, completed by the owner's decision (a code, or a denial).

use super::*;
use crate::entity::{oauth_authorization_request, oauth_client, oauth_code};
use crate::error::{CoreError, CoreResult};
use crate::ids::OrgId;
use crate::store::ByKey;
use crate::store::credentials::{self};
use crate::store::organizations;
use identity_proto::identity::v1::ErrorReason;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set,
    TransactionTrait,
};
use uuid::Uuid;

/// An authorization request as the consent page shows it.
#[derive(Debug, Clone)]
pub struct PendingAuthorization {
    pub request_id: Uuid,
    pub organization_id: OrgId,
    pub organization_name: String,
    pub connection: crate::store::connections::Connection,
    pub client_name: String,
    pub scope: String,
    /// Microseconds since the Unix epoch.
    pub expires_at: i64,
}

impl PendingAuthorization {
    fn new(
        request: oauth_authorization_request::Model,
        client: oauth_client::Model,
        connection: crate::store::connections::Connection,
        organization_name: String,
    ) -> Self {
        Self {
            request_id: request.id,
            organization_id: OrgId(client.org_id),
            organization_name,
            connection,
            client_name: client.name,
            scope: request.scope,
            expires_at: request.expires_at,
        }
    }
}

/// What an authorization request asks for (RFC 6749 §4.1.1, RFC 7636 §4.3).
#[derive(Debug, Clone)]
pub struct AuthorizationAsk<'a> {
    pub client_id: &'a str,
    pub redirect_uri: &'a str,
    pub code_challenge: &'a str,
    pub code_challenge_method: &'a str,
    pub scope: &'a str,
    pub state: &'a str,
}

pub(super) fn is_pkce_text(value: &str, min: usize, max: usize) -> bool {
    (min..=max).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// Validates an authorization request and stores it as pending.
pub async fn start_authorization(
    db: &DatabaseConnection,
    settings: &OAuthSettings,
    ask: AuthorizationAsk<'_>,
) -> CoreResult<PendingAuthorization> {
    let (client, connection) =
        live_client(db, oauth_client::Column::ClientId.eq(ask.client_id).into())
            .await?
            .ok_or_else(|| oauth(ErrorReason::OauthInvalidClient, "unknown client_id"))?;
    if !redirect_uris(&client)
        .iter()
        .any(|uri| uri == ask.redirect_uri)
    {
        return Err(oauth(
            ErrorReason::OauthRedirectUriMismatch,
            "redirect_uri is not registered for this client",
        ));
    }
    if ask.code_challenge_method != "S256" {
        return Err(oauth(
            ErrorReason::OauthInvalidRequest,
            "code_challenge_method must be S256",
        ));
    }
    // BASE64URL of a SHA-256 digest is exactly 43 characters
    if ask.code_challenge.len() != 43 || !is_pkce_text(ask.code_challenge, 43, 43) {
        return Err(oauth(
            ErrorReason::OauthInvalidRequest,
            "code_challenge must be the S256 challenge (43 base64url characters)",
        ));
    }
    if ask.state.len() > MAX_STATE_LEN {
        return Err(oauth(ErrorReason::OauthInvalidRequest, "state is too long"));
    }
    let scope = granted_scope(ask.scope)?;
    let organization = organizations::get(db, OrgId(client.org_id)).await?;
    let request = oauth_authorization_request::ActiveModel {
        id: Set(Uuid::new_v4()),
        client_pk: Set(client.id),
        redirect_uri: Set(ask.redirect_uri.to_owned()),
        state: Set(ask.state.to_owned()),
        code_challenge: Set(ask.code_challenge.to_owned()),
        scope: Set(scope.to_owned()),
        expires_at: Set(crate::time::now_micros() + settings.request_ttl),
        failed_attempts: Set(0),
    }
    .insert(db)
    .await?;
    Ok(PendingAuthorization::new(
        request,
        client,
        connection,
        organization.display_name,
    ))
}

/// A pending request that has not expired, with what the consent page shows.
pub async fn describe_authorization(
    db: &DatabaseConnection,
    request_id: Uuid,
) -> CoreResult<PendingAuthorization> {
    let request = oauth_authorization_request::Entity::find_by_id(request_id)
        .filter(oauth_authorization_request::Column::ExpiresAt.gt(crate::time::now_micros()))
        .by_key(db)
        .await?
        .ok_or_else(request_expired)?;
    let (client, connection) =
        live_client(db, oauth_client::Column::Id.eq(request.client_pk).into())
            .await?
            .ok_or_else(request_expired)?;
    let organization = organizations::get(db, OrgId(client.org_id)).await?;
    Ok(PendingAuthorization::new(
        request,
        client,
        connection,
        organization.display_name,
    ))
}

pub(super) fn request_expired() -> CoreError {
    oauth(
        ErrorReason::AuthorizationRequestExpired,
        "the authorization request expired or was already answered; start again from the identity provider",
    )
}

/// Where the browser goes after the owner's decision.
#[derive(Debug, Clone)]
pub struct Decision {
    pub redirect_uri: String,
    pub code: Option<String>,
    pub state: String,
}

/// Who approves a pending request.
#[derive(Debug, Clone, Copy)]
pub enum Approver<'a> {
    /// An owner credential's secret (idown_…).
    OwnerCredential(&'a str),
    /// A setup-portal session's token (idpses_…).
    PortalSession(&'a str),
}

impl Approver<'_> {
    /// The organization the approver administers, if the credential or session is live.
    async fn organization<C: sea_orm::ConnectionTrait>(
        self,
        conn: &C,
        now: i64,
    ) -> CoreResult<Option<Uuid>> {
        Ok(match self {
            Self::OwnerCredential(secret) => {
                credentials::find_active_owner_credential(conn, secret)
                    .await?
                    .map(|owner| owner.org_id.0)
            }
            Self::PortalSession(token) => crate::store::portal::find_session(conn, token, now)
                .await?
                .map(|session| session.org_id.0),
        })
    }
}

/// Completes a pending request: a code when approved by an owner (or a portal session) of the
/// client's organization.
pub async fn complete_authorization(
    db: &DatabaseConnection,
    settings: &OAuthSettings,
    request_id: Uuid,
    approve: bool,
    approver: Approver<'_>,
) -> CoreResult<Decision> {
    let now = crate::time::now_micros();
    let txn = db.begin().await?;
    // claim the request first (a write, so concurrent answers serialise on it)
    let claimed = oauth_authorization_request::Entity::update_many()
        .col_expr(
            oauth_authorization_request::Column::FailedAttempts,
            Expr::col(oauth_authorization_request::Column::FailedAttempts),
        )
        .filter(oauth_authorization_request::Column::Id.eq(request_id))
        .filter(oauth_authorization_request::Column::ExpiresAt.gt(now))
        .exec(&txn)
        .await?;
    if claimed.rows_affected == 0 {
        return Err(request_expired());
    }
    let request = oauth_authorization_request::Entity::find_by_id(request_id)
        .by_key(&txn)
        .await?
        .ok_or_else(request_expired)?;
    let Some((client, _)) =
        live_client(&txn, oauth_client::Column::Id.eq(request.client_pk).into()).await?
    else {
        return Err(request_expired());
    };
    let decision = Decision {
        redirect_uri: request.redirect_uri.clone(),
        code: None,
        state: request.state.clone(),
    };
    if !approve {
        oauth_authorization_request::Entity::delete_by_id(request_id)
            .exec(&txn)
            .await?;
        txn.commit().await?;
        return Ok(decision);
    }
    let approver_org = approver.organization(&txn, now).await?;
    if approver_org != Some(client.org_id) {
        if request.failed_attempts + 1 >= MAX_CONSENT_ATTEMPTS {
            oauth_authorization_request::Entity::delete_by_id(request_id)
                .exec(&txn)
                .await?;
        } else {
            oauth_authorization_request::Entity::update_many()
                .col_expr(
                    oauth_authorization_request::Column::FailedAttempts,
                    Expr::val(request.failed_attempts + 1),
                )
                .filter(oauth_authorization_request::Column::Id.eq(request_id))
                .exec(&txn)
                .await?;
        }
        txn.commit().await?;
        tracing::info!(target: "audit", client_id = %client.client_id, action = "oauth.consent_rejected", "owner credential rejected on the consent page");
        return Err(oauth(
            ErrorReason::OwnerCredentialRejected,
            "that is not an owner credential of this organization",
        ));
    }
    let code = credentials::generate_secret(CODE_PREFIX);
    oauth_code::ActiveModel {
        code_hash: Set(credentials::secret_hash(&code)),
        client_pk: Set(client.id),
        redirect_uri: Set(request.redirect_uri.clone()),
        code_challenge: Set(request.code_challenge.clone()),
        scope: Set(request.scope.clone()),
        expires_at: Set(now + settings.code_ttl),
        used_at: Set(None),
        grant_id: Set(None),
    }
    .insert(&txn)
    .await?;
    oauth_authorization_request::Entity::delete_by_id(request_id)
        .exec(&txn)
        .await?;
    txn.commit().await?;
    let by = match approver {
        Approver::OwnerCredential(_) => "owner_credential",
        Approver::PortalSession(_) => "portal_session",
    };
    tracing::info!(target: "audit", org_id = %client.org_id, client_id = %client.client_id, connection_id = %client.connection_id, approved_by = by, action = "oauth.consent_approved", "owner approved an OAuth client");
    Ok(Decision {
        code: Some(code),
        ..decision
    })
}
