//! The server-rendered consent and error pages.
//!
//! maud builds the HTML at compile time and escapes every interpolated value, so names chosen
//! by a tenant (organization, connection, client) cannot inject markup. The pages need no
//! script; the headers forbid framing (clickjacking), caching and every external resource.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use identity_proto::identity::v1::AuthorizationDetails;
use maud::{DOCTYPE, Markup, html};

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:34rem;margin:3rem auto;\
padding:0 1rem;color:#1b1f24}h1{font-size:1.4rem}dl{display:grid;grid-template-columns:auto 1fr;\
gap:.4rem 1rem}dt{color:#57606a}dd{margin:0;font-weight:600}label{display:block;margin:1.2rem 0 \
.3rem}input{width:100%;padding:.5rem;font-size:1rem;box-sizing:border-box}.actions{margin-top:\
1.2rem;display:flex;gap:.8rem}button{padding:.55rem 1.2rem;font-size:1rem;cursor:pointer}\
#approve{background:#1f6feb;color:#fff;border:0;border-radius:4px}.error{background:#ffebe9;\
border:1px solid #ff8182;padding:.7rem;border-radius:4px}.note{color:#57606a;font-size:.9rem}";

fn layout(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) }
                style { (STYLE) }
            }
            body { (body) }
        }
    }
}

fn respond(status: StatusCode, markup: Markup) -> Response {
    let mut response = (status, markup.into_string()).into_response();
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_TYPE, "text/html; charset=utf-8"),
        (header::CACHE_CONTROL, "no-store"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        // no form-action: browsers apply it to the redirect that follows the form post, and
        // that redirect goes to the identity provider
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
        ),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// The consent page: what the identity provider will be able to do, and the owner's
/// credential to approve it. `error` explains a rejected attempt.
pub(super) fn consent(
    status: StatusCode,
    details: &AuthorizationDetails,
    error: Option<&str>,
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
            label for="owner_credential" { "Owner credential of " (details.organization_name) }
            input type="password" id="owner_credential" name="owner_credential"
                autocomplete="off" placeholder="idown_…";
            div.actions {
                button type="submit" id="approve" name="decision" value="approve" { "Approve" }
                button type="submit" id="deny" name="decision" value="deny" formnovalidate { "Deny" }
            }
        }
        p.note {
            "Only an owner of this organization can approve. This request expires in about "
            (minutes) " minute" @if minutes != 1 { "s" } "."
        }
    };
    respond(status, layout("Approve provisioning access", body))
}

/// An error page for a failure that must not be sent back to the client (unknown client, bad
/// redirect URI, expired request).
pub(super) fn error(status: StatusCode, title: &str, explanation: &str) -> Response {
    let body = html! {
        h1 { (title) }
        p.error id="error" role="alert" { (explanation) }
        p.note { "No access was granted." }
    };
    respond(status, layout(title, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn names_are_escaped() {
        let details = AuthorizationDetails {
            organization_name: "<script>alert(1)</script>".into(),
            client_name: "Okta \"prod\"".into(),
            ..Default::default()
        };
        let response = consent(StatusCode::OK, &details, None);
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
