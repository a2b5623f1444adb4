//! The portal's pages, server-rendered in the shell of `crate::html`. The only script is the
//! copy buttons' ([`COPY_SCRIPT`]); every action is a plain form post.

use super::{Organization, Session};
use crate::html::{CSP_SELF_FORMS, document};
use axum::http::StatusCode;
use axum::response::Response;
use identity_proto::admin::v1 as admin;
use maud::{Markup, html};

/// The copy buttons: a button `data-copy="<id>"` copies the text of the element with that id.
pub(super) const COPY_SCRIPT: &str = "document.addEventListener('click', (event) => {\n\
  const button = event.target.closest('button[data-copy]');\n\
  if (!button) return;\n\
  const text = document.getElementById(button.dataset.copy).textContent;\n\
  navigator.clipboard.writeText(text).then(\n\
    () => { button.textContent = 'Copied'; },\n\
    () => { button.textContent = 'Select the text to copy it'; });\n\
});\n";

fn respond(status: StatusCode, title: &str, body: Markup) -> Response {
    crate::html::respond(status, document(title, body), CSP_SELF_FORMS)
}

/// A page of a session: the organization, whom the link was for, the navigation, sign-out.
fn frame(session: &Session, status: StatusCode, title: &str, body: Markup) -> Response {
    let info = &session.info;
    let nav = [
        ("/portal", "Overview"),
        ("/portal/okta", "Okta"),
        ("/portal/entra", "Microsoft Entra ID"),
        ("/portal/tokens", "Tokens"),
        ("/portal/connections", "Connections"),
        ("/portal/settings", "Settings"),
    ];
    let page = html! {
        header {
            p.note {
                "Setup portal of " strong { (info.organization_name) } " · for " (info.label)
                " · session ends " (time(info.expire_time.as_ref()))
            }
            nav aria-label="Portal" {
                ul { @for (href, name) in nav { li { a href=(href) { (name) } } } }
            }
        }
        main { h1 { (title) } (body) }
        footer {
            form method="post" action="/portal/logout" {
                input type="hidden" name="csrf" value=(session.csrf);
                button type="submit" id="sign-out" { "Sign out" }
            }
        }
        script src="/portal/copy.js" defer {}
    };
    respond(status, title, page)
}

/// A page outside a session (a link, an error): a title and a message.
fn plain(status: StatusCode, title: &str, message: &str, after: Markup) -> Response {
    let body = html! {
        main {
            h1 { (title) }
            p.error id="error" role="alert" { (message) }
            (after)
        }
    };
    respond(status, title, body)
}

/// A timestamp as "2026-12-07 21:11 UTC".
fn time(timestamp: Option<&prost_types::Timestamp>) -> String {
    timestamp
        .and_then(|ts| chrono::DateTime::from_timestamp(ts.seconds, 0))
        .map_or_else(
            || "never".to_owned(),
            |at| at.format("%Y-%m-%d %H:%M UTC").to_string(),
        )
}

/// Whole days from now until `timestamp` (negative when past).
fn days_left(timestamp: Option<&prost_types::Timestamp>) -> i64 {
    timestamp.map_or(0, |ts| {
        (ts.seconds - chrono::Utc::now().timestamp()).div_euclid(86_400)
    })
}

/// A value to paste somewhere, with a copy button.
fn copyable(id: &str, value: &str) -> Markup {
    html! {
        code.secret id=(id) { (value) }
        button type="button" data-copy=(id) { "Copy" span.visually-hidden { " " (id.replace('-', " ")) } }
    }
}

fn notice(text: Option<&str>) -> Markup {
    html! { @if let Some(text) = text { p.notice id="notice" role="status" { (text) } } }
}

fn csrf(session: &Session) -> Markup {
    html! { input type="hidden" name="csrf" value=(session.csrf); }
}

fn is_active(token: &admin::ScimToken) -> bool {
    token.status == admin::ScimTokenStatus::Active as i32
}

fn status_name(token: &admin::ScimToken) -> &'static str {
    match admin::ScimTokenStatus::try_from(token.status) {
        Ok(admin::ScimTokenStatus::Active) => "active",
        Ok(admin::ScimTokenStatus::Expired) => "expired",
        Ok(admin::ScimTokenStatus::Revoked) => "revoked",
        _ => "unknown",
    }
}

/// The default role's name, or what having none means.
fn default_role(settings: &admin::ScimSettings) -> String {
    if settings.default_role_name.is_empty() {
        "none: new users join no role".to_owned()
    } else {
        settings.default_role_name.clone()
    }
}

/// Warnings for active tokens in their last 30 days.
fn expiring(tokens: &[admin::ScimToken]) -> Markup {
    html! {
        @for token in tokens.iter().filter(|token| is_active(token) && token.expires_soon) {
            p.warn role="status" {
                "Token " code { (token.hint) "…" }
                @if !token.description.is_empty() { " (" (token.description) ")" }
                " expires in " (days_left(token.expire_time.as_ref())) " days, on "
                (time(token.expire_time.as_ref()))
                ". Generate a new one, paste it into your identity provider, then revoke the old one. "
                a href="/portal/tokens" { "Tokens" }
            }
        }
    }
}

/// A form that generates a token (for `connection`, when given), whose answer shows it once.
fn issue_form(session: &Session, connections: &[admin::Connection], description: &str) -> Markup {
    html! {
        form method="post" action="/portal/tokens" {
            (csrf(session))
            label for="description" { "What the token is for" }
            input id="description" name="description" value=(description) maxlength="256";
            @if !connections.is_empty() {
                label for="connection_id" { "Connection" }
                select id="connection_id" name="connection_id" {
                    @for connection in connections {
                        option value=(connection.id) { (connection.name) }
                    }
                    option value="" { "No connection" }
                }
            }
            div.actions { button.primary type="submit" id="generate" { "Generate SCIM token" } }
        }
    }
}

// ---- outside a session ----

/// The page of a portal link: one button that opens it.
pub(super) fn link(token: &str) -> Response {
    let body = html! {
        main {
            h1 { "Set up provisioning" }
            p {
                "This link opens the setup portal of your organization, where you connect Okta or \
                 Microsoft Entra ID. It works once, and the session it starts lasts one hour."
            }
            form method="post" action={ "/portal/link/" (token) } {
                div.actions { button.primary type="submit" id="open" { "Open the setup portal" } }
            }
        }
    };
    respond(StatusCode::OK, "Set up provisioning", body)
}

/// An expired, used or forged link.
pub(super) fn link_invalid() -> Response {
    plain(
        StatusCode::GONE,
        "This link no longer works",
        "The link has expired, was already used, or is not a portal link. Ask whoever sent it \
         for a new one.",
        html! {},
    )
}

/// No session, or it ended.
pub(super) fn session_ended() -> Response {
    plain(
        StatusCode::UNAUTHORIZED,
        "Your session has ended",
        "Portal sessions last one hour. Ask whoever sent you the link for a new one.",
        html! {},
    )
}

/// A post without its form token, or from another site: nothing was changed.
pub(super) fn refused() -> Response {
    plain(
        StatusCode::FORBIDDEN,
        "Nothing was changed",
        "The form was sent without its security token or from another site. Open the page \
         again from the portal and send it from there.",
        html! { p { a href="/portal" { "Back to the portal" } } },
    )
}

/// After sign-out.
pub(super) fn signed_out() -> Response {
    let body = html! {
        main {
            h1 { "Signed out" }
            p id="signed-out" { "This browser no longer holds the portal session." }
        }
    };
    respond(StatusCode::OK, "Signed out", body)
}

/// The core could not answer.
pub(super) fn unavailable(status: &tonic::Status) -> Response {
    tracing::warn!(code = ?status.code(), "setup portal call failed in the core");
    plain(
        StatusCode::SERVICE_UNAVAILABLE,
        "Temporarily unavailable",
        "The identity service could not be reached. Try again in a moment.",
        html! {},
    )
}

/// A refused change, with what the core said of it.
pub(super) fn problem(session: &Session, status: StatusCode, message: &str) -> Response {
    let body = html! {
        p.error id="error" role="alert" { (message) }
        p { "Nothing was changed. " a href="/portal" { "Back to the overview" } }
    };
    frame(session, status, "That did not work", body)
}

// ---- the pages of a session ----

pub(super) fn overview(session: &Session, base_url: &str, org: &Organization) -> Response {
    let settings = &org.settings;
    let body = html! {
        (expiring(&org.tokens))
        dl {
            dt { "SCIM provisioning" }
            dd id="scim-status" { @if settings.enabled { "On" } @else { "Off" } }
            dt { "SCIM base URL" }
            dd { (copyable("base-url", base_url)) }
            dt { "Default role" }
            dd id="default-role" { (default_role(settings)) }
            dt { "Verified domains" }
            dd id="verified-domains" {
                @if settings.verified_domains.is_empty() { "none" }
                @else { (settings.verified_domains.join(", ")) }
            }
            dt { "Active tokens" }
            dd { (org.tokens.iter().filter(|token| is_active(token)).count()) }
        }
        h2 { "Set up in three steps" }
        ol {
            li { a href="/portal/settings" { "Define the default role" } " every provisioned user joins." }
            li { a href="/portal/tokens" { "Generate a SCIM token" } " (shown once, valid one year)." }
            li {
                "Follow the guide for " a href="/portal/okta" { "Okta" } " or "
                a href="/portal/entra" { "Microsoft Entra ID" } "."
            }
        }
        h2 { "Connections" }
        (connection_table(&org.connections))
        h2 { "Test connection" }
        p {
            "Replays what Okta and Microsoft Entra ID send when they provision (connection test, \
             create, import, update, deactivate, group push, removal) against the SCIM base URL, \
             with a token issued for the test and revoked after it, and throw-away users and \
             groups named selftest-… that it removes. It takes a few seconds."
        }
        form method="post" action="/portal/test" {
            (csrf(session))
            div.actions { button.primary type="submit" id="test-connection" { "Test connection" } }
        }
    };
    frame(session, StatusCode::OK, "Provisioning overview", body)
}

/// The connection test's answer: every step's line, and whether all passed.
pub(super) fn connection_test(
    session: &Session,
    base_url: &str,
    steps: &str,
    failure: Option<&str>,
) -> Response {
    let body = html! {
        @match failure {
            None => p.notice id="test-result" role="status" {
                "Every step passed against " code { (base_url) } "."
            },
            Some(failure) => p.error id="test-result" role="alert" {
                (failure) ". Each step's line says what went wrong."
            },
        }
        pre id="test-steps" tabindex="0" style="overflow-x:auto;white-space:pre-wrap" { (steps) }
        p { a href="/portal" { "Back to the overview" } }
    };
    frame(session, StatusCode::OK, "Connection test", body)
}

fn connection_table(connections: &[admin::Connection]) -> Markup {
    html! {
        @if connections.is_empty() {
            p id="no-connections" {
                "No connection yet. A connection stands for one identity provider app; "
                a href="/portal/connections" { "create one" } " to tell several apart."
            }
        } @else {
            table id="connections" {
                thead { tr { th { "Name" } th { "Connection ID" } th { "Last request" } th { "Activity" } } }
                tbody {
                    @for connection in connections {
                        @let activity = connection.activity.clone().unwrap_or_default();
                        tr {
                            td { (connection.name) }
                            td { code { (connection.id) } }
                            td { (time(activity.last_request_time.as_ref())) }
                            td {
                                (activity.creates) " created, " (activity.updates) " updated, "
                                (activity.deactivations) " deactivated, " (activity.deletes) " deleted"
                                @if !activity.recent_errors.is_empty() {
                                    ", " (activity.recent_errors.len()) " recent failures"
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

pub(super) fn okta(
    session: &Session,
    base_url: &str,
    issuer: &str,
    org: &Organization,
) -> Response {
    let body = html! {
        p {
            "Okta provisions users and groups (groups become roles here). Choose A if you add the "
            strong { "SCIM 2.0 Test App (Header Auth)" } " from Okta's catalog or your own SCIM app; \
             choose B for an app set to OAuth authentication."
        }
        (expiring(&org.tokens))
        h2 { "A. Header auth (SCIM 2.0 Test App)" }
        ol {
            li {
                "Generate a SCIM token for Okta. It is shown once and valid for one year."
                (issue_form(session, &org.connections, "Okta"))
            }
            li {
                "In the Okta admin console: " strong { "Applications → Applications → Browse App Catalog" }
                ", search for " strong { "SCIM 2.0 Test App (Header Auth)" } ", select "
                strong { "Add Integration" } ", name the app, then " strong { "Done" } "."
            }
            li {
                "In the app: " strong { "Provisioning → Configure API Integration" } ", select "
                strong { "Enable API integration" } " and enter:"
                dl {
                    dt { "Base URL" } dd { (copyable("okta-base-url", base_url)) }
                    dt { "API Token" } dd { "the token from step 1 (with or without " code { "Bearer " } " in front)" }
                }
            }
            li { "Select " strong { "Test API Credentials" } ": Okta must say it verified them. Then " strong { "Save" } "." }
        }
        h2 { "B. OAuth (\"Authenticate with …\")" }
        ol {
            li {
                "On " a href="/portal/connections" { "Connections" } ", register Okta as an OAuth \
                 client of a connection with the redirect URI Okta shows (for example "
                code { "https://<your-okta>-admin.okta.com/admin/app/cpc/<app>/oauth/callback" } ")."
                " Its client secret is shown once."
            }
            li {
                "In the app's " strong { "Provisioning → Integration" } " settings enter:"
                dl {
                    dt { "SCIM connector base URL" } dd { (copyable("okta-oauth-base-url", base_url)) }
                    dt { "Authorize endpoint" } dd { (copyable("okta-authorize", &format!("{issuer}/oauth/authorize"))) }
                    dt { "Token endpoint" } dd { (copyable("okta-token", &format!("{issuer}/oauth/token"))) }
                    dt { "Client ID and Client Secret" } dd { "from step 1" }
                }
            }
            li {
                "Select " strong { "Authenticate with …" } " in this browser: the consent page \
                 recognises this portal session and asks only for your approval."
            }
        }
        h2 { "Then, for either" }
        ol {
            li {
                strong { "Unique identifier field for users" } ": " code { "userName" } "."
            }
            li {
                strong { "Provisioning → To App → Edit" } ": enable " strong { "Create Users" } ", "
                strong { "Update User Attributes" } " and " strong { "Deactivate Users" } "; "
                strong { "Sync Password" } " if you want it (stored only as an Argon2id hash). "
                "Supported provisioning actions: Import New Users and Profile Updates, Push New \
                 Users, Push Profile Updates, Push Groups."
            }
            li {
                "Check the attribute mappings: " code { "userName" } " (Username), "
                code { "givenName" } ", " code { "familyName" } ", " code { "displayName" }
                " (when not mapped it falls back to given and family name), " code { "email" } ", "
                code { "externalId" } "."
            }
            li { strong { "Push Groups" } " creates and fills roles; " strong { "Assignments" } " decides who is provisioned." }
            li {
                "Validate: assign a test user and see it counted under "
                a href="/portal/connections" { "Connections" } "; deactivate it in Okta and see it deactivated."
            }
        }
    };
    frame(session, StatusCode::OK, "Connect Okta", body)
}

pub(super) fn entra(
    session: &Session,
    base_url: &str,
    issuer: &str,
    org: &Organization,
) -> Response {
    let body = html! {
        (expiring(&org.tokens))
        ol {
            li {
                "Generate a SCIM token for Entra ID. It is shown once and valid for one year."
                (issue_form(session, &org.connections, "Microsoft Entra ID"))
            }
            li {
                "In the Microsoft Entra admin center: " strong { "Enterprise applications → New application → Create your own application" }
                ", name it and choose " strong { "Integrate any other application you don't find in the gallery (Non-gallery)" } "."
            }
            li {
                "In the application: " strong { "Provisioning → Get started" } ", " strong { "Provisioning Mode" }
                ": " strong { "Automatic" } ", then under " strong { "Admin Credentials" } ":"
                dl {
                    dt { "Tenant URL" } dd { (copyable("entra-tenant-url", base_url)) }
                    dt { "Secret Token" } dd { "the token from step 1" }
                }
            }
            li { "Select " strong { "Test Connection" } ": it must succeed. " strong { "Save" } "." }
            li {
                strong { "Mappings → Provision Microsoft Entra ID Users" } ": keep "
                code { "userPrincipalName → userName" } ", " code { "mail → emails[type eq \"work\"].value" } ", "
                code { "givenName → name.givenName" } ", " code { "surname → name.familyName" } ", "
                code { "Switch([IsSoftDeleted], , \"False\", \"True\", \"True\", \"False\") → active" } " and "
                code { "objectId → externalId" } " (or " code { "mailNickname" } "). The enterprise extension, manager included, is kept."
            }
            li {
                strong { "Mappings → Provision Microsoft Entra ID Groups" } ": groups become roles here. "
                strong { "Settings → Scope" } ": " strong { "Sync only assigned users and groups" } "."
            }
            li { "Set " strong { "Provisioning Status" } " to " strong { "On" } " and " strong { "Save" } "." }
        }
        h2 { "Client credentials instead of a long-lived token" }
        p {
            "On " a href="/portal/connections" { "Connections" } ", register a client with "
            strong { "client credentials" } " allowed; Entra then asks for one-hour tokens at "
            (copyable("entra-token-endpoint", &format!("{issuer}/oauth/token")))
            " with that client's ID and secret and scope " code { "scim" } "."
        }
    };
    frame(session, StatusCode::OK, "Connect Microsoft Entra ID", body)
}

pub(super) fn tokens(
    session: &Session,
    org: &Organization,
    issued: Option<&admin::IssueScimTokenResponse>,
    done: Option<&str>,
) -> Response {
    let body = html! {
        (notice(done))
        @if let Some(issued) = issued {
            @let token = issued.token.clone().unwrap_or_default();
            div.notice id="issued" role="status" {
                p { strong { "Copy this token now: it is not shown again." } }
                (copyable("token-secret", &issued.secret))
                p { "Valid until " span id="issued-expiry" { (time(token.expire_time.as_ref())) } "." }
            }
        }
        (expiring(&org.tokens))
        h2 { "Generate a token" }
        (issue_form(session, &org.connections, ""))
        h2 { "Tokens" }
        @if org.tokens.is_empty() {
            p id="no-tokens" { "No token yet." }
        } @else {
            table id="tokens" {
                thead { tr { th { "Token" } th { "Expires" } th { "Last used" } th { "Status" } th { "" } } }
                tbody {
                    @for token in &org.tokens {
                        tr {
                            td {
                                code { (token.hint) "…" }
                                @if !token.description.is_empty() { " " (token.description) }
                            }
                            td {
                                (time(token.expire_time.as_ref()))
                                @if is_active(token) {
                                    " (" (days_left(token.expire_time.as_ref())) " days left)"
                                    @if token.expires_soon { " " strong.expiring { "expires soon" } }
                                }
                            }
                            td { (time(token.last_used_time.as_ref())) }
                            td { (status_name(token)) }
                            td {
                                @if is_active(token) {
                                    form.inline method="post" action="/portal/tokens/revoke" {
                                        (csrf(session))
                                        input type="hidden" name="token_id" value=(token.id);
                                        button.danger type="submit" aria-label={ "Revoke token " (token.hint) } { "Revoke" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    frame(session, StatusCode::OK, "SCIM tokens", body)
}

pub(super) fn connections(
    session: &Session,
    org: &Organization,
    clients: &[Vec<admin::OAuthClient>],
    registered: Option<&admin::RegisterOAuthClientResponse>,
    done: Option<&str>,
) -> Response {
    let body = html! {
        (notice(done))
        @if let Some(registered) = registered {
            @let client = registered.client.clone().unwrap_or_default();
            div.notice id="registered" role="status" {
                p { strong { "Copy the client secret now: it is not shown again." } }
                dl {
                    dt { "Client ID" } dd { (copyable("client-id", &client.client_id)) }
                    dt { "Client secret" } dd { (copyable("client-secret", &registered.client_secret)) }
                }
            }
        }
        (connection_table(&org.connections))
        @for (connection, clients) in org.connections.iter().zip(clients) {
            @let activity = connection.activity.clone().unwrap_or_default();
            section aria-label={ "Connection " (connection.name) } {
                h2 { (connection.name) }
                dl {
                    dt { "Connection ID" } dd { (copyable(&format!("connection-{}", connection.id), &connection.id)) }
                    dt { "Groups to sync" }
                    dd {
                        @if connection.allowed_group_names.is_empty() { "every group" }
                        @else { (connection.allowed_group_names.join(", ")) }
                    }
                    dt { "OAuth clients" }
                    dd {
                        @if clients.is_empty() { "none" }
                        @for client in clients {
                            div { (client.name) " · " code { (client.client_id) }
                                @if client.client_credentials { " · client credentials" } }
                        }
                    }
                }
                @if !activity.recent_errors.is_empty() {
                    h3 { "Recent failures" }
                    table {
                        thead { tr { th { "When" } th { "Request" } th { "Answer" } } }
                        tbody {
                            @for error in &activity.recent_errors {
                                tr {
                                    td { (time(error.time.as_ref())) }
                                    td { code { (error.method) " " (error.path) } }
                                    td { (error.status) " " (error.scim_type) " " (error.detail) }
                                }
                            }
                        }
                    }
                }
                details {
                    summary { "Register an OAuth client for " (connection.name) }
                    form method="post" action="/portal/connections/clients" {
                        (csrf(session))
                        input type="hidden" name="connection_id" value=(connection.id);
                        @let id = format!("client-name-{}", connection.id);
                        label for=(id) { "Client name" }
                        input id=(id) name="name" required maxlength="100" value="Okta";
                        @let id = format!("redirect-{}", connection.id);
                        label for=(id) { "Redirect URI (Okta shows it; leave empty for client credentials only)" }
                        input id=(id) name="redirect_uri" type="url";
                        @let id = format!("cc-{}", connection.id);
                        label for=(id) {
                            input id=(id) type="checkbox" name="client_credentials" style="width:auto";
                            " May use client credentials (Entra ID)"
                        }
                        div.actions { button.primary type="submit" { "Register client" } }
                    }
                }
            }
        }
        h2 { "Create a connection" }
        form method="post" action="/portal/connections" {
            (csrf(session))
            label for="connection-name" { "Name, e.g. Okta production" }
            input id="connection-name" name="name" required maxlength="100";
            label for="connection-groups" { "Groups it may push, one per line (empty: every group)" }
            textarea id="connection-groups" name="groups" rows="3" style="width:100%" {}
            div.actions { button.primary type="submit" id="create-connection" { "Create connection" } }
        }
    };
    frame(session, StatusCode::OK, "Connections", body)
}

pub(super) fn settings(
    session: &Session,
    org: &Organization,
    roles: &[admin::Role],
    done: Option<&str>,
) -> Response {
    let settings = &org.settings;
    let body = html! {
        (notice(done))
        h2 { "Default role" }
        p { "Every user an identity provider creates joins this role." }
        form method="post" action="/portal/settings/default-role" {
            (csrf(session))
            label for="default-role-select" { "Default role" }
            select id="default-role-select" name="default_role" {
                option value="" selected[settings.default_role_id.is_empty()] { "No default role" }
                @for role in roles {
                    option value=(role.id) selected[role.id == settings.default_role_id] { (role.name) }
                }
            }
            div.actions { button.primary type="submit" id="save-default-role" { "Save default role" } }
        }
        h2 { "SCIM provisioning" }
        form method="post" action="/portal/settings/scim" {
            (csrf(session))
            @if settings.enabled {
                p id="scim-status" { "On: identity providers with a valid token provision users and groups." }
                p.warn {
                    "Turning it off refuses every identity provider at once. Users and roles are \
                     kept and become managed here; turning it on again resumes provisioning."
                }
                input type="hidden" name="scim" value="disable";
                div.actions { button.danger type="submit" id="disable-scim" { "Turn SCIM off" } }
            } @else {
                p id="scim-status" { "Off: identity providers are refused." }
                input type="hidden" name="scim" value="enable";
                div.actions { button.primary type="submit" id="enable-scim" { "Turn SCIM on" } }
            }
        }
        h2 { "Verified domains" }
        p {
            "A user created with an email in a verified domain is linked to the member who already \
             has that email instead of becoming a second account. Domains are added by the \
             platform once it has checked that you own them; you may remove them."
        }
        @if settings.verified_domains.is_empty() {
            p id="no-domains" { "No verified domain." }
        } @else {
            ul id="domains" {
                @for domain in &settings.verified_domains {
                    li {
                        (domain) " "
                        form.inline method="post" action="/portal/settings/domains/remove" {
                            (csrf(session))
                            input type="hidden" name="domain" value=(domain);
                            button type="submit" aria-label={ "Remove " (domain) } { "Remove" }
                        }
                    }
                }
            }
        }
    };
    frame(session, StatusCode::OK, "Settings", body)
}
