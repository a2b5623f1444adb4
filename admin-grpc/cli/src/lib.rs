//! The `identity-admin` command line: arguments (this module), the calls they make
//! ([`run`]) and how results are printed ([`render`]).
//!
//! Output contract for scripts: commands that create a secret (`org create`, `owner create`,
//! `token issue`, `token rotate`) print the secret alone on stdout and the metadata on stderr,
//! so `TOKEN=$(identity-admin token issue --org acme)` captures just the secret; `--output
//! json` prints one JSON document on stdout instead. Failures print
//! `error: <message> (<reason>)` on stderr and exit with status 1.

#![cfg_attr(not(test), warn(unused_crate_dependencies))]
// the binary's runtime (main.rs) is a dependency of the package, not of this library
use tokio as _;
mod client;
mod render;
mod run;
mod selftest;

pub use client::CliError;
pub use run::run;
pub use selftest::{SelftestArgs, SelftestDialect};

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Administers organizations, roles, SCIM settings and SCIM tokens of the identity service.
#[derive(Debug, Parser)]
#[command(name = "identity-admin", version)]
pub struct Cli {
    /// The admin API of identity-core
    #[arg(
        long,
        global = true,
        env = "IDENTITY_ADMIN_ENDPOINT",
        default_value = "http://127.0.0.1:50052"
    )]
    pub endpoint: String,

    /// The credential to call with: the bootstrap admin secret or an owner credential
    /// (prefer the environment variable or --credential-file: arguments show in `ps`)
    #[arg(
        long,
        global = true,
        env = "IDENTITY_ADMIN_CREDENTIAL",
        hide_env_values = true
    )]
    pub credential: Option<String>,

    /// A file holding the credential (surrounding whitespace ignored); takes precedence over
    /// --credential
    #[arg(long, global = true, env = "IDENTITY_ADMIN_CREDENTIAL_FILE")]
    pub credential_file: Option<PathBuf>,

    /// PEM CA certificates to trust for an https:// endpoint (the admin API, and the SCIM
    /// URL of `selftest`); without it, the system's roots
    #[arg(long, global = true, env = "IDENTITY_ADMIN_CA_FILE")]
    pub ca_file: Option<PathBuf>,

    /// The name the admin API's certificate carries, when the endpoint's host is another (a
    /// `kubectl port-forward` to 127.0.0.1)
    #[arg(long, global = true, env = "IDENTITY_ADMIN_SERVER_NAME")]
    pub server_name: Option<String>,

    /// Output format
    #[arg(short, long, global = true, value_enum, default_value_t = OutputFormat::Human)]
    pub output: OutputFormat,

    #[command(subcommand)]
    pub command: Command,
}

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Aligned text for people; secrets alone on stdout
    Human,
    /// One JSON document on stdout
    Json,
}

/// The top-level command groups.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Organizations
    #[command(subcommand)]
    Org(OrgCommand),
    /// Owner credentials of an organization
    #[command(subcommand)]
    Owner(OwnerCommand),
    /// SCIM provisioning settings of an organization
    #[command(subcommand)]
    Scim(ScimCommand),
    /// SCIM tokens of an organization
    #[command(subcommand)]
    Token(TokenCommand),
    /// Members (users) of an organization
    #[command(subcommand)]
    Member(MemberCommand),
    /// Roles of an organization: its groups of users, which SCIM Groups are
    #[command(subcommand)]
    Role(RoleCommand),
    /// Credentials of the platform's internal services for the identity.v1 API
    #[command(subcommand, name = "service-credential", alias = "svc")]
    ServiceCredential(ServiceCredentialCommand),
    /// Provisioning connections (identity provider integrations), their OAuth clients and grants
    #[command(subcommand)]
    Connection(ConnectionCommand),
    /// The setup portal, where a customer's IT admin connects Okta or Entra ID in a browser
    #[command(subcommand)]
    Portal(PortalCommand),
    /// Print the completion script for a shell on stdout; needs no credential nor server
    ///
    /// e.g. `source <(identity-admin completions bash)` in ~/.bashrc
    Completions {
        #[arg(value_name = "SHELL")]
        shell: clap_complete::Shell,
    },
    /// Replay Okta's and Entra ID's provisioning against a SCIM endpoint; needs only its token
    ///
    /// Throw-away users and groups (named `selftest-…`), deleted afterwards, also after a
    /// failure or Ctrl-C. One line per step; exits 1 when a step did not pass.
    Selftest(SelftestArgs),
}

/// `identity-admin connection …`
#[derive(Debug, Subcommand)]
pub enum ConnectionCommand {
    /// Create a connection; prints its id (the Connection ID to paste into the provider)
    Create {
        #[command(flatten)]
        org: OrgArg,
        /// Display name, e.g. "Okta production"
        #[arg(long)]
        name: String,
        /// A group it may sync; repeat for several (default: every group)
        #[arg(long = "group", value_name = "NAME")]
        groups: Vec<String>,
    },
    /// List connections with their activity counts
    List {
        #[command(flatten)]
        org: OrgArg,
    },
    /// One connection's activity: last request, counts and the most recent errors
    Get {
        #[command(flatten)]
        org: OrgArg,
        #[arg(value_name = "CONNECTION_ID")]
        connection_id: String,
    },
    /// Rename a connection or change the groups it may sync; its credentials keep working
    #[command(group = clap::ArgGroup::new("change").required(true).multiple(true).args(["name", "groups", "all_groups"]))]
    Update {
        #[command(flatten)]
        org: OrgArg,
        #[arg(value_name = "CONNECTION_ID")]
        connection_id: String,
        /// New display name
        #[arg(long)]
        name: Option<String>,
        /// The groups it may sync from now on (replaces the list); repeat for several
        #[arg(long = "group", value_name = "NAME", conflicts_with = "all_groups")]
        groups: Vec<String>,
        /// Let it sync every group
        #[arg(long)]
        all_groups: bool,
    },
    /// Delete a connection; its tokens, OAuth clients and grants stop working
    Delete {
        #[command(flatten)]
        org: OrgArg,
        #[arg(value_name = "CONNECTION_ID")]
        connection_id: String,
    },
    /// Register an OAuth client for a connection; prints the client secret (shown once)
    RegisterClient {
        #[command(flatten)]
        org: OrgArg,
        #[arg(long, value_name = "CONNECTION_ID")]
        connection: String,
        /// Name shown on the consent page, e.g. "Okta"
        #[arg(long)]
        name: String,
        /// An allowed redirect URI (exact match); repeat for several; none for a client that
        /// only uses client credentials
        #[arg(long = "redirect-uri", value_name = "URI")]
        redirect_uris: Vec<String>,
        /// Allow the client_credentials grant (Microsoft Entra ID): the secret alone then
        /// obtains tokens, with no owner's consent
        #[arg(long)]
        client_credentials: bool,
    },
    /// List a connection's OAuth clients
    Clients {
        #[command(flatten)]
        org: OrgArg,
        #[arg(long, value_name = "CONNECTION_ID")]
        connection: String,
    },
    /// Delete an OAuth client and revoke its grants
    DeleteClient {
        #[command(flatten)]
        org: OrgArg,
        #[arg(value_name = "CLIENT_ID")]
        client_id: String,
    },
    /// List a connection's OAuth grants
    Grants {
        #[command(flatten)]
        org: OrgArg,
        #[arg(long, value_name = "CONNECTION_ID")]
        connection: String,
    },
    /// Revoke an OAuth grant: its refresh and access tokens stop working
    RevokeGrant {
        #[command(flatten)]
        org: OrgArg,
        #[arg(value_name = "GRANT_ID")]
        grant_id: String,
    },
}

/// `identity-admin service-credential …`
#[derive(Debug, Subcommand)]
pub enum ServiceCredentialCommand {
    /// Issue a credential for a service; prints the secret
    #[command(group = clap::ArgGroup::new("scope").required(true).args(["org", "all_orgs"]))]
    Create {
        /// Name of the calling service, e.g. "billing"
        #[arg(long)]
        name: String,
        /// An organization (id or slug) it may act on; repeat for several
        #[arg(long = "org", value_name = "ID_OR_SLUG")]
        org: Vec<String>,
        /// Every organization, present and future (bootstrap admin only)
        #[arg(long)]
        all_orgs: bool,
        /// Grant writes (users, roles, access tokens) as well as reads
        #[arg(long)]
        read_write: bool,
    },
    /// List credentials (an owner sees those scoped to its organization)
    List,
    /// Revoke a credential
    Revoke {
        /// The credential's id
        #[arg(value_name = "CREDENTIAL_ID")]
        credential_id: String,
    },
}

/// `identity-admin member …`
#[derive(Debug, Subcommand)]
pub enum MemberCommand {
    /// Remove a member from the organization, also one provisioned through SCIM
    Remove {
        #[command(flatten)]
        org: OrgArg,
        /// The user's id
        #[arg(value_name = "USER_ID")]
        user_id: String,
    },
}

/// `identity-admin portal …`
#[derive(Debug, Subcommand)]
pub enum PortalCommand {
    /// Mint a one-time portal link (prints it; it opens once, its session lasts one hour)
    Link {
        #[command(flatten)]
        org: OrgArg,
        /// Whom the link is for, e.g. "Jane Doe, IT"; every action of its session is audited
        /// with it
        #[arg(long)]
        label: String,
        /// How long the link may be opened, in minutes (1 to 10080)
        #[arg(long, default_value_t = 60, value_name = "MINUTES")]
        valid_minutes: u64,
        /// The SCIM edge's public origin, e.g. https://scim.example.com; without it the link
        /// is printed as a path
        #[arg(long, value_name = "URL")]
        edge_url: Option<String>,
    },
    /// List the organization's newest links: whether each was opened and its session is live
    List {
        #[command(flatten)]
        org: OrgArg,
    },
    /// Revoke a link: it no longer opens, and the session it opened ends at once
    Revoke {
        #[command(flatten)]
        org: OrgArg,
        /// The link's id (from `portal list`)
        #[arg(value_name = "LINK_ID")]
        link_id: String,
    },
}

/// `identity-admin role …`
///
/// A role is named by its name (compared without regard to case) or its id, so scripts can use
/// either; a role an identity provider provisions is renamed and deleted there, not here.
#[derive(Debug, Subcommand)]
pub enum RoleCommand {
    /// List the roles by name with their member counts, who manages them and the default
    List {
        #[command(flatten)]
        org: OrgArg,
    },
    /// Create a role managed by the platform, without members
    Create {
        #[command(flatten)]
        org: OrgArg,
        /// The role's name, unique in the organization without regard to case
        #[arg(value_name = "NAME")]
        name: String,
        /// Free-text description
        #[arg(long, default_value = "")]
        description: String,
    },
    /// Rename a role; its members and its id stay
    Rename {
        #[command(flatten)]
        org: OrgArg,
        /// The role: its name or id
        #[arg(value_name = "ROLE")]
        role: String,
        /// Its new name
        #[arg(value_name = "NEW_NAME")]
        new_name: String,
    },
    /// Delete a role and its memberships; the users stay (choose another default role first)
    Delete {
        #[command(flatten)]
        org: OrgArg,
        /// The role: its name or id
        #[arg(value_name = "ROLE")]
        role: String,
    },
}

/// The organization a command acts on.
#[derive(Debug, Args)]
pub struct OrgArg {
    /// Organization id or slug
    #[arg(long = "org", env = "IDENTITY_ADMIN_ORG", value_name = "ID_OR_SLUG")]
    pub org: String,
}

/// `identity-admin org …`
#[derive(Debug, Subcommand)]
pub enum OrgCommand {
    /// Create an organization (bootstrap admin only); prints the first owner credential
    Create {
        /// Unique slug: lowercase letters, digits and '-', 2 to 63 characters
        #[arg(long)]
        slug: String,
        /// Human-readable name
        #[arg(long)]
        name: String,
    },
    /// Show one organization
    Get {
        /// Organization id or slug
        #[arg(value_name = "ID_OR_SLUG")]
        org: String,
    },
    /// List organizations (an owner sees only their own)
    List {
        /// Organizations fetched per call; every page is printed
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(i32).range(1..=1000))]
        page_size: i32,
    },
}

/// `identity-admin owner …`
#[derive(Debug, Subcommand)]
pub enum OwnerCommand {
    /// Issue another owner credential; prints the secret
    Create {
        #[command(flatten)]
        org: OrgArg,
        /// Free-text label
        #[arg(long, default_value = "")]
        description: String,
    },
    /// Revoke an owner credential
    Revoke {
        #[command(flatten)]
        org: OrgArg,
        /// Credential id
        #[arg(value_name = "CREDENTIAL_ID")]
        credential_id: String,
    },
}

/// `identity-admin scim …`
#[derive(Debug, Subcommand)]
pub enum ScimCommand {
    /// Show the SCIM settings
    Get {
        #[command(flatten)]
        org: OrgArg,
    },
    /// Enable SCIM provisioning
    Enable {
        #[command(flatten)]
        org: OrgArg,
        /// Role every SCIM-created user joins, by name or id (default: keep the current one)
        #[arg(long, value_name = "ROLE")]
        default_role: Option<String>,
    },
    /// Disable SCIM provisioning: tokens stop working at once, users and roles stay
    Disable {
        #[command(flatten)]
        org: OrgArg,
    },
    /// Set or clear the default role
    #[command(group = clap::ArgGroup::new("choice").required(true).args(["role", "clear"]))]
    DefaultRole {
        #[command(flatten)]
        org: OrgArg,
        /// The new default role: its name or id
        #[arg(value_name = "ROLE")]
        role: Option<String>,
        /// Clear the default role instead
        #[arg(long)]
        clear: bool,
    },
    /// Set the organization's rate limits at the SCIM edge (0 restores the edge's default)
    /// Add or remove verified email domains: a user an identity provider creates with an email
    /// there is linked to the member who already has it. Adding takes the bootstrap admin
    /// credential (the platform checks ownership first); owners may remove
    Domains {
        #[command(flatten)]
        org: OrgArg,
        /// A domain to add, e.g. acme.com; repeat for several
        #[arg(long, value_name = "DOMAIN")]
        add: Vec<String>,
        /// A domain to remove; repeat for several
        #[arg(long, value_name = "DOMAIN")]
        remove: Vec<String>,
    },
    Limits {
        #[command(flatten)]
        org: OrgArg,
        /// Sustained requests per second, shared by all of the organization's tokens
        #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=100_000))]
        requests_per_second: u32,
        /// Requests that may arrive at once above the sustained rate
        #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=100_000))]
        burst: u32,
        /// Requests of the organization served at the same time
        #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=100_000))]
        max_concurrent: u32,
    },
}

/// `identity-admin token …`
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Issue a SCIM token; prints the secret alone on stdout
    Issue {
        #[command(flatten)]
        org: OrgArg,
        /// Free-text label, e.g. "Okta production"
        #[arg(long, default_value = "")]
        description: String,
        /// Days until the token expires (server default: 365)
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=730))]
        validity_days: Option<u32>,
        /// The provisioning connection the token belongs to
        #[arg(long, value_name = "CONNECTION_ID", default_value = "")]
        connection: String,
    },
    /// List SCIM tokens, newest first (metadata only)
    List {
        #[command(flatten)]
        org: OrgArg,
    },
    /// Revoke a SCIM token at once
    Revoke {
        #[command(flatten)]
        org: OrgArg,
        /// Token id
        #[arg(value_name = "TOKEN_ID")]
        token_id: String,
    },
    /// Replace a token; the old one keeps working for the grace period. Prints the new secret
    Rotate {
        #[command(flatten)]
        org: OrgArg,
        /// Token id
        #[arg(value_name = "TOKEN_ID")]
        token_id: String,
        /// Hours the old token stays valid (server default: 24; 0 revokes it now)
        #[arg(
            long,
            value_parser = clap::value_parser!(u32).range(0..=720),
            conflicts_with = "keep_previous"
        )]
        grace_hours: Option<u32>,
        /// Keep the old token working until it is revoked (for an identity provider updated
        /// at an unknown time); revoke it with `token revoke` once the new one is in use
        #[arg(long)]
        keep_previous: bool,
        /// Days until the new token expires (server default: 365)
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=730))]
        validity_days: Option<u32>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("identity-admin").chain(args.iter().copied()))
    }

    #[test]
    fn keep_previous_excludes_a_grace_period() {
        let cli = parse(&["token", "rotate", "--org", "a", "T", "--keep-previous"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Token(TokenCommand::Rotate {
                keep_previous: true,
                grace_hours: None,
                ..
            })
        ));
        assert!(
            parse(&[
                "token",
                "rotate",
                "--org",
                "a",
                "T",
                "--keep-previous",
                "--grace-hours",
                "1"
            ])
            .is_err()
        );
    }

    #[test]
    fn the_command_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    /// The operations guide's CLI table cannot drift from the definition: every global flag
    /// and every variable any argument reads has its row.
    #[test]
    fn every_setting_is_documented() {
        let guide = include_str!("../../../docs/operations.md");
        let command = Cli::command();
        let mut arguments: Vec<&clap::Arg> = command.get_arguments().collect();
        let org = <OrgArg as clap::Args>::augment_args(clap::Command::new("org"));
        arguments.extend(org.get_arguments());
        for arg in arguments {
            if let Some(env) = arg.get_env() {
                let variable = format!("`{}`", env.to_string_lossy());
                assert!(
                    guide.contains(&variable),
                    "{variable} is not in docs/operations.md"
                );
            }
            if arg.is_global_set()
                && let Some(long) = arg.get_long()
            {
                let flag = format!("`--{long}`");
                assert!(guide.contains(&flag), "{flag} is not in docs/operations.md");
            }
        }
    }

    #[test]
    fn service_credentials_need_a_scope() {
        let cli = parse(&[
            "service-credential",
            "create",
            "--name",
            "billing",
            "--org",
            "acme",
            "--org",
            "globex",
            "--read-write",
        ])
        .unwrap();
        match cli.command {
            Command::ServiceCredential(ServiceCredentialCommand::Create {
                name,
                org,
                all_orgs,
                read_write,
            }) => {
                assert_eq!(name, "billing");
                assert_eq!(org, ["acme", "globex"]);
                assert!(!all_orgs && read_write);
            }
            other => panic!("{other:?}"),
        }
        assert!(parse(&["svc", "create", "--name", "billing"]).is_err());
        assert!(parse(&["svc", "create", "--name", "b", "--all-orgs", "--org", "x"]).is_err());
    }

    #[test]
    fn member_remove_takes_org_and_user_id() {
        let cli = parse(&[
            "member",
            "remove",
            "--org",
            "acme",
            "0190a1b2-0000-7000-8000-000000000001",
        ])
        .unwrap();
        match cli.command {
            Command::Member(MemberCommand::Remove { org, user_id }) => {
                assert_eq!(org.org, "acme");
                assert_eq!(user_id, "0190a1b2-0000-7000-8000-000000000001");
            }
            other => panic!("{other:?}"),
        }
        assert!(parse(&["member", "remove", "--org", "acme"]).is_err());
    }

    #[test]
    fn org_create_takes_slug_and_name() {
        let cli = parse(&["org", "create", "--slug", "acme", "--name", "Acme Inc"]).unwrap();
        match cli.command {
            Command::Org(OrgCommand::Create { slug, name }) => {
                assert_eq!(slug, "acme");
                assert_eq!(name, "Acme Inc");
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(parse(&["org", "create", "--slug", "acme"]).is_err());
    }

    #[test]
    fn global_flags_go_anywhere() {
        let cli = parse(&[
            "token",
            "list",
            "--org",
            "acme",
            "--endpoint",
            "http://10.0.0.1:9000",
            "--output",
            "json",
            "--credential",
            "idown_x",
        ])
        .unwrap();
        assert_eq!(cli.endpoint, "http://10.0.0.1:9000");
        assert_eq!(cli.output, OutputFormat::Json);
        assert_eq!(cli.credential.as_deref(), Some("idown_x"));
        assert!(
            matches!(cli.command, Command::Token(TokenCommand::List { ref org }) if org.org == "acme")
        );
    }

    #[test]
    fn token_issue_bounds_the_validity() {
        let cli = parse(&[
            "token",
            "issue",
            "--org",
            "acme",
            "--description",
            "Okta",
            "--validity-days",
            "30",
        ])
        .unwrap();
        match cli.command {
            Command::Token(TokenCommand::Issue {
                description,
                validity_days,
                ..
            }) => {
                assert_eq!(description, "Okta");
                assert_eq!(validity_days, Some(30));
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(parse(&["token", "issue", "--org", "a", "--validity-days", "731"]).is_err());
        assert!(parse(&["token", "issue", "--org", "a", "--validity-days", "0"]).is_err());
    }

    #[test]
    fn token_rotate_accepts_zero_grace() {
        let cli = parse(&["token", "rotate", "--org", "a", "TID", "--grace-hours", "0"]).unwrap();
        match cli.command {
            Command::Token(TokenCommand::Rotate {
                token_id,
                grace_hours,
                validity_days,
                ..
            }) => {
                assert_eq!(token_id, "TID");
                assert_eq!(grace_hours, Some(0));
                assert_eq!(validity_days, None);
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(
            parse(&[
                "token",
                "rotate",
                "--org",
                "a",
                "TID",
                "--grace-hours",
                "721"
            ])
            .is_err()
        );
        assert!(parse(&["token", "rotate", "--org", "a"]).is_err());
    }

    #[test]
    fn limits_default_to_zero_and_are_bounded() {
        let cli = parse(&["scim", "limits", "--org", "a", "--burst", "50"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Scim(ScimCommand::Limits {
                requests_per_second: 0,
                burst: 50,
                max_concurrent: 0,
                ..
            })
        ));
        assert!(parse(&["scim", "limits", "--org", "a", "--max-concurrent", "100001"]).is_err());
    }

    #[test]
    fn default_role_needs_a_role_or_clear_but_not_both() {
        assert!(parse(&["scim", "default-role", "--org", "a"]).is_err());
        assert!(parse(&["scim", "default-role", "--org", "a", "R", "--clear"]).is_err());
        let cli = parse(&["scim", "default-role", "--org", "a", "Engineering"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Scim(ScimCommand::DefaultRole { role: Some(ref r), clear: false, .. })
                if r == "Engineering"
        ));
        let cli = parse(&["scim", "default-role", "--org", "a", "--clear"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Scim(ScimCommand::DefaultRole {
                clear: true,
                role: None,
                ..
            })
        ));
    }

    #[test]
    fn scim_enable_takes_an_optional_default_role() {
        // a name, not only an id
        let cli = parse(&[
            "scim",
            "enable",
            "--org",
            "a",
            "--default-role",
            "Engineering",
        ])
        .unwrap();
        assert!(matches!(
            cli.command,
            Command::Scim(ScimCommand::Enable { default_role: Some(ref r), .. }) if r == "Engineering"
        ));
        let cli = parse(&["scim", "enable", "--org", "a"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Scim(ScimCommand::Enable {
                default_role: None,
                ..
            })
        ));
    }

    #[test]
    fn role_list_takes_the_org_and_any_output_format() {
        let cli = parse(&["role", "list", "--org", "acme", "--output", "json"]).unwrap();
        assert_eq!(cli.output, OutputFormat::Json);
        assert!(
            matches!(cli.command, Command::Role(RoleCommand::List { ref org }) if org.org == "acme")
        );
        assert!(parse(&["role", "list", "--org", "acme", "extra"]).is_err());
    }

    #[test]
    fn role_create_takes_a_name_and_an_optional_description() {
        let cli = parse(&[
            "role",
            "create",
            "--org",
            "acme",
            "Engineering",
            "--description",
            "Builds things",
        ])
        .unwrap();
        match cli.command {
            Command::Role(RoleCommand::Create {
                org,
                name,
                description,
            }) => {
                assert_eq!(org.org, "acme");
                assert_eq!(name, "Engineering");
                assert_eq!(description, "Builds things");
            }
            other => panic!("unexpected {other:?}"),
        }
        let cli = parse(&["role", "create", "--org", "acme", "Sales"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Role(RoleCommand::Create { ref name, ref description, .. })
                if name == "Sales" && description.is_empty()
        ));
        assert!(parse(&["role", "create", "--org", "acme"]).is_err());
    }

    #[test]
    fn role_rename_takes_the_role_by_name_or_id_then_the_new_name() {
        let cli = parse(&["role", "rename", "--org", "acme", "Eng", "Engineering"]).unwrap();
        match cli.command {
            Command::Role(RoleCommand::Rename {
                org,
                role,
                new_name,
            }) => {
                assert_eq!(org.org, "acme");
                assert_eq!(role, "Eng");
                assert_eq!(new_name, "Engineering");
            }
            other => panic!("unexpected {other:?}"),
        }
        let id = "0190a1b2-0000-7000-8000-000000000002";
        let cli = parse(&["role", "rename", "--org", "acme", id, "Ops"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Role(RoleCommand::Rename { ref role, .. }) if role == id
        ));
        assert!(parse(&["role", "rename", "--org", "acme", "Eng"]).is_err());
    }

    #[test]
    fn role_delete_takes_one_role() {
        let cli = parse(&["role", "delete", "--org", "acme", "Sales"]).unwrap();
        match cli.command {
            Command::Role(RoleCommand::Delete { org, role }) => {
                assert_eq!(org.org, "acme");
                assert_eq!(role, "Sales");
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(parse(&["role", "delete", "--org", "acme"]).is_err());
        assert!(parse(&["role", "delete", "--org", "acme", "A", "B"]).is_err());
    }

    #[test]
    fn o_is_short_for_output() {
        let cli = parse(&["role", "list", "--org", "acme", "-o", "json"]).unwrap();
        assert_eq!(cli.output, OutputFormat::Json);
        // global, like --output: before the subcommand too
        let cli = parse(&["-o", "json", "org", "list"]).unwrap();
        assert_eq!(cli.output, OutputFormat::Json);
        assert!(parse(&["org", "list", "-o", "yaml"]).is_err());
    }

    #[test]
    fn completions_take_a_known_shell() {
        for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
            let cli = parse(&["completions", shell]).unwrap();
            assert!(
                matches!(cli.command, Command::Completions { .. }),
                "{shell}"
            );
        }
        assert!(parse(&["completions"]).is_err());
        assert!(parse(&["completions", "tcsh"]).is_err());
    }

    #[test]
    fn output_format_is_validated() {
        assert!(parse(&["org", "list", "--output", "yaml"]).is_err());
        assert!(parse(&["org", "list", "--page-size", "0"]).is_err());
    }
}
