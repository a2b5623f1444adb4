//! Who owns a user. While SCIM owns it (`managed_by = SCIM`), its emails, password and
//! ownership change only through provisioning (writes carrying `managed_by = SCIM`, which the
//! SCIM edge always sends); the platform's other writers are refused `FAILED_PRECONDITION` /
//! `USER_MANAGED_BY_SCIM`. The HTTP side of that error is the edge's `ScimError` table.

use crate::domain::users;
use crate::error::{CoreError, CoreResult};
use identity_proto::identity::v1::{ErrorReason, ManagedBy};

/// While an identity provider owns a user, the platform may edit its profile but not what the
/// provider is the source of truth for: emails (they identify the person to the provider),
/// the password (synchronised by the provider) and who manages it. A write says it comes from
/// provisioning by carrying `managed_by = SCIM` (the edge always does).
pub(crate) fn guard_scim_managed(
    before: &users::UserData,
    after: &users::UserData,
    writer: ManagedBy,
    sets_password: bool,
) -> CoreResult<()> {
    if before.managed_by != ManagedBy::Scim || writer == ManagedBy::Scim {
        return Ok(());
    }
    if sets_password {
        return Err(managed_by_scim("given a new password"));
    }
    if after.emails != before.emails {
        return Err(managed_by_scim("given other emails"));
    }
    if after.managed_by != ManagedBy::Unspecified && after.managed_by != ManagedBy::Scim {
        return Err(managed_by_scim("released from SCIM"));
    }
    Ok(())
}

pub(crate) fn managed_by_scim(what: &str) -> CoreError {
    CoreError::FailedPrecondition {
        reason: ErrorReason::UserManagedByScim,
        message: format!(
            "the user is provisioned by the organization's identity provider and cannot be {what} \
             outside SCIM"
        ),
    }
}

/// A SCIM-managed role is the identity provider's to rename and delete.
pub(crate) fn role_managed_by_scim(what: &str) -> CoreError {
    CoreError::FailedPrecondition {
        reason: ErrorReason::RoleManagedByScim,
        message: format!(
            "the role is provisioned by the organization's identity provider and cannot be \
             {what} here: change it in the identity provider, or turn SCIM off to hand it to \
             the platform"
        ),
    }
}
