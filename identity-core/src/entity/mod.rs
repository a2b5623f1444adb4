//! sea-orm entities: one module per table. Only the store modules use them; handlers and the
//! domain see the types in `model`, never these rows.

pub mod organization;
