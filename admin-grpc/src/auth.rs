//! Who calls the admin API, and its one authorization check.
//!
//! Every call is authenticated once by `identity_runtime::grpc_auth::AuthLayer` with the
//! backend's credential check as its authenticator; handlers then only check the organization
//! the request names ([`Principal::authorize`]).

use crate::backend::AdminBackend;
use crate::status;
use identity_runtime::grpc_auth::Authenticator;
use tonic::Status;
use uuid::Uuid;

/// Who is calling the admin API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// The bootstrap administrator: every organization.
    Admin,
    /// An owner credential: one organization.
    Owner {
        /// The organization the credential administers.
        organization_id: Uuid,
    },
    /// A setup-portal session (served only by [`crate::with_portal_routes`]): an owner of one
    /// organization for an hour, that can add nothing an owner alone cannot (verified domains)
    /// and whose every call is audited with its link's label.
    Portal {
        /// The organization the session's link was minted for.
        organization_id: Uuid,
        /// The link the session was opened with.
        link_id: Uuid,
        /// Whom the link was for.
        label: std::sync::Arc<str>,
    },
}

impl Principal {
    /// Checks that the caller may act on `organization_id` (a request field, validated here so
    /// every handler reports a missing or malformed id the same way) and returns it parsed.
    pub fn authorize(&self, organization_id: &str) -> Result<Uuid, Status> {
        let requested = parse_uuid("organization_id", organization_id)?;
        self.authorize_id(requested)?;
        Ok(requested)
    }

    /// Checks that the caller may act on an already-parsed organization id.
    pub fn authorize_id(&self, organization_id: Uuid) -> Result<(), Status> {
        match self {
            Self::Admin => Ok(()),
            Self::Owner {
                organization_id: own,
            }
            | Self::Portal {
                organization_id: own,
                ..
            } if *own == organization_id => Ok(()),
            Self::Owner { .. } | Self::Portal { .. } => Err(status::permission_denied(
                "the credential does not administer this organization",
            )),
        }
    }

    /// Checks that the caller is the bootstrap administrator.
    pub fn require_admin(&self) -> Result<(), Status> {
        match self {
            Self::Admin => Ok(()),
            Self::Owner { .. } | Self::Portal { .. } => Err(status::permission_denied(
                "only the bootstrap administrator may do this",
            )),
        }
    }

    /// The one organization the caller is limited to; `None` for the bootstrap administrator.
    pub fn only_organization(&self) -> Option<Uuid> {
        match self {
            Self::Admin => None,
            Self::Owner { organization_id }
            | Self::Portal {
                organization_id, ..
            } => Some(*organization_id),
        }
    }

    /// The principal the [`Authenticated`] layer stored in the request.
    pub fn of<T>(request: &tonic::Request<T>) -> Result<&Self, Status> {
        // absent only if a service was served without the layer: refuse rather than allow
        request
            .extensions()
            .get::<Self>()
            .ok_or_else(status::unauthenticated)
    }
}

/// Parses a required UUID request field.
pub fn parse_uuid(field: &str, value: &str) -> Result<Uuid, Status> {
    if value.is_empty() {
        return Err(status::invalid_argument(field, "is required"));
    }
    Uuid::try_parse(value).map_err(|_| status::invalid_argument(field, "is not a valid UUID"))
}

/// The admin API's authenticator: the backend's credential check.
#[async_trait::async_trait]
impl Authenticator for dyn AdminBackend {
    type Principal = Principal;

    async fn authenticate(&self, secret: &str) -> Result<Principal, Status> {
        AdminBackend::authenticate(self, secret).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn org(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    #[test]
    fn admin_may_act_on_any_organization() {
        let id = org(7);
        assert_eq!(Principal::Admin.authorize(&id.to_string()).unwrap(), id);
        Principal::Admin.require_admin().unwrap();
    }

    #[test]
    fn owner_may_act_only_on_their_organization() {
        let owner = Principal::Owner {
            organization_id: org(1),
        };
        assert_eq!(owner.authorize(&org(1).to_string()).unwrap(), org(1));
        // any spelling of the same UUID is the same organization
        assert_eq!(
            owner
                .authorize(&org(1).simple().to_string().to_uppercase())
                .unwrap(),
            org(1)
        );
        let denied = owner.authorize(&org(2).to_string()).unwrap_err();
        assert_eq!(denied.code(), tonic::Code::PermissionDenied);
        assert_eq!(
            identity_proto::identity::v1::ErrorReason::of(&denied),
            Some(identity_proto::identity::v1::ErrorReason::PermissionDenied)
        );
        assert_eq!(
            owner.require_admin().unwrap_err().code(),
            tonic::Code::PermissionDenied
        );
    }

    #[test]
    fn malformed_organization_ids_are_invalid_arguments_not_denials() {
        for principal in [
            Principal::Admin,
            Principal::Owner {
                organization_id: org(1),
            },
        ] {
            for bad in ["", "not-a-uuid"] {
                let err = principal.authorize(bad).unwrap_err();
                assert_eq!(err.code(), tonic::Code::InvalidArgument, "{bad:?}");
            }
        }
    }
}
