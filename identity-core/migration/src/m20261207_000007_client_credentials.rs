//! Which OAuth clients may use the client_credentials grant. New clients must ask for it; a
//! client registered earlier without redirect URIs could only ever have used it, so it keeps it.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum OauthClient {
    Table,
    RedirectUris,
    AllowsClientCredentials,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(OauthClient::Table)
                    .add_column(
                        ColumnDef::new(OauthClient::AllowsClientCredentials)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .exec_stmt(
                Query::update()
                    .table(OauthClient::Table)
                    .value(OauthClient::AllowsClientCredentials, true)
                    .and_where(Expr::col(OauthClient::RedirectUris).eq("[]"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(OauthClient::Table)
                    .drop_column(OauthClient::AllowsClientCredentials)
                    .to_owned(),
            )
            .await
    }
}
