//! Newtype ids, so an organization id can never be passed where a user id is expected.

use crate::error::{CoreError, CoreResult};
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub Uuid);

        impl $name {
            /// Parses a request field, naming `field` in the error.
            pub fn parse(field: &str, value: &str) -> CoreResult<Self> {
                if value.is_empty() {
                    return Err(CoreError::invalid(field, "is required"));
                }
                Uuid::try_parse(value)
                    .map(Self)
                    .map_err(|_| CoreError::invalid(field, "is not a valid UUID"))
            }

            /// A new, time-ordered id (UUID v7 keeps index inserts local).
            pub fn generate() -> Self {
                Self(Uuid::now_v7())
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id_type!(
    /// An organization (tenant).
    OrgId
);
id_type!(
    /// A user.
    UserId
);
id_type!(
    /// A role.
    RoleId
);
id_type!(
    /// A SCIM token or an owner credential.
    TokenId
);
