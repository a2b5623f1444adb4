//! The connection to the admin API: the credential, TLS, one client per service, and the
//! errors a command reports (`CliError`).

use super::{Cli, OrgArg};
use identity_proto::admin::v1 as pb;
use identity_proto::admin::v1::connection_service_client::ConnectionServiceClient;
use identity_proto::admin::v1::organization_service_client::OrganizationServiceClient;
use identity_proto::admin::v1::portal_service_client::PortalServiceClient;
use identity_proto::admin::v1::role_service_client::RoleServiceClient;
use identity_proto::admin::v1::scim_service_client::ScimServiceClient;
use identity_proto::admin::v1::service_credential_service_client::ServiceCredentialServiceClient;
use identity_proto::client::{AuthenticatedChannel, BearerCredential};
use identity_proto::tls::{ClientTls, CoreEndpoint};
use identity_proto::with_message_limits;
use std::time::Duration;
use tonic::{Code, Status};

/// Why a command failed; `Display` is what follows `error: ` on stderr.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The server answered with an error.
    #[error("{} ({})", message_of(.0), reason_or_code(.0))]
    Rpc(Status),
    /// The server could not be reached.
    #[error("cannot connect to {endpoint}: {detail} (UNAVAILABLE)")]
    Connect { endpoint: String, detail: String },
    /// The invocation cannot work (no credential, unreadable file, …).
    #[error("{0}")]
    Usage(String),
    /// `selftest` ran and a step did not pass (each step is on stdout).
    #[error("self-test: {0}")]
    Selftest(String),
    /// Printing failed (closed pipe).
    #[error("cannot write output: {0}")]
    Output(#[from] std::io::Error),
}

impl From<Status> for CliError {
    fn from(status: Status) -> Self {
        Self::Rpc(status)
    }
}

fn message_of(status: &Status) -> String {
    if status.message().is_empty() {
        code_name(status.code()).to_lowercase().replace('_', " ")
    } else {
        status.message().to_owned()
    }
}

/// The `ErrorInfo` reason as the server spelled it (a newer server's reason included), else the
/// code's name.
fn reason_or_code(status: &Status) -> String {
    use tonic_types::StatusExt;
    status
        .get_details_error_info()
        .map(|info| info.reason)
        .filter(|reason| !reason.is_empty())
        .unwrap_or_else(|| code_name(status.code()).to_owned())
}

/// The canonical upper-case name of a gRPC code.
fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

type Authed = AuthenticatedChannel;

pub(super) struct Clients {
    pub(super) orgs: OrganizationServiceClient<Authed>,
    pub(super) scim: ScimServiceClient<Authed>,
    pub(super) service_credentials: ServiceCredentialServiceClient<Authed>,
    pub(super) connections: ConnectionServiceClient<Authed>,
    pub(super) roles: RoleServiceClient<Authed>,
    pub(super) portal: PortalServiceClient<Authed>,
}

impl Clients {
    /// The organization id named by `--org`: a UUID is taken as is, anything else is a slug
    /// resolved through GetOrganization.
    pub(super) async fn resolve(&mut self, org: &OrgArg) -> Result<String, CliError> {
        if uuid::Uuid::try_parse(&org.org).is_ok() {
            return Ok(org.org.clone());
        }
        let organization = self
            .orgs
            .get_organization(pb::GetOrganizationRequest {
                key: Some(pb::get_organization_request::Key::Slug(org.org.clone())),
            })
            .await?
            .into_inner()
            .organization
            .ok_or_else(|| Status::internal("empty response"))?;
        Ok(organization.id)
    }
}

/// The credential from `--credential-file` or `--credential`.
fn credential(cli: &Cli) -> Result<String, CliError> {
    let credential = match (&cli.credential_file, &cli.credential) {
        (Some(path), _) => std::fs::read_to_string(path)
            .map_err(|err| CliError::Usage(format!("cannot read {}: {err}", path.display())))?
            .trim()
            .to_owned(),
        (None, Some(credential)) => credential.trim().to_owned(),
        (None, None) => {
            return Err(CliError::Usage(
                "no credential: set IDENTITY_ADMIN_CREDENTIAL or pass --credential-file".into(),
            ));
        }
    };
    if credential.is_empty() {
        return Err(CliError::Usage("the credential is empty".into()));
    }
    Ok(credential)
}

pub(super) async fn connect(cli: &Cli) -> Result<Clients, CliError> {
    let auth = BearerCredential::new(&credential(cli)?)
        .map_err(|_| CliError::Usage("the credential contains invalid characters".into()))?;
    let connect_error = |detail: String| CliError::Connect {
        endpoint: cli.endpoint.clone(),
        detail,
    };
    let tls = ClientTls {
        ca_file: cli.ca_file.clone(),
        server_name: cli.server_name.clone(),
        ..ClientTls::default()
    };
    let channel = CoreEndpoint::new(&cli.endpoint, &tls)
        .map_err(|err| connect_error(err.to_string()))?
        .configure(|endpoint| {
            endpoint
                .connect_timeout(Duration::from_secs(10))
                .timeout(Duration::from_secs(60))
        })
        .connect()
        .await
        .map_err(|err| connect_error(identity_selftest::error_chain(&err)))?;
    Ok(Clients {
        orgs: with_message_limits!(OrganizationServiceClient::with_interceptor(
            channel.clone(),
            auth.clone()
        )),
        scim: with_message_limits!(ScimServiceClient::with_interceptor(
            channel.clone(),
            auth.clone()
        )),
        service_credentials: with_message_limits!(
            ServiceCredentialServiceClient::with_interceptor(channel.clone(), auth.clone())
        ),
        connections: with_message_limits!(ConnectionServiceClient::with_interceptor(
            channel.clone(),
            auth.clone()
        )),
        roles: with_message_limits!(RoleServiceClient::with_interceptor(
            channel.clone(),
            auth.clone()
        )),
        portal: with_message_limits!(PortalServiceClient::with_interceptor(channel, auth)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn rpc_errors_show_message_and_reason() {
        let mut details = tonic_types::ErrorDetails::new();
        details.set_error_info(
            "PERMISSION_DENIED",
            identity_proto::ERROR_DOMAIN,
            std::collections::HashMap::<String, String>::new(),
        );
        let status = <Status as tonic_types::StatusExt>::with_error_details(
            Code::PermissionDenied,
            "not yours",
            details,
        );
        assert_eq!(
            CliError::from(status).to_string(),
            "not yours (PERMISSION_DENIED)"
        );
        // without ErrorInfo the code name stands in for the reason
        assert_eq!(
            CliError::from(Status::unavailable("")).to_string(),
            "unavailable (UNAVAILABLE)"
        );
    }

    #[test]
    fn the_credential_file_wins_and_is_trimmed() {
        let dir = std::env::temp_dir().join(format!("identity-admin-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("credential");
        std::fs::write(&file, "  idown_from_file\n").unwrap();
        let cli = Cli::try_parse_from([
            "identity-admin",
            "--credential",
            "idown_flag",
            "--credential-file",
            file.to_str().unwrap(),
            "org",
            "list",
        ])
        .unwrap();
        assert_eq!(credential(&cli).unwrap(), "idown_from_file");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
