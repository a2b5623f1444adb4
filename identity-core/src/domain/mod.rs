//! The rules of the identity service, apart from storage and transport: the data of users and
//! roles with their limits and validation, and who may change a SCIM-owned user. Nothing here
//! runs SQL or knows protobuf messages beyond the contract's shared enums.

pub mod ownership;
pub mod roles;
pub mod users;
pub mod verified_domains;
