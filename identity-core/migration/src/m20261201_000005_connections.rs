//! Provisioning connections and the OAuth 2.0 authorization server behind them.
//!
//! - `provisioning_connection`: one per identity-provider integration, with its activity
//!   counters (bumped in the transaction of each change it makes) and `connection_error`, its
//!   most recent failed requests.
//! - `oauth_client`, `oauth_authorization_request` (pending consent), `oauth_code`,
//!   `oauth_grant` (a token family) and `oauth_refresh_token`. Codes and refresh tokens are
//!   keyed by the SHA-256 of their secret; client secrets are stored the same way.
//! - Access tokens from OAuth are rows of `scim_token` with `grant_id` set, so they authorize
//!   SCIM through exactly the same check as pasted tokens. `scim_token.connection_id` and
//!   `change_event.connection_id` name the connection.

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
    ConnectionId,
    GrantId,
}

#[derive(DeriveIden, Clone, Copy)]
enum ChangeEvent {
    Table,
    ConnectionId,
}

#[derive(DeriveIden, Clone, Copy)]
enum ProvisioningConnection {
    Table,
    Id,
    OrgId,
    Name,
    /// JSON array of group names; NULL for every group.
    AllowedGroups,
    CreatedAt,
    DeletedAt,
    LastRequestAt,
    Creates,
    Updates,
    Deactivations,
    Deletes,
}

#[derive(DeriveIden, Clone, Copy)]
enum ConnectionError {
    Table,
    Id,
    ConnectionId,
    OccurredAt,
    Method,
    Path,
    Status,
    ScimType,
    Detail,
}

#[derive(DeriveIden, Clone, Copy)]
enum OauthClient {
    Table,
    Id,
    OrgId,
    ConnectionId,
    /// The public client_id.
    ClientId,
    Name,
    SecretHash,
    /// JSON array of redirect URIs.
    RedirectUris,
    CreatedAt,
    DeletedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum OauthAuthorizationRequest {
    Table,
    Id,
    ClientPk,
    RedirectUri,
    State,
    CodeChallenge,
    Scope,
    ExpiresAt,
    FailedAttempts,
}

#[derive(DeriveIden, Clone, Copy)]
enum OauthGrant {
    Table,
    Id,
    OrgId,
    ConnectionId,
    ClientPk,
    /// admin.v1.GrantKind value.
    Kind,
    Scope,
    CreatedAt,
    LastRefreshedAt,
    RevokedAt,
    RevokeReason,
}

#[derive(DeriveIden, Clone, Copy)]
enum OauthCode {
    Table,
    CodeHash,
    ClientPk,
    RedirectUri,
    CodeChallenge,
    Scope,
    ExpiresAt,
    UsedAt,
    /// The grant the code was exchanged for, revoked if the code is presented again.
    GrantId,
}

#[derive(DeriveIden, Clone, Copy)]
enum OauthRefreshToken {
    Table,
    TokenHash,
    GrantId,
    CreatedAt,
    ExpiresAt,
    /// Set when rotated; presenting it again revokes the grant.
    UsedAt,
}

fn id(column: impl IntoIden) -> ColumnDef {
    ColumnDef::new(column)
        .uuid()
        .not_null()
        .primary_key()
        .to_owned()
}

fn uuid(column: impl IntoIden) -> ColumnDef {
    ColumnDef::new(column).uuid().not_null().to_owned()
}

fn micros(column: impl IntoIden) -> ColumnDef {
    ColumnDef::new(column).big_integer().not_null().to_owned()
}

fn optional_micros(column: impl IntoIden) -> ColumnDef {
    ColumnDef::new(column).big_integer().null().to_owned()
}

fn text(column: impl IntoIden, len: u32) -> ColumnDef {
    ColumnDef::new(column).string_len(len).not_null().to_owned()
}

fn counter(column: impl IntoIden) -> ColumnDef {
    ColumnDef::new(column)
        .big_integer()
        .not_null()
        .default(0)
        .to_owned()
}

fn cascade(
    name: &str,
    from: (impl IntoIden, impl IntoIden),
    to: (impl IntoIden, impl IntoIden),
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from_tbl(from.0)
        .from_col(from.1)
        .to_tbl(to.0)
        .to_col(to.1)
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use ProvisioningConnection as C;
        manager
            .create_table(
                Table::create()
                    .table(C::Table)
                    .if_not_exists()
                    .col(id(C::Id))
                    .col(uuid(C::OrgId))
                    .col(text(C::Name, 100))
                    .col(ColumnDef::new(C::AllowedGroups).text().null())
                    .col(micros(C::CreatedAt))
                    .col(optional_micros(C::DeletedAt))
                    .col(optional_micros(C::LastRequestAt))
                    .col(counter(C::Creates))
                    .col(counter(C::Updates))
                    .col(counter(C::Deactivations))
                    .col(counter(C::Deletes))
                    .foreign_key(&mut cascade(
                        "fk_connection_org",
                        (C::Table, C::OrgId),
                        (Organization::Table, Organization::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_connection_org")
                    .table(C::Table)
                    .col(C::OrgId)
                    .col(C::CreatedAt)
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;

        use ConnectionError as E;
        manager
            .create_table(
                Table::create()
                    .table(E::Table)
                    .if_not_exists()
                    .col(id(E::Id))
                    .col(uuid(E::ConnectionId))
                    .col(micros(E::OccurredAt))
                    .col(text(E::Method, 16))
                    .col(text(E::Path, 512))
                    .col(ColumnDef::new(E::Status).integer().not_null())
                    .col(text(E::ScimType, 64))
                    .col(text(E::Detail, 1024))
                    .foreign_key(&mut cascade(
                        "fk_connection_error_connection",
                        (E::Table, E::ConnectionId),
                        (C::Table, C::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_connection_error_connection")
                    .table(E::Table)
                    .col(E::ConnectionId)
                    .col(E::OccurredAt)
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;

        use OauthClient as K;
        manager
            .create_table(
                Table::create()
                    .table(K::Table)
                    .if_not_exists()
                    .col(id(K::Id))
                    .col(uuid(K::OrgId))
                    .col(uuid(K::ConnectionId))
                    .col(text(K::ClientId, 64))
                    .col(text(K::Name, 100))
                    .col(text(K::SecretHash, 64))
                    .col(ColumnDef::new(K::RedirectUris).text().not_null())
                    .col(micros(K::CreatedAt))
                    .col(optional_micros(K::DeletedAt))
                    .foreign_key(&mut cascade(
                        "fk_oauth_client_connection",
                        (K::Table, K::ConnectionId),
                        (C::Table, C::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_oauth_client_client_id")
                    .table(K::Table)
                    .col(K::ClientId)
                    .unique()
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;

        use OauthAuthorizationRequest as R;
        manager
            .create_table(
                Table::create()
                    .table(R::Table)
                    .if_not_exists()
                    .col(id(R::Id))
                    .col(uuid(R::ClientPk))
                    .col(ColumnDef::new(R::RedirectUri).text().not_null())
                    .col(ColumnDef::new(R::State).text().not_null())
                    .col(text(R::CodeChallenge, 128))
                    .col(text(R::Scope, 256))
                    .col(micros(R::ExpiresAt))
                    .col(
                        ColumnDef::new(R::FailedAttempts)
                            .integer()
                            .not_null()
                            .default(0),
                    )
                    .foreign_key(&mut cascade(
                        "fk_oauth_request_client",
                        (R::Table, R::ClientPk),
                        (K::Table, K::Id),
                    ))
                    .to_owned(),
            )
            .await?;

        use OauthGrant as G;
        manager
            .create_table(
                Table::create()
                    .table(G::Table)
                    .if_not_exists()
                    .col(id(G::Id))
                    .col(uuid(G::OrgId))
                    .col(uuid(G::ConnectionId))
                    .col(uuid(G::ClientPk))
                    .col(ColumnDef::new(G::Kind).small_integer().not_null())
                    .col(text(G::Scope, 256))
                    .col(micros(G::CreatedAt))
                    .col(optional_micros(G::LastRefreshedAt))
                    .col(optional_micros(G::RevokedAt))
                    .col(ColumnDef::new(G::RevokeReason).string_len(32).null())
                    .foreign_key(&mut cascade(
                        "fk_oauth_grant_client",
                        (G::Table, G::ClientPk),
                        (K::Table, K::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_oauth_grant_connection")
                    .table(G::Table)
                    .col(G::ConnectionId)
                    .col(G::CreatedAt)
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;

        use OauthCode as D;
        manager
            .create_table(
                Table::create()
                    .table(D::Table)
                    .if_not_exists()
                    .col(text(D::CodeHash, 64).primary_key())
                    .col(uuid(D::ClientPk))
                    .col(ColumnDef::new(D::RedirectUri).text().not_null())
                    .col(text(D::CodeChallenge, 128))
                    .col(text(D::Scope, 256))
                    .col(micros(D::ExpiresAt))
                    .col(optional_micros(D::UsedAt))
                    .col(ColumnDef::new(D::GrantId).uuid().null())
                    .foreign_key(&mut cascade(
                        "fk_oauth_code_client",
                        (D::Table, D::ClientPk),
                        (K::Table, K::Id),
                    ))
                    .to_owned(),
            )
            .await?;

        use OauthRefreshToken as F;
        manager
            .create_table(
                Table::create()
                    .table(F::Table)
                    .if_not_exists()
                    .col(text(F::TokenHash, 64).primary_key())
                    .col(uuid(F::GrantId))
                    .col(micros(F::CreatedAt))
                    .col(micros(F::ExpiresAt))
                    .col(optional_micros(F::UsedAt))
                    .foreign_key(&mut cascade(
                        "fk_oauth_refresh_grant",
                        (F::Table, F::GrantId),
                        (G::Table, G::Id),
                    ))
                    .to_owned(),
            )
            .await?;

        // SQLite takes one column per ALTER TABLE
        for column in [ScimToken::ConnectionId, ScimToken::GrantId] {
            manager
                .alter_table(
                    Table::alter()
                        .table(ScimToken::Table)
                        .add_column(ColumnDef::new(column).uuid().null())
                        .to_owned(),
                )
                .await?;
        }
        // revoking a grant revokes its access tokens through this index
        manager
            .create_index(
                Index::create()
                    .name("ix_scim_token_grant")
                    .table(ScimToken::Table)
                    .col(ScimToken::GrantId)
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(ChangeEvent::Table)
                    .add_column(ColumnDef::new(ChangeEvent::ConnectionId).uuid().null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(ChangeEvent::Table)
                    .drop_column(ChangeEvent::ConnectionId)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("ix_scim_token_grant")
                    .table(ScimToken::Table)
                    .to_owned(),
            )
            .await?;
        for column in [ScimToken::GrantId, ScimToken::ConnectionId] {
            manager
                .alter_table(
                    Table::alter()
                        .table(ScimToken::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        for table in [
            OauthRefreshToken::Table.into_iden(),
            OauthCode::Table.into_iden(),
            OauthGrant::Table.into_iden(),
            OauthAuthorizationRequest::Table.into_iden(),
            OauthClient::Table.into_iden(),
            ConnectionError::Table.into_iden(),
            ProvisioningConnection::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
