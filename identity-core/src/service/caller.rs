//! Who is calling identity.v1, and what they may touch.
//!
//! Every identity.v1 service is served behind `identity_runtime::grpc_auth::AuthLayer` with
//! [`CallerAuthenticator`]: a call without `authorization: Bearer <credential>`, or with an
//! unknown or revoked one, is answered UNAUTHENTICATED before any handler runs. Handlers then
//! check the organization the request names against the [`Caller`]'s scope (PERMISSION_DENIED
//! outside it). There are two kinds of caller:
//!
//! - the **SCIM edge**, presenting the credential configured as `edge_credential`: every
//!   organization, and the only caller that may check SCIM tokens or write users and roles as
//!   their SCIM owner;
//! - **platform services**, presenting an `idsvc_` credential issued through
//!   `admin.v1.ServiceCredentialService`: their organizations only, read or read-write.
//!
//! Over mutual TLS a caller may present a client certificate instead of a bearer credential:
//! a certificate issued to the configured edge name (`tls_edge_client_name`) is the edge, and
//! one issued to the name of exactly one live service credential is that credential, with its
//! scope and access (so revoking the credential revokes the certificate's access too).
//!
//! Successful lookups are cached for [`CREDENTIAL_CACHE_TTL`] so a hot path (introspection,
//! role checks) does not pay a second query per call; a revocation therefore takes effect
//! within that period on every replica.

use crate::error::{CoreError, CoreResult};
use crate::ids::OrgId;
use crate::store::service_credentials;
use crate::store::write_txn::WriteContext;
use identity_proto::admin::v1::ServiceAccess;
use identity_proto::identity::v1::ErrorReason;
use identity_runtime::grpc_auth::Authenticator;
use sea_orm::DatabaseConnection;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Duration;
use subtle::ConstantTimeEq;
use tonic::{Request, Status};
use uuid::Uuid;

/// How long an accepted service credential is trusted without asking the store again.
pub const CREDENTIAL_CACHE_TTL: Duration = Duration::from_secs(5);
/// The longest credential looked up: a bound on the work of an unauthenticated caller.
const MAX_CREDENTIAL_LEN: usize = 512;

/// What a call needs on the organization it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

/// The organizations a caller may act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrgScope {
    All,
    Only(Arc<[Uuid]>),
}

/// An authenticated identity.v1 caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// The SCIM edge, acting for the provisioning connection its call names, if any (set by
    /// `provisioning_service::ConnectionScope`).
    Edge { connection: Option<Uuid> },
    /// A platform service with an issued credential.
    Service {
        credential_id: Uuid,
        name: Arc<str>,
        scope: OrgScope,
        access: ServiceAccess,
    },
}

impl Caller {
    /// The caller the auth layer stored; refuses when a service was served without the layer.
    pub fn of<T>(request: &Request<T>) -> CoreResult<Self> {
        request
            .extensions()
            .get::<Self>()
            .cloned()
            .ok_or(CoreError::Unauthenticated {
                reason: ErrorReason::Unauthenticated,
            })
    }

    /// Splits a request into its caller and message.
    pub fn split<T>(request: Request<T>) -> CoreResult<(Self, T)> {
        let caller = Self::of(&request)?;
        Ok((caller, request.into_inner()))
    }

    /// Parses the request's organization id and checks the caller may act on it as `need`.
    pub fn org(&self, value: &str, need: Access) -> CoreResult<OrgId> {
        let org = OrgId::parse("organization_id", value)?;
        self.check_org(org, need)?;
        Ok(org)
    }

    /// Parses the request's organization id, checks the caller may write to it, and says whom
    /// the write is for: the organization and the connection the edge acts for.
    pub fn write_to(&self, value: &str) -> CoreResult<WriteContext> {
        let org = self.org(value, Access::Write)?;
        Ok(WriteContext {
            org,
            connection: match self {
                Self::Edge { connection } => *connection,
                Self::Service { .. } => None,
            },
        })
    }

    /// Checks the caller may act on `org` as `need`.
    pub fn check_org(&self, org: OrgId, need: Access) -> CoreResult<()> {
        let Self::Service {
            scope,
            access,
            name,
            ..
        } = self
        else {
            return Ok(());
        };
        let in_scope = match scope {
            OrgScope::All => true,
            OrgScope::Only(ids) => ids.contains(&org.0),
        };
        if !in_scope {
            return Err(CoreError::permission_denied(format!(
                "service credential {name:?} is not scoped to organization {org}"
            )));
        }
        if need == Access::Write && *access != ServiceAccess::ReadWrite {
            return Err(CoreError::permission_denied(format!(
                "service credential {name:?} has read-only access"
            )));
        }
        Ok(())
    }

    /// Checks that a write made as `writer` is allowed: writing as the SCIM owner is the edge's
    /// alone (every other owner passes).
    pub fn check_writer(
        &self,
        writer: identity_proto::identity::v1::ManagedBy,
        what: &str,
    ) -> CoreResult<()> {
        if writer == identity_proto::identity::v1::ManagedBy::Scim {
            self.require_edge(what)?;
        }
        Ok(())
    }

    /// Checks the caller is the SCIM edge (for SCIM token checks and SCIM-owned writes).
    pub fn require_edge(&self, what: &str) -> CoreResult<()> {
        match self {
            Self::Edge { .. } => Ok(()),
            Self::Service { .. } => Err(CoreError::permission_denied(format!(
                "{what} is reserved for the SCIM edge"
            ))),
        }
    }
}

/// Resolves identity.v1 bearer credentials (see the module documentation).
pub struct CallerAuthenticator {
    db: DatabaseConnection,
    /// SHA-256 of the edge's credential and, while it is being rotated, of the previous one;
    /// compared in constant time.
    edge_hashes: Vec<[u8; 32]>,
    cache: moka::future::Cache<[u8; 32], Caller>,
    /// The client certificate name that makes a caller the edge (mutual TLS).
    edge_certificate_name: Option<String>,
}

impl std::fmt::Debug for CallerAuthenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallerAuthenticator")
            .field("edge_credentials", &self.edge_hashes.len())
            .finish_non_exhaustive()
    }
}

impl CallerAuthenticator {
    /// Authenticates against `db`; `edge_credential` is the SCIM edge's secret, if configured.
    pub fn new(db: DatabaseConnection, edge_credential: Option<&str>) -> Self {
        Self {
            db,
            edge_hashes: edge_credential
                .map(|secret| Sha256::digest(secret.as_bytes()).into())
                .into_iter()
                .collect(),
            // moka: a bounded, concurrent cache with per-entry expiry, which a Mutex<HashMap>
            // would have to reimplement
            cache: moka::future::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(CREDENTIAL_CACHE_TTL)
                .build(),
            edge_certificate_name: None,
        }
    }

    /// Accepts a verified client certificate issued to `name` as the edge.
    pub fn with_edge_certificate_name(mut self, name: Option<String>) -> Self {
        self.edge_certificate_name = name;
        self
    }

    async fn resolve_certificate(&self, names: &[String]) -> CoreResult<Caller> {
        let rejected = CoreError::Unauthenticated {
            reason: ErrorReason::Unauthenticated,
        };
        if let Some(edge) = &self.edge_certificate_name
            && names.iter().any(|name| name == edge)
        {
            return Ok(Caller::Edge { connection: None });
        }
        // the cache is keyed like bearer credentials, by a digest of what was presented
        let digest: [u8; 32] = Sha256::digest(format!("certificate:{}", names.join("\n"))).into();
        if let Some(caller) = self.cache.get(&digest).await {
            return Ok(caller);
        }
        for name in names.iter().take(8) {
            let mut rows = service_credentials::find_live_by_name(&self.db, name).await?;
            match rows.len() {
                0 => continue,
                1 => {
                    let caller = Self::caller_of(rows.remove(0));
                    self.cache.insert(digest, caller.clone()).await;
                    return Ok(caller);
                }
                _ => {
                    tracing::warn!(
                        name,
                        "client certificate name matches several live service credentials; \
                         refused (give the credential a unique name)"
                    );
                    return Err(rejected);
                }
            }
        }
        tracing::info!(
            ?names,
            "client certificate names no edge and no live service credential"
        );
        Err(rejected)
    }

    fn caller_of(row: service_credentials::ServiceCredential) -> Caller {
        let scope = if row.all_organizations {
            OrgScope::All
        } else {
            OrgScope::Only(row.organization_ids.into())
        };
        Caller::Service {
            credential_id: row.id,
            name: row.name.into(),
            scope,
            access: ServiceAccess::try_from(i32::from(row.access)).unwrap_or(ServiceAccess::Read),
        }
    }

    /// Also accepts `previous` as the edge's credential: set while rotating it, so edges that
    /// still present the old one keep working until they restart with the new one.
    pub fn with_previous_edge_credential(mut self, previous: Option<&str>) -> Self {
        if let Some(previous) = previous {
            self.edge_hashes
                .push(Sha256::digest(previous.as_bytes()).into());
        }
        self
    }

    async fn resolve(&self, secret: &str) -> CoreResult<Caller> {
        let rejected = CoreError::Unauthenticated {
            reason: ErrorReason::Unauthenticated,
        };
        if secret.len() > MAX_CREDENTIAL_LEN {
            return Err(rejected);
        }
        let digest: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
        // every configured hash is compared, so timing does not tell which one matched
        let is_edge = self
            .edge_hashes
            .iter()
            .fold(subtle::Choice::from(0), |found, edge| {
                found | digest.ct_eq(edge)
            });
        if bool::from(is_edge) {
            return Ok(Caller::Edge { connection: None });
        }
        if !secret.starts_with(service_credentials::SERVICE_CREDENTIAL_PREFIX) {
            return Err(rejected);
        }
        if let Some(caller) = self.cache.get(&digest).await {
            return Ok(caller);
        }
        let Some(row) = service_credentials::find_by_secret(&self.db, secret).await? else {
            return Err(rejected);
        };
        if row.revoked_at.is_some() {
            tracing::info!(credential_id = %row.id, "revoked service credential presented");
            return Err(rejected);
        }
        let caller = Self::caller_of(row);
        self.cache.insert(digest, caller.clone()).await;
        Ok(caller)
    }
}

#[async_trait::async_trait]
impl Authenticator for CallerAuthenticator {
    type Principal = Caller;

    async fn authenticate(&self, secret: &str) -> Result<Caller, Status> {
        Ok(self.resolve(secret).await?)
    }

    async fn authenticate_certificate(&self, names: &[String]) -> Result<Caller, Status> {
        Ok(self.resolve_certificate(names).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::Code;

    fn service(scope: OrgScope, access: ServiceAccess) -> Caller {
        Caller::Service {
            credential_id: Uuid::from_u128(9),
            name: "billing".into(),
            scope,
            access,
        }
    }

    #[test]
    fn services_act_only_inside_their_scope_and_access() {
        let own = Uuid::from_u128(1);
        let reader = service(OrgScope::Only(vec![own].into()), ServiceAccess::Read);
        assert_eq!(
            reader.org(&own.to_string(), Access::Read).unwrap(),
            OrgId(own)
        );
        let write = reader.org(&own.to_string(), Access::Write).unwrap_err();
        assert_eq!(Status::from(write).code(), Code::PermissionDenied);
        let other = reader
            .org(&Uuid::from_u128(2).to_string(), Access::Read)
            .unwrap_err();
        assert_eq!(Status::from(other).code(), Code::PermissionDenied);
        let bad = reader.org("nope", Access::Read).unwrap_err();
        assert_eq!(Status::from(bad).code(), Code::InvalidArgument);

        let writer = service(OrgScope::All, ServiceAccess::ReadWrite);
        writer
            .check_org(OrgId(Uuid::from_u128(5)), Access::Write)
            .unwrap();
        assert!(writer.require_edge("checking SCIM tokens").is_err());
        let edge = Caller::Edge { connection: None };
        edge.require_edge("checking SCIM tokens").unwrap();
        edge.check_org(OrgId(Uuid::from_u128(5)), Access::Write)
            .unwrap();
    }
}
