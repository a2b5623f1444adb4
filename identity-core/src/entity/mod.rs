//! sea-orm entities: one module per table. Only the store modules use them; handlers and the
//! domain see the types in `model`, never these rows.

pub mod change_event;
pub mod organization;
pub mod owner_credential;
pub mod role;
pub mod role_member;
pub mod scim_token;
pub mod user;
pub mod user_email;
pub mod user_phone;
