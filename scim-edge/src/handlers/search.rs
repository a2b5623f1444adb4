//! Searching with POST (RFC 7644 §3.4.3): `/Users/.search`, `/Groups/.search` and the root
//! `/.search` across both resource types.
//!
//! The root search returns Users first, then Groups, as one sequence: `totalResults` is the sum
//! of both totals and `startIndex` / `count` page over the concatenation. A filter or `sortBy`
//! naming an attribute one type does not have matches none of that type (the other type is
//! still searched); when neither type understands it, it is `400 invalidFilter`. With cursor
//! paging, the cursor records which type the next page starts in.

use axum::Extension;
use axum::extract::State;
use serde_json::Value;

use super::groups::{self, GroupPage, GroupQuery, render_list_group};
use super::resource::ScimResource;
use super::users::{UserPage, UserQuery, render_list_user};
use super::{Reply, ScimBody};
use crate::error::{ScimError, ScimResult};
use crate::list::{ListParams, Paging, list_response};
use crate::paging::{decode_cursor, encode_cursor};
use crate::principal::Principal;
use crate::state::AppState;

/// Cursor scope of root searches.
const ROOT_SCOPE: &str = "Root";

/// `POST /Users/.search`, `POST /Groups/.search`: a list whose parameters come in the body.
pub(crate) async fn collection<R: ScimResource>(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    ScimBody(body): ScimBody,
) -> ScimResult<Reply> {
    let params = ListParams::from_search_body(&body, &state.settings.limits)?;
    R::list(&state, &principal.organization_id, &params).await
}

pub(crate) async fn root(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    ScimBody(body): ScimBody,
) -> ScimResult<Reply> {
    let params = ListParams::from_search_body(&body, &state.settings.limits)?;
    search_all(&state, &principal.organization_id, &params)
        .await
        .map(Reply::ok)
}

/// Where a root cursor points.
#[derive(Debug, Clone, PartialEq, Eq)]
enum RootPosition {
    Users(String),
    Groups(String),
}

fn decode_root(cursor: &str) -> ScimResult<RootPosition> {
    if cursor.is_empty() {
        return Ok(RootPosition::Users(String::new()));
    }
    let token = decode_cursor(ROOT_SCOPE, cursor)?;
    match token.split_once(':') {
        Some(("u", rest)) => Ok(RootPosition::Users(rest.to_owned())),
        Some(("g", rest)) => Ok(RootPosition::Groups(rest.to_owned())),
        _ => Err(ScimError::invalid_cursor("the cursor is invalid")),
    }
}

fn encode_root(position: &RootPosition) -> String {
    match position {
        RootPosition::Users(token) => encode_cursor(ROOT_SCOPE, &format!("u:{token}")),
        RootPosition::Groups(token) => encode_cursor(ROOT_SCOPE, &format!("g:{token}")),
    }
}

fn empty_users() -> UserPage {
    UserPage {
        total: 0,
        users: Vec::new(),
        next_page_token: String::new(),
    }
}

fn empty_groups() -> GroupPage {
    GroupPage {
        total: 0,
        roles: Vec::new(),
        next_page_token: String::new(),
    }
}

async fn search_all(state: &AppState, org: &str, params: &ListParams) -> ScimResult<Value> {
    let (user_query, group_query) = match (UserQuery::new(params), GroupQuery::new(params)) {
        (Err(error), Err(_)) => return Err(error),
        (users, groups) => (users.ok(), groups.ok()),
    };
    let count = params.count;
    let users_page = |count: i32, token: String, skip: i64| {
        let query = user_query.clone();
        async move {
            match query {
                Some(query) => query.page(state, org, count, token, skip).await,
                None => Ok(empty_users()),
            }
        }
    };
    let groups_page = |count: i32, token: String, skip: i64| {
        let query = group_query.clone();
        async move {
            match query {
                Some(query) => query.page(state, org, count, token, skip).await,
                None => Ok(empty_groups()),
            }
        }
    };
    let (users, groups, next) = match &params.paging {
        Paging::Index { start_index } => {
            let offset = start_index - 1;
            let users = users_page(count, String::new(), offset).await?;
            let remaining = count - i32::try_from(users.users.len()).unwrap_or(count);
            let group_offset = (offset - users.total).max(0);
            let groups = groups_page(remaining, String::new(), group_offset).await?;
            (users, groups, None)
        }
        Paging::Cursor { cursor } => match decode_root(cursor)? {
            RootPosition::Users(token) => {
                let users = users_page(count, token, 0).await?;
                if !users.next_page_token.is_empty() && count > 0 {
                    let next = RootPosition::Users(users.next_page_token.clone());
                    let groups = groups_page(0, String::new(), 0).await?;
                    (users, groups, Some(next))
                } else {
                    let remaining = count - i32::try_from(users.users.len()).unwrap_or(count);
                    let groups = groups_page(remaining, String::new(), 0).await?;
                    let next = if count == 0 {
                        None
                    } else if !groups.next_page_token.is_empty() {
                        Some(RootPosition::Groups(groups.next_page_token.clone()))
                    } else if remaining == 0 && groups.total > 0 {
                        Some(RootPosition::Groups(String::new()))
                    } else {
                        None
                    };
                    (users, groups, next)
                }
            }
            RootPosition::Groups(token) => {
                let users = users_page(0, String::new(), 0).await?;
                let groups = groups_page(count, token, 0).await?;
                let next = (!groups.next_page_token.is_empty() && count > 0)
                    .then(|| RootPosition::Groups(groups.next_page_token.clone()));
                (users, groups, next)
            }
        },
    };
    let with_groups = params.projection.explicitly_requests("groups");
    let mut resources = Vec::with_capacity(users.users.len() + groups.roles.len());
    for user in &users.users {
        resources.push(render_list_user(
            state,
            user,
            &params.projection,
            with_groups,
        ));
    }
    let listed = groups::listed_with_members(&groups.roles, &params.projection, false)?;
    for role in &groups.roles[..listed] {
        resources.push(render_list_group(state, org, role, &params.projection).await?);
    }
    Ok(list_response(
        users.total + groups.total,
        &params.paging,
        resources,
        next.as_ref().map(encode_root),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_cursors_round_trip() {
        for position in [
            RootPosition::Users("abc".to_owned()),
            RootPosition::Groups(String::new()),
            RootPosition::Groups("x:y".to_owned()),
        ] {
            assert_eq!(decode_root(&encode_root(&position)).unwrap(), position);
        }
        assert_eq!(decode_root("").unwrap(), RootPosition::Users(String::new()));
        assert!(decode_root(&encode_cursor("Users", "abc")).is_err());
    }
}
