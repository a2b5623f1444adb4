//! `/Me` (RFC 7644 §3.11): the authenticated subject's own User resource, served by the user
//! handlers of `resource` addressed by `resource::OwnUser` (a provisioning token, which has no
//! user of its own, gets `501 Not Implemented`). Creating oneself with POST /Me is not supported.

use axum::Extension;

use super::Reply;
use super::resource::OwnUser;
use crate::error::{ScimError, ScimResult};
use crate::principal::Principal;

pub(crate) async fn post(Extension(principal): Extension<Principal>) -> ScimResult<Reply> {
    OwnUser::of(&principal)?;
    Err(ScimError::not_implemented(
        "creating a user through /Me is not supported",
    ))
}
