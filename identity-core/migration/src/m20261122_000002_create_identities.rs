//! Users, their emails and phone numbers, roles, role memberships and the change feed.
//!
//! Every table carries `org_id` and leads its indexes with it, so every lookup path (user name,
//! external id, email, role name, a user's roles, the feed after a sequence) is an index range
//! inside one organization. Case-insensitive keys are stored lowercased in `*_lower` columns so
//! unique indexes and lookups behave the same on every backend.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Organization {
    Table,
    Id,
}

#[derive(DeriveIden, Clone, Copy)]
enum IdentityUser {
    Table,
    Id,
    OrgId,
    UserName,
    UserNameLower,
    ExternalId,
    DisplayName,
    NameFormatted,
    NameFamilyName,
    NameGivenName,
    NameMiddleName,
    NameHonorificPrefix,
    NameHonorificSuffix,
    NickName,
    Title,
    UserType,
    PreferredLanguage,
    Locale,
    Timezone,
    Active,
    EmployeeNumber,
    CostCenter,
    EnterpriseOrganization,
    Division,
    Department,
    ManagerId,
    ManagerDisplayName,
    ExtraAttributes,
    PasswordHash,
    ManagedBy,
    Version,
    CreatedAt,
    UpdatedAt,
}

/// `user_email` and `user_phone` share this shape.
#[derive(DeriveIden, Clone, Copy)]
enum Contact {
    OrgId,
    UserId,
    Position,
    Value,
    ValueLower,
    Type,
    IsPrimary,
    Display,
}

#[derive(DeriveIden, Clone, Copy)]
enum UserEmail {
    Table,
}

#[derive(DeriveIden, Clone, Copy)]
enum UserPhone {
    Table,
}

#[derive(DeriveIden, Clone, Copy)]
enum IdentityRole {
    Table,
    Id,
    OrgId,
    DisplayName,
    DisplayNameLower,
    ExternalId,
    Description,
    ExtraAttributes,
    MemberCount,
    ManagedBy,
    Version,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum RoleMember {
    Table,
    RoleId,
    UserId,
    OrgId,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum ChangeEvent {
    Table,
    OrgId,
    Sequence,
    ResourceType,
    ResourceId,
    Kind,
    ResourceVersion,
    MemberUserIds,
    CreatedAt,
}

fn org_fk(table: impl IntoIden + Clone, name: &str) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from_tbl(table)
        .from_col(Alias::new("org_id"))
        .to_tbl(Organization::Table)
        .to_col(Organization::Id)
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

fn contact_table(table: impl IntoIden + Clone, prefix: &str) -> TableCreateStatement {
    Table::create()
        .table(table.clone())
        .if_not_exists()
        .col(ColumnDef::new(Contact::OrgId).uuid().not_null())
        .col(ColumnDef::new(Contact::UserId).uuid().not_null())
        .col(ColumnDef::new(Contact::Position).integer().not_null())
        .col(ColumnDef::new(Contact::Value).string_len(1024).not_null())
        .col(
            ColumnDef::new(Contact::ValueLower)
                .string_len(1024)
                .not_null(),
        )
        .col(ColumnDef::new(Contact::Type).string_len(256).null())
        .col(ColumnDef::new(Contact::IsPrimary).boolean().not_null())
        .col(ColumnDef::new(Contact::Display).string_len(1024).null())
        .primary_key(Index::create().col(Contact::UserId).col(Contact::Position))
        .foreign_key(&mut org_fk(table.clone(), &format!("fk_{prefix}_org")))
        .foreign_key(
            ForeignKey::create()
                .name(format!("fk_{prefix}_user"))
                .from_tbl(table)
                .from_col(Contact::UserId)
                .to_tbl(IdentityUser::Table)
                .to_col(IdentityUser::Id)
                .on_delete(ForeignKeyAction::Cascade),
        )
        .to_owned()
}

fn index(name: &str, table: impl IntoIden, cols: &[&str], unique: bool) -> IndexCreateStatement {
    let mut stmt = Index::create();
    stmt.name(name).table(table).if_not_exists();
    for col in cols {
        stmt.col(Alias::new(*col));
    }
    if unique {
        stmt.unique();
    }
    stmt.to_owned()
}

fn opt_string(col: IdentityUser, len: u32) -> ColumnDef {
    ColumnDef::new(col).string_len(len).null().to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use IdentityUser as U;
        let mut user = Table::create();
        user.table(U::Table)
            .if_not_exists()
            .col(ColumnDef::new(U::Id).uuid().not_null().primary_key())
            .col(ColumnDef::new(U::OrgId).uuid().not_null())
            .col(ColumnDef::new(U::UserName).string_len(256).not_null())
            .col(ColumnDef::new(U::UserNameLower).string_len(256).not_null())
            .col(opt_string(U::ExternalId, 1024));
        for col in [
            U::DisplayName,
            U::NameFormatted,
            U::NameFamilyName,
            U::NameGivenName,
            U::NameMiddleName,
            U::NameHonorificPrefix,
            U::NameHonorificSuffix,
            U::NickName,
            U::Title,
            U::UserType,
            U::PreferredLanguage,
            U::Locale,
            U::Timezone,
        ] {
            user.col(opt_string(col, 1024));
        }
        user.col(ColumnDef::new(U::Active).boolean().not_null());
        for col in [
            U::EmployeeNumber,
            U::CostCenter,
            U::EnterpriseOrganization,
            U::Division,
            U::Department,
            U::ManagerId,
            U::ManagerDisplayName,
        ] {
            user.col(opt_string(col, 1024));
        }
        user.col(ColumnDef::new(U::ExtraAttributes).text().null())
            .col(ColumnDef::new(U::PasswordHash).string_len(512).null())
            .col(ColumnDef::new(U::ManagedBy).small_integer().not_null())
            .col(ColumnDef::new(U::Version).big_integer().not_null())
            .col(ColumnDef::new(U::CreatedAt).big_integer().not_null())
            .col(ColumnDef::new(U::UpdatedAt).big_integer().not_null())
            .foreign_key(&mut org_fk(U::Table, "fk_identity_user_org"));
        manager.create_table(user.to_owned()).await?;
        for stmt in [
            index(
                "ux_identity_user_user_name",
                U::Table,
                &["org_id", "user_name_lower"],
                true,
            ),
            // NULLs are distinct in unique indexes on every supported backend, so unset external
            // ids never collide
            index(
                "ux_identity_user_external_id",
                U::Table,
                &["org_id", "external_id"],
                true,
            ),
            index(
                "ix_identity_user_created",
                U::Table,
                &["org_id", "created_at", "id"],
                false,
            ),
        ] {
            manager.create_index(stmt).await?;
        }

        for (table, prefix) in [
            (UserEmail::Table.into_iden(), "user_email"),
            (UserPhone::Table.into_iden(), "user_phone"),
        ] {
            manager
                .create_table(contact_table(table.clone(), prefix))
                .await?;
            manager
                .create_index(index(
                    &format!("ix_{prefix}_value"),
                    table,
                    &["org_id", "value_lower"],
                    false,
                ))
                .await?;
        }

        use IdentityRole as R;
        manager
            .create_table(
                Table::create()
                    .table(R::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(R::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(R::OrgId).uuid().not_null())
                    .col(ColumnDef::new(R::DisplayName).string_len(256).not_null())
                    .col(
                        ColumnDef::new(R::DisplayNameLower)
                            .string_len(256)
                            .not_null(),
                    )
                    .col(ColumnDef::new(R::ExternalId).string_len(1024).null())
                    .col(ColumnDef::new(R::Description).text().null())
                    .col(ColumnDef::new(R::ExtraAttributes).text().null())
                    .col(ColumnDef::new(R::MemberCount).big_integer().not_null())
                    .col(ColumnDef::new(R::ManagedBy).small_integer().not_null())
                    .col(ColumnDef::new(R::Version).big_integer().not_null())
                    .col(ColumnDef::new(R::CreatedAt).big_integer().not_null())
                    .col(ColumnDef::new(R::UpdatedAt).big_integer().not_null())
                    .foreign_key(&mut org_fk(R::Table, "fk_identity_role_org"))
                    .to_owned(),
            )
            .await?;
        for stmt in [
            index(
                "ux_identity_role_display_name",
                R::Table,
                &["org_id", "display_name_lower"],
                true,
            ),
            index(
                "ux_identity_role_external_id",
                R::Table,
                &["org_id", "external_id"],
                true,
            ),
            index(
                "ix_identity_role_created",
                R::Table,
                &["org_id", "created_at", "id"],
                false,
            ),
        ] {
            manager.create_index(stmt).await?;
        }

        use RoleMember as M;
        manager
            .create_table(
                Table::create()
                    .table(M::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(M::RoleId).uuid().not_null())
                    .col(ColumnDef::new(M::UserId).uuid().not_null())
                    .col(ColumnDef::new(M::OrgId).uuid().not_null())
                    .col(ColumnDef::new(M::CreatedAt).big_integer().not_null())
                    .primary_key(Index::create().col(M::RoleId).col(M::UserId))
                    .foreign_key(&mut org_fk(M::Table, "fk_role_member_org"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_role_member_role")
                            .from_tbl(M::Table)
                            .from_col(M::RoleId)
                            .to_tbl(R::Table)
                            .to_col(R::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_role_member_user")
                            .from_tbl(M::Table)
                            .from_col(M::UserId)
                            .to_tbl(U::Table)
                            .to_col(U::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // the primary key serves "members of a role"; these serve "roles of a user" (in role id
        // order, for ListUserRoles) and the foreign-key check when a user row is deleted
        manager
            .create_index(index(
                "ix_role_member_user",
                M::Table,
                &["org_id", "user_id"],
                false,
            ))
            .await?;
        manager
            .create_index(index(
                "ix_role_member_user_role",
                M::Table,
                &["user_id", "role_id"],
                false,
            ))
            .await?;

        use ChangeEvent as C;
        manager
            .create_table(
                Table::create()
                    .table(C::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(C::OrgId).uuid().not_null())
                    .col(ColumnDef::new(C::Sequence).big_integer().not_null())
                    .col(ColumnDef::new(C::ResourceType).small_integer().not_null())
                    .col(ColumnDef::new(C::ResourceId).uuid().not_null())
                    .col(ColumnDef::new(C::Kind).small_integer().not_null())
                    .col(ColumnDef::new(C::ResourceVersion).big_integer().not_null())
                    .col(ColumnDef::new(C::MemberUserIds).text().null())
                    .col(ColumnDef::new(C::CreatedAt).big_integer().not_null())
                    .primary_key(Index::create().col(C::OrgId).col(C::Sequence))
                    .foreign_key(&mut org_fk(C::Table, "fk_change_event_org"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            ChangeEvent::Table.into_iden(),
            RoleMember::Table.into_iden(),
            IdentityRole::Table.into_iden(),
            UserPhone::Table.into_iden(),
            UserEmail::Table.into_iden(),
            IdentityUser::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
