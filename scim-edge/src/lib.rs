//! scim-edge: a stateless SCIM 2.0 service provider (RFC 7643, RFC 7644) in front of
//! identity-core. Every request becomes gRPC calls to the core; the edge holds no database
//! credentials and no state beyond a short token cache.

pub mod error;
pub mod filter;
pub mod patch;
pub mod projection;
pub mod schema;
