//! `/Groups` (RFC 7644 §3.3–3.6): the core's roles presented as SCIM Groups.
//!
//! Members are loaded (paging RoleService.ListRoleMembers) only when the response shows them:
//! single-resource responses show them unless `excludedAttributes=members`; list, search and
//! PATCH responses show them only when `attributes` names `members`, because a group can be
//! very large. PUT maps to one ModifyRole with `replace_members` (the core writes only the
//! differences; a PUT without `members` leaves membership as it is, RFC 7644 §3.5.1 lets the
//! provider choose). PATCH maps to exactly one ModifyRole built by
//! `patch::plan_group_patch`, never reading or rewriting the member list.

use axum::http::{HeaderMap, StatusCode};
use identity_proto::identity::v1 as pb;
use prost_types::FieldMask;
use serde_json::Value;

use super::Reply;
use super::resource::ScimResource;
use super::users::check_id;
use crate::core_client::{outgoing_request, outgoing_write};
use crate::error::{ScimError, ScimResult, is_version_mismatch};
use crate::etag::{etag, if_none_match};
use crate::filter::{core_sort_path, to_core_filter};
use crate::list::{ListParams, Paging, Projection, list_response};
use crate::paging::{decode_cursor, encode_cursor};
use crate::patch::{parse_patch_request, plan_group_patch};
use crate::resource::InputMode;
use crate::resource::group::{group_from_scim, group_to_scim};
use crate::schema::ResourceKind;
use crate::state::AppState;

/// Cursor scope of `/Groups` lists.
pub(crate) const CURSOR_SCOPE: &str = "Groups";
/// Members per ListRoleMembers page (the core's maximum).
const MEMBER_PAGE: i32 = 10_000;
/// The most members one list response carries (`GET /Groups?attributes=members`): the edge holds
/// a page's members in memory to render them, so this, not the tenant's memberships, bounds it.
pub(crate) const MAX_LISTED_MEMBERS: i64 = 100_000;
/// A group with more members than this costs about what a page of 1,000 users does to read.
const LARGE_GROUP: i64 = 1_000;
/// Attempts of a PATCH changing attributes that loses a race (no `If-Match` given).
const PATCH_ATTEMPTS: usize = 3;

/// `/Groups` as a SCIM resource type (see `resource`).
pub(crate) struct Groups;

// === operations ===

impl ScimResource for Groups {
    /// POST /Groups: an unknown member id is `400 invalidValue`.
    async fn create(
        state: &AppState,
        org: &str,
        body: &Value,
        projection: &Projection,
    ) -> ScimResult<Reply> {
        let input = group_from_scim(body, InputMode::Request)?;
        let has_members = input.members.as_ref().is_some_and(|m| !m.is_empty());
        let mut roles = state.core.roles.clone();
        let role = roles
            .create_role(outgoing_write(pb::CreateRoleRequest {
                organization_id: org.to_owned(),
                role: Some(input.role),
                member_user_ids: input.members.unwrap_or_default(),
            }))
            .await
            .map_err(ScimError::from_member_reference)?
            .into_inner()
            .role
            .ok_or_else(ScimError::internal)?;
        let members = if !projection.wants(ResourceKind::Group, "members") {
            None
        } else if has_members {
            Some(role_members(state, org, &role).await?)
        } else {
            Some(Vec::new())
        };
        Ok(Reply::created(render(
            state,
            &role,
            members.as_deref(),
            projection,
        )))
    }

    /// GET /Groups/{id}; 304 when `If-None-Match` matches (checked before loading members).
    async fn get(
        state: &AppState,
        org: &str,
        id: &str,
        headers: Option<&HeaderMap>,
        projection: &Projection,
    ) -> ScimResult<Reply> {
        let role = read_role(state, org, id).await?;
        if headers.is_some_and(|headers| if_none_match(headers, role.version)) {
            let mut reply = Reply::empty(StatusCode::NOT_MODIFIED);
            reply.etag = Some(etag(role.version));
            return Ok(reply);
        }
        let members = if projection.wants(ResourceKind::Group, "members") {
            Some(role_members(state, org, &role).await?)
        } else {
            None
        };
        Ok(Reply::resource(
            StatusCode::OK,
            render(state, &role, members.as_deref(), projection),
        ))
    }

    /// PUT /Groups/{id}: one ModifyRole call.
    async fn replace(
        state: &AppState,
        org: &str,
        id: &str,
        body: &Value,
        expected_version: Option<i64>,
        projection: &Projection,
    ) -> ScimResult<Reply> {
        check_id(id)?;
        let input = group_from_scim(body, InputMode::Request)?;
        let mut role = input.role;
        role.id = id.to_owned();
        let replace_members = input.members.is_some();
        let request = pb::ModifyRoleRequest {
            organization_id: org.to_owned(),
            role_id: id.to_owned(),
            role: Some(role),
            update_mask: Some(FieldMask {
                paths: vec![
                    "display_name".to_owned(),
                    "external_id".to_owned(),
                    "extra_attributes".to_owned(),
                ],
            }),
            replace_members,
            member_user_ids: input.members.unwrap_or_default(),
            remove_user_ids: Vec::new(),
            add_user_ids: Vec::new(),
            expected_version,
        };
        let role = modify_role(state, request)
            .await
            .map_err(ScimError::from_member_reference)?;
        let members = if projection.wants(ResourceKind::Group, "members") {
            Some(role_members(state, org, &role).await?)
        } else {
            None
        };
        Ok(Reply::resource(
            StatusCode::OK,
            render(state, &role, members.as_deref(), projection),
        ))
    }

    /// PATCH /Groups/{id}: exactly one ModifyRole call (preceded by a GetRole, without members,
    /// only when attributes other than `members` change).
    async fn patch(
        state: &AppState,
        org: &str,
        id: &str,
        body: &Value,
        expected_version: Option<i64>,
        projection: &Projection,
    ) -> ScimResult<Reply> {
        check_id(id)?;
        let operations = parse_patch_request(body)?;
        let plan = plan_group_patch(&operations)?;
        let mut attempt = 0;
        let role = loop {
            attempt += 1;
            let (role, mask, version) = if plan.attribute_ops.is_empty() {
                (None, Vec::new(), expected_version)
            } else {
                let current = read_role(state, org, id).await?;
                if expected_version.is_some_and(|expected| expected != current.version) {
                    return Err(ScimError::precondition_failed(
                        "the resource was changed: version mismatch",
                    ));
                }
                let mut json = group_to_scim(&current, &state.settings, None);
                let mask = plan.apply_attributes(&mut json)?;
                let mut role = group_from_scim(&json, InputMode::Patched)?.role;
                role.id = current.id.clone();
                // the attributes were computed from this version: a concurrent change must not be
                // overwritten
                (Some(role), mask, Some(current.version))
            };
            if mask.is_empty() && !plan.changes_members() {
                // nothing to write
                break read_role(state, org, id).await?;
            }
            let request = pb::ModifyRoleRequest {
                organization_id: org.to_owned(),
                role_id: id.to_owned(),
                role,
                update_mask: Some(FieldMask {
                    paths: mask.iter().map(|path| (*path).to_owned()).collect(),
                }),
                replace_members: plan.replace_members.is_some(),
                member_user_ids: plan.replace_members.clone().unwrap_or_default(),
                remove_user_ids: plan.remove.clone(),
                add_user_ids: plan.add.clone(),
                expected_version: version,
            };
            match modify_role(state, request).await {
                Ok(role) => break role,
                Err(status)
                    if is_version_mismatch(&status)
                        && expected_version.is_none()
                        && attempt < PATCH_ATTEMPTS =>
                {
                    tracing::debug!(org_id = %org, group_id = %id, attempt, "group patch lost a race, retrying");
                }
                Err(status) => return Err(ScimError::from_member_reference(status)),
            }
        };
        if projection.attributes.is_empty() && projection.excluded.is_empty() {
            // RFC 7644 §3.5.2 allows 204: the "entire resource" of a group with 100,000 members is
            // not worth rendering for a provider that only wanted to add one of them
            let mut reply = Reply::empty(StatusCode::NO_CONTENT);
            reply.etag = Some(etag(role.version));
            return Ok(reply);
        }
        let members = if projection.explicitly_requests("members")
            && projection.wants(ResourceKind::Group, "members")
        {
            Some(role_members(state, org, &role).await?)
        } else {
            None
        };
        Ok(Reply::resource(
            StatusCode::OK,
            render(state, &role, members.as_deref(), projection),
        ))
    }

    /// DELETE /Groups/{id}: 204.
    async fn delete(
        state: &AppState,
        org: &str,
        id: &str,
        expected_version: Option<i64>,
    ) -> ScimResult<Reply> {
        check_id(id)?;
        let mut roles = state.core.roles.clone();
        roles
            .delete_role(outgoing_write(pb::DeleteRoleRequest {
                organization_id: org.to_owned(),
                role_id: id.to_owned(),
                expected_version,
            }))
            .await?;
        Ok(Reply::empty(StatusCode::NO_CONTENT))
    }

    /// GET /Groups: the page, members only when `attributes` names them.
    async fn list(state: &AppState, org: &str, params: &ListParams) -> ScimResult<Reply> {
        list_groups(state, org, params).await.map(Reply::ok)
    }
}

/// GET /Groups and POST /Groups/.search.
pub(crate) async fn list_groups(
    state: &AppState,
    org: &str,
    params: &ListParams,
) -> ScimResult<Value> {
    let query = GroupQuery::new(params)?;
    let (page_token, skip) = match &params.paging {
        Paging::Index { start_index } => (String::new(), start_index - 1),
        Paging::Cursor { cursor } => (decode_cursor(CURSOR_SCOPE, cursor)?, 0),
    };
    let page = query
        .page(state, org, params.count, page_token, skip)
        .await?;
    let shortened = matches!(params.paging, Paging::Index { .. });
    let listed = listed_with_members(&page.roles, &params.projection, shortened)?;
    let mut resources = Vec::with_capacity(listed);
    for role in &page.roles[..listed] {
        resources.push(render_list_group(state, org, role, &params.projection).await?);
    }
    let next_cursor = match &params.paging {
        Paging::Cursor { .. } if !page.next_page_token.is_empty() && params.count > 0 => {
            Some(encode_cursor(CURSOR_SCOPE, &page.next_page_token))
        }
        _ => None,
    };
    Ok(list_response(
        page.total,
        &params.paging,
        resources,
        next_cursor,
    ))
}

// === core calls ===

/// A translated group query.
#[derive(Debug, Clone)]
pub(crate) struct GroupQuery {
    filter: Option<pb::Filter>,
    order_by: String,
    sort_order: pb::SortOrder,
}

/// One page of roles with the exact total.
#[derive(Debug, Clone)]
pub(crate) struct GroupPage {
    pub(crate) total: i64,
    pub(crate) roles: Vec<pb::Role>,
    pub(crate) next_page_token: String,
}

impl GroupQuery {
    pub(crate) fn new(params: &ListParams) -> ScimResult<Self> {
        Ok(Self {
            filter: params
                .filter
                .as_ref()
                .map(|filter| to_core_filter(filter, ResourceKind::Group))
                .transpose()?,
            order_by: params
                .sort_by
                .as_deref()
                .map(|sort_by| core_sort_path(ResourceKind::Group, sort_by))
                .transpose()?
                .unwrap_or_default(),
            sort_order: params.sort_order,
        })
    }

    /// `count` roles after skipping `skip` (or from `page_token`); `count == 0` only counts.
    pub(crate) async fn page(
        &self,
        state: &AppState,
        org: &str,
        count: i32,
        page_token: String,
        skip: i64,
    ) -> ScimResult<GroupPage> {
        let mut roles = state.core.roles.clone();
        let response = roles
            .list_roles(outgoing_request(pb::ListRolesRequest {
                organization_id: org.to_owned(),
                filter: self.filter.clone(),
                order_by: self.order_by.clone(),
                sort_order: self.sort_order as i32,
                page_size: count.max(1),
                page_token,
                skip: i32::try_from(skip).unwrap_or(i32::MAX),
                include_total_size: true,
            }))
            .await?
            .into_inner();
        Ok(GroupPage {
            total: response.total_size,
            roles: if count == 0 {
                Vec::new()
            } else {
                response.roles
            },
            next_page_token: response.next_page_token,
        })
    }
}

async fn read_role(state: &AppState, org: &str, id: &str) -> ScimResult<pb::Role> {
    check_id(id)?;
    let mut roles = state.core.roles.clone();
    roles
        .get_role(outgoing_request(pb::GetRoleRequest {
            organization_id: org.to_owned(),
            role_id: id.to_owned(),
        }))
        .await?
        .into_inner()
        .role
        .ok_or_else(ScimError::internal)
}

async fn modify_role(
    state: &AppState,
    request: pb::ModifyRoleRequest,
) -> Result<pb::Role, tonic::Status> {
    let mut roles = state.core.roles.clone();
    roles
        .modify_role(outgoing_write(request))
        .await?
        .into_inner()
        .role
        .ok_or_else(|| tonic::Status::internal("modify returned no role"))
}

/// Every member of a role, following pages. A large group is heavy work (see `fair`): its
/// members are read holding a heavy-work slot.
pub(crate) async fn role_members(
    state: &AppState,
    org: &str,
    role: &pb::Role,
) -> ScimResult<Vec<pb::RoleMember>> {
    let _heavy = if role.member_count > LARGE_GROUP && !crate::fair::holds_slot() {
        state.throttle.heavy_slot(org).await
    } else {
        None
    };
    let role_id = &role.id;
    let mut roles = state.core.roles.clone();
    let mut all = Vec::new();
    let mut page_token = String::new();
    loop {
        let response = roles
            .list_role_members(outgoing_request(pb::ListRoleMembersRequest {
                organization_id: org.to_owned(),
                role_id: role_id.to_owned(),
                page_size: MEMBER_PAGE,
                page_token,
            }))
            .await?
            .into_inner();
        all.extend(response.members);
        if response.next_page_token.is_empty() {
            return Ok(all);
        }
        page_token = response.next_page_token;
    }
}

fn render(
    state: &AppState,
    role: &pb::Role,
    members: Option<&[pb::RoleMember]>,
    projection: &Projection,
) -> Value {
    let mut body = group_to_scim(role, &state.settings, members);
    projection.apply(&mut body, ResourceKind::Group);
    body
}

/// How many of a page's groups to render. With members asked for, their member counts may sum to
/// at most [`MAX_LISTED_MEMBERS`]: a longer page ends early where `may_shorten` (startIndex
/// paging: `itemsPerPage` tells the client, who walks on from there) and is refused `tooMany`
/// otherwise (a cursor cannot resume inside a page), as is a first group larger than the budget.
pub(crate) fn listed_with_members(
    roles: &[pb::Role],
    projection: &Projection,
    may_shorten: bool,
) -> ScimResult<usize> {
    if !projection.explicitly_requests("members") {
        return Ok(roles.len());
    }
    let mut members = 0;
    for (index, role) in roles.iter().enumerate() {
        members += role.member_count;
        if members > MAX_LISTED_MEMBERS {
            return match index {
                0 => Err(ScimError::too_many(format!(
                    "group {} has {} members, more than a list returns ({MAX_LISTED_MEMBERS}); read it with GET /Groups/{}",
                    role.id, role.member_count, role.id
                ))),
                _ if may_shorten => Ok(index),
                _ => Err(ScimError::too_many(format!(
                    "the page's groups have more than {MAX_LISTED_MEMBERS} members together; ask for fewer groups (count) or leave out members"
                ))),
            };
        }
    }
    Ok(roles.len())
}

/// A group of a list: members only when `attributes` names them.
pub(crate) async fn render_list_group(
    state: &AppState,
    org: &str,
    role: &pb::Role,
    projection: &Projection,
) -> ScimResult<Value> {
    let members = if projection.explicitly_requests("members") {
        Some(role_members(state, org, role).await?)
    } else {
        None
    };
    Ok(render(state, role, members.as_deref(), projection))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::projection::parse_attribute_list;

    fn roles(counts: &[i64]) -> Vec<pb::Role> {
        counts
            .iter()
            .enumerate()
            .map(|(i, &member_count)| pb::Role {
                id: format!("r{i}"),
                member_count,
                ..Default::default()
            })
            .collect()
    }

    #[test]
    fn a_page_of_groups_carries_a_bounded_number_of_members() {
        let members = Projection {
            attributes: parse_attribute_list("members").unwrap(),
            excluded: Vec::new(),
        };
        let plain = Projection::default();
        let half = MAX_LISTED_MEMBERS / 2;
        let page = roles(&[half, half, 1, 5]);
        // without members, any page is listed whole
        assert_eq!(listed_with_members(&page, &plain, false).unwrap(), 4);
        // with them, a startIndex page ends before the group that passes the budget
        assert_eq!(listed_with_members(&page, &members, true).unwrap(), 2);
        // a cursor page cannot end early: tooMany
        let refused = listed_with_members(&page, &members, false).unwrap_err();
        assert_eq!(refused.scim_type, Some(crate::error::ScimType::TooMany));
        // nor can a first group over the budget be listed
        let huge = roles(&[MAX_LISTED_MEMBERS + 1]);
        assert!(listed_with_members(&huge, &members, true).is_err());
        assert_eq!(
            listed_with_members(&roles(&[half, half]), &members, false).unwrap(),
            2
        );
    }
}
