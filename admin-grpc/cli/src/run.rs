//! Executing a parsed command: connect, authenticate every call, make the RPCs, print.

use super::client::{CliError, Clients, connect};
use super::render::Printer;
use super::{
    Cli, Command, ConnectionCommand, MemberCommand, OrgArg, OrgCommand, OwnerCommand,
    PortalCommand, RoleCommand, ScimCommand, ServiceCredentialCommand, TokenCommand,
};
use clap::CommandFactory;
use clap_complete::Shell;
use identity_proto::admin::v1 as pb;
use std::io::Write;

fn days(days: Option<u32>) -> Option<prost_types::Duration> {
    days.map(|d| prost_types::Duration {
        seconds: i64::from(d) * 86_400,
        nanos: 0,
    })
}

/// The completion script for `shell`, generated from the command definition so it cannot drift.
fn completions(shell: Shell, stdout: &mut impl Write) -> Result<(), CliError> {
    let mut command = Cli::command();
    let name = command.get_name().to_owned();
    // generated into memory first: clap_complete panics when its writer fails (a closed pipe)
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, name, &mut script);
    stdout.write_all(&script)?;
    Ok(())
}

/// Runs one command, printing results to `stdout` and metadata of secrets to `stderr`.
pub async fn run(
    cli: Cli,
    stdout: &mut impl Write,
    stderr: &mut impl Write,
) -> Result<(), CliError> {
    // before connecting: completions are set up on machines without a credential or a server
    if let Command::Completions { shell } = cli.command {
        return completions(shell, stdout);
    }
    // SCIM only, with the identity provider's token: no admin credential nor admin endpoint
    if let Command::Selftest(args) = &cli.command {
        return super::selftest::run(args, cli.ca_file.as_deref(), cli.output, stdout).await;
    }
    let mut clients = connect(&cli).await?;
    let mut out = Printer::new(cli.output, stdout, stderr);
    match cli.command {
        Command::Org(command) => match command {
            OrgCommand::Create { slug, name } => {
                let response = clients
                    .orgs
                    .create_organization(pb::CreateOrganizationRequest {
                        slug,
                        display_name: name,
                    })
                    .await?
                    .into_inner();
                out.created_organization(&response)?;
            }
            OrgCommand::Get { org } => {
                let key = if uuid::Uuid::try_parse(&org).is_ok() {
                    pb::get_organization_request::Key::OrganizationId(org)
                } else {
                    pb::get_organization_request::Key::Slug(org)
                };
                let response = clients
                    .orgs
                    .get_organization(pb::GetOrganizationRequest { key: Some(key) })
                    .await?
                    .into_inner();
                out.organization(response.organization.as_ref())?;
            }
            OrgCommand::List { page_size } => {
                let mut organizations = Vec::new();
                let mut page_token = String::new();
                loop {
                    let page = clients
                        .orgs
                        .list_organizations(pb::ListOrganizationsRequest {
                            page_size,
                            page_token,
                        })
                        .await?
                        .into_inner();
                    organizations.extend(page.organizations);
                    if page.next_page_token.is_empty() {
                        break;
                    }
                    page_token = page.next_page_token;
                }
                out.organizations(&organizations)?;
            }
        },
        Command::Owner(command) => match command {
            OwnerCommand::Create { org, description } => {
                let organization_id = clients.resolve(&org).await?;
                let response = clients
                    .orgs
                    .create_owner_credential(pb::CreateOwnerCredentialRequest {
                        organization_id,
                        description,
                    })
                    .await?
                    .into_inner();
                out.created_owner_credential(&response)?;
            }
            OwnerCommand::Revoke { org, credential_id } => {
                let organization_id = clients.resolve(&org).await?;
                let response = clients
                    .orgs
                    .revoke_owner_credential(pb::RevokeOwnerCredentialRequest {
                        organization_id,
                        credential_id,
                    })
                    .await?
                    .into_inner();
                out.owner_credential(response.owner_credential.as_ref())?;
            }
        },
        Command::Portal(PortalCommand::Link {
            org,
            label,
            valid_minutes,
            edge_url,
        }) => {
            let organization_id = clients.resolve(&org).await?;
            let link = clients
                .portal
                .create_portal_link(pb::CreatePortalLinkRequest {
                    organization_id,
                    label,
                    validity: Some(prost_types::Duration {
                        seconds: i64::try_from(valid_minutes.saturating_mul(60))
                            .unwrap_or(i64::MAX),
                        nanos: 0,
                    }),
                })
                .await?
                .into_inner();
            let url = match edge_url {
                Some(origin) => format!("{}{}", origin.trim_end_matches('/'), link.path),
                None => link.path.clone(),
            };
            out.portal_link(&url, &link)?;
        }
        Command::Portal(PortalCommand::List { org }) => {
            let organization_id = clients.resolve(&org).await?;
            let links = clients
                .portal
                .list_portal_links(pb::ListPortalLinksRequest { organization_id })
                .await?
                .into_inner()
                .links;
            out.portal_links(&links)?;
        }
        Command::Portal(PortalCommand::Revoke { org, link_id }) => {
            let organization_id = clients.resolve(&org).await?;
            let link = clients
                .portal
                .revoke_portal_link(pb::RevokePortalLinkRequest {
                    organization_id,
                    link_id,
                })
                .await?
                .into_inner()
                .link;
            out.portal_links(link.as_slice())?;
        }
        Command::Member(MemberCommand::Remove { org, user_id }) => {
            let organization_id = clients.resolve(&org).await?;
            clients
                .orgs
                .remove_member(pb::RemoveMemberRequest {
                    organization_id,
                    user_id: user_id.clone(),
                })
                .await?;
            out.removed_member(&user_id)?;
        }
        Command::Scim(command) => {
            let settings = match command {
                ScimCommand::Get { org } => {
                    let organization_id = clients.resolve(&org).await?;
                    clients
                        .scim
                        .get_scim_settings(pb::GetScimSettingsRequest { organization_id })
                        .await?
                        .into_inner()
                        .settings
                }
                ScimCommand::Enable { org, default_role } => {
                    let organization_id = clients.resolve(&org).await?;
                    clients
                        .scim
                        .enable_scim(pb::EnableScimRequest {
                            organization_id,
                            // a name or an id; the deprecated id-only field stays empty
                            default_role: default_role.unwrap_or_default(),
                            ..Default::default()
                        })
                        .await?
                        .into_inner()
                        .settings
                }
                ScimCommand::Disable { org } => {
                    let organization_id = clients.resolve(&org).await?;
                    clients
                        .scim
                        .disable_scim(pb::DisableScimRequest { organization_id })
                        .await?
                        .into_inner()
                        .settings
                }
                ScimCommand::DefaultRole { org, role, clear } => {
                    let organization_id = clients.resolve(&org).await?;
                    // clap's group guarantees exactly one of the two; both fields empty clears
                    let default_role = if clear {
                        String::new()
                    } else {
                        role.unwrap_or_default()
                    };
                    clients
                        .scim
                        .set_default_role(pb::SetDefaultRoleRequest {
                            organization_id,
                            default_role,
                            ..Default::default()
                        })
                        .await?
                        .into_inner()
                        .settings
                }
                ScimCommand::Domains { org, add, remove } => {
                    let organization_id = clients.resolve(&org).await?;
                    let current = clients
                        .scim
                        .get_scim_settings(pb::GetScimSettingsRequest {
                            organization_id: organization_id.clone(),
                        })
                        .await?
                        .into_inner()
                        .settings
                        .unwrap_or_default()
                        .verified_domains;
                    let removed: Vec<String> = remove
                        .iter()
                        .map(|d| d.trim().to_ascii_lowercase())
                        .collect();
                    let verified_domains = current
                        .into_iter()
                        .chain(add)
                        .filter(|d| !removed.contains(&d.trim().to_ascii_lowercase()))
                        .collect();
                    clients
                        .scim
                        .set_verified_domains(pb::SetVerifiedDomainsRequest {
                            organization_id,
                            verified_domains,
                        })
                        .await?
                        .into_inner()
                        .settings
                }
                ScimCommand::Limits {
                    org,
                    requests_per_second,
                    burst,
                    max_concurrent,
                } => {
                    let organization_id = clients.resolve(&org).await?;
                    clients
                        .scim
                        .set_rate_limits(pb::SetRateLimitsRequest {
                            organization_id,
                            rate_limits: Some(pb::RateLimits {
                                requests_per_second,
                                burst,
                                max_concurrent_requests: max_concurrent,
                            }),
                        })
                        .await?
                        .into_inner()
                        .settings
                }
            };
            out.scim_settings(settings.as_ref())?;
        }
        Command::Token(command) => match command {
            TokenCommand::Issue {
                org,
                description,
                validity_days,
                connection,
            } => {
                let organization_id = clients.resolve(&org).await?;
                let response = clients
                    .scim
                    .issue_scim_token(pb::IssueScimTokenRequest {
                        organization_id,
                        description,
                        validity: days(validity_days),
                        connection_id: connection,
                    })
                    .await?
                    .into_inner();
                out.issued_token(&response)?;
            }
            TokenCommand::List { org } => {
                let organization_id = clients.resolve(&org).await?;
                let mut tokens = Vec::new();
                let mut page_token = String::new();
                loop {
                    let page = clients
                        .scim
                        .list_scim_tokens(pb::ListScimTokensRequest {
                            organization_id: organization_id.clone(),
                            page_size: 1000,
                            page_token,
                        })
                        .await?
                        .into_inner();
                    tokens.extend(page.tokens);
                    if page.next_page_token.is_empty() {
                        break;
                    }
                    page_token = page.next_page_token;
                }
                out.tokens(&tokens)?;
            }
            TokenCommand::Revoke { org, token_id } => {
                let organization_id = clients.resolve(&org).await?;
                let response = clients
                    .scim
                    .revoke_scim_token(pb::RevokeScimTokenRequest {
                        organization_id,
                        token_id,
                    })
                    .await?
                    .into_inner();
                out.token(response.token.as_ref())?;
            }
            TokenCommand::Rotate {
                org,
                token_id,
                grace_hours,
                validity_days,
                keep_previous,
            } => {
                let organization_id = clients.resolve(&org).await?;
                let response = clients
                    .scim
                    .rotate_scim_token(pb::RotateScimTokenRequest {
                        organization_id,
                        token_id,
                        grace_period: grace_hours.map(|h| prost_types::Duration {
                            seconds: i64::from(h) * 3_600,
                            nanos: 0,
                        }),
                        validity: days(validity_days),
                        keep_previous,
                    })
                    .await?
                    .into_inner();
                out.rotated_token(&response)?;
            }
        },
        Command::ServiceCredential(command) => match command {
            ServiceCredentialCommand::Create {
                name,
                org,
                all_orgs,
                read_write,
            } => {
                let mut organization_ids = Vec::with_capacity(org.len());
                for org in org {
                    organization_ids.push(clients.resolve(&OrgArg { org }).await?);
                }
                let access = if read_write {
                    pb::ServiceAccess::ReadWrite
                } else {
                    pb::ServiceAccess::Read
                };
                let response = clients
                    .service_credentials
                    .create_service_credential(pb::CreateServiceCredentialRequest {
                        name,
                        organization_ids,
                        all_organizations: all_orgs,
                        access: access as i32,
                    })
                    .await?
                    .into_inner();
                out.created_service_credential(&response)?;
            }
            ServiceCredentialCommand::List => {
                let mut credentials = Vec::new();
                let mut page_token = String::new();
                loop {
                    let page = clients
                        .service_credentials
                        .list_service_credentials(pb::ListServiceCredentialsRequest {
                            page_size: 1000,
                            page_token,
                        })
                        .await?
                        .into_inner();
                    credentials.extend(page.credentials);
                    if page.next_page_token.is_empty() {
                        break;
                    }
                    page_token = page.next_page_token;
                }
                out.service_credentials(&credentials)?;
            }
            ServiceCredentialCommand::Revoke { credential_id } => {
                let response = clients
                    .service_credentials
                    .revoke_service_credential(pb::RevokeServiceCredentialRequest { credential_id })
                    .await?
                    .into_inner();
                out.service_credential(response.credential.as_ref())?;
            }
        },
        Command::Connection(command) => run_connection(command, &mut clients, &mut out).await?,
        Command::Role(command) => run_role(command, &mut clients, &mut out).await?,
        // run above, before connecting
        Command::Completions { .. } | Command::Selftest(_) => {}
    }
    Ok(())
}

async fn run_role(
    command: RoleCommand,
    clients: &mut Clients,
    out: &mut Printer<'_, impl Write, impl Write>,
) -> Result<(), CliError> {
    let roles = &mut clients.roles.clone();
    match command {
        RoleCommand::List { org } => {
            let organization_id = clients.resolve(&org).await?;
            let mut list = Vec::new();
            let mut page_token = String::new();
            loop {
                let page = roles
                    .list_roles(pb::ListRolesRequest {
                        organization_id: organization_id.clone(),
                        page_size: 1000,
                        page_token,
                    })
                    .await?
                    .into_inner();
                list.extend(page.roles);
                if page.next_page_token.is_empty() {
                    break;
                }
                page_token = page.next_page_token;
            }
            out.roles(&list)?;
        }
        RoleCommand::Create {
            org,
            name,
            description,
        } => {
            let organization_id = clients.resolve(&org).await?;
            let response = roles
                .create_role(pb::CreateRoleRequest {
                    organization_id,
                    name,
                    description,
                })
                .await?
                .into_inner();
            out.role(response.role.as_ref())?;
        }
        RoleCommand::Rename {
            org,
            role,
            new_name,
        } => {
            let organization_id = clients.resolve(&org).await?;
            let response = roles
                .rename_role(pb::RenameRoleRequest {
                    organization_id,
                    role,
                    new_name,
                })
                .await?
                .into_inner();
            out.role(response.role.as_ref())?;
        }
        RoleCommand::Delete { org, role } => {
            let organization_id = clients.resolve(&org).await?;
            roles
                .delete_role(pb::DeleteRoleRequest {
                    organization_id,
                    role: role.clone(),
                })
                .await?;
            out.done(&format!("role {role} deleted"))?;
        }
    }
    Ok(())
}

async fn run_connection(
    command: ConnectionCommand,
    clients: &mut Clients,
    out: &mut Printer<'_, impl Write, impl Write>,
) -> Result<(), CliError> {
    let connections = &mut clients.connections.clone();
    match command {
        ConnectionCommand::Create { org, name, groups } => {
            let organization_id = clients.resolve(&org).await?;
            let response = connections
                .create_connection(pb::CreateConnectionRequest {
                    organization_id,
                    name,
                    allowed_group_names: groups,
                })
                .await?
                .into_inner();
            out.created_connection(response.connection.as_ref())?;
        }
        ConnectionCommand::List { org } => {
            let organization_id = clients.resolve(&org).await?;
            let response = connections
                .list_connections(pb::ListConnectionsRequest { organization_id })
                .await?
                .into_inner();
            out.connections(&response.connections)?;
        }
        ConnectionCommand::Get { org, connection_id } => {
            let organization_id = clients.resolve(&org).await?;
            let response = connections
                .get_connection(pb::GetConnectionRequest {
                    organization_id,
                    connection_id,
                })
                .await?
                .into_inner();
            out.connection(response.connection.as_ref())?;
        }
        ConnectionCommand::Update {
            org,
            connection_id,
            name,
            groups,
            all_groups,
        } => {
            let organization_id = clients.resolve(&org).await?;
            let update_allowed_groups = all_groups || !groups.is_empty();
            let response = connections
                .update_connection(pb::UpdateConnectionRequest {
                    organization_id,
                    connection_id,
                    name: name.unwrap_or_default(),
                    update_allowed_groups,
                    allowed_group_names: groups,
                })
                .await?
                .into_inner();
            out.connection(response.connection.as_ref())?;
        }
        ConnectionCommand::Delete { org, connection_id } => {
            let organization_id = clients.resolve(&org).await?;
            connections
                .delete_connection(pb::DeleteConnectionRequest {
                    organization_id,
                    connection_id: connection_id.clone(),
                })
                .await?;
            out.done(&format!("connection {connection_id} deleted"))?;
        }
        ConnectionCommand::RegisterClient {
            org,
            connection,
            name,
            redirect_uris,
            client_credentials,
        } => {
            let organization_id = clients.resolve(&org).await?;
            let response = connections
                .register_o_auth_client(pb::RegisterOAuthClientRequest {
                    organization_id,
                    connection_id: connection,
                    name,
                    redirect_uris,
                    client_credentials,
                })
                .await?
                .into_inner();
            out.registered_client(&response)?;
        }
        ConnectionCommand::Clients { org, connection } => {
            let organization_id = clients.resolve(&org).await?;
            let response = connections
                .list_o_auth_clients(pb::ListOAuthClientsRequest {
                    organization_id,
                    connection_id: connection,
                })
                .await?
                .into_inner();
            out.oauth_clients(&response.clients)?;
        }
        ConnectionCommand::DeleteClient { org, client_id } => {
            let organization_id = clients.resolve(&org).await?;
            connections
                .delete_o_auth_client(pb::DeleteOAuthClientRequest {
                    organization_id,
                    client_id: client_id.clone(),
                })
                .await?;
            out.done(&format!("OAuth client {client_id} deleted"))?;
        }
        ConnectionCommand::Grants { org, connection } => {
            let organization_id = clients.resolve(&org).await?;
            let response = connections
                .list_grants(pb::ListGrantsRequest {
                    organization_id,
                    connection_id: connection,
                })
                .await?
                .into_inner();
            out.grants(&response.grants)?;
        }
        ConnectionCommand::RevokeGrant { org, grant_id } => {
            let organization_id = clients.resolve(&org).await?;
            let response = connections
                .revoke_grant(pb::RevokeGrantRequest {
                    organization_id,
                    grant_id,
                })
                .await?
                .into_inner();
            out.grants(response.grant.as_slice())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[tokio::test]
    async fn a_missing_credential_fails_before_connecting() {
        let mut cli = Cli::try_parse_from(["identity-admin", "org", "list"]).unwrap();
        cli.credential = None;
        cli.credential_file = None;
        let err = run(cli, &mut Vec::new(), &mut Vec::new())
            .await
            .unwrap_err();
        assert!(matches!(err, CliError::Usage(_)), "{err}");
    }

    #[tokio::test]
    async fn completions_need_neither_a_credential_nor_a_server() {
        // nothing listens on port 1: connecting would fail, so success means no connection
        let mut cli = Cli::try_parse_from([
            "identity-admin",
            "--endpoint",
            "http://127.0.0.1:1",
            "completions",
            "bash",
        ])
        .unwrap();
        cli.credential = None;
        cli.credential_file = None;
        let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
        run(cli, &mut stdout, &mut stderr).await.unwrap();
        let script = String::from_utf8(stdout).unwrap();
        assert!(script.contains("complete -F _identity__admin"), "{script}");
        // the words offered after `identity-admin`: its subcommands, -o as well as --output
        let options = script
            .lines()
            .filter_map(|line| line.trim_start().strip_prefix("opts=\""))
            .find(|options| *options != "\"")
            .unwrap();
        let options: Vec<&str> = options.trim_end_matches('"').split(' ').collect();
        for word in [
            "org",
            "role",
            "token",
            "service-credential",
            "completions",
            "-o",
            "--output",
        ] {
            assert!(options.contains(&word), "{word} not in {options:?}");
        }
        assert!(stderr.is_empty());
    }

    #[test]
    fn every_shell_gets_a_script() {
        use clap::ValueEnum;
        for shell in Shell::value_variants() {
            let mut script = Vec::new();
            completions(*shell, &mut script).unwrap();
            assert!(
                String::from_utf8(script)
                    .unwrap()
                    .contains("identity-admin"),
                "{shell}"
            );
        }
    }
}
