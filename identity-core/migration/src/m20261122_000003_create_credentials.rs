//! Credentials: SCIM tokens (what identity providers present to the SCIM edge) and owner
//! credentials (what organization owners present to the admin API).
//!
//! Only the SHA-256 of a secret is stored, under a unique index: authentication is one index
//! lookup by hash, and a leaked database never yields a usable secret. The secrets carry 256
//! random bits, so a fast hash is enough (no password stretching needed).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Organization {
    Table,
    Id,
}

#[derive(DeriveIden, Clone, Copy)]
enum ScimToken {
    Table,
    Id,
    OrgId,
    Description,
    /// The secret's first characters (prefix and 4 more), to recognise it in listings.
    Hint,
    /// Lowercase hex SHA-256 of the secret.
    SecretHash,
    CreatedAt,
    ExpiresAt,
    LastUsedAt,
    RevokedAt,
    RotatedFromTokenId,
}

#[derive(DeriveIden, Clone, Copy)]
enum OwnerCredential {
    Table,
    Id,
    OrgId,
    Description,
    /// Lowercase hex SHA-256 of the secret.
    SecretHash,
    CreatedAt,
    RevokedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ScimToken::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(ScimToken::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(ScimToken::OrgId).uuid().not_null())
                    .col(
                        ColumnDef::new(ScimToken::Description)
                            .string_len(256)
                            .not_null()
                            .default(""),
                    )
                    .col(ColumnDef::new(ScimToken::Hint).string_len(16).not_null())
                    .col(
                        ColumnDef::new(ScimToken::SecretHash)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ScimToken::CreatedAt)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ScimToken::ExpiresAt)
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(ScimToken::LastUsedAt).big_integer().null())
                    .col(ColumnDef::new(ScimToken::RevokedAt).big_integer().null())
                    .col(ColumnDef::new(ScimToken::RotatedFromTokenId).uuid().null())
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_scim_token_org")
                            .from_tbl(ScimToken::Table)
                            .from_col(ScimToken::OrgId)
                            .to_tbl(Organization::Table)
                            .to_col(Organization::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_scim_token_secret_hash")
                    .table(ScimToken::Table)
                    .col(ScimToken::SecretHash)
                    .unique()
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        // listing is newest first inside one organization
        manager
            .create_index(
                Index::create()
                    .name("ix_scim_token_org_created")
                    .table(ScimToken::Table)
                    .col(ScimToken::OrgId)
                    .col(ScimToken::CreatedAt)
                    .col(ScimToken::Id)
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(OwnerCredential::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(OwnerCredential::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(OwnerCredential::OrgId).uuid().not_null())
                    .col(
                        ColumnDef::new(OwnerCredential::Description)
                            .string_len(256)
                            .not_null()
                            .default(""),
                    )
                    .col(
                        ColumnDef::new(OwnerCredential::SecretHash)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(OwnerCredential::CreatedAt)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(OwnerCredential::RevokedAt)
                            .big_integer()
                            .null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_owner_credential_org")
                            .from_tbl(OwnerCredential::Table)
                            .from_col(OwnerCredential::OrgId)
                            .to_tbl(Organization::Table)
                            .to_col(Organization::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_owner_credential_secret_hash")
                    .table(OwnerCredential::Table)
                    .col(OwnerCredential::SecretHash)
                    .unique()
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_owner_credential_org")
                    .table(OwnerCredential::Table)
                    .col(OwnerCredential::OrgId)
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(OwnerCredential::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(ScimToken::Table).to_owned())
            .await
    }
}
