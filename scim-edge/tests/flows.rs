//! SCIM flows through the router against a small in-memory stand-in for identity-core's
//! UserService, RoleService and TokenService: enough core behaviour (uniqueness, versions,
//! members, pages) to check the edge's glue — status codes, headers, version handling, the
//! one-ModifyRole rule for group PATCH and Bulk's bulkId resolution. The real core is exercised
//! by the cross-process suite in `tests/`.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, to_bytes};
use axum::http::{HeaderMap, Request, StatusCode, header};
use identity_proto::identity::v1 as pb;
use identity_proto::identity::v1::role_service_server::{RoleService, RoleServiceServer};
use identity_proto::identity::v1::token_service_server::{TokenService, TokenServiceServer};
use identity_proto::identity::v1::user_service_server::{UserService, UserServiceServer};
use scim_edge::core_client::CoreClient;
use scim_edge::principal::TokenCache;
use scim_edge::schema::Limits;
use scim_edge::state::Settings;
use scim_edge::throttle::{Limits as ThrottleLimits, Throttle};
use scim_edge::{AppState, router};
use serde_json::{Value, json};
use tonic::{Code, Request as GrpcRequest, Response as GrpcResponse, Status};
use tower::ServiceExt;

const BASE: &str = "http://edge.test/scim/v2";
const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const BULK_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
const SEARCH_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";

// === the stand-in core ===

fn failure(code: Code, reason: &str) -> Status {
    let details =
        tonic_types::ErrorDetails::with_error_info(reason, identity_proto::ERROR_DOMAIN, []);
    <Status as tonic_types::StatusExt>::with_error_details(code, reason.to_lowercase(), details)
}

fn now() -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp {
        seconds: 1_700_000_000,
        nanos: 0,
    })
}

#[derive(Debug, Default)]
struct Store {
    users: BTreeMap<String, pb::User>,
    roles: BTreeMap<String, (pb::Role, BTreeSet<String>)>,
}

impl Store {
    /// `user` as the core answers it for `view`: with the roles it holds for USER_VIEW_WITH_ROLES.
    fn present(&self, mut user: pb::User, view: i32) -> pb::User {
        if view == pb::UserView::WithRoles as i32 {
            user.roles = self
                .roles
                .values()
                .filter(|(_, members)| members.contains(&user.id))
                .map(|(role, _)| pb::UserRole {
                    role_id: role.id.clone(),
                    display_name: role.display_name.clone(),
                })
                .collect();
        }
        user
    }
}

#[derive(Debug, Clone, Default)]
struct FakeCore {
    store: Arc<Mutex<Store>>,
    modify_calls: Arc<AtomicUsize>,
    get_user_calls: Arc<AtomicUsize>,
}

impl FakeCore {
    fn check_version(expected: Option<i64>, actual: i64) -> Result<(), Status> {
        match expected {
            Some(expected) if expected != actual => Err(failure(Code::Aborted, "VERSION_MISMATCH")),
            _ => Ok(()),
        }
    }

    fn page<T: Clone>(items: Vec<T>, skip: i32, size: i32, token: &str) -> (Vec<T>, String) {
        let start = if token.is_empty() {
            usize::try_from(skip).unwrap_or(0)
        } else {
            token.parse::<usize>().unwrap_or(usize::MAX)
        };
        let size = if size <= 0 { 100 } else { size as usize };
        let page: Vec<T> = items.iter().skip(start).take(size).cloned().collect();
        let next = start + page.len();
        let token = if next < items.len() {
            next.to_string()
        } else {
            String::new()
        };
        (page, token)
    }
}

#[tonic::async_trait]
impl TokenService for FakeCore {
    async fn authenticate_scim_token(
        &self,
        request: GrpcRequest<pb::AuthenticateScimTokenRequest>,
    ) -> Result<GrpcResponse<pb::AuthenticateScimTokenResponse>, Status> {
        // "good" is a provisioning client; "me:<user id>" is that user's own token
        let token = request.into_inner().token;
        let (kind, user_id) = match token.strip_prefix("me:") {
            Some(user_id) => (pb::PrincipalKind::User, user_id.to_owned()),
            None if token == "good" => (pb::PrincipalKind::ProvisioningClient, String::new()),
            None => return Err(failure(Code::Unauthenticated, "TOKEN_UNKNOWN")),
        };
        Ok(GrpcResponse::new(pb::AuthenticateScimTokenResponse {
            organization_id: "org-1".to_owned(),
            token_id: "t1".to_owned(),
            principal_kind: kind as i32,
            principal_user_id: user_id,
            expires_in_seconds: 0,
            connection_id: String::new(),
            rate_limits: None,
        }))
    }
}

#[tonic::async_trait]
impl UserService for FakeCore {
    async fn create_user(
        &self,
        request: GrpcRequest<pb::CreateUserRequest>,
    ) -> Result<GrpcResponse<pb::CreateUserResponse>, Status> {
        let request = request.into_inner();
        let mut user = request.user.unwrap_or_default();
        let mut store = self.store.lock().unwrap();
        if store
            .users
            .values()
            .any(|u| u.user_name.eq_ignore_ascii_case(&user.user_name))
        {
            return Err(failure(Code::AlreadyExists, "USER_NAME_TAKEN"));
        }
        user.id = uuid::Uuid::new_v4().to_string();
        user.organization_id = request.organization_id;
        user.version = 1;
        user.create_time = now();
        user.update_time = now();
        user.has_password = !request.password.is_empty();
        store.users.insert(user.id.clone(), user.clone());
        Ok(GrpcResponse::new(pb::CreateUserResponse {
            user: Some(store.present(user, request.view)),
            adopted: false,
        }))
    }

    async fn get_user(
        &self,
        request: GrpcRequest<pb::GetUserRequest>,
    ) -> Result<GrpcResponse<pb::GetUserResponse>, Status> {
        self.get_user_calls.fetch_add(1, Ordering::SeqCst);
        let request = request.into_inner();
        let store = self.store.lock().unwrap();
        let user = store
            .users
            .get(&request.user_id)
            .cloned()
            .ok_or_else(|| failure(Code::NotFound, "USER_NOT_FOUND"))?;
        Ok(GrpcResponse::new(pb::GetUserResponse {
            user: Some(store.present(user, request.view)),
        }))
    }

    async fn batch_get_users(
        &self,
        _: GrpcRequest<pb::BatchGetUsersRequest>,
    ) -> Result<GrpcResponse<pb::BatchGetUsersResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn lookup_user(
        &self,
        _: GrpcRequest<pb::LookupUserRequest>,
    ) -> Result<GrpcResponse<pb::LookupUserResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn list_users(
        &self,
        request: GrpcRequest<pb::ListUsersRequest>,
    ) -> Result<GrpcResponse<pb::ListUsersResponse>, Status> {
        let request = request.into_inner();
        let store = self.store.lock().unwrap();
        // the fake orders by userName (the real core by create_time, then id)
        let mut all: Vec<pb::User> = store.users.values().cloned().collect();
        all.sort_by(|a, b| a.user_name.cmp(&b.user_name));
        let total = all.len() as i64;
        let (users, next) = Self::page(all, request.skip, request.page_size, &request.page_token);
        Ok(GrpcResponse::new(pb::ListUsersResponse {
            users: users
                .into_iter()
                .map(|user| store.present(user, request.view))
                .collect(),
            next_page_token: next,
            total_size: total,
        }))
    }

    async fn update_user(
        &self,
        request: GrpcRequest<pb::UpdateUserRequest>,
    ) -> Result<GrpcResponse<pb::UpdateUserResponse>, Status> {
        let request = request.into_inner();
        let source = request.user.unwrap_or_default();
        let mut store = self.store.lock().unwrap();
        let current = store
            .users
            .get(&source.id)
            .cloned()
            .ok_or_else(|| failure(Code::NotFound, "USER_NOT_FOUND"))?;
        Self::check_version(request.expected_version, current.version)?;
        let mut user = current.clone();
        let source_name = source.name.clone().unwrap_or_default();
        for path in request.update_mask.unwrap_or_default().paths {
            let name = user.name.get_or_insert_with(Default::default);
            match path.as_str() {
                "active" => user.active = source.active,
                "display_name" => user.display_name = source.display_name.clone(),
                "title" => user.title = source.title.clone(),
                "nick_name" => user.nick_name = source.nick_name.clone(),
                "external_id" => user.external_id = source.external_id.clone(),
                "user_name" => user.user_name = source.user_name.clone(),
                "user_type" => user.user_type = source.user_type.clone(),
                "locale" => user.locale = source.locale.clone(),
                "timezone" => user.timezone = source.timezone.clone(),
                "preferred_language" => {
                    user.preferred_language = source.preferred_language.clone();
                }
                "name.formatted" => name.formatted = source_name.formatted.clone(),
                "name.middle_name" => name.middle_name = source_name.middle_name.clone(),
                "name.given_name" => name.given_name = source_name.given_name.clone(),
                "name.family_name" => name.family_name = source_name.family_name.clone(),
                other => return Err(Status::unimplemented(format!("fake mask {other}"))),
            }
        }
        if user != current {
            user.version = current.version + 1;
            user.update_time = now();
            store.users.insert(user.id.clone(), user.clone());
        }
        Ok(GrpcResponse::new(pb::UpdateUserResponse {
            user: Some(store.present(user, request.view)),
        }))
    }

    async fn replace_user(
        &self,
        request: GrpcRequest<pb::ReplaceUserRequest>,
    ) -> Result<GrpcResponse<pb::ReplaceUserResponse>, Status> {
        let request = request.into_inner();
        let mut user = request.user.unwrap_or_default();
        let mut store = self.store.lock().unwrap();
        let current = store
            .users
            .get(&user.id)
            .cloned()
            .ok_or_else(|| failure(Code::NotFound, "USER_NOT_FOUND"))?;
        Self::check_version(request.expected_version, current.version)?;
        if store
            .users
            .values()
            .any(|u| u.id != user.id && u.user_name.eq_ignore_ascii_case(&user.user_name))
        {
            return Err(failure(Code::AlreadyExists, "USER_NAME_TAKEN"));
        }
        user.organization_id = current.organization_id;
        user.version = current.version + 1;
        user.create_time = current.create_time;
        user.update_time = now();
        user.has_password = current.has_password || !request.password.is_empty();
        store.users.insert(user.id.clone(), user.clone());
        Ok(GrpcResponse::new(pb::ReplaceUserResponse {
            user: Some(store.present(user, request.view)),
        }))
    }

    async fn set_user_active(
        &self,
        _: GrpcRequest<pb::SetUserActiveRequest>,
    ) -> Result<GrpcResponse<pb::SetUserActiveResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn delete_user(
        &self,
        request: GrpcRequest<pb::DeleteUserRequest>,
    ) -> Result<GrpcResponse<pb::DeleteUserResponse>, Status> {
        let request = request.into_inner();
        let mut store = self.store.lock().unwrap();
        let current = store
            .users
            .get(&request.user_id)
            .cloned()
            .ok_or_else(|| failure(Code::NotFound, "USER_NOT_FOUND"))?;
        Self::check_version(request.expected_version, current.version)?;
        store.users.remove(&request.user_id);
        for (_, members) in store.roles.values_mut() {
            members.remove(&request.user_id);
        }
        Ok(GrpcResponse::new(pb::DeleteUserResponse {}))
    }
}

#[tonic::async_trait]
impl RoleService for FakeCore {
    async fn create_role(
        &self,
        request: GrpcRequest<pb::CreateRoleRequest>,
    ) -> Result<GrpcResponse<pb::CreateRoleResponse>, Status> {
        let request = request.into_inner();
        let mut role = request.role.unwrap_or_default();
        let mut store = self.store.lock().unwrap();
        if request
            .member_user_ids
            .iter()
            .any(|id| !store.users.contains_key(id))
        {
            return Err(failure(Code::NotFound, "USER_NOT_FOUND"));
        }
        if store
            .roles
            .values()
            .any(|(r, _)| r.display_name.eq_ignore_ascii_case(&role.display_name))
        {
            return Err(failure(Code::AlreadyExists, "ROLE_NAME_TAKEN"));
        }
        role.id = uuid::Uuid::new_v4().to_string();
        role.version = 1;
        role.create_time = now();
        role.update_time = now();
        let members: BTreeSet<String> = request.member_user_ids.into_iter().collect();
        role.member_count = members.len() as i64;
        store.roles.insert(role.id.clone(), (role.clone(), members));
        Ok(GrpcResponse::new(pb::CreateRoleResponse {
            role: Some(role),
        }))
    }

    async fn get_role(
        &self,
        request: GrpcRequest<pb::GetRoleRequest>,
    ) -> Result<GrpcResponse<pb::GetRoleResponse>, Status> {
        let store = self.store.lock().unwrap();
        let (role, _) = store
            .roles
            .get(&request.into_inner().role_id)
            .cloned()
            .ok_or_else(|| failure(Code::NotFound, "ROLE_NOT_FOUND"))?;
        Ok(GrpcResponse::new(pb::GetRoleResponse { role: Some(role) }))
    }

    async fn list_roles(
        &self,
        request: GrpcRequest<pb::ListRolesRequest>,
    ) -> Result<GrpcResponse<pb::ListRolesResponse>, Status> {
        let request = request.into_inner();
        let store = self.store.lock().unwrap();
        let all: Vec<pb::Role> = store.roles.values().map(|(r, _)| r.clone()).collect();
        let total = all.len() as i64;
        let (roles, next) = Self::page(all, request.skip, request.page_size, &request.page_token);
        Ok(GrpcResponse::new(pb::ListRolesResponse {
            roles,
            next_page_token: next,
            total_size: total,
        }))
    }

    async fn update_role(
        &self,
        _: GrpcRequest<pb::UpdateRoleRequest>,
    ) -> Result<GrpcResponse<pb::UpdateRoleResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn delete_role(
        &self,
        request: GrpcRequest<pb::DeleteRoleRequest>,
    ) -> Result<GrpcResponse<pb::DeleteRoleResponse>, Status> {
        let request = request.into_inner();
        let mut store = self.store.lock().unwrap();
        let (role, _) = store
            .roles
            .get(&request.role_id)
            .cloned()
            .ok_or_else(|| failure(Code::NotFound, "ROLE_NOT_FOUND"))?;
        Self::check_version(request.expected_version, role.version)?;
        store.roles.remove(&request.role_id);
        Ok(GrpcResponse::new(pb::DeleteRoleResponse {}))
    }

    async fn add_role_members(
        &self,
        _: GrpcRequest<pb::AddRoleMembersRequest>,
    ) -> Result<GrpcResponse<pb::AddRoleMembersResponse>, Status> {
        Err(Status::unimplemented("the edge must use ModifyRole"))
    }

    async fn remove_role_members(
        &self,
        _: GrpcRequest<pb::RemoveRoleMembersRequest>,
    ) -> Result<GrpcResponse<pb::RemoveRoleMembersResponse>, Status> {
        Err(Status::unimplemented("the edge must use ModifyRole"))
    }

    async fn replace_role_members(
        &self,
        _: GrpcRequest<pb::ReplaceRoleMembersRequest>,
    ) -> Result<GrpcResponse<pb::ReplaceRoleMembersResponse>, Status> {
        Err(Status::unimplemented("the edge must use ModifyRole"))
    }

    async fn modify_role(
        &self,
        request: GrpcRequest<pb::ModifyRoleRequest>,
    ) -> Result<GrpcResponse<pb::ModifyRoleResponse>, Status> {
        self.modify_calls.fetch_add(1, Ordering::SeqCst);
        let request = request.into_inner();
        let mut store = self.store.lock().unwrap();
        let known = |id: &String| store.users.contains_key(id);
        if !request.member_user_ids.iter().all(known) || !request.add_user_ids.iter().all(known) {
            return Err(failure(Code::NotFound, "USER_NOT_FOUND"));
        }
        let (mut role, mut members) = store
            .roles
            .get(&request.role_id)
            .cloned()
            .ok_or_else(|| failure(Code::NotFound, "ROLE_NOT_FOUND"))?;
        Self::check_version(request.expected_version, role.version)?;
        let new = request.role.unwrap_or_default();
        for path in request.update_mask.map(|m| m.paths).unwrap_or_default() {
            match path.as_str() {
                "display_name" => role.display_name = new.display_name.clone(),
                "external_id" => role.external_id = new.external_id.clone(),
                "extra_attributes" => role.extra_attributes = new.extra_attributes.clone(),
                other => return Err(Status::invalid_argument(format!("mask {other}"))),
            }
        }
        if request.replace_members {
            members = request.member_user_ids.into_iter().collect();
        }
        for id in request.remove_user_ids {
            members.remove(&id);
        }
        members.extend(request.add_user_ids);
        role.version += 1;
        role.member_count = members.len() as i64;
        store.roles.insert(role.id.clone(), (role.clone(), members));
        Ok(GrpcResponse::new(pb::ModifyRoleResponse {
            role: Some(role),
            added_count: 0,
            removed_count: 0,
        }))
    }

    async fn list_role_members(
        &self,
        request: GrpcRequest<pb::ListRoleMembersRequest>,
    ) -> Result<GrpcResponse<pb::ListRoleMembersResponse>, Status> {
        let request = request.into_inner();
        let store = self.store.lock().unwrap();
        let (_, members) = store
            .roles
            .get(&request.role_id)
            .ok_or_else(|| failure(Code::NotFound, "ROLE_NOT_FOUND"))?;
        let members = members
            .iter()
            .map(|id| pb::RoleMember {
                user_id: id.clone(),
                user_name: store
                    .users
                    .get(id)
                    .map(|u| u.user_name.clone())
                    .unwrap_or_default(),
                display_name: String::new(),
                create_time: now(),
            })
            .collect();
        Ok(GrpcResponse::new(pb::ListRoleMembersResponse {
            members,
            next_page_token: String::new(),
        }))
    }

    async fn list_user_roles(
        &self,
        request: GrpcRequest<pb::ListUserRolesRequest>,
    ) -> Result<GrpcResponse<pb::ListUserRolesResponse>, Status> {
        let request = request.into_inner();
        let store = self.store.lock().unwrap();
        let roles = store
            .roles
            .values()
            .filter(|(_, members)| members.contains(&request.user_id))
            .map(|(role, _)| role.clone())
            .collect();
        Ok(GrpcResponse::new(pb::ListUserRolesResponse {
            roles,
            next_page_token: String::new(),
        }))
    }

    async fn check_role_membership(
        &self,
        _: GrpcRequest<pb::CheckRoleMembershipRequest>,
    ) -> Result<GrpcResponse<pb::CheckRoleMembershipResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn batch_check_role_membership(
        &self,
        _: GrpcRequest<pb::BatchCheckRoleMembershipRequest>,
    ) -> Result<GrpcResponse<pb::BatchCheckRoleMembershipResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }
}

async fn start_fake(core: FakeCore) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(TokenServiceServer::new(core.clone()))
            .add_service(UserServiceServer::new(core.clone()))
            .add_service(RoleServiceServer::new(core))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
            .await
            .unwrap();
    });
    addr
}

// === the client side ===

struct Edge {
    app: scim_edge::App,
    core: FakeCore,
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

impl Reply {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
}

async fn edge() -> Edge {
    let core = FakeCore::default();
    let addr = start_fake(core.clone()).await;
    let client = CoreClient::connect_lazy(
        &format!("http://{addr}"),
        Some("edge-test-credential"),
        &Default::default(),
        Duration::from_secs(2),
        Duration::from_secs(10),
    )
    .unwrap();
    let app = router(AppState {
        core: Arc::new(client),
        tokens: Arc::new(TokenCache::new(Duration::from_secs(30), 100)),
        settings: Arc::new(Settings {
            base_url: BASE.to_owned(),
            limits: Limits::default(),
            request_timeout: Duration::from_secs(10),
            max_concurrent_requests: 16,
            client_address_header: None,
        }),
        throttle: Arc::new(Throttle::new(ThrottleLimits::default())),
    });
    Edge { app, core }
}

impl Edge {
    async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Reply {
        self.call_as("good", method, path, body, headers).await
    }

    async fn call_as(
        &self,
        token: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut builder = Request::builder()
            .method(method)
            .uri(format!("/scim/v2{path}"))
            .header(header::AUTHORIZATION, format!("Bearer {token}"));
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let request = match body {
            Some(body) => builder
                .header(header::CONTENT_TYPE, "application/scim+json")
                .body(Body::from(serde_json::to_vec(&body).unwrap()))
                .unwrap(),
            None => builder.body(Body::empty()).unwrap(),
        };
        let response = self.app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = to_bytes(response.into_body(), usize::MAX).await.unwrap();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap()
        };
        Reply {
            status,
            headers,
            body,
        }
    }

    async fn create_user(&self, user_name: &str) -> Value {
        let reply = self
            .call(
                "POST",
                "/Users",
                Some(json!({ "schemas": [USER_SCHEMA], "userName": user_name })),
                &[],
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        reply.body
    }
}

fn patch(operations: Value) -> Value {
    json!({ "schemas": [PATCH_OP], "Operations": operations })
}

// === the flows ===

#[tokio::test]
async fn user_lifecycle_with_versions() {
    let edge = edge().await;
    let created = edge
        .call(
            "POST",
            "/Users",
            Some(json!({
                "schemas": [USER_SCHEMA],
                "userName": "bjensen@example.com",
                "password": "t0p-secret",
                "name": { "givenName": "Barbara" },
                "emails": [{ "value": "bjensen@example.com", "type": "work", "primary": true }],
                "groups": [{ "value": "ignored" }],
                "id": "ignored-too"
            })),
            &[],
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let id = created.body["id"].as_str().unwrap().to_owned();
    let location = format!("{BASE}/Users/{id}");
    assert_eq!(created.header("location"), location);
    assert_eq!(created.body["meta"]["location"], json!(location));
    assert_eq!(created.header("etag"), "W/\"1\"");
    assert_eq!(created.body["meta"]["version"], "W/\"1\"");
    assert_eq!(created.header("content-type"), "application/scim+json");
    assert!(created.body.get("password").is_none());
    assert_eq!(
        created.body["meta"]["created"],
        "2023-11-14T22:13:20.000000Z"
    );

    let path = format!("/Users/{id}");
    let unchanged = edge
        .call("GET", &path, None, &[("if-none-match", "W/\"1\"")])
        .await;
    assert_eq!(unchanged.status, StatusCode::NOT_MODIFIED);
    assert_eq!(unchanged.header("etag"), "W/\"1\"");

    // Okta's deactivate: PATCH replace without path, boolean as a string; one UpdateUser call,
    // nothing read first
    let reads = edge.core.get_user_calls.load(Ordering::SeqCst);
    let deactivated = edge
        .call(
            "PATCH",
            &path,
            Some(patch(
                json!([{ "op": "Replace", "value": { "active": "False" } }]),
            )),
            &[],
        )
        .await;
    assert_eq!(deactivated.status, StatusCode::OK, "{}", deactivated.body);
    assert_eq!(deactivated.body["active"], false);
    assert_eq!(deactivated.header("etag"), "W/\"2\"");
    assert_eq!(
        deactivated.body["name"]["givenName"], "Barbara",
        "the rest is kept"
    );
    assert_eq!(edge.core.get_user_calls.load(Ordering::SeqCst), reads);
    let again = edge
        .call(
            "PATCH",
            &path,
            Some(patch(
                json!([{ "op": "replace", "path": "active", "value": false }]),
            )),
            &[],
        )
        .await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    assert_eq!(
        again.header("etag"),
        "W/\"2\"",
        "a PATCH that changes nothing writes nothing"
    );

    let stale = edge
        .call(
            "PATCH",
            &path,
            Some(patch(
                json!([{ "op": "replace", "path": "title", "value": "x" }]),
            )),
            &[("if-match", "W/\"1\"")],
        )
        .await;
    assert_eq!(
        stale.status,
        StatusCode::PRECONDITION_FAILED,
        "{}",
        stale.body
    );

    let replaced = edge
        .call(
            "PUT",
            &path,
            Some(json!({ "schemas": [USER_SCHEMA], "userName": "bjensen@example.com", "title": "Boss" })),
            &[("if-match", "W/\"2\"")],
        )
        .await;
    assert_eq!(replaced.status, StatusCode::OK, "{}", replaced.body);
    assert_eq!(replaced.body["title"], "Boss");
    assert!(replaced.body.get("name").is_none(), "PUT replaces");
    let stale_put = edge
        .call(
            "PUT",
            &path,
            Some(json!({ "userName": "bjensen@example.com" })),
            &[("if-match", "W/\"2\"")],
        )
        .await;
    assert_eq!(stale_put.status, StatusCode::PRECONDITION_FAILED);

    let deleted = edge.call("DELETE", &path, None, &[]).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let gone = edge.call("GET", &path, None, &[]).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    assert_eq!(gone.body["status"], "404");
}

#[tokio::test]
async fn duplicate_user_name_is_409_uniqueness() {
    let edge = edge().await;
    edge.create_user("alice").await;
    let duplicate = edge
        .call("POST", "/Users", Some(json!({ "userName": "ALICE" })), &[])
        .await;
    assert_eq!(duplicate.status, StatusCode::CONFLICT);
    assert_eq!(duplicate.body["scimType"], "uniqueness");
}

#[tokio::test]
async fn groups_members_and_one_modify_per_patch() {
    let edge = edge().await;
    let a = edge.create_user("a").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let b = edge.create_user("b").await["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let unknown = edge
        .call(
            "POST",
            "/Groups",
            Some(json!({ "schemas": [GROUP_SCHEMA], "displayName": "Eng",
                          "members": [{ "value": uuid::Uuid::new_v4().to_string() }] })),
            &[],
        )
        .await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    assert_eq!(unknown.body["scimType"], "invalidValue");

    let created = edge
        .call(
            "POST",
            "/Groups",
            Some(json!({ "schemas": [GROUP_SCHEMA], "displayName": "Eng", "members": [{ "value": a }] })),
            &[],
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.body["members"][0]["value"], json!(a));
    assert_eq!(created.body["members"][0]["display"], "a");
    let path = format!("/Groups/{}", created.body["id"].as_str().unwrap());

    let before = edge.core.modify_calls.load(Ordering::SeqCst);
    let added = edge
        .call(
            "PATCH",
            &path,
            Some(patch(json!([
                { "op": "Add", "path": "members", "value": [{ "value": b }] },
                { "op": "Replace", "path": "displayName", "value": "Engineering" }
            ]))),
            &[],
        )
        .await;
    // without attributes=..., a group PATCH answers 204 (a large group is not re-rendered)
    assert_eq!(added.status, StatusCode::NO_CONTENT, "{}", added.body);
    assert_eq!(added.header("etag"), "W/\"2\"");
    assert_eq!(edge.core.modify_calls.load(Ordering::SeqCst), before + 1);
    let renamed = edge
        .call("GET", &format!("{path}?attributes=displayName"), None, &[])
        .await;
    assert_eq!(renamed.body["displayName"], "Engineering");

    // Entra's remove with a value list, Okta's filtered remove
    for operation in [
        json!({ "op": "Remove", "path": "members", "value": [{ "value": a }] }),
        json!({ "op": "remove", "path": format!("members[value eq \"{b}\"]") }),
    ] {
        let removed = edge
            .call("PATCH", &path, Some(patch(json!([operation]))), &[])
            .await;
        assert_eq!(removed.status, StatusCode::NO_CONTENT, "{}", removed.body);
    }
    let full = edge.call("GET", &path, None, &[]).await;
    assert_eq!(full.body["members"], json!([]));
    assert_eq!(full.body["displayName"], "Engineering");
    let slim = edge
        .call(
            "GET",
            &format!("{path}?excludedAttributes=members"),
            None,
            &[],
        )
        .await;
    assert!(slim.body.get("members").is_none());

    // the user's groups come from its roles
    let user = edge.call("GET", &format!("/Users/{a}"), None, &[]).await;
    assert!(user.body.get("groups").is_none());
    let put = edge
        .call(
            "PUT",
            &path,
            Some(json!({ "displayName": "Engineering", "members": [{ "value": a }, { "value": b }] })),
            &[],
        )
        .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.body);
    assert_eq!(put.body["members"].as_array().unwrap().len(), 2);
    let user = edge.call("GET", &format!("/Users/{a}"), None, &[]).await;
    assert_eq!(user.body["groups"][0]["display"], "Engineering");
}

#[tokio::test]
async fn bulk_resolves_bulk_ids_and_refuses_cycles() {
    let edge = edge().await;
    let response = edge
        .call(
            "POST",
            "/Bulk",
            Some(json!({
                "schemas": [BULK_REQUEST],
                "Operations": [
                    // refers to a user created by a later operation: runs after it
                    { "method": "POST", "path": "/Groups", "bulkId": "g1",
                      "data": { "displayName": "Bulk", "members": [{ "value": "bulkId:u1" }] } },
                    { "method": "POST", "path": "/Users", "bulkId": "u1", "data": { "userName": "u1" } },
                    { "method": "PATCH", "path": "/Groups/bulkId:g1",
                      "data": patch(json!([{ "op": "add", "path": "members", "value": [{ "value": "bulkId:u2" }] }])) },
                    { "method": "POST", "path": "/Users", "bulkId": "u2", "data": { "userName": "u2" } },
                    { "method": "POST", "path": "/Groups", "bulkId": "x",
                      "data": { "displayName": "X", "members": [{ "value": "bulkId:y" }] } },
                    { "method": "POST", "path": "/Groups", "bulkId": "y",
                      "data": { "displayName": "Y", "members": [{ "value": "bulkId:x" }] } },
                    { "method": "DELETE", "path": "/Users/bulkId:nobody" }
                ]
            })),
            &[],
        )
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    let ops = response.body["Operations"].as_array().unwrap();
    let statuses: Vec<&str> = ops
        .iter()
        .map(|op| op["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        ["201", "201", "204", "201", "409", "409", "409"],
        "{}",
        response.body
    );
    assert!(
        ops[0]["location"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{BASE}/Groups/"))
    );
    assert_eq!(ops[0]["version"], "W/\"1\"");
    assert_eq!(ops[4]["response"]["scimType"], "invalidValue");
    let group = edge
        .call(
            "GET",
            &ops[0]["location"].as_str().unwrap()[BASE.len()..],
            None,
            &[],
        )
        .await;
    assert_eq!(
        group.body["members"].as_array().unwrap().len(),
        2,
        "{}",
        group.body
    );

    let stop = edge
        .call(
            "POST",
            "/Bulk",
            Some(json!({
                "schemas": [BULK_REQUEST],
                "failOnErrors": 1,
                "Operations": [
                    { "method": "POST", "path": "/Users", "bulkId": "a", "data": { "userName": "u1" } },
                    { "method": "POST", "path": "/Users", "bulkId": "b", "data": { "userName": "fresh" } }
                ]
            })),
            &[],
        )
        .await;
    let ops = stop.body["Operations"].as_array().unwrap();
    assert_eq!(ops.len(), 1, "{}", stop.body);
    assert_eq!(ops[0]["status"], "409");
    assert_eq!(ops[0]["response"]["scimType"], "uniqueness");
}

#[tokio::test]
async fn lists_page_by_index_and_cursor_and_root_search_spans_types() {
    let edge = edge().await;
    for name in ["u1", "u2", "u3", "u4", "u5"] {
        edge.create_user(name).await;
    }
    let totals = edge.call("GET", "/Users?count=0", None, &[]).await;
    assert_eq!(totals.body["totalResults"], 5);
    assert_eq!(totals.body["itemsPerPage"], 0);
    assert_eq!(totals.body["Resources"], json!([]));

    let middle = edge
        .call("GET", "/Users?startIndex=2&count=2", None, &[])
        .await;
    assert_eq!(middle.body["startIndex"], 2);
    assert_eq!(middle.body["itemsPerPage"], 2);
    assert_eq!(middle.body["Resources"][0]["userName"], "u2");

    let mut seen = Vec::new();
    let mut url = "/Users?count=2&cursor=".to_owned();
    loop {
        let page = edge.call("GET", &url, None, &[]).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        assert!(page.body.get("startIndex").is_none());
        for user in page.body["Resources"].as_array().unwrap() {
            seen.push(user["userName"].as_str().unwrap().to_owned());
        }
        match page.body["nextCursor"].as_str() {
            Some(next) => url = format!("/Users?count=2&cursor={next}"),
            None => break,
        }
    }
    assert_eq!(seen, ["u1", "u2", "u3", "u4", "u5"]);

    edge.call("POST", "/Groups", Some(json!({ "displayName": "G1" })), &[])
        .await;
    let all = edge
        .call(
            "POST",
            "/.search",
            Some(json!({ "schemas": [SEARCH_REQUEST], "startIndex": 5, "count": 2 })),
            &[],
        )
        .await;
    assert_eq!(all.status, StatusCode::OK, "{}", all.body);
    assert_eq!(all.body["totalResults"], 6);
    let types: Vec<&str> = all.body["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["meta"]["resourceType"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["User", "Group"]);

    let mut seen = 0;
    let mut cursor = String::new();
    loop {
        let page = edge
            .call(
                "POST",
                "/.search",
                Some(json!({ "schemas": [SEARCH_REQUEST], "count": 4, "cursor": cursor })),
                &[],
            )
            .await;
        assert_eq!(page.body["totalResults"], 6);
        seen += page.body["Resources"].as_array().unwrap().len();
        match page.body["nextCursor"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => break,
        }
    }
    assert_eq!(seen, 6);
}

#[tokio::test]
async fn me_acts_on_the_token_user() {
    let edge = edge().await;
    let id = edge.create_user("self").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let token = format!("me:{id}");
    let me = edge.call_as(&token, "GET", "/Me", None, &[]).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.body);
    assert_eq!(me.body["id"], json!(id));
    assert_eq!(me.header("etag"), "W/\"1\"");
    let patched = edge
        .call_as(
            &token,
            "PATCH",
            "/Me",
            Some(patch(
                json!([{ "op": "replace", "path": "nickName", "value": "Me" }]),
            )),
            &[],
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
    assert_eq!(patched.body["nickName"], "Me");
    let provisioning = edge.call("GET", "/Me", None, &[]).await;
    assert_eq!(provisioning.status, StatusCode::NOT_IMPLEMENTED);
    let deleted = edge.call_as(&token, "DELETE", "/Me", None, &[]).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
}
