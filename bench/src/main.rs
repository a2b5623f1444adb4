//! `identity-bench`: a load driver for the identity service, not a timed test. It starts the real
//! binaries (or targets a running stack), loads one fresh organization with `--users` users, and
//! reports p50/p95/p99 latencies, throughput and large/empty ratios measured in the same run.
//! CI does not run it; see bench/README.md.

mod core;
mod drive;
mod edge;
mod neighbours;
mod oauth;
mod soak;
mod stack;
mod stats;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use stack::{Stack, StackOptions};
use stats::Report;
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    version,
    about = "Load driver for identity-core (gRPC) and scim-edge (SCIM HTTP)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Through the identity.v1 gRPC API: CreateUser throughput, LookupUser latency at N users,
    /// AddRoleMembers on an N-member role vs an empty role
    Core(CoreArgs),
    /// Through SCIM HTTP: POST /Users throughput, GET /Users?filter=userName eq at N users,
    /// PATCH add-member on an N-member group vs an empty group
    Edge(EdgeArgs),
    /// OAuth for provisioning: the token endpoint (client credentials, refresh rotation, the
    /// code flow) and SCIM requests with an OAuth access token vs a pasted token (--users is
    /// not used)
    Oauth(Common),
    /// Fault survival: mixed SCIM writes from several organizations while the core and the edge
    /// are killed (SIGKILL) and restarted and PostgreSQL is restarted; then every acknowledged
    /// write is read back through identity.v1 (exits non-zero on any loss)
    Soak(soak::SoakArgs),
    /// The noisy neighbour: one organization's Okta-style import and push alone, then while
    /// another sends the most expensive requests it is allowed; the first's p99 and errors
    /// with and without the other, in one run, under the edge's default limits
    Neighbours(neighbours::NeighbourArgs),
}

#[derive(Debug, Args)]
struct Common {
    /// Users to create (the size of the data set and of the large role/group)
    #[arg(long, default_value_t = 100_000)]
    users: usize,
    /// Latency samples per measured single-call operation
    #[arg(long, default_value_t = 1000)]
    samples: usize,
    /// Calls in flight while creating users
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Print the report as JSON on stdout (progress still goes to stderr)
    #[arg(long)]
    json: bool,
    /// Directory holding identity-core and scim-edge (default: next to this executable)
    #[arg(long)]
    bin_dir: Option<PathBuf>,
    /// Store of the started core (default: SQLite in a temporary directory), e.g.
    /// postgres://postgres@127.0.0.1:5432/test
    #[arg(long, env = "IDENTITY_BENCH_DATABASE_URL")]
    database_url: Option<String>,
    /// Keep the started processes' logs (their directory is printed) instead of removing them
    #[arg(long)]
    keep_logs: bool,
}

#[derive(Debug, Args)]
struct CoreArgs {
    #[command(flatten)]
    common: Common,
    /// identity.v1 endpoint of a running core (e.g. http://127.0.0.1:50051); starts none
    #[arg(long, requires = "org_source")]
    core_endpoint: Option<String>,
    /// An existing organization of the running core to load
    #[arg(long, group = "org_source")]
    org_id: Option<String>,
    /// admin.v1 endpoint of the running core, to create a fresh organization
    #[arg(long, group = "org_source", requires = "admin_token")]
    admin_endpoint: Option<String>,
    /// Bootstrap admin credential of the running core
    #[arg(long, env = "IDENTITY_BENCH_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// identity.v1 credential for the running core (its edge credential, or a read-write
    /// service credential of the organization)
    #[arg(
        long,
        env = "IDENTITY_BENCH_CREDENTIAL",
        hide_env_values = true,
        requires = "core_endpoint"
    )]
    credential: Option<String>,
}

#[derive(Debug, Args)]
struct EdgeArgs {
    #[command(flatten)]
    common: Common,
    /// SCIM base URL of a running edge (e.g. http://127.0.0.1:8080/scim/v2); starts none
    #[arg(long, requires = "token")]
    scim_url: Option<String>,
    /// SCIM bearer token of the organization to load (with --scim-url)
    #[arg(long, env = "IDENTITY_BENCH_SCIM_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Members per PATCH while filling the large group
    #[arg(long, default_value_t = 1000)]
    fill_batch: usize,
}

pub(crate) fn run_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..8].to_owned()
}

fn validate(common: &Common) -> Result<()> {
    if common.users == 0 || common.samples == 0 || common.concurrency == 0 {
        bail!("--users, --samples and --concurrency must be at least 1");
    }
    Ok(())
}

async fn start(common: &Common, with_edge: bool) -> Result<Stack> {
    Stack::start(&StackOptions {
        bin_dir: common.bin_dir.clone(),
        database_url: common.database_url.clone(),
        with_edge,
        edge_args: Vec::new(),
        unlimited: true,
    })
    .await
}

fn finish(stack: Option<Stack>, keep_logs: bool) {
    if let Some(stack) = stack
        && keep_logs
    {
        eprintln!("logs kept in {}", stack.keep_logs().display());
    }
}

async fn run_core(args: CoreArgs) -> Result<Report> {
    let common = &args.common;
    validate(common)?;
    let (stack, endpoint, org_id, store, credential) = match &args.core_endpoint {
        Some(endpoint) => {
            let org_id = match (&args.org_id, &args.admin_endpoint, &args.admin_token) {
                (Some(org_id), _, _) => org_id.clone(),
                (None, Some(admin), Some(token)) => {
                    stack::create_organization(admin, token, false).await?.id
                }
                _ => {
                    bail!("--core-endpoint needs --org-id, or --admin-endpoint with --admin-token")
                }
            };
            let credential = args
                .credential
                .clone()
                .context("--core-endpoint needs --credential")?;
            (
                None,
                endpoint.clone(),
                org_id,
                "running stack".to_owned(),
                credential,
            )
        }
        None => {
            let stack = start(common, false).await?;
            let org = stack::create_organization(&stack.admin_endpoint, &stack.admin_token, false)
                .await
                .with_context(|| format!("creating the organization (logs: {})", stack.logs()))?;
            let endpoint = stack.identity_endpoint.clone();
            let store = stack.store.clone();
            let credential = stack.edge_credential.clone();
            (Some(stack), endpoint, org.id, store, credential)
        }
    };
    let channel = stack::connect(&endpoint, &credential).await?;
    let plan = core::Plan {
        org_id,
        users: common.users,
        samples: common.samples,
        concurrency: common.concurrency,
        run_id: run_id(),
    };
    let outcome = core::run(channel, &plan).await;
    if outcome.is_err()
        && let Some(stack) = &stack
    {
        eprintln!("processes' logs: {}", stack.logs());
    }
    let (results, ratios) = outcome?;
    finish(stack, common.keep_logs);
    Ok(Report {
        target: format!("core {endpoint}"),
        users: common.users,
        concurrency: common.concurrency,
        store,
        results,
        ratios,
    })
}

async fn run_edge(args: EdgeArgs) -> Result<Report> {
    let common = &args.common;
    validate(common)?;
    let (stack, base_url, token, store) = match (&args.scim_url, &args.token) {
        (Some(url), Some(token)) => (
            None,
            url.trim_end_matches('/').to_owned(),
            token.clone(),
            "running stack".to_owned(),
        ),
        (Some(_), None) => bail!("--scim-url needs --token"),
        (None, _) => {
            let stack = start(common, true).await?;
            let org = stack::create_organization(&stack.admin_endpoint, &stack.admin_token, true)
                .await
                .with_context(|| format!("creating the organization (logs: {})", stack.logs()))?;
            let base_url = stack
                .scim_base_url
                .clone()
                .context("the edge was started")?;
            let token = org.scim_token.context("SCIM token issued")?;
            let store = stack.store.clone();
            (Some(stack), base_url, token, store)
        }
    };
    let http = edge::client(&token, common.concurrency)?;
    let plan = edge::Plan {
        base_url: base_url.clone(),
        users: common.users,
        samples: common.samples,
        concurrency: common.concurrency,
        fill_batch: args.fill_batch,
        run_id: run_id(),
    };
    let outcome = edge::run(http, &plan).await;
    if outcome.is_err()
        && let Some(stack) = &stack
    {
        eprintln!("processes' logs: {}", stack.logs());
    }
    let (results, ratios) = outcome?;
    finish(stack, common.keep_logs);
    Ok(Report {
        target: format!("edge {base_url}"),
        users: common.users,
        concurrency: common.concurrency,
        store,
        results,
        ratios,
    })
}

async fn run_oauth(common: Common) -> Result<Report> {
    validate(&common)?;
    // no token cache at the edge: every SCIM request's token is checked by the core
    let stack = Stack::start(&StackOptions {
        bin_dir: common.bin_dir.clone(),
        database_url: common.database_url.clone(),
        with_edge: true,
        edge_args: vec!["--token-cache-ttl-secs".into(), "0".into()],
        unlimited: true,
    })
    .await?;
    let org = stack::create_organization(&stack.admin_endpoint, &stack.admin_token, true)
        .await
        .with_context(|| format!("creating the organization (logs: {})", stack.logs()))?;
    let (client_id, client_secret) =
        oauth::register_client(&stack.admin_endpoint, &stack.admin_token, &org.id).await?;
    let scim_url = stack
        .scim_base_url
        .clone()
        .context("the edge was started")?;
    let issuer = reqwest::Url::parse(&scim_url)?
        .origin()
        .ascii_serialization();
    let plan = oauth::Plan {
        issuer: issuer.clone(),
        scim_url,
        samples: common.samples,
        concurrency: common.concurrency,
        client_id,
        client_secret,
        owner_credential: org.owner_secret.clone(),
        pasted_token: org.scim_token.clone().context("SCIM token issued")?,
    };
    let outcome = oauth::run(&plan).await;
    if outcome.is_err() {
        eprintln!("processes' logs: {}", stack.logs());
    }
    let (results, ratios) = outcome?;
    let store = stack.store.clone();
    finish(Some(stack), common.keep_logs);
    Ok(Report {
        target: format!("oauth {issuer}"),
        users: 0,
        concurrency: common.concurrency,
        store,
        results,
        ratios,
    })
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    let (report, json) = match cli.command {
        Command::Core(args) => {
            let json = args.common.json;
            (run_core(args).await?, json)
        }
        Command::Edge(args) => {
            let json = args.common.json;
            (run_edge(args).await?, json)
        }
        Command::Oauth(common) => {
            let json = common.json;
            (run_oauth(common).await?, json)
        }
        Command::Soak(args) => return soak::run(args).await,
        Command::Neighbours(args) => return neighbours::run(args).await,
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{report}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn defaults_are_the_documented_scale() {
        let cli = Cli::try_parse_from(["identity-bench", "core"]).unwrap();
        let Command::Core(args) = cli.command else {
            panic!("core")
        };
        assert_eq!(args.common.users, 100_000);
        assert!(args.core_endpoint.is_none());
    }

    #[test]
    fn running_core_needs_an_organization_source() {
        assert!(
            Cli::try_parse_from(["identity-bench", "core", "--core-endpoint", "http://x:1"])
                .is_err()
        );
        assert!(
            Cli::try_parse_from([
                "identity-bench",
                "core",
                "--core-endpoint",
                "http://x:1",
                "--org-id",
                "o"
            ])
            .is_ok()
        );
    }

    #[test]
    fn running_edge_needs_a_token() {
        assert!(
            Cli::try_parse_from(["identity-bench", "edge", "--scim-url", "http://x/scim/v2"])
                .map(|_| ())
                .is_err()
                || std::env::var_os("IDENTITY_BENCH_SCIM_TOKEN").is_some()
        );
    }
}
