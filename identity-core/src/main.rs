//! The identity-core binary: `serve` (default) or `migrate`.

use clap::{Parser, Subcommand};
use identity_core::config::{Config, ConfigOverrides};
use std::path::PathBuf;

/// See the workspace manifest for why.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(
    version,
    about = "The identity service: organizations, users, roles, tokens over gRPC"
)]
struct Cli {
    /// Optional TOML configuration file
    #[arg(long, global = true, env = "IDENTITY_CONFIG")]
    config: Option<PathBuf>,
    #[command(flatten)]
    overrides: ConfigOverrides,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the identity and admin APIs (the default)
    Serve,
    /// Apply pending database migrations and exit
    Migrate,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let _telemetry = identity_runtime::telemetry::init("identity-core")?;
    let config = Config::load(cli.config.as_deref(), std::env::vars(), &cli.overrides)?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Migrate => {
            let db = identity_core::db::connect(config.database_url.expose(), 1).await?;
            identity_core::db::migrate(&db).await?;
            tracing::info!("migrations applied");
        }
        Command::Serve => {
            identity_core::server::run(config, identity_runtime::shutdown::signal(), |addrs| {
                // one machine-readable line on stdout for scripts and tests; logs go to stderr
                let line = serde_json::json!({
                    "event": "listening",
                    "identity_addr": addrs.identity_addr,
                    "admin_addr": addrs.admin_addr,
                    "metrics_addr": addrs.metrics_addr,
                });
                println!("{line}");
                tracing::info!(identity_addr = %addrs.identity_addr, admin_addr = %addrs.admin_addr, "listening");
            })
            .await?;
        }
    }
    Ok(())
}
