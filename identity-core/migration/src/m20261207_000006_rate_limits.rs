//! An organization's overrides of the SCIM edge's rate limits: sustained requests per second,
//! burst and concurrent requests. 0 keeps the edge's configured default, so existing rows need
//! no backfill.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Organization {
    Table,
    RateLimitPerSecond,
    RateLimitBurst,
    RateLimitConcurrency,
}

const COLUMNS: [Organization; 3] = [
    Organization::RateLimitPerSecond,
    Organization::RateLimitBurst,
    Organization::RateLimitConcurrency,
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite takes one column per ALTER TABLE
        for column in COLUMNS {
            manager
                .alter_table(
                    Table::alter()
                        .table(Organization::Table)
                        .add_column(ColumnDef::new(column).integer().not_null().default(0))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in COLUMNS.into_iter().rev() {
            manager
                .alter_table(
                    Table::alter()
                        .table(Organization::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
