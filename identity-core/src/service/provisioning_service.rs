//! `identity.v1.ProvisioningService`: the OAuth 2.0 authorization server's decisions (the edge
//! serves its HTTP endpoints) and the record of each connection's failed requests. Only the
//! SCIM edge may call it.
//!
//! Also home of [`ConnectionScope`], the layer that makes an edge call act as the provisioning
//! connection it names in its `identity-connection-id` metadata.

use crate::error::{CoreError, CoreResult};
use crate::service::caller::{Access, Caller};
use crate::store::connections;
use crate::store::oauth::{self, AuthorizationAsk, OAuthSettings};
use identity_proto::identity::v1 as pb;
use identity_proto::identity::v1::ErrorReason;
use identity_proto::identity::v1::provisioning_service_server::ProvisioningService;
use sea_orm::DatabaseConnection;
use std::convert::Infallible;
use std::task::{Context, Poll};
use tonic::body::Body;
use tonic::server::NamedService;
use tonic::{Request, Response, Status};
use uuid::Uuid;

/// The metadata entry in which the edge names the connection a call acts for.
pub const CONNECTION_METADATA: &str = "identity-connection-id";

/// The ProvisioningService handlers.
#[derive(Debug, Clone)]
pub struct ProvisioningServiceImpl {
    db: DatabaseConnection,
    settings: OAuthSettings,
}

impl ProvisioningServiceImpl {
    pub fn new(db: DatabaseConnection, settings: OAuthSettings) -> Self {
        Self { db, settings }
    }

    fn details(&self, pending: oauth::PendingAuthorization) -> pb::AuthorizationDetails {
        let now = crate::time::now_micros();
        pb::AuthorizationDetails {
            request_id: pending.request_id.to_string(),
            organization_id: pending.organization_id.to_string(),
            organization_name: pending.organization_name,
            connection_id: pending.connection.id.to_string(),
            connection_name: pending.connection.name,
            client_name: pending.client_name,
            expires_in_seconds: (pending.expires_at - now).max(0) / 1_000_000,
            scope: pending.scope,
        }
    }

    /// The authenticated client of a token-endpoint or revocation call.
    async fn client(
        &self,
        client_id: &str,
        secret: &str,
    ) -> CoreResult<oauth::AuthenticatedClient> {
        oauth::authenticate_client(&self.db, client_id, secret).await
    }
}

/// A malformed id is an unknown request: the page says "start again" either way.
fn parse_request_id(value: &str) -> CoreResult<Uuid> {
    Uuid::try_parse(value).map_err(|_| {
        CoreError::oauth(
            ErrorReason::AuthorizationRequestExpired,
            "unknown authorization request",
        )
    })
}

fn edge_only<T>(request: Request<T>) -> Result<T, Status> {
    let (caller, message) = Caller::split(request)?;
    caller.require_edge("the OAuth authorization server")?;
    Ok(message)
}

#[tonic::async_trait]
impl ProvisioningService for ProvisioningServiceImpl {
    async fn start_authorization(
        &self,
        request: Request<pb::StartAuthorizationRequest>,
    ) -> Result<Response<pb::StartAuthorizationResponse>, Status> {
        let message = edge_only(request)?;
        let pending = oauth::start_authorization(
            &self.db,
            &self.settings,
            AuthorizationAsk {
                client_id: &message.client_id,
                redirect_uri: &message.redirect_uri,
                code_challenge: &message.code_challenge,
                code_challenge_method: &message.code_challenge_method,
                scope: &message.scope,
                state: &message.state,
            },
        )
        .await?;
        Ok(Response::new(pb::StartAuthorizationResponse {
            details: Some(self.details(pending)),
        }))
    }

    async fn describe_authorization(
        &self,
        request: Request<pb::DescribeAuthorizationRequest>,
    ) -> Result<Response<pb::DescribeAuthorizationResponse>, Status> {
        let message = edge_only(request)?;
        let request_id = parse_request_id(&message.request_id)?;
        let pending = oauth::describe_authorization(&self.db, request_id).await?;
        Ok(Response::new(pb::DescribeAuthorizationResponse {
            details: Some(self.details(pending)),
        }))
    }

    async fn complete_authorization(
        &self,
        request: Request<pb::CompleteAuthorizationRequest>,
    ) -> Result<Response<pb::CompleteAuthorizationResponse>, Status> {
        let message = edge_only(request)?;
        let request_id = parse_request_id(&message.request_id)?;
        let session = message.portal_session_token.trim();
        let approver = if session.is_empty() {
            oauth::Approver::OwnerCredential(message.owner_credential.trim())
        } else {
            oauth::Approver::PortalSession(session)
        };
        if message.approve && matches!(approver, oauth::Approver::OwnerCredential("")) {
            return Err(CoreError::oauth(
                ErrorReason::OwnerCredentialRejected,
                "an owner credential is required to approve",
            )
            .into());
        }
        let decision = oauth::complete_authorization(
            &self.db,
            &self.settings,
            request_id,
            message.approve,
            approver,
        )
        .await?;
        Ok(Response::new(pb::CompleteAuthorizationResponse {
            redirect_uri: decision.redirect_uri,
            code: decision.code.unwrap_or_default(),
            state: decision.state,
        }))
    }

    async fn exchange_token(
        &self,
        request: Request<pb::ExchangeTokenRequest>,
    ) -> Result<Response<pb::ExchangeTokenResponse>, Status> {
        let message = edge_only(request)?;
        let grant_type = message.grant_type.as_str();
        if !matches!(
            grant_type,
            "authorization_code" | "refresh_token" | "client_credentials"
        ) {
            let error = if grant_type.is_empty() {
                CoreError::oauth(ErrorReason::OauthInvalidRequest, "grant_type is required")
            } else {
                CoreError::oauth(
                    ErrorReason::OauthUnsupportedGrantType,
                    "grant_type must be authorization_code, refresh_token or client_credentials",
                )
            };
            return Err(error.into());
        }
        let client = self
            .client(&message.client_id, &message.client_secret)
            .await?;
        let tokens = match grant_type {
            "authorization_code" => {
                oauth::exchange_code(
                    &self.db,
                    &self.settings,
                    &client,
                    &message.code,
                    &message.redirect_uri,
                    &message.code_verifier,
                )
                .await?
            }
            "refresh_token" => {
                oauth::refresh(
                    &self.db,
                    &self.settings,
                    &client,
                    &message.refresh_token,
                    &message.scope,
                )
                .await?
            }
            _ => {
                oauth::client_credentials(&self.db, &self.settings, &client, &message.scope).await?
            }
        };
        Ok(Response::new(pb::ExchangeTokenResponse {
            access_token: tokens.access_token,
            expires_in_seconds: tokens.expires_in_seconds,
            refresh_token: tokens.refresh_token.unwrap_or_default(),
            scope: tokens.scope,
        }))
    }

    async fn revoke_o_auth_token(
        &self,
        request: Request<pb::RevokeOAuthTokenRequest>,
    ) -> Result<Response<pb::RevokeOAuthTokenResponse>, Status> {
        let message = edge_only(request)?;
        let client = self
            .client(&message.client_id, &message.client_secret)
            .await?;
        oauth::revoke_token(&self.db, &client, &message.token, &message.token_type_hint).await?;
        Ok(Response::new(pb::RevokeOAuthTokenResponse {}))
    }

    async fn record_provisioning_error(
        &self,
        request: Request<pb::RecordProvisioningErrorRequest>,
    ) -> Result<Response<pb::RecordProvisioningErrorResponse>, Status> {
        let (caller, message) = Caller::split(request)?;
        caller.require_edge("recording provisioning errors")?;
        let org = caller.org(&message.organization_id, Access::Write)?;
        let connection = Uuid::try_parse(&message.connection_id)
            .map_err(|_| CoreError::invalid("connection_id", "must be a UUID"))?;
        connections::record_error(
            &self.db,
            org,
            connection,
            connections::FailedRequest {
                method: message.method,
                path: message.path,
                status: message.status,
                scim_type: message.scim_type,
                detail: message.detail,
            },
        )
        .await?;
        Ok(Response::new(pb::RecordProvisioningErrorResponse {}))
    }
}

/// Wraps an identity.v1 service (inside the auth layer) so that an edge call naming a
/// connection in [`CONNECTION_METADATA`] acts as that connection: its [`Caller`] carries it,
/// and the handlers pass it to the store with each write (`Caller::write_to`). Another caller
/// naming one is refused: only the edge speaks for identity providers.
#[derive(Debug, Clone)]
pub struct ConnectionScope<S> {
    inner: S,
}

impl<S> ConnectionScope<S> {
    pub fn new(inner: S) -> Self {
        Self { inner }
    }
}

impl<S: NamedService> NamedService for ConnectionScope<S> {
    const NAME: &'static str = S::NAME;
}

impl<S> tower::Service<http::Request<Body>> for ConnectionScope<S>
where
    S: tower::Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = std::pin::Pin<
        Box<dyn Future<Output = Result<http::Response<Body>, Infallible>> + Send + 'static>,
    >;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<Body>) -> Self::Future {
        // the clone that was not polled ready stays here; the ready one serves this call
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let named = request.headers().get(CONNECTION_METADATA).map(|value| {
            value
                .to_str()
                .ok()
                .and_then(|text| Uuid::try_parse(text).ok())
        });
        let is_edge = matches!(
            request.extensions().get::<Caller>(),
            Some(Caller::Edge { .. })
        );
        Box::pin(async move {
            match named {
                None => inner.call(request).await,
                Some(Some(connection)) if is_edge => {
                    request.extensions_mut().insert(Caller::Edge {
                        connection: Some(connection),
                    });
                    inner.call(request).await
                }
                Some(_) => {
                    let status = if is_edge {
                        CoreError::invalid(CONNECTION_METADATA, "must be a UUID").into()
                    } else {
                        Status::from(CoreError::permission_denied(format!(
                            "{CONNECTION_METADATA} is reserved for the SCIM edge"
                        )))
                    };
                    Ok(status.into_http())
                }
            }
        })
    }
}
