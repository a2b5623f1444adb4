//! An organization's verified email domains: SCIM links the users it creates in them to the
//! platform members that already have their email. A newline-separated list on the
//! organization row (an organization has a handful), so the write batch reads it with the
//! organization's lock and a SCIM create pays no extra statement to know it.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Organization {
    Table,
    VerifiedDomains,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Organization::Table)
                    .add_column(
                        ColumnDef::new(Organization::VerifiedDomains)
                            .text()
                            .not_null()
                            .default(""),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Organization::Table)
                    .drop_column(Organization::VerifiedDomains)
                    .to_owned(),
            )
            .await
    }
}
