//! scim-edge: a stateless SCIM 2.0 service provider (RFC 7643, RFC 7644) in front of
//! identity-core. Every request becomes gRPC calls to the core; the edge holds no database
//! credentials and no state beyond a short token cache.
//!
//! [`router`] is the whole HTTP service (tests drive it without a socket); `main.rs` only wires
//! configuration, telemetry and the listener.

#![cfg_attr(not(test), warn(unused_crate_dependencies))]

// the binary's global allocator (main.rs) is a dependency of the package, not of this library
use mimalloc as _;
mod around;
pub mod auth;
pub mod config;
pub mod core_client;
mod envelope;
pub mod error;
mod etag;
mod fair;
pub mod filter;
mod handlers;
mod html;
pub mod https;
mod list;
mod metrics;
pub mod oauth;
mod paging;
pub mod patch;
pub(crate) mod portal;
pub mod principal;
mod projection;
mod quirks;
pub mod resource;
pub mod schema;
mod server;
pub mod state;
pub mod throttle;

pub use server::{App, router};
pub use state::AppState;
