//! `identity-local`: the whole stack on one laptop with one command.
//!
//! Starts `identity-core` on an embedded SQLite file under `./.local/`, creates the `default`
//! organization with a `members` default role and SCIM enabled on first start, starts
//! `scim-edge` in front of it, issues a fresh SCIM token and prints what a user needs to `curl`
//! a user in. In production the two processes run separately (see the Helm chart); this launcher
//! only wires them together and forwards Ctrl-C / SIGTERM to both.

use anyhow::{Context, bail};
use clap::Parser;
use identity_launcher::{CoreLaunch, EdgeLaunch, Output, Process};
use identity_proto::admin::v1 as admin;
use identity_proto::identity::v1 as identity;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tonic::transport::Channel;

/// Migrations of an existing store included.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// What each process may take to finish its requests after SIGTERM.
const STOP_TIMEOUT: Duration = Duration::from_secs(25);

#[derive(Debug, Parser)]
#[command(about = "Run identity-core and scim-edge locally on an embedded SQLite store")]
struct Args {
    /// Directory for the SQLite file and the generated bootstrap admin credential
    #[arg(long, default_value = ".local")]
    data_dir: PathBuf,
    /// SCIM edge listen address
    #[arg(long, default_value = "127.0.0.1:8080")]
    scim_addr: String,
    /// identity.v1 listen address
    #[arg(long, default_value = "127.0.0.1:50051")]
    core_addr: String,
    /// admin.v1 listen address
    #[arg(long, default_value = "127.0.0.1:50052")]
    admin_addr: String,
    /// Slug of the organization created on first start
    #[arg(long, default_value = "default")]
    org: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("creating {}", args.data_dir.display()))?;
    let data_dir = std::fs::canonicalize(&args.data_dir)?;
    let admin_token = local_secret(&data_dir.join("admin-token"), "admin")?;
    let edge_credential = local_secret(&data_dir.join("edge-credential"), "edge")?;
    let bin_dir = sibling_binaries()?;

    let database_url = format!(
        "sqlite://{}?mode=rwc",
        data_dir.join("identity.db").display()
    );
    let core_launch = CoreLaunch {
        bin_dir: Some(&bin_dir),
        database_url: &database_url,
        identity_listen: &args.core_addr,
        admin_listen: &args.admin_addr,
        metrics_listen: None,
        admin_token: &admin_token,
        edge_credential: &edge_credential,
        hermetic: false,
    };
    let (mut core, listening) = Process::spawn(
        "identity-core",
        core_launch.command()?,
        Output::Inherit,
        START_TIMEOUT,
    )
    .await?;
    let core_endpoint = format!("http://{}", listening.field("identity_addr")?);
    let admin_endpoint = format!("http://{}", listening.field("admin_addr")?);

    let core_client =
        identity_proto::client::IdentityClient::connect(&core_endpoint, &edge_credential).await?;
    let Provisioned {
        org_id,
        secret,
        portal_path,
    } = provision(&core_client, &admin_endpoint, &admin_token, &args.org).await?;

    let base_url = format!("http://{}/scim/v2", args.scim_addr);
    let edge_launch = EdgeLaunch {
        bin_dir: Some(&bin_dir),
        listen: &args.scim_addr,
        core_endpoint: &core_endpoint,
        core_credential: &edge_credential,
        base_url: Some(&base_url),
        hermetic: false,
    };
    let (mut edge, _) = Process::spawn(
        "scim-edge",
        edge_launch.command()?,
        Output::Inherit,
        START_TIMEOUT,
    )
    .await?;

    println!(
        "\nidentity stack ready (store: {database_url})\n\n  SCIM base URL   {base_url}\n  SCIM token      {secret}\n  setup portal    http://{}{portal_path} (opens once, within an hour)\n  organization    {} ({org_id})\n  identity gRPC   {core_endpoint}\n  admin gRPC      {admin_endpoint} (bootstrap credential in {})\n\nTry:\n  curl -s -H 'Authorization: Bearer {secret}' -H 'Content-Type: application/scim+json' \\\n    -d '{{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:User\"],\"userName\":\"ada@example.com\"}}' \\\n    {base_url}/Users\n\nCtrl-C stops both processes.",
        args.scim_addr,
        args.org,
        data_dir.join("admin-token").display(),
    );

    tokio::select! {
        status = core.wait() => bail!("identity-core exited: {status:?}"),
        status = edge.wait() => bail!("scim-edge exited: {status:?}"),
        () = identity_runtime::shutdown::signal() => {}
    }
    for process in [&mut edge, &mut core] {
        if let Err(error) = process.terminate(STOP_TIMEOUT).await {
            eprintln!("{error:#}");
            process.kill().await;
        }
    }
    Ok(())
}

/// What a start provisioned.
struct Provisioned {
    org_id: String,
    /// A fresh SCIM token.
    secret: String,
    /// A fresh one-time setup-portal link, relative to the edge.
    portal_path: String,
}

/// Creates the organization, its default role and SCIM settings if needed; issues a token and
/// mints a setup-portal link.
async fn provision(
    core: &identity_proto::client::IdentityClient,
    admin_endpoint: &str,
    admin_token: &str,
    slug: &str,
) -> anyhow::Result<Provisioned> {
    let bearer: tonic::metadata::MetadataValue<_> = format!("Bearer {admin_token}").parse()?;
    let admin_channel = Channel::from_shared(admin_endpoint.to_owned())?
        .connect()
        .await?;
    let with_auth = move |mut request: tonic::Request<()>| {
        request
            .metadata_mut()
            .insert("authorization", bearer.clone());
        Ok(request)
    };
    let mut orgs = admin::organization_service_client::OrganizationServiceClient::with_interceptor(
        admin_channel.clone(),
        with_auth.clone(),
    );
    let mut scim = admin::scim_service_client::ScimServiceClient::with_interceptor(
        admin_channel.clone(),
        with_auth.clone(),
    );
    let mut portal = admin::portal_service_client::PortalServiceClient::with_interceptor(
        admin_channel,
        with_auth,
    );

    let existing = orgs
        .get_organization(admin::GetOrganizationRequest {
            key: Some(admin::get_organization_request::Key::Slug(slug.to_owned())),
        })
        .await;
    let org_id = match existing {
        Ok(response) => {
            response
                .into_inner()
                .organization
                .context("organization")?
                .id
        }
        Err(status) if status.code() == tonic::Code::NotFound => {
            orgs.create_organization(admin::CreateOrganizationRequest {
                slug: slug.to_owned(),
                display_name: "Default organization".to_owned(),
            })
            .await?
            .into_inner()
            .organization
            .context("organization")?
            .id
        }
        Err(status) => return Err(status.into()),
    };

    let settings = scim
        .get_scim_settings(admin::GetScimSettingsRequest {
            organization_id: org_id.clone(),
        })
        .await?
        .into_inner()
        .settings
        .unwrap_or_default();
    if !settings.enabled {
        let role_id = default_role(core, &org_id).await?;
        scim.enable_scim(admin::EnableScimRequest {
            organization_id: org_id.clone(),
            default_role: role_id,
            ..Default::default()
        })
        .await?;
    }
    let secret = scim
        .issue_scim_token(admin::IssueScimTokenRequest {
            organization_id: org_id.clone(),
            description: "identity-local".to_owned(),
            validity: None,
            connection_id: String::new(),
        })
        .await?
        .into_inner()
        .secret;
    let portal_path = portal
        .create_portal_link(admin::CreatePortalLinkRequest {
            organization_id: org_id.clone(),
            label: "identity-local".to_owned(),
            validity: None,
        })
        .await?
        .into_inner()
        .path;
    Ok(Provisioned {
        org_id,
        secret,
        portal_path,
    })
}

/// The `members` role new SCIM users join, created if missing.
async fn default_role(
    core: &identity_proto::client::IdentityClient,
    org_id: &str,
) -> anyhow::Result<String> {
    let mut roles = core.roles.clone();
    let filter = identity::Filter {
        kind: Some(identity::filter::Kind::Comparison(identity::Comparison {
            attribute: "display_name".to_owned(),
            operator: identity::Operator::Eq as i32,
            value: Some(identity::FilterValue {
                kind: Some(identity::filter_value::Kind::StringValue(
                    "members".to_owned(),
                )),
            }),
        })),
    };
    let found = roles
        .list_roles(identity::ListRolesRequest {
            organization_id: org_id.to_owned(),
            filter: Some(filter),
            page_size: 1,
            ..Default::default()
        })
        .await?
        .into_inner();
    if let Some(role) = found.roles.into_iter().next() {
        return Ok(role.id);
    }
    let role = roles
        .create_role(identity::CreateRoleRequest {
            organization_id: org_id.to_owned(),
            role: Some(identity::Role {
                display_name: "members".to_owned(),
                description: "Every user provisioned through SCIM".to_owned(),
                ..Default::default()
            }),
            member_user_ids: vec![],
        })
        .await?
        .into_inner()
        .role
        .context("role")?;
    Ok(role.id)
}

/// Returns the stored bootstrap admin credential, creating a random one on first start.
/// A random secret kept in `path` (created with mode 0600 on first start), named `local-<kind>-…`.
fn local_secret(path: &Path, kind: &str) -> anyhow::Result<String> {
    if let Ok(existing) = std::fs::read_to_string(path) {
        return Ok(existing.trim().to_owned());
    }
    let token = format!(
        "local-{kind}-{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    std::fs::write(path, &token)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(token)
}

/// The directory holding `identity-core` and `scim-edge`: the one this launcher was built into.
/// Under `cargo run`, the sibling binaries are (re)built first so they are never stale.
fn sibling_binaries() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let dir = exe.parent().context("executable directory")?.to_path_buf();
    if let Some(cargo) = std::env::var_os("CARGO") {
        let mut build = std::process::Command::new(cargo);
        let workspace_manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.toml");
        build.args(["build", "--manifest-path", workspace_manifest]);
        build.args(["--bin", "identity-core", "--bin", "scim-edge"]);
        if dir.ends_with("release") {
            build.arg("--release");
        }
        let status = build
            .status()
            .context("building identity-core and scim-edge")?;
        if !status.success() {
            bail!("building identity-core and scim-edge failed");
        }
    }
    for name in ["identity-core", "scim-edge"] {
        if !dir.join(name).exists() {
            bail!(
                "{name} not found next to {}: run `cargo build --workspace` first",
                exe.display()
            );
        }
    }
    Ok(dir)
}
