//! The server-rendered consent and error pages (in the shell of `crate::html`). They need no
//! script.

use crate::html::{CSP_OAUTH, document};
use axum::http::StatusCode;
use axum::response::Response;
use identity_proto::identity::v1::AuthorizationDetails;
use maud::{Markup, html};

fn respond(status: StatusCode, markup: Markup) -> Response {
    crate::html::respond(status, markup, CSP_OAUTH)
}

/// A setup-portal session of the request's organization, open in the same browser: it may
/// approve instead of a pasted owner credential.
#[derive(Debug, Clone)]
pub(super) struct PortalApprover {
    /// Whom the session's link was for.
    pub label: String,
    /// The session's form token.
    pub csrf: String,
}

/// The consent page: what the identity provider will be able to do, and the owner's
/// credential (or the open portal session) to approve it. `error` explains a rejected attempt.
pub(super) fn consent(
    status: StatusCode,
    details: &AuthorizationDetails,
    error: Option<&str>,
    portal: Option<&PortalApprover>,
) -> Response {
    let minutes = (details.expires_in_seconds / 60).max(1);
    let body = html! {
        h1 { "Allow " (details.client_name) " to provision " (details.organization_name) "?" }
        p {
            "The identity provider application " strong { (details.client_name) }
            " asks to create, update, deactivate and delete users and groups of your organization \
             over SCIM."
        }
        dl {
            dt { "Organization" } dd id="organization" { (details.organization_name) }
            dt { "Connection" } dd id="connection" { (details.connection_name) }
            dt { "Connection ID" } dd { code { (details.connection_id) } }
            dt { "Application" } dd id="client" { (details.client_name) }
            dt { "Access" } dd { (details.scope) " (SCIM provisioning)" }
        }
        @if let Some(error) = error {
            p.error id="error" role="alert" { (error) }
        }
        form method="post" action=(super::AUTHORIZE_PATH) {
            input type="hidden" name="request_id" value=(details.request_id);
            @if let Some(portal) = portal {
                input type="hidden" name="csrf" value=(portal.csrf);
                input type="hidden" name="approver" value="portal";
                p id="portal-approver" {
                    "You are signed in to the setup portal of " (details.organization_name)
                    " (" (portal.label) "): approving needs no owner credential."
                }
            } @else {
                label for="owner_credential" { "Owner credential of " (details.organization_name) }
                input type="password" id="owner_credential" name="owner_credential"
                    autocomplete="off" placeholder="idown_…";
            }
            div.actions {
                button.primary type="submit" id="approve" name="decision" value="approve" { "Approve" }
                button type="submit" id="deny" name="decision" value="deny" formnovalidate { "Deny" }
            }
        }
        p.note {
            "Only an owner of this organization, or its setup portal, can approve. This request \
             expires in about "
            (minutes) " minute" @if minutes != 1 { "s" } "."
        }
    };
    respond(status, document("Approve provisioning access", body))
}

/// An error page for a failure that must not be sent back to the client (unknown client, bad
/// redirect URI, expired request).
pub(super) fn error(status: StatusCode, title: &str, explanation: &str) -> Response {
    let body = html! {
        h1 { (title) }
        p.error id="error" role="alert" { (explanation) }
        p.note { "No access was granted." }
    };
    respond(status, document(title, body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{HeaderValue, header};

    #[tokio::test]
    async fn names_are_escaped() {
        let details = AuthorizationDetails {
            organization_name: "<script>alert(1)</script>".into(),
            client_name: "Okta \"prod\"".into(),
            ..Default::default()
        };
        let response = consent(StatusCode::OK, &details, None, None);
        assert_eq!(
            response.headers()[header::X_FRAME_OPTIONS],
            HeaderValue::from_static("DENY")
        );
        let body = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        let text = String::from_utf8(body.to_vec()).unwrap();
        assert!(!text.contains("<script>"));
        assert!(text.contains("&lt;script&gt;"));
        assert!(text.contains("name=\"request_id\""));
    }
}
