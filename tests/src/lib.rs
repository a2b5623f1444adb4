//! Harness for the cross-process tests: starts the real `identity-core` and `scim-edge`
//! binaries on `127.0.0.1:0`, each over a fresh store, and hands out clients bound to them.
//!
//! It owns process lifecycle (spawn, read the listening line, wait on health, kill on drop),
//! per-stack storage (a SQLite file in a temporary directory, or a throw-away PostgreSQL
//! database when `IDENTITY_TEST_DATABASE_URL` is set) and tenant set-up through the admin API.
//! It must not reach into any crate's internals: everything goes through the binaries' public
//! surfaces (gRPC, HTTP, command line), so the tests see what a deployment sees.

#![cfg_attr(not(test), warn(unused_crate_dependencies))]
pub mod oauth;
pub mod otlp;
pub mod scim;
mod stack;
mod store;
mod tenant;

pub use stack::{AdminChannel, AdminClients, Stack, StackBuilder};
pub use store::Store;
pub use tenant::{Response, SCIM_JSON, Tenant};

/// A name no other test (or earlier run against the same PostgreSQL server) will use.
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

/// Path of a workspace binary (`identity-core`, `scim-edge`, `identity-admin`) next to the
/// running test; panics with the command to run when it has not been built.
pub fn binary_path(name: &str) -> std::path::PathBuf {
    identity_launcher::binary(None, name).unwrap_or_else(|error| panic!("{error:#}"))
}
