//! identity-core: the gRPC identity service.
//!
//! Layers, outermost first: `service` (tonic handlers: request → validated domain call →
//! response, no SQL), `domain` (the data and its rules: validation, SCIM ownership), `store`
//! (sea-orm queries, one module per aggregate, persisting the domain's types), `entity` (table
//! rows), `error` (the one error type and its one mapping to gRPC). The core knows nothing of
//! SCIM JSON.

#![cfg_attr(not(test), warn(unused_crate_dependencies))]

// the binary's global allocator (main.rs) is a dependency of the package, not of this library
use mimalloc as _;
pub mod admin_backend;
pub mod admin_connections;
pub mod admin_portal;
pub mod admin_roles;
mod admin_tokens;
pub mod config;
pub mod db;
pub mod domain;
pub mod entity;
pub mod error;
pub mod ids;
pub mod metrics;
pub mod server;
pub mod service;
pub mod store;
#[cfg(feature = "testing")]
pub mod testing;
pub mod time;
