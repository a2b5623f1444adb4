//! Schema migrations of identity-core, applied by `identity-core migrate` (a Kubernetes Job in
//! production) or at start for local use.
//!
//! Conventions every table follows: ids are UUIDs; times are BIGINT microseconds since the Unix
//! epoch (one exact, sortable representation on SQLite, PostgreSQL and MariaDB alike); every
//! tenant-owned table carries `org_id` first in its indexes so no lookup crosses organizations.

#![cfg_attr(not(test), warn(unused_crate_dependencies))]
pub use sea_orm_migration::prelude::*;

mod m20261122_000001_create_organizations;
mod m20261122_000002_create_identities;
mod m20261122_000003_create_credentials;
mod m20261201_000004_service_access;
mod m20261201_000005_connections;
mod m20261207_000006_rate_limits;
mod m20261207_000007_client_credentials;
mod m20261207_000008_token_expiry_warning;
mod m20261207_000009_verified_domains;
mod m20261207_000010_portal_links;

#[derive(Debug)]
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261122_000001_create_organizations::Migration),
            Box::new(m20261122_000002_create_identities::Migration),
            Box::new(m20261122_000003_create_credentials::Migration),
            Box::new(m20261201_000004_service_access::Migration),
            Box::new(m20261201_000005_connections::Migration),
            Box::new(m20261207_000006_rate_limits::Migration),
            Box::new(m20261207_000007_client_credentials::Migration),
            Box::new(m20261207_000008_token_expiry_warning::Migration),
            Box::new(m20261207_000009_verified_domains::Migration),
            Box::new(m20261207_000010_portal_links::Migration),
        ]
    }
}
