//! `user_email`: one row per email value of a user, in the order the client sent them.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "user_email")]
pub struct Model {
    pub org_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: Uuid,
    /// Index in the user's list, from 0.
    #[sea_orm(primary_key, auto_increment = false)]
    pub position: i32,
    pub value: String,
    /// Lowercased `value`, for case-insensitive lookups and filters.
    pub value_lower: String,
    #[sea_orm(column_name = "type")]
    pub value_type: Option<String>,
    pub is_primary: bool,
    pub display: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
