//! `/Users` (RFC 7644 §3.3–3.6): create, retrieve, list, replace, patch and delete users
//! through the core's UserService, one call per request where nothing has to be read first:
//! `groups` comes in the same answer (USER_VIEW_WITH_ROLES), asked for only when the response
//! will show it.
//!
//! Concurrency: PUT, PATCH and DELETE pass `If-Match` to the core as `expected_version`. A
//! PATCH that only sets single-valued attributes (deactivation, names, titles) is one
//! `UpdateUser` call applied in the core's transaction. Any other PATCH reads the user, applies
//! the operations to its SCIM JSON and replaces it with the version it read, so a concurrent
//! writer is never silently overwritten; without `If-Match` a lost race is retried a few times,
//! with `If-Match` it is the client's 412.

use axum::http::{HeaderMap, StatusCode};
use identity_proto::identity::v1 as pb;
use serde_json::Value;

use super::Reply;
use super::resource::ScimResource;
use crate::core_client::{outgoing_request, outgoing_write};
use crate::error::{ScimError, ScimResult, is_version_mismatch};
use crate::etag::{etag, if_none_match};
use crate::filter::{core_sort_path, to_core_filter};
use crate::list::{ListParams, Paging, Projection, list_response};
use crate::paging::{decode_cursor, encode_cursor};
use crate::patch::{UserPatchPlan, apply_patch, parse_patch_request, plan_user_patch};
use crate::resource::InputMode;
use crate::resource::user::{user_from_scim, user_to_scim};
use crate::schema::ResourceKind;
use crate::state::AppState;

/// Attempts of a PATCH that loses a race with another writer (no `If-Match` given).
const PATCH_ATTEMPTS: usize = 3;

/// Cursor scope of `/Users` lists.
pub(crate) const CURSOR_SCOPE: &str = "Users";

/// Ids are the core's UUIDs: anything else cannot exist, and must not reach the core as an
/// argument error.
pub(crate) fn check_id(id: &str) -> ScimResult<()> {
    uuid::Uuid::parse_str(id)
        .map(|_| ())
        .map_err(|_| ScimError::not_found(format!("resource {id} not found")))
}

/// `/Users` as a SCIM resource type (see `resource`).
pub(crate) struct Users;

// === operations ===

impl ScimResource for Users {
    /// POST /Users: creates the user; an existing user with the same userName (any case) is
    /// `409 uniqueness`. Members who existed before SCIM was connected are linked the way providers
    /// do it: their `userName eq` / email query finds them and the provider's PUT or PATCH takes
    /// them over, leaving their roles as they are.
    async fn create(
        state: &AppState,
        org: &str,
        body: &Value,
        projection: &Projection,
    ) -> ScimResult<Reply> {
        let input = user_from_scim(body, InputMode::Request)?;
        let mut users = state.core.users.clone();
        let response = users
            .create_user(outgoing_write(pb::CreateUserRequest {
                organization_id: org.to_owned(),
                user: Some(input.user),
                password: input.password.unwrap_or_default(),
                adopt_existing: false,
                view: user_view(projection) as i32,
            }))
            .await?
            .into_inner();
        let user = response.user.ok_or_else(ScimError::internal)?;
        Ok(Reply::created(render_user(state, &user, projection)))
    }

    /// GET /Users/{id}; 304 when `If-None-Match` matches.
    async fn get(
        state: &AppState,
        org: &str,
        id: &str,
        headers: Option<&HeaderMap>,
        projection: &Projection,
    ) -> ScimResult<Reply> {
        let user = read_user(state, org, id, user_view(projection)).await?;
        if headers.is_some_and(|headers| if_none_match(headers, user.version)) {
            let mut reply = Reply::empty(StatusCode::NOT_MODIFIED);
            reply.etag = Some(etag(user.version));
            return Ok(reply);
        }
        let body = render_user(state, &user, projection);
        Ok(Reply::resource(StatusCode::OK, body))
    }

    /// PUT /Users/{id}: replaces every writable attribute.
    async fn replace(
        state: &AppState,
        org: &str,
        id: &str,
        body: &Value,
        expected_version: Option<i64>,
        projection: &Projection,
    ) -> ScimResult<Reply> {
        check_id(id)?;
        let input = user_from_scim(body, InputMode::Request)?;
        let mut user = input.user;
        user.id = id.to_owned();
        let user = write_user(
            state,
            org,
            user,
            input.password,
            expected_version,
            user_view(projection),
        )
        .await?;
        let body = render_user(state, &user, projection);
        Ok(Reply::resource(StatusCode::OK, body))
    }

    /// PATCH /Users/{id} (RFC 7644 §3.5.2): 200 with the patched resource.
    async fn patch(
        state: &AppState,
        org: &str,
        id: &str,
        body: &Value,
        expected_version: Option<i64>,
        projection: &Projection,
    ) -> ScimResult<Reply> {
        let operations = parse_patch_request(body)?;
        if let Some(plan) = plan_user_patch(&operations)
            && let Some(reply) =
                patch_by_plan(state, org, id, plan, expected_version, projection).await?
        {
            return Ok(reply);
        }
        let mut attempt = 0;
        loop {
            attempt += 1;
            let current = read_user(state, org, id, user_view(projection)).await?;
            if expected_version.is_some_and(|expected| expected != current.version) {
                return Err(ScimError::precondition_failed(
                    "the resource was changed: version mismatch",
                ));
            }
            let before = user_to_scim(&current, &state.settings, false);
            let mut patched = before.clone();
            apply_patch(&mut patched, &operations, ResourceKind::User)?;
            if patched == before {
                // nothing changed: no write, no new version
                let body = render_user(state, &current, projection);
                return Ok(Reply::resource(StatusCode::OK, body));
            }
            let input = user_from_scim(&patched, InputMode::Patched)?;
            let mut user = input.user;
            user.id = current.id.clone();
            user.managed_by = current.managed_by;
            let view = user_view(projection);
            match write_user(
                state,
                org,
                user,
                input.password,
                Some(current.version),
                view,
            )
            .await
            {
                Ok(user) => {
                    let body = render_user(state, &user, projection);
                    return Ok(Reply::resource(StatusCode::OK, body));
                }
                Err(WriteError::Conflict(status))
                    if expected_version.is_none() && attempt < PATCH_ATTEMPTS =>
                {
                    tracing::debug!(org_id = %org, user_id = %id, attempt, code = ?status.code(), "patch lost a race, retrying");
                }
                Err(error) => return Err(error.into()),
            }
        }
    }

    /// DELETE /Users/{id}: 204.
    async fn delete(
        state: &AppState,
        org: &str,
        id: &str,
        expected_version: Option<i64>,
    ) -> ScimResult<Reply> {
        check_id(id)?;
        let mut users = state.core.users.clone();
        users
            .delete_user(outgoing_write(pb::DeleteUserRequest {
                organization_id: org.to_owned(),
                user_id: id.to_owned(),
                expected_version,
                requested_by: pb::ManagedBy::Scim as i32,
            }))
            .await?;
        Ok(Reply::empty(StatusCode::NO_CONTENT))
    }

    /// GET /Users and POST /Users/.search: a ListResponse. `groups` is returned in lists only
    /// when `attributes` names it (the core then adds every user's roles with one statement).
    async fn list(state: &AppState, org: &str, params: &ListParams) -> ScimResult<Reply> {
        let query = UserQuery::new(params)?;
        let (page_token, skip) = match &params.paging {
            Paging::Index { start_index } => (String::new(), start_index - 1),
            Paging::Cursor { cursor } => (decode_cursor(CURSOR_SCOPE, cursor)?, 0),
        };
        let page = query
            .page(state, org, params.count, page_token, skip)
            .await?;
        let next_cursor = match &params.paging {
            Paging::Cursor { .. } if !page.next_page_token.is_empty() && params.count > 0 => {
                Some(encode_cursor(CURSOR_SCOPE, &page.next_page_token))
            }
            _ => None,
        };
        let large = page.users.len() > LARGE_LIST;
        let (state, projection, paging) = (
            state.clone(),
            params.projection.clone(),
            params.paging.clone(),
        );
        let with_groups = query.with_groups;
        Ok(Reply::list(large, move || {
            let resources = page
                .users
                .iter()
                .map(|user| render_list_user(&state, user, &projection, with_groups))
                .collect();
            list_response(page.total, &paging, resources, next_cursor)
        })
        .await)
    }
}

/// A planned PATCH (see `crate::patch::plan_user_patch`): one `UpdateUser` call, which the core
/// applies in its transaction (writing nothing when nothing changes). `None` when the values do
/// not parse, so the general path answers with its own error.
async fn patch_by_plan(
    state: &AppState,
    org: &str,
    id: &str,
    plan: UserPatchPlan,
    expected_version: Option<i64>,
    projection: &Projection,
) -> ScimResult<Option<Reply>> {
    check_id(id)?;
    let Ok(input) = user_from_scim(&plan.values, InputMode::Partial) else {
        return Ok(None);
    };
    let mut user = input.user;
    user.id = id.to_owned();
    let mut users = state.core.users.clone();
    let updated = users
        .update_user(outgoing_write(pb::UpdateUserRequest {
            organization_id: org.to_owned(),
            user: Some(user),
            update_mask: Some(prost_types::FieldMask {
                paths: plan.mask.iter().map(|path| (*path).to_owned()).collect(),
            }),
            expected_version,
            password: String::new(),
            view: user_view(projection) as i32,
        }))
        .await?
        .into_inner()
        .user
        .ok_or_else(ScimError::internal)?;
    Ok(Some(Reply::resource(
        StatusCode::OK,
        render_user(state, &updated, projection),
    )))
}

/// A list of more users than this is rendered off the async workers (see `Reply::list`).
const LARGE_LIST: usize = 100;

// === core calls ===

/// A translated user query (filter and order in the core's names).
#[derive(Debug, Clone)]
pub(crate) struct UserQuery {
    filter: Option<pb::Filter>,
    order_by: String,
    sort_order: pb::SortOrder,
    /// Whether the listed users show `groups` (only when `attributes` names it).
    pub(crate) with_groups: bool,
}

/// One page of users with the exact total.
#[derive(Debug, Clone)]
pub(crate) struct UserPage {
    pub(crate) total: i64,
    pub(crate) users: Vec<pb::User>,
    pub(crate) next_page_token: String,
}

impl UserQuery {
    pub(crate) fn new(params: &ListParams) -> ScimResult<Self> {
        Ok(Self {
            filter: params
                .filter
                .as_ref()
                .map(|filter| to_core_filter(filter, ResourceKind::User))
                .transpose()?,
            order_by: params
                .sort_by
                .as_deref()
                .map(|sort_by| core_sort_path(ResourceKind::User, sort_by))
                .transpose()?
                .unwrap_or_default(),
            sort_order: params.sort_order,
            with_groups: params.projection.explicitly_requests("groups"),
        })
    }

    /// The lookup key when the filter is exactly `userName eq "…"` or `externalId eq "…"`:
    /// the check Okta and Entra ID make before every user they push.
    fn lookup_key(&self) -> Option<pb::lookup_user_request::Key> {
        use pb::filter::Kind;
        use pb::filter_value::Kind as Value;
        let Some(Kind::Comparison(comparison)) = self.filter.as_ref()?.kind.as_ref() else {
            return None;
        };
        if comparison.operator != pb::Operator::Eq as i32 {
            return None;
        }
        let Some(Value::StringValue(value)) = comparison.value.as_ref()?.kind.as_ref() else {
            return None;
        };
        match comparison.attribute.as_str() {
            "user_name" => Some(pb::lookup_user_request::Key::UserName(value.clone())),
            "external_id" => Some(pb::lookup_user_request::Key::ExternalId(value.clone())),
            _ => None,
        }
    }

    /// The first page of a filter on one unique key is at most that one user: `LookupUser`
    /// answers it from the key's index without the list machinery (keyset positions, totals),
    /// the same users as a list would return, a sixth fewer instructions in the core.
    async fn lookup_page(
        &self,
        state: &AppState,
        org: &str,
        count: i32,
        key: pb::lookup_user_request::Key,
    ) -> ScimResult<UserPage> {
        let mut users = state.core.users.clone();
        let found = users
            .lookup_user(outgoing_request(pb::LookupUserRequest {
                organization_id: org.to_owned(),
                key: Some(key),
                view: if self.with_groups {
                    pb::UserView::WithRoles
                } else {
                    pb::UserView::Basic
                } as i32,
            }))
            .await;
        let user = match found {
            Ok(response) => response.into_inner().user,
            Err(status)
                if identity_proto::identity::v1::ErrorReason::of(&status)
                    == Some(identity_proto::identity::v1::ErrorReason::UserNotFound) =>
            {
                None
            }
            Err(status) => return Err(status.into()),
        };
        Ok(UserPage {
            total: i64::from(user.is_some()),
            users: user.filter(|_| count > 0).into_iter().collect(),
            next_page_token: String::new(),
        })
    }

    /// `count` users after skipping `skip` (or from `page_token`); `count == 0` only counts.
    pub(crate) async fn page(
        &self,
        state: &AppState,
        org: &str,
        count: i32,
        page_token: String,
        skip: i64,
    ) -> ScimResult<UserPage> {
        if skip == 0
            && page_token.is_empty()
            && let Some(key) = self.lookup_key()
        {
            return self.lookup_page(state, org, count, key).await;
        }
        let mut users = state.core.users.clone();
        let response = users
            .list_users(outgoing_request(pb::ListUsersRequest {
                organization_id: org.to_owned(),
                filter: self.filter.clone(),
                order_by: self.order_by.clone(),
                sort_order: self.sort_order as i32,
                // the core reads 0 as "its default", so a totals-only request asks for one
                // result and drops it
                page_size: count.max(1),
                page_token,
                skip: i32::try_from(skip).unwrap_or(i32::MAX),
                include_total_size: true,
                view: if self.with_groups {
                    pb::UserView::WithRoles
                } else {
                    pb::UserView::Basic
                } as i32,
            }))
            .await?
            .into_inner();
        Ok(UserPage {
            total: response.total_size,
            users: if count == 0 {
                Vec::new()
            } else {
                response.users
            },
            next_page_token: response.next_page_token,
        })
    }
}

pub(crate) async fn read_user(
    state: &AppState,
    org: &str,
    id: &str,
    view: pb::UserView,
) -> ScimResult<pb::User> {
    check_id(id)?;
    let mut users = state.core.users.clone();
    users
        .get_user(outgoing_request(pb::GetUserRequest {
            organization_id: org.to_owned(),
            user_id: id.to_owned(),
            view: view as i32,
        }))
        .await?
        .into_inner()
        .user
        .ok_or_else(ScimError::internal)
}

enum WriteError {
    Conflict(tonic::Status),
    Other(tonic::Status),
}

impl From<WriteError> for ScimError {
    fn from(error: WriteError) -> Self {
        match error {
            WriteError::Conflict(status) | WriteError::Other(status) => ScimError::from(status),
        }
    }
}

async fn write_user(
    state: &AppState,
    org: &str,
    user: pb::User,
    password: Option<String>,
    expected_version: Option<i64>,
    view: pb::UserView,
) -> Result<pb::User, WriteError> {
    let mut users = state.core.users.clone();
    let result = users
        .replace_user(outgoing_write(pb::ReplaceUserRequest {
            organization_id: org.to_owned(),
            user: Some(user),
            expected_version,
            password: password.unwrap_or_default(),
            view: view as i32,
        }))
        .await;
    match result {
        Ok(response) => response
            .into_inner()
            .user
            .ok_or_else(|| WriteError::Other(tonic::Status::internal("replace returned no user"))),
        Err(status) if is_version_mismatch(&status) => Err(WriteError::Conflict(status)),
        Err(status) => Err(WriteError::Other(status)),
    }
}

/// What a single-user response needs from the core: its roles too when `groups` will show.
pub(crate) fn user_view(projection: &Projection) -> pb::UserView {
    if projection.wants(ResourceKind::User, "groups") {
        pb::UserView::WithRoles
    } else {
        pb::UserView::Basic
    }
}

/// The projected SCIM JSON of a single user read with [`user_view`] of `projection`.
pub(crate) fn render_user(state: &AppState, user: &pb::User, projection: &Projection) -> Value {
    let with_groups = projection.wants(ResourceKind::User, "groups");
    let mut body = user_to_scim(user, &state.settings, with_groups);
    projection.apply(&mut body, ResourceKind::User);
    body
}

/// The projected SCIM JSON of a listed user; `with_groups` as the list asked the core.
pub(crate) fn render_list_user(
    state: &AppState,
    user: &pb::User,
    projection: &Projection,
    with_groups: bool,
) -> Value {
    let mut body = user_to_scim(user, &state.settings, with_groups);
    projection.apply(&mut body, ResourceKind::User);
    body
}
