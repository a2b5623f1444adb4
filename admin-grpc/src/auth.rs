//! Who calls the admin API, and its one authorization check.
//!
//! Every call is authenticated once by `identity_runtime::grpc_auth::AuthLayer` with the
//! backend's credential check as its authenticator; handlers then only check the organization
//! the request names ([`Principal::authorize`]).

use crate::fields::parse_uuid;
use crate::status;
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
