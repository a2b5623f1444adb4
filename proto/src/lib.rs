//! The gRPC contracts of the identity service, generated from `proto/` at build time.
//!
//! The module tree mirrors the protobuf packages: `identity::v1` is what the SCIM edge and the
//! platform's services call, `admin::v1` is the organization owners' administration API.
//! Hand-written code here is limited to conversions every side of the contract needs, and the
//! [`client`] helper platform services use to call identity.v1 (connect, authenticate, retry).

#![allow(unreachable_pub, missing_debug_implementations, clippy::all)]
#![cfg_attr(not(test), warn(unused_crate_dependencies))]
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
mod reason;
#[cfg(feature = "tls")]
pub mod tls;

/// Encoded `FileDescriptorSet` of every package, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/descriptor.bin"));

/// The largest gRPC message any process of the service sends or accepts, set explicitly on every
/// client and server (tonic's defaults, 4 MiB to decode and unlimited to encode, differ by side).
/// A SCIM body is at most 4 MiB by default and the edge refuses a larger limit than half of
/// this, so every request fits; list responses are cut into shorter pages before they reach it
/// (see `LIST_RESPONSE_BUDGET`).
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;

/// How many encoded bytes of items a list response holds before the core ends the page early
/// (with a page token for the rest), leaving room under [`MAX_MESSAGE_BYTES`] for the envelope.
pub const LIST_RESPONSE_BUDGET: usize = MAX_MESSAGE_BYTES / 2;

/// Applies [`MAX_MESSAGE_BYTES`] in both directions to a generated tonic client or server.
#[macro_export]
macro_rules! with_message_limits {
    ($service:expr) => {
        $service
            .max_decoding_message_size($crate::MAX_MESSAGE_BYTES)
            .max_encoding_message_size($crate::MAX_MESSAGE_BYTES)
    };
}

/// The `ErrorInfo.domain` of every error the identity and admin APIs return.
pub const ERROR_DOMAIN: &str = "identity.v1";

pub use prost_types;
