//! What a store write is given: whom it writes for ([`WriteContext`]) and, inside the
//! organization's write batch (`store::org_writes`), its transaction with that context
//! ([`WriteTxn`]), so whom it writes for is an argument, not ambient state.

use std::sync::Mutex;
use std::sync::atomic::AtomicI64;

use identity_proto::identity::v1::ChangeKind;
use sea_orm::DatabaseTransaction;
use uuid::Uuid;

use crate::entity::provisioning_connection;
use crate::ids::OrgId;

/// Whom a write is for: the organization written to, and the provisioning connection the call
/// acts as, if any (its changes name it and count for it, and its role writes stay inside its
/// groups to sync). An organization alone converts into a write no connection acts for: the
/// platform's own calls, the admin API, tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteContext {
    pub org: OrgId,
    pub connection: Option<Uuid>,
}

impl From<OrgId> for WriteContext {
    fn from(org: OrgId) -> Self {
        Self {
            org,
            connection: None,
        }
    }
}

/// One mutation's transaction and context: what every store write below [`write`] takes
/// instead of a bare transaction, so whom it writes for is an argument, not ambient state.
#[derive(Debug)]
pub struct WriteTxn<'t> {
    /// The transaction to write in (the mutation's savepoint in a batch of several).
    pub txn: &'t DatabaseTransaction,
    pub org: OrgId,
    /// The organization's default SCIM role, read with the lock (no mutation changes it).
    pub default_role: Option<Uuid>,
    /// The organization's verified email domains, read with the lock (see
    /// `domain::verified_domains`).
    pub verified_domains: &'t [String],
    /// The provisioning connection the mutation acts as.
    pub connection: Option<Uuid>,
    /// The activity counter this mutation already bumped for its connection
    /// (`connections::count_change`).
    pub(crate) counted: Mutex<Option<Counter>>,
    /// The batch's last handed-out sequence number (`changes::append_change`); `None` outside a
    /// batch, where each change takes the next number from the organization row.
    pub(crate) numbering: Option<&'t AtomicI64>,
}

impl<'t> WriteTxn<'t> {
    /// A write of `org` in `txn` outside any batch, which no connection acts for (releasing
    /// SCIM-managed identities when SCIM is turned off).
    pub fn alone(txn: &'t DatabaseTransaction, org: OrgId) -> Self {
        Self {
            txn,
            org,
            default_role: None,
            verified_domains: &[],
            connection: None,
            counted: Mutex::new(None),
            numbering: None,
        }
    }
}

/// An activity counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Counter {
    Updates,
    Creates,
    Deactivations,
    Deletes,
}

impl Counter {
    pub(crate) fn of(kind: ChangeKind) -> Self {
        match kind {
            ChangeKind::Created => Self::Creates,
            ChangeKind::Deleted => Self::Deletes,
            ChangeKind::Deactivated => Self::Deactivations,
            _ => Self::Updates,
        }
    }

    pub(crate) fn column(self) -> provisioning_connection::Column {
        match self {
            Self::Creates => provisioning_connection::Column::Creates,
            Self::Updates => provisioning_connection::Column::Updates,
            Self::Deactivations => provisioning_connection::Column::Deactivations,
            Self::Deletes => provisioning_connection::Column::Deletes,
        }
    }
}
