//! The setup portal: guided pages where an organization's IT admin connects Okta or Microsoft
//! Entra ID, opened with a one-time link the platform minted (`admin.v1.PortalService`).
//!
//! Why the edge serves it: the pages must be reachable by the customer's browser, which already
//! reaches the edge (the OAuth consent page lives here too), while the admin listener stays
//! unreachable from the internet-facing side. The edge gains no power from it: it holds no
//! credential that can administer anything. A browser session's token is the bearer of every
//! admin call the pages make, on the identity listener, where the core accepts nothing but live
//! sessions, confines each to its link's organization, serves it only SCIM settings, tokens,
//! connections and roles (never owner or service credentials), and audits every call with the
//! link's label.
//!
//! Sessions: opening a link (a POST, so that mail scanners that fetch links do not spend it)
//! sets an `HttpOnly; Secure; SameSite=Lax` cookie holding the session token; it lasts one hour.
//! Lax rather than Strict: the consent page is reached by a redirect from the identity provider
//! and must see the session. Every form carries a token derived from the session (a CSRF token
//! the edge can check without state), and posts that a browser marks cross-site are refused.
//! Nothing is cached or stored here; the pages are rebuilt from the core on every request.

mod page;
mod session;

use session::{LINK_PATH, Posted, is_cross_site, set_session_cookie};
pub(crate) use session::{Session, loggable_path};

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use identity_proto::admin::v1 as admin;
use identity_proto::admin::v1::connection_service_client::ConnectionServiceClient;
use identity_proto::admin::v1::role_service_client::RoleServiceClient;
use identity_proto::admin::v1::scim_service_client::ScimServiceClient;
use identity_proto::identity::v1 as pb;
use identity_proto::with_message_limits;
use serde::Deserialize;
use tonic::Code;

use crate::core_client::outgoing_request;
use crate::state::AppState;

/// Where the portal's pages live.
pub(crate) const PORTAL_PATH: &str = "/portal";

/// The portal's routes, mounted at the root of the edge.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            &format!("{LINK_PATH}{{token}}"),
            get(link_page).post(open_link),
        )
        .route(PORTAL_PATH, get(overview))
        .route("/portal/okta", get(okta))
        .route("/portal/entra", get(entra))
        .route("/portal/tokens", get(tokens).post(issue_token))
        .route("/portal/tokens/revoke", post(revoke_token))
        .route(
            "/portal/connections",
            get(connections).post(create_connection),
        )
        .route("/portal/connections/clients", post(register_client))
        .route("/portal/settings", get(settings))
        .route("/portal/settings/default-role", post(set_default_role))
        .route("/portal/settings/scim", post(set_scim))
        .route("/portal/settings/domains/remove", post(remove_domain))
        .route("/portal/test", post(test_connection))
        .route("/portal/logout", post(logout))
        .route("/portal/copy.js", get(copy_script))
}

/// The admin clients of a session's calls, over the edge's channel without its credential.
struct Admin {
    scim: ScimServiceClient<tonic::transport::Channel>,
    connections: ConnectionServiceClient<tonic::transport::Channel>,
    roles: RoleServiceClient<tonic::transport::Channel>,
}

impl Admin {
    fn of(state: &AppState) -> Self {
        let channel = state.core.channel.clone();
        Self {
            scim: with_message_limits!(ScimServiceClient::new(channel.clone())),
            connections: with_message_limits!(ConnectionServiceClient::new(channel.clone())),
            roles: with_message_limits!(RoleServiceClient::new(channel)),
        }
    }
}

/// A failed admin call as a page: what the core said for the caller's mistakes, the session
/// page when it ended, a plain "try again" otherwise.
fn failed(session: &Session, status: &tonic::Status) -> Response {
    match status.code() {
        Code::Unauthenticated => page::session_ended(),
        Code::InvalidArgument | Code::FailedPrecondition | Code::AlreadyExists => {
            page::problem(session, StatusCode::BAD_REQUEST, status.message())
        }
        Code::NotFound => page::problem(session, StatusCode::NOT_FOUND, status.message()),
        Code::PermissionDenied => page::problem(session, StatusCode::FORBIDDEN, status.message()),
        _ => page::unavailable(status),
    }
}

/// Runs an admin call, turning its failure into the page to answer.
macro_rules! call {
    ($session:expr, $call:expr) => {
        match $call.await {
            Ok(response) => response.into_inner(),
            Err(status) => return failed(&$session, &status),
        }
    };
}

/// What the settings of the session's organization, its connections and its tokens say; every
/// page but the guides shows some of it.
struct Organization {
    settings: admin::ScimSettings,
    connections: Vec<admin::Connection>,
    tokens: Vec<admin::ScimToken>,
}

async fn organization(state: &AppState, session: &Session) -> Result<Organization, tonic::Status> {
    let mut admin = Admin::of(state);
    let mut tokens_client = Admin::of(state).scim;
    let org = session.organization_id();
    let (settings, connections, tokens) = tokio::try_join!(
        admin
            .scim
            .get_scim_settings(session.call(admin::GetScimSettingsRequest {
                organization_id: org.clone(),
            })),
        admin
            .connections
            .list_connections(session.call(admin::ListConnectionsRequest {
                organization_id: org.clone(),
            })),
        tokens_client.list_scim_tokens(session.call(admin::ListScimTokensRequest {
            organization_id: org,
            page_size: 100,
            page_token: String::new(),
        })),
    )?;
    Ok(Organization {
        settings: settings.into_inner().settings.unwrap_or_default(),
        connections: connections.into_inner().connections,
        tokens: tokens.into_inner().tokens,
    })
}

macro_rules! organization {
    ($state:expr, $session:expr) => {
        match organization(&$state, &$session).await {
            Ok(organization) => organization,
            Err(status) => return failed(&$session, &status),
        }
    };
}

/// A notice shown after a change, named in the redirect's query (never reflected as sent).
#[derive(Debug, Default, Deserialize)]
struct Notice {
    #[serde(default)]
    done: String,
}

impl Notice {
    fn text(&self) -> Option<&'static str> {
        Some(match self.done.as_str() {
            "revoked" => {
                "The token was revoked: identity providers using it are refused from now on."
            }
            "connection" => "The connection was created.",
            "default-role" => "The default role was saved.",
            "enabled" => "SCIM provisioning is on.",
            "disabled" => "SCIM provisioning is off. Users and roles are kept.",
            "domain" => "The domain was removed.",
            _ => return None,
        })
    }
}

/// `303 See Other` to a portal page with a notice.
fn done(path: &str, notice: &str) -> Response {
    Redirect::to(&format!("{path}?done={notice}")).into_response()
}

// ---- links and sessions ----

/// `GET /portal/link/{token}`: a page with one button. Opening takes a POST so that a mail
/// scanner that fetches the link does not spend it.
async fn link_page(Path(token): Path<String>) -> Response {
    page::link(&token)
}

/// `POST /portal/link/{token}`: spends the link, sets the session cookie, shows the overview.
async fn open_link(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> Response {
    if is_cross_site(&headers) {
        return page::refused();
    }
    let mut portal = state.core.portal.clone();
    let request = outgoing_request(pb::OpenPortalSessionRequest { link_token: token });
    match portal.open_portal_session(request).await {
        Ok(response) => {
            let response = response.into_inner();
            let max_age = response
                .session
                .as_ref()
                .and_then(|session| session.expire_time)
                .map_or(3600, |at| {
                    (at.seconds - chrono::Utc::now().timestamp()).clamp(0, 24 * 3600)
                });
            let mut redirect = Redirect::to(PORTAL_PATH).into_response();
            if let Some(cookie) = set_session_cookie(&response.session_token, max_age) {
                redirect.headers_mut().insert(header::SET_COOKIE, cookie);
            }
            redirect
        }
        Err(status) if status.code() == Code::NotFound => page::link_invalid(),
        Err(status) => page::unavailable(&status),
    }
}

/// A form without fields of its own (its token only).
#[derive(Debug, Deserialize)]
struct NoFields {}

/// `POST /portal/logout`: ends the session in the core, then forgets the cookie.
async fn logout(
    State(state): State<AppState>,
    Posted { session, .. }: Posted<NoFields>,
) -> Response {
    let mut portal = state.core.portal.clone();
    let request = outgoing_request(pb::ClosePortalSessionRequest {
        session_token: session.token,
    });
    if let Err(status) = portal.close_portal_session(request).await {
        return page::unavailable(&status);
    }
    let mut response = page::signed_out();
    if let Some(cookie) = set_session_cookie("", 0) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}

/// `GET /portal/copy.js`: the copy buttons, the portal's only script (served from here so the
/// pages' policy allows no inline script).
async fn copy_script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        page::COPY_SCRIPT,
    )
        .into_response()
}

// ---- pages ----

/// `GET /portal`: SCIM on or off, the base URL, the default role, connections and tokens.
async fn overview(State(state): State<AppState>, session: Session) -> Response {
    let organization = organization!(state, session);
    page::overview(&session, &state.settings.base_url, &organization)
}

/// `GET /portal/okta`: the Okta guide (header auth and OAuth).
async fn okta(State(state): State<AppState>, session: Session) -> Response {
    let organization = organization!(state, session);
    page::okta(
        &session,
        &state.settings.base_url,
        &state.settings.issuer(),
        &organization,
    )
}

/// `GET /portal/entra`: the Microsoft Entra ID guide (non-gallery application).
async fn entra(State(state): State<AppState>, session: Session) -> Response {
    let organization = organization!(state, session);
    page::entra(
        &session,
        &state.settings.base_url,
        &state.settings.issuer(),
        &organization,
    )
}

/// `GET /portal/tokens`.
async fn tokens(
    State(state): State<AppState>,
    session: Session,
    Query(notice): Query<Notice>,
) -> Response {
    let organization = organization!(state, session);
    page::tokens(&session, &organization, None, notice.text())
}

#[derive(Debug, Deserialize)]
struct IssueForm {
    #[serde(default)]
    description: String,
    #[serde(default)]
    connection_id: String,
}

/// `POST /portal/tokens`: issues a token and shows it, once.
async fn issue_token(
    State(state): State<AppState>,
    Posted { session, form }: Posted<IssueForm>,
) -> Response {
    let issued = call!(
        session,
        Admin::of(&state)
            .scim
            .issue_scim_token(session.call(admin::IssueScimTokenRequest {
                organization_id: session.organization_id(),
                description: form.description,
                validity: None,
                connection_id: form.connection_id,
            }))
    );
    let organization = organization!(state, session);
    page::tokens(&session, &organization, Some(&issued), None)
}

#[derive(Debug, Deserialize)]
struct TokenForm {
    #[serde(default)]
    token_id: String,
}

/// `POST /portal/tokens/revoke`.
async fn revoke_token(
    State(state): State<AppState>,
    Posted { session, form }: Posted<TokenForm>,
) -> Response {
    call!(
        session,
        Admin::of(&state)
            .scim
            .revoke_scim_token(session.call(admin::RevokeScimTokenRequest {
                organization_id: session.organization_id(),
                token_id: form.token_id,
            }))
    );
    done("/portal/tokens", "revoked")
}

/// How long the connection test's own token lives: long enough for the run, revoked after it.
const TEST_TOKEN_VALIDITY: std::time::Duration = std::time::Duration::from_secs(600);

/// `POST /portal/test`: "Test connection". Runs the operators' self-test (what Okta and Entra
/// ID send: connection test, create, import pages, update, deactivate, group push, removal,
/// with throw-away names it removes) against the public SCIM base URL, as an identity provider
/// would reach it, with a token issued for the run and revoked after it.
async fn test_connection(
    State(state): State<AppState>,
    Posted { session, .. }: Posted<NoFields>,
) -> Response {
    let mut scim = Admin::of(&state).scim;
    let issued = call!(
        session,
        scim.issue_scim_token(session.call(admin::IssueScimTokenRequest {
            organization_id: session.organization_id(),
            description: "setup portal: connection test (revoked after the run)".into(),
            validity: Some(prost_types::Duration {
                seconds: i64::try_from(TEST_TOKEN_VALIDITY.as_secs()).unwrap_or(600),
                nanos: 0,
            }),
            connection_id: String::new(),
        }))
    );
    let target = identity_selftest::Target {
        scim_url: &state.settings.base_url,
        token: &issued.secret,
        ca_file: None,
    };
    let mut output = Vec::new();
    let outcome = identity_selftest::run(
        target,
        identity_selftest::Dialects::Both,
        identity_selftest::Format::Human,
        false,
        &mut output,
    )
    .await;
    // the token served this run only; revoking it is a read-modify of one row, retried by
    // nobody: if it fails the token still expires with its short validity
    if let Some(token) = &issued.token
        && let Err(status) = scim
            .revoke_scim_token(session.call(admin::RevokeScimTokenRequest {
                organization_id: session.organization_id(),
                token_id: token.id.clone(),
            }))
            .await
    {
        tracing::warn!(code = ?status.code(), "the connection test's token was not revoked; it expires on its own");
    }
    let failure = outcome.err().map(|error| error.to_string());
    page::connection_test(
        &session,
        &state.settings.base_url,
        &String::from_utf8_lossy(&output),
        failure.as_deref(),
    )
}

/// `GET /portal/connections`: each connection with its OAuth clients.
async fn connections(
    State(state): State<AppState>,
    session: Session,
    Query(notice): Query<Notice>,
) -> Response {
    connections_page(&state, &session, None, notice.text()).await
}

async fn connections_page(
    state: &AppState,
    session: &Session,
    registered: Option<&admin::RegisterOAuthClientResponse>,
    notice: Option<&str>,
) -> Response {
    let organization = organization!(state, session);
    let mut clients = Vec::with_capacity(organization.connections.len());
    for connection in &organization.connections {
        let listed = call!(
            session,
            Admin::of(state)
                .connections
                .list_o_auth_clients(session.call(admin::ListOAuthClientsRequest {
                    organization_id: session.organization_id(),
                    connection_id: connection.id.clone(),
                }))
        );
        clients.push(listed.clients);
    }
    page::connections(session, &organization, &clients, registered, notice)
}

#[derive(Debug, Deserialize)]
struct ConnectionForm {
    #[serde(default)]
    name: String,
    /// Group names, one per line; empty for every group.
    #[serde(default)]
    groups: String,
}

/// `POST /portal/connections`.
async fn create_connection(
    State(state): State<AppState>,
    Posted { session, form }: Posted<ConnectionForm>,
) -> Response {
    let allowed_group_names = form
        .groups
        .lines()
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(str::to_owned)
        .collect();
    call!(
        session,
        Admin::of(&state)
            .connections
            .create_connection(session.call(admin::CreateConnectionRequest {
                organization_id: session.organization_id(),
                name: form.name,
                allowed_group_names,
            }))
    );
    done("/portal/connections", "connection")
}

#[derive(Debug, Deserialize)]
struct ClientForm {
    #[serde(default)]
    connection_id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    redirect_uri: String,
    /// "on" when the client may use the client credentials grant (Entra ID).
    #[serde(default)]
    client_credentials: String,
}

/// `POST /portal/connections/clients`: registers an OAuth client and shows its secret, once.
async fn register_client(
    State(state): State<AppState>,
    Posted { session, form }: Posted<ClientForm>,
) -> Response {
    let redirect_uris = Some(form.redirect_uri.trim())
        .filter(|uri| !uri.is_empty())
        .map(str::to_owned)
        .into_iter()
        .collect();
    let registered = call!(
        session,
        Admin::of(&state)
            .connections
            .register_o_auth_client(session.call(admin::RegisterOAuthClientRequest {
                organization_id: session.organization_id(),
                connection_id: form.connection_id,
                name: form.name,
                redirect_uris,
                client_credentials: form.client_credentials == "on",
            }))
    );
    connections_page(&state, &session, Some(&registered), None).await
}

/// `GET /portal/settings`: default role, SCIM on or off, verified domains.
async fn settings(
    State(state): State<AppState>,
    session: Session,
    Query(notice): Query<Notice>,
) -> Response {
    let organization = organization!(state, session);
    let roles = call!(
        session,
        Admin::of(&state)
            .roles
            .list_roles(session.call(admin::ListRolesRequest {
                organization_id: session.organization_id(),
                page_size: 1000,
                page_token: String::new(),
            }))
    );
    page::settings(&session, &organization, &roles.roles, notice.text())
}

#[derive(Debug, Deserialize)]
struct RoleForm {
    /// The role's id; empty for none.
    #[serde(default)]
    default_role: String,
}

/// `POST /portal/settings/default-role`.
async fn set_default_role(
    State(state): State<AppState>,
    Posted { session, form }: Posted<RoleForm>,
) -> Response {
    #[allow(deprecated)]
    let request = admin::SetDefaultRoleRequest {
        organization_id: session.organization_id(),
        default_role_id: String::new(),
        default_role: form.default_role,
    };
    call!(
        session,
        Admin::of(&state)
            .scim
            .set_default_role(session.call(request))
    );
    done("/portal/settings", "default-role")
}

#[derive(Debug, Deserialize)]
struct ScimForm {
    /// "enable" or "disable".
    #[serde(default)]
    scim: String,
}

/// `POST /portal/settings/scim`: turns provisioning on or off (off keeps every user and role).
async fn set_scim(
    State(state): State<AppState>,
    Posted { session, form }: Posted<ScimForm>,
) -> Response {
    let mut scim = Admin::of(&state).scim;
    let organization_id = session.organization_id();
    match form.scim.as_str() {
        "enable" => {
            #[allow(deprecated)]
            let request = admin::EnableScimRequest {
                organization_id,
                default_role_id: String::new(),
                default_role: String::new(),
            };
            call!(session, scim.enable_scim(session.call(request)));
            done("/portal/settings", "enabled")
        }
        "disable" => {
            let request = admin::DisableScimRequest { organization_id };
            call!(session, scim.disable_scim(session.call(request)));
            done("/portal/settings", "disabled")
        }
        _ => page::problem(
            &session,
            StatusCode::BAD_REQUEST,
            "scim: must be enable or disable",
        ),
    }
}

#[derive(Debug, Deserialize)]
struct DomainForm {
    #[serde(default)]
    domain: String,
}

/// `POST /portal/settings/domains/remove`: a session may remove a verified domain, never add
/// one (adding is the platform's call, once it checked the organization owns it).
async fn remove_domain(
    State(state): State<AppState>,
    Posted { session, form }: Posted<DomainForm>,
) -> Response {
    let organization = organization!(state, session);
    let verified_domains = organization
        .settings
        .verified_domains
        .into_iter()
        .filter(|domain| !domain.eq_ignore_ascii_case(form.domain.trim()))
        .collect();
    call!(
        session,
        Admin::of(&state).scim.set_verified_domains(session.call(
            admin::SetVerifiedDomainsRequest {
                organization_id: session.organization_id(),
                verified_domains,
            }
        ))
    );
    done("/portal/settings", "domain")
}
