//! admin-grpc: the admin.v1 administration API (its command-line client is the
//! `identity-admin` crate in `cli/`).
//!
//! The crate owns the API surface, not the data: [`AdminBackend`] is the small trait a store
//! implements (identity-core does, over its database), [`admin_routes`] serves
//! `admin.v1.OrganizationService`, `admin.v1.ScimService` and
//! `admin.v1.ServiceCredentialService`, `admin.v1.ConnectionService` and
//! `admin.v1.RoleService` and `admin.v1.PortalService` over any backend with
//! authentication done once for every call (`identity_runtime::grpc_auth`).
//! Nothing here knows SQL or how secrets are stored.

#![cfg_attr(not(test), warn(unused_crate_dependencies))]
pub mod auth;
pub mod backend;
pub mod connections;
mod fields;
pub mod portal;
pub mod roles;
pub mod routes;
pub mod service;
pub mod service_credentials;
pub mod status;
#[cfg(feature = "testing")]
pub mod testing;

pub use auth::Principal;
pub use backend::{
    AdminBackend, ConnectionBackend, OrganizationKey, PortalBackend, PreviousToken, RoleBackend,
    RoleSelector,
};
pub use connections::ConnectionApi;
pub use fields::PageRequest;
pub use portal::PortalApi;
pub use roles::RoleApi;
pub use routes::{admin_routes, with_portal_routes};
pub use service::{OrganizationApi, ScimApi};
