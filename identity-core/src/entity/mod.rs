//! sea-orm entities: one module per table. Only the `store` modules use them; the services see
//! the store's own types and the protobuf messages, never these rows.

pub mod access_token;
pub mod change_event;
pub mod connection_error;
pub mod oauth_authorization_request;
pub mod oauth_client;
pub mod oauth_code;
pub mod oauth_grant;
pub mod oauth_refresh_token;
pub mod organization;
pub mod owner_credential;
pub mod portal_link;
pub mod provisioning_connection;
pub mod role;
pub mod role_member;
pub mod scim_token;
pub mod service_credential;
pub mod user;
pub mod user_email;
pub mod user_phone;
