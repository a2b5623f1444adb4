//! When a SCIM token's owner was warned that it expires soon, so each token is warned about
//! once (a log line and an audit event when it enters the last 30 days).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum ScimToken {
    Table,
    ExpiryWarnedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(ScimToken::Table)
                    .add_column(
                        ColumnDef::new(ScimToken::ExpiryWarnedAt)
                            .big_integer()
                            .null(),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(ScimToken::Table)
                    .drop_column(ScimToken::ExpiryWarnedAt)
                    .to_owned(),
            )
            .await
    }
}
