//! identity.v1.UserService: parses and validates each request, calls `store::users`, converts
//! the result. No SQL and no business rule here; hostile input fails with INVALID_ARGUMENT.
//!
//! Also home of [`identity_routes`], which builds every identity.v1 server of this crate over one
//! connection pool, behind the caller authentication layer.

use crate::domain::ownership::{guard_scim_managed, managed_by_scim};
use crate::error::{CoreError, CoreResult};
use crate::ids::{OrgId, UserId};
use crate::service::access_token_service::AccessTokenServiceImpl;
use crate::service::caller::CallerAuthenticator;
use crate::service::caller::{Access, Caller};
use crate::service::change_service::ChangeServiceImpl;
use crate::service::convert;
use crate::service::provisioning_service::{ConnectionScope, ProvisioningServiceImpl};
use crate::service::role_service::RoleServiceImpl;
use crate::service::token_service::TokenServiceImpl;
use crate::store::users::{self, Detail, LookupKey, PasswordChange};
use crate::store::{paging, roles};
use identity_proto::identity::v1 as pb;
use identity_proto::identity::v1::ManagedBy;
use identity_proto::identity::v1::access_token_service_server::AccessTokenServiceServer;
use identity_proto::identity::v1::change_service_server::ChangeServiceServer;
use identity_proto::identity::v1::provisioning_service_server::ProvisioningServiceServer;
use identity_proto::identity::v1::role_service_server::RoleServiceServer;
use identity_proto::identity::v1::token_service_server::TokenServiceServer;
use identity_proto::identity::v1::user_service_server::{UserService, UserServiceServer};
use sea_orm::DatabaseConnection;
use tonic::{Request, Response, Status};

/// The identity.v1 servers of this crate over `db`, each behind `auth` (the caller check every
/// identity.v1 call passes first); open change streams end when `draining` turns true.
pub fn identity_routes(
    db: DatabaseConnection,
    auth: &identity_runtime::grpc_auth::AuthLayer<CallerAuthenticator>,
    draining: tokio::sync::watch::Receiver<bool>,
    oauth: crate::store::oauth::OAuthSettings,
) -> tonic::service::Routes {
    use tower::Layer;
    // writes of users and roles may act for a provisioning connection
    use identity_proto::with_message_limits;
    tonic::service::Routes::new(auth.layer(ConnectionScope::new(with_message_limits!(
        UserServiceServer::new(UserServiceImpl::new(db.clone()))
    ))))
    .add_service(auth.layer(ConnectionScope::new(with_message_limits!(
        RoleServiceServer::new(RoleServiceImpl::new(db.clone()))
    ))))
    .add_service(
        auth.layer(with_message_limits!(ProvisioningServiceServer::new(
            ProvisioningServiceImpl::new(db.clone(), oauth)
        ))),
    )
    .add_service(auth.layer(with_message_limits!(ChangeServiceServer::new(
        ChangeServiceImpl::new(db.clone(), draining)
    ))))
    .add_service(
        auth.layer(with_message_limits!(AccessTokenServiceServer::new(
            AccessTokenServiceImpl::new(db.clone())
        ))),
    )
    .add_service(auth.layer(with_message_limits!(TokenServiceServer::new(
        TokenServiceImpl::new(db.clone())
    ))))
    .add_service(auth.layer(with_message_limits!(
        identity_proto::identity::v1::portal_service_server::PortalServiceServer::new(
            crate::service::portal_service::PortalServiceImpl::new(db)
        )
    )))
}

/// The UserService handlers.
#[derive(Debug, Clone)]
pub struct UserServiceImpl {
    db: DatabaseConnection,
}

impl UserServiceImpl {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

/// Whether a request asked for the roles of the users it returns (USER_VIEW_WITH_ROLES). Checked
/// before any write, so an unknown view changes nothing.
fn detail(view: i32) -> CoreResult<Detail> {
    match pb::UserView::try_from(view) {
        Ok(pb::UserView::WithRoles) => Ok(Detail::WithRoles),
        Ok(pb::UserView::Unspecified | pb::UserView::Basic) => Ok(Detail::Basic),
        Err(_) => Err(CoreError::invalid("view", "is not a known UserView")),
    }
}

impl UserServiceImpl {
    /// `users` as the contract presents them, with the roles each holds for
    /// [`Detail::WithRoles`]: those a read loaded with the users, and those of written users in
    /// one more statement for all of them.
    async fn present(
        &self,
        org: OrgId,
        users: &[users::User],
        detail: Detail,
    ) -> CoreResult<Vec<pb::User>> {
        let unread: Vec<uuid::Uuid> = match detail {
            Detail::Basic => Vec::new(),
            Detail::WithRoles => users
                .iter()
                .filter(|user| user.roles.is_none())
                .map(|user| user.id.0)
                .collect(),
        };
        let mut fetched = if unread.is_empty() {
            Default::default()
        } else {
            roles::roles_of_users(&self.db, org, &unread).await?
        };
        Ok(users
            .iter()
            .map(|user| {
                let mut proto = convert::user_to_proto(user);
                if detail == Detail::WithRoles {
                    let held = match &user.roles {
                        Some(read) => read.clone(),
                        None => fetched.remove(&user.id.0).unwrap_or_default(),
                    };
                    proto.roles = convert::held_roles_to_proto(held);
                }
                proto
            })
            .collect())
    }

    /// One user as the contract presents it (see [`Self::present`]).
    async fn present_one(
        &self,
        org: OrgId,
        user: &users::User,
        detail: Detail,
    ) -> CoreResult<pb::User> {
        let mut presented = self
            .present(org, std::slice::from_ref(user), detail)
            .await?;
        presented
            .pop()
            .ok_or_else(|| CoreError::Internal("a presented user vanished".into()))
    }
}

fn required_user(user: Option<&pb::User>) -> Result<&pb::User, CoreError> {
    user.ok_or_else(|| CoreError::invalid("user", "is required"))
}

/// Hashes a non-empty password before any transaction starts, once the cheap checks pass: its
/// length and, for a write to user `user` of `org`, that the user exists (a write to an unknown
/// id never costs a hash).
async fn password(
    value: &str,
    empty: PasswordChange,
    user: Option<(&sea_orm::DatabaseConnection, OrgId, UserId)>,
) -> Result<PasswordChange, CoreError> {
    if value.is_empty() {
        return Ok(empty);
    }
    if value.len() > 4096 {
        return Err(CoreError::invalid("password", "must be at most 4096 bytes"));
    }
    if let Some((db, org, id)) = user
        && !users::exists(db, org, id.0).await?
    {
        return Err(CoreError::user_not_found(id));
    }
    Ok(PasswordChange::SetHash(
        users::hash_password(value.to_owned()).await?,
    ))
}

#[tonic::async_trait]
impl UserService for UserServiceImpl {
    async fn create_user(
        &self,
        request: Request<pb::CreateUserRequest>,
    ) -> Result<Response<pb::CreateUserResponse>, Status> {
        let (caller, req) = Caller::split(request)?;
        let context = caller.write_to(&req.organization_id)?;
        let org = context.org;
        let detail = detail(req.view)?;
        let data = convert::user_data_from_proto(required_user(req.user.as_ref())?);
        if data.managed_by == ManagedBy::Scim || req.adopt_existing {
            caller.require_edge("creating or adopting a user as its SCIM owner")?;
        }
        // the cheap checks first: a refused create never costs a password hash
        users::ensure_valid(&data)?;
        let password = password(&req.password, PasswordChange::Keep, None).await?;
        let (user, adopted) =
            users::create_user(&self.db, context, data, password, req.adopt_existing).await?;
        tracing::info!(org_id = %org, user_id = %user.id, adopted, "user created");
        Ok(Response::new(pb::CreateUserResponse {
            user: Some(self.present_one(org, &user, detail).await?),
            adopted,
        }))
    }

    async fn get_user(
        &self,
        request: Request<pb::GetUserRequest>,
    ) -> Result<Response<pb::GetUserResponse>, Status> {
        let (caller, req) = Caller::split(request)?;
        let org = caller.org(&req.organization_id, Access::Read)?;
        let id = UserId::parse("user_id", &req.user_id)?;
        let detail = detail(req.view)?;
        let user = users::get_user(&self.db, org, id, detail).await?;
        Ok(Response::new(pb::GetUserResponse {
            user: Some(self.present_one(org, &user, detail).await?),
        }))
    }

    async fn batch_get_users(
        &self,
        request: Request<pb::BatchGetUsersRequest>,
    ) -> Result<Response<pb::BatchGetUsersResponse>, Status> {
        let (caller, req) = Caller::split(request)?;
        let org = caller.org(&req.organization_id, Access::Read)?;
        convert::at_most("user_ids", req.user_ids.len(), users::MAX_BATCH_GET)?;
        let ids: Vec<UserId> = convert::parse_user_ids("user_ids", &req.user_ids)?
            .into_iter()
            .map(UserId)
            .collect();
        let (found, missing) = users::batch_get_users(&self.db, org, &ids).await?;
        Ok(Response::new(pb::BatchGetUsersResponse {
            users: found.iter().map(convert::user_to_proto).collect(),
            missing_user_ids: missing.iter().map(ToString::to_string).collect(),
        }))
    }

    async fn lookup_user(
        &self,
        request: Request<pb::LookupUserRequest>,
    ) -> Result<Response<pb::LookupUserResponse>, Status> {
        use pb::lookup_user_request::Key;
        let (caller, req) = Caller::split(request)?;
        let org = caller.org(&req.organization_id, Access::Read)?;
        let (field, key) = match req.key {
            Some(Key::UserName(v)) => ("user_name", LookupKey::UserName(v)),
            Some(Key::ExternalId(v)) => ("external_id", LookupKey::ExternalId(v)),
            Some(Key::Email(v)) => ("email", LookupKey::Email(v)),
            None => {
                return Err(CoreError::invalid(
                    "key",
                    "one of user_name, external_id or email is required",
                )
                .into());
            }
        };
        let empty = match &key {
            LookupKey::UserName(v) | LookupKey::ExternalId(v) | LookupKey::Email(v) => {
                v.is_empty() || v.len() > 1024
            }
        };
        if empty {
            return Err(CoreError::invalid(field, "must be 1 to 1024 bytes").into());
        }
        let detail = detail(req.view)?;
        let user = users::lookup_user(&self.db, org, &key, detail).await?;
        Ok(Response::new(pb::LookupUserResponse {
            user: Some(self.present_one(org, &user, detail).await?),
        }))
    }

    async fn list_users(
        &self,
        request: Request<pb::ListUsersRequest>,
    ) -> Result<Response<pb::ListUsersResponse>, Status> {
        let (caller, req) = Caller::split(request)?;
        let org = caller.org(&req.organization_id, Access::Read)?;
        let query = convert::list_query(
            req.filter,
            &req.order_by,
            req.sort_order,
            req.page_size,
            &req.page_token,
            req.skip,
            req.include_total_size,
        )?;
        let detail = detail(req.view)?;
        let page = users::list_users(&self.db, org, &query, detail).await?;
        let mut listed = self.present(org, &page.users, detail).await?;
        let mut next_page_token = page.next_page_token;
        // a page too large for one message ends early; the token resumes after its last user
        let fit = convert::fitting(&listed);
        if fit < listed.len() {
            listed.truncate(fit);
            let resume = &page.positions[fit - 1];
            next_page_token = resume.encode();
            if query.page_token.is_empty() {
                paging::remember_walk(org, resume, query.skip + fit as u64);
            }
        }
        Ok(Response::new(pb::ListUsersResponse {
            users: listed,
            next_page_token,
            total_size: page.total_size.unwrap_or_default(),
        }))
    }

    async fn update_user(
        &self,
        request: Request<pb::UpdateUserRequest>,
    ) -> Result<Response<pb::UpdateUserResponse>, Status> {
        let (caller, req) = Caller::split(request)?;
        let context = caller.write_to(&req.organization_id)?;
        let org = context.org;
        let proto_user = required_user(req.user.as_ref())?;
        let id = UserId::parse("user.id", &proto_user.id)?;
        let source = convert::user_data_from_proto(proto_user);
        caller.check_writer(source.managed_by, WRITE_AS_SCIM)?;
        let detail = detail(req.view)?;
        let paths = req.update_mask.map(|m| m.paths).unwrap_or_default();
        // the mask is checked before any I/O so a bad path never costs a password hash
        let mut probe = source.clone();
        let wants_password = convert::apply_user_mask(&mut probe, &source, &paths)?;
        let password = if wants_password {
            password(
                &req.password,
                PasswordChange::Clear,
                Some((&self.db, org, id)),
            )
            .await?
        } else {
            PasswordChange::Keep
        };
        let sets_password = !matches!(password, PasswordChange::Keep);
        let user = users::modify_user_if_changed(
            &self.db,
            context,
            id,
            req.expected_version,
            password,
            move |data| {
                let before = data.clone();
                convert::apply_user_mask(data, &source, &paths)?;
                guard_scim_managed(&before, data, source.managed_by, sets_password)
            },
        )
        .await?;
        Ok(Response::new(pb::UpdateUserResponse {
            user: Some(self.present_one(org, &user, detail).await?),
        }))
    }

    async fn replace_user(
        &self,
        request: Request<pb::ReplaceUserRequest>,
    ) -> Result<Response<pb::ReplaceUserResponse>, Status> {
        let (caller, req) = Caller::split(request)?;
        let context = caller.write_to(&req.organization_id)?;
        let org = context.org;
        let proto_user = required_user(req.user.as_ref())?;
        let id = UserId::parse("user.id", &proto_user.id)?;
        let source = convert::user_data_from_proto(proto_user);
        caller.check_writer(source.managed_by, WRITE_AS_SCIM)?;
        let detail = detail(req.view)?;
        let password = password(
            &req.password,
            PasswordChange::Keep,
            Some((&self.db, org, id)),
        )
        .await?;
        let sets_password = !matches!(password, PasswordChange::Keep);
        let user = users::modify_user(
            &self.db,
            context,
            id,
            req.expected_version,
            password,
            move |data| {
                let writer = source.managed_by;
                guard_scim_managed(data, &source, writer, sets_password)?;
                *data = source;
                Ok(())
            },
        )
        .await?;
        Ok(Response::new(pb::ReplaceUserResponse {
            user: Some(self.present_one(org, &user, detail).await?),
        }))
    }

    async fn set_user_active(
        &self,
        request: Request<pb::SetUserActiveRequest>,
    ) -> Result<Response<pb::SetUserActiveResponse>, Status> {
        let (caller, req) = Caller::split(request)?;
        let context = caller.write_to(&req.organization_id)?;
        let org = context.org;
        let id = UserId::parse("user_id", &req.user_id)?;
        let active = req.active;
        let detail = detail(req.view)?;
        let user = users::modify_user(
            &self.db,
            context,
            id,
            req.expected_version,
            PasswordChange::Keep,
            move |data| {
                data.active = active;
                Ok(())
            },
        )
        .await?;
        Ok(Response::new(pb::SetUserActiveResponse {
            user: Some(self.present_one(org, &user, detail).await?),
        }))
    }

    async fn delete_user(
        &self,
        request: Request<pb::DeleteUserRequest>,
    ) -> Result<Response<pb::DeleteUserResponse>, Status> {
        let (caller, req) = Caller::split(request)?;
        let context = caller.write_to(&req.organization_id)?;
        let org = context.org;
        let id = UserId::parse("user_id", &req.user_id)?;
        let requested_by = req.requested_by();
        caller.check_writer(requested_by, WRITE_AS_SCIM)?;
        users::delete_user(
            &self.db,
            context,
            id,
            req.expected_version,
            move |managed_by| {
                if managed_by == ManagedBy::Scim && requested_by != ManagedBy::Scim {
                    return Err(managed_by_scim("removed"));
                }
                Ok(())
            },
        )
        .await?;
        tracing::info!(org_id = %org, user_id = %id, "user deleted");
        Ok(Response::new(pb::DeleteUserResponse {}))
    }
}

/// What a platform service is refused when it writes a user as its SCIM owner.
const WRITE_AS_SCIM: &str = "writing a user as its SCIM owner";
