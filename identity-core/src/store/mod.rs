//! Storage: every SQL statement of the core lives under this module.

pub mod changes;
pub mod credentials;
pub mod filter;
pub mod organizations;
pub mod paging;
pub mod roles;
pub mod users;
