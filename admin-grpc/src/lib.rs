//! admin-grpc: the admin.v1 administration API and its command-line client.
//!
//! The crate owns the API surface, not the data: [`AdminBackend`] is the small trait a store
//! implements (identity-core does, over its database), [`admin_routes`] serves
//! `admin.v1.OrganizationService`, `admin.v1.ScimService` and
//! `admin.v1.ServiceCredentialService` and `admin.v1.ConnectionService` over any backend with
//! authentication done once for every call (`identity_runtime::grpc_auth`), and [`cli`] is the `identity-admin` client.
//! Nothing here knows SQL or how secrets are stored.

pub mod auth;
pub mod backend;
pub mod cli;
pub mod connections;
pub mod service;
pub mod service_credentials;
pub mod status;

pub use auth::Principal;
pub use backend::{AdminBackend, OrganizationKey, PageRequest};
pub use connections::{ConnectionApi, ConnectionBackend};
pub use service::{OrganizationApi, ScimApi, admin_routes};
