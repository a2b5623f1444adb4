//! What the platform's internal services need: their own credentials for identity.v1, opaque
//! access tokens for users, and an index that lets change-feed retention prune by age.
//!
//! `access_token` deliberately has no foreign key to the user: a deleted user's tokens stay (as
//! revoked) until they expire and are pruned, so introspection says "revoked", not "unknown".

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Organization {
    Table,
    Id,
}

#[derive(DeriveIden, Clone, Copy)]
enum ChangeEvent {
    Table,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum ServiceCredential {
    Table,
    Id,
    Name,
    /// The secret's first characters (prefix and 4 more).
    Hint,
    /// Lowercase hex SHA-256 of the secret.
    SecretHash,
    AllOrganizations,
    /// JSON array of organization id strings (empty when all_organizations).
    OrganizationIds,
    /// admin.v1.ServiceAccess value.
    Access,
    CreatedAt,
    RevokedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum AccessToken {
    Table,
    Id,
    OrgId,
    UserId,
    /// Lowercase hex SHA-256 of the secret.
    SecretHash,
    /// Space-separated scopes (RFC 6749 §3.3).
    Scopes,
    CreatedAt,
    ExpiresAt,
    RevokedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ServiceCredential::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(ServiceCredential::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(ServiceCredential::Name)
                            .string_len(100)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ServiceCredential::Hint)
                            .string_len(16)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ServiceCredential::SecretHash)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ServiceCredential::AllOrganizations)
                            .boolean()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ServiceCredential::OrganizationIds)
                            .text()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ServiceCredential::Access)
                            .small_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ServiceCredential::CreatedAt)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ServiceCredential::RevokedAt)
                            .big_integer()
                            .null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_service_credential_secret_hash")
                    .table(ServiceCredential::Table)
                    .col(ServiceCredential::SecretHash)
                    .unique()
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(AccessToken::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(AccessToken::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(AccessToken::OrgId).uuid().not_null())
                    .col(ColumnDef::new(AccessToken::UserId).uuid().not_null())
                    .col(
                        ColumnDef::new(AccessToken::SecretHash)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(AccessToken::Scopes)
                            .text()
                            .not_null()
                            .default(""),
                    )
                    .col(
                        ColumnDef::new(AccessToken::CreatedAt)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(AccessToken::ExpiresAt)
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(AccessToken::RevokedAt).big_integer().null())
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_access_token_org")
                            .from_tbl(AccessToken::Table)
                            .from_col(AccessToken::OrgId)
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
                    .name("ux_access_token_secret_hash")
                    .table(AccessToken::Table)
                    .col(AccessToken::SecretHash)
                    .unique()
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        // revoking a user's tokens touches only that user's rows
        manager
            .create_index(
                Index::create()
                    .name("ix_access_token_org_user")
                    .table(AccessToken::Table)
                    .col(AccessToken::OrgId)
                    .col(AccessToken::UserId)
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        // pruning of expired tokens
        manager
            .create_index(
                Index::create()
                    .name("ix_access_token_expires")
                    .table(AccessToken::Table)
                    .col(AccessToken::ExpiresAt)
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        // retention prunes the feed by age across organizations
        manager
            .create_index(
                Index::create()
                    .name("ix_change_event_created")
                    .table(ChangeEvent::Table)
                    .col(ChangeEvent::CreatedAt)
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("ix_change_event_created")
                    .table(ChangeEvent::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(AccessToken::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(ServiceCredential::Table).to_owned())
            .await
    }
}
