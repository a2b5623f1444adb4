//! Organizations (tenants) with their SCIM settings and change-feed counter.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
pub(crate) enum Organization {
    Table,
    Id,
    Slug,
    DisplayName,
    ScimEnabled,
    DefaultRoleId,
    ScimUpdatedAt,
    /// Last sequence number handed out in the organization's change feed. Bumping it inside a
    /// write transaction locks the row, so the feed is gap-free and in commit order.
    ChangeSeq,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Organization::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(Organization::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Organization::Slug).string_len(63).not_null())
                    .col(
                        ColumnDef::new(Organization::DisplayName)
                            .string_len(256)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Organization::ScimEnabled)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .col(ColumnDef::new(Organization::DefaultRoleId).uuid().null())
                    .col(
                        ColumnDef::new(Organization::ScimUpdatedAt)
                            .big_integer()
                            .null(),
                    )
                    .col(
                        ColumnDef::new(Organization::ChangeSeq)
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    .col(
                        ColumnDef::new(Organization::CreatedAt)
                            .big_integer()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_organization_slug")
                    .table(Organization::Table)
                    .col(Organization::Slug)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Organization::Table).to_owned())
            .await
    }
}
