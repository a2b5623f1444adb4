//! What every process of the service needs around its own work, written once: telemetry
//! (logs, spans, metrics, trace propagation), the shutdown signal, a secret type that never
//! reaches a log, and the tower layer that authenticates every gRPC call of a listener.
//!
//! It holds no business rule and knows no contract message: the core, the edge and the admin
//! API link it, none of them is linked by it.

#![cfg_attr(not(test), warn(unused_crate_dependencies))]
pub mod grpc_auth;
pub mod secret;
pub mod shutdown;
pub mod telemetry;
pub mod tls;

pub use secret::Secret;
