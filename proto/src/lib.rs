//! The gRPC contracts of the identity service, generated from `proto/` at build time.
//!
//! The module tree mirrors the protobuf packages: `identity::v1` is what the SCIM edge and the
//! platform's services call, `admin::v1` is the organization owners' administration API.
//! Hand-written code here is limited to conversions every side of the contract needs, and the
//! [`client`] helper platform services use to call identity.v1 (connect, authenticate, retry).

#![allow(unreachable_pub, missing_debug_implementations, clippy::all)]

pub mod identity {
    pub mod v1 {
        tonic::include_proto!("identity.v1");
    }
}

pub mod admin {
    pub mod v1 {
        tonic::include_proto!("admin.v1");
    }
}

#[cfg(feature = "client")]
pub mod client;
pub mod json;

/// Encoded `FileDescriptorSet` of every package, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/descriptor.bin"));

/// The `ErrorInfo.domain` of every error the identity and admin APIs return.
pub const ERROR_DOMAIN: &str = "identity.v1";

pub use prost_types;
