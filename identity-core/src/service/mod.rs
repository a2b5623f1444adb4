//! tonic handlers: each converts its request into a validated store call and the result back.

pub mod access_token_service;
pub mod caller;
pub mod change_service;
pub mod convert;
pub mod portal_service;
pub mod provisioning_service;
pub mod role_service;
pub mod token_service;
pub mod user_service;
pub use user_service::identity_routes;
