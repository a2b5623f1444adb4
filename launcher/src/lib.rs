//! Starting the service's binaries and knowing when they serve, written once for everything
//! that does it: `identity-local` (the whole stack on a laptop), the cross-process tests and the
//! load driver.
//!
//! A binary is found next to the running executable ([`binary`]), started with its
//! configuration in the environment (secrets never on the command line, where `ps` shows them:
//! [`CoreLaunch`], [`EdgeLaunch`]), and is up once it has printed its one JSON listening line
//! ([`Process::spawn`]) and answers its health check ([`wait_grpc_serving`],
//! [`wait_http_ok`]). Start-up never sleeps for a fixed time.

#![cfg_attr(not(test), warn(unused_crate_dependencies))]

// dependencies of the `identity-local` binary, not of this library
use {clap as _, identity_proto as _, identity_runtime as _, uuid as _};

mod binaries;
mod commands;
mod health;
mod process;

pub use binaries::binary;
pub use commands::{CoreLaunch, EdgeLaunch};
pub use health::{wait_grpc_serving, wait_http_ok};
pub use process::{Listening, Output, Process};
