//! Setup-portal links and the browser sessions they open: one row per link. Opening a link
//! spends it (`opened_at`) and stores its session's hash in the same row, so "single use" is one
//! conditional UPDATE and a session always names the link (and label) it came from.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Organization {
    Table,
    Id,
}

#[derive(DeriveIden, Clone, Copy)]
enum PortalLink {
    Table,
    Id,
    OrgId,
    /// Whom the link was for; audit events carry it.
    Label,
    /// SHA-256 of the link's token; unique.
    LinkHash,
    CreatedAt,
    ExpiresAt,
    /// When it was opened (spent).
    OpenedAt,
    /// SHA-256 of the session's token, set when opened; unique.
    SessionHash,
    SessionExpiresAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use PortalLink as P;
        manager
            .create_table(
                Table::create()
                    .table(P::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(P::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(P::OrgId).uuid().not_null())
                    .col(ColumnDef::new(P::Label).string_len(200).not_null())
                    .col(ColumnDef::new(P::LinkHash).string_len(64).not_null())
                    .col(ColumnDef::new(P::CreatedAt).big_integer().not_null())
                    .col(ColumnDef::new(P::ExpiresAt).big_integer().not_null())
                    .col(ColumnDef::new(P::OpenedAt).big_integer().null())
                    .col(ColumnDef::new(P::SessionHash).string_len(64).null())
                    .col(ColumnDef::new(P::SessionExpiresAt).big_integer().null())
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_portal_link_org")
                            .from_tbl(P::Table)
                            .from_col(P::OrgId)
                            .to_tbl(Organization::Table)
                            .to_col(Organization::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, column) in [
            ("ux_portal_link_link_hash", P::LinkHash),
            ("ux_portal_link_session_hash", P::SessionHash),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(P::Table)
                        .col(column)
                        .unique()
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_index(
                Index::create()
                    .name("ix_portal_link_org")
                    .table(P::Table)
                    .col(P::OrgId)
                    .col(P::CreatedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(PortalLink::Table).to_owned())
            .await
    }
}
