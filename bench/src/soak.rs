//! `identity-bench soak`: fault survival. Several organizations drive mixed SCIM writes the way
//! an identity provider does (retrying on 5xx, 429 and broken connections until an answer is
//! final) while the core is killed with SIGKILL and restarted, PostgreSQL is restarted, and the
//! edge is killed and restarted, in turn. Afterwards every write answered 2xx is read back
//! through `identity.v1`, every 2xx delete must be gone, and the change feed must be gap-free.
//!
//! It prints writes acknowledged, writes lost, duplicates, failures seen after the stack had
//! recovered from a fault and the time each fault took to recover from, and exits non-zero when
//! any of lost, duplicated, post-recovery failures, stale reads, feed gaps or unresolved requests
//! is not zero.

mod load;
mod report;
mod supervisor;

use crate::stack;
use anyhow::{Context, Result, bail, ensure};
use clap::Args;
use identity_proto::client::AuthenticatedChannel;
use identity_proto::identity::v1 as pb;
use load::{Ledger, Tenant, Writer};
use pb::change_service_client::ChangeServiceClient;
use pb::role_service_client::RoleServiceClient;
use pb::user_service_client::UserServiceClient;
use report::{Recovery, Report};
use reqwest::StatusCode;
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use supervisor::{Fault, Supervisor};

/// The longest a fault may take to recover from before the run fails.
const RECOVERY_LIMIT: Duration = Duration::from_secs(120);

#[derive(Debug, Args)]
pub(crate) struct SoakArgs {
    /// Seconds of load under faults
    #[arg(long, default_value_t = 600)]
    duration: u64,
    /// The short mode CI runs: 60 seconds, a fault every 8 seconds
    #[arg(long)]
    short: bool,
    /// Organizations writing at once
    #[arg(long, default_value_t = 3)]
    tenants: usize,
    /// Sequential writers per organization
    #[arg(long, default_value_t = 4)]
    workers: usize,
    /// Seconds between the recovery from one fault and the next fault (default 15, short 8)
    #[arg(long)]
    fault_every: Option<u64>,
    /// Shell command that restarts PostgreSQL (e.g. `pg_ctlcluster 15 main restart`); without
    /// it only the core and the edge are killed
    #[arg(long)]
    restart_postgres: Option<String>,
    /// Store of the core (default: SQLite in a temporary directory)
    #[arg(long, env = "IDENTITY_BENCH_DATABASE_URL")]
    database_url: Option<String>,
    /// Directory holding identity-core and scim-edge (default: next to this executable)
    #[arg(long)]
    bin_dir: Option<PathBuf>,
    /// Keep the processes' logs (their directory is printed)
    #[arg(long)]
    keep_logs: bool,
    /// Print the report as JSON
    #[arg(long)]
    json: bool,
}

pub(crate) async fn run(args: SoakArgs) -> Result<()> {
    ensure!(
        args.tenants > 0 && args.workers > 0,
        "--tenants and --workers must be at least 1"
    );
    let duration = Duration::from_secs(if args.short { 60 } else { args.duration });
    let fault_every =
        Duration::from_secs(args.fault_every.unwrap_or(if args.short { 8 } else { 15 }));
    let mut faults = vec![Fault::KillCore, Fault::KillEdge];
    if let Some(command) = &args.restart_postgres {
        ensure!(
            args.database_url
                .as_deref()
                .is_some_and(|url| url.starts_with("postgres")),
            "--restart-postgres needs a postgres:// --database-url"
        );
        faults.push(Fault::RestartPostgres(command.clone()));
    }

    let mut supervisor = Supervisor::start(args.database_url.clone(), args.bin_dir.clone()).await?;
    let outcome = soak(&mut supervisor, &args, duration, fault_every, &faults).await;
    if outcome.is_err() || args.keep_logs {
        eprintln!("processes' logs: {}", supervisor.keep_logs().display());
    }
    let report = outcome?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.render());
    }
    let problems = report.problems();
    if !problems.is_empty() {
        bail!("soak failed: {}", problems.join("; "));
    }
    Ok(())
}

async fn soak(
    supervisor: &mut Supervisor,
    args: &SoakArgs,
    duration: Duration,
    fault_every: Duration,
    faults: &[Fault],
) -> Result<Report> {
    let run_id = crate::run_id();
    let mut tenants = Vec::new();
    for index in 0..args.tenants {
        tenants.push(Arc::new(
            Tenant::create(supervisor, index, args.workers, &run_id).await?,
        ));
    }
    eprintln!(
        "soak: {} organizations × {} writers for {duration:?}, a fault every {fault_every:?} ({})",
        args.tenants,
        args.workers,
        faults
            .iter()
            .map(Fault::name)
            .collect::<Vec<_>>()
            .join(", ")
    );

    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut writers = Vec::new();
    for tenant in &tenants {
        for worker in 0..args.workers {
            let writer = Writer::new(tenant.clone(), worker, &run_id);
            writers.push(tokio::spawn(writer.run(stop.clone())));
        }
    }

    let mut recoveries = Vec::new();
    let mut next = 0;
    while started.elapsed() + fault_every < duration {
        tokio::time::sleep(fault_every).await;
        let fault = &faults[next % faults.len()];
        next += 1;
        eprintln!("soak: {} at {:?}", fault.name(), started.elapsed());
        let at = Instant::now();
        supervisor.inject(fault).await?;
        let recovered = wait_recovered(&tenants, supervisor).await?;
        eprintln!("soak: recovered in {:?}", recovered - at);
        recoveries.push(Recovery {
            fault: fault.name(),
            at,
            recovered,
        });
    }
    // the rest of the time, and at least a calm tail, without faults
    let calm = duration
        .saturating_sub(started.elapsed())
        .max(Duration::from_secs(5));
    tokio::time::sleep(calm).await;
    stop.store(true, Ordering::Relaxed);
    let mut ledgers = Vec::new();
    for writer in writers {
        ledgers.push(writer.await.context("a writer panicked")?);
    }
    let elapsed = started.elapsed();
    eprintln!("soak: verifying through identity.v1");
    let channel =
        stack::connect(&supervisor.identity_endpoint(), &supervisor.edge_credential).await?;
    let mut report = Report::new(args.tenants, args.workers, elapsed, &recoveries);
    for tenant in &tenants {
        let mine: Vec<&Ledger> = ledgers
            .iter()
            .filter(|ledger| ledger.tenant == tenant.index)
            .collect();
        verify(&channel, tenant, &mine, &mut report).await?;
    }
    for ledger in &ledgers {
        report.count(ledger, &recoveries);
    }
    Ok(report)
}

/// The stack has recovered when every organization's SCIM endpoint answers a read with 200.
async fn wait_recovered(tenants: &[Arc<Tenant>], supervisor: &Supervisor) -> Result<Instant> {
    let deadline = Instant::now() + RECOVERY_LIMIT;
    for tenant in tenants {
        loop {
            let answered = tenant
                .http
                .get(format!("{}/Users?count=1", tenant.base_url))
                .send()
                .await;
            if answered.is_ok_and(|response| response.status() == StatusCode::OK) {
                break;
            }
            if Instant::now() > deadline {
                bail!(
                    "organization {} not served within {RECOVERY_LIMIT:?} of the fault (scim {})",
                    tenant.index,
                    supervisor.scim_url()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    Ok(Instant::now())
}

async fn verify(
    channel: &AuthenticatedChannel,
    tenant: &Tenant,
    ledgers: &[&Ledger],
    report: &mut Report,
) -> Result<()> {
    let org = tenant.org_id.clone();
    // every user of the organization, by id
    let mut users = UserServiceClient::new(channel.clone());
    let mut stored: HashMap<String, pb::User> = HashMap::new();
    let mut page_token = String::new();
    loop {
        let page = users
            .list_users(pb::ListUsersRequest {
                organization_id: org.clone(),
                page_size: 1000,
                page_token: page_token.clone(),
                ..Default::default()
            })
            .await
            .context("ListUsers")?
            .into_inner();
        for user in page.users {
            stored.insert(user.id.clone(), user);
        }
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    let mut names = HashSet::new();
    let mut external_ids = HashSet::new();
    for user in stored.values() {
        if !names.insert(user.user_name.to_lowercase()) {
            report.duplicates += 1;
        }
        if !user.external_id.is_empty() && !external_ids.insert(user.external_id.clone()) {
            report.duplicates += 1;
        }
    }

    // every group's members
    let mut roles = RoleServiceClient::new(channel.clone());
    let mut members: HashSet<String> = HashSet::new();
    for group in &tenant.groups {
        let mut page_token = String::new();
        loop {
            let page = roles
                .list_role_members(pb::ListRoleMembersRequest {
                    organization_id: org.clone(),
                    role_id: group.clone(),
                    page_size: 10_000,
                    page_token: page_token.clone(),
                })
                .await
                .context("ListRoleMembers")?
                .into_inner();
            members.extend(page.members.into_iter().map(|m| m.user_id));
            if page.next_page_token.is_empty() {
                break;
            }
            page_token = page.next_page_token;
        }
    }

    for tracked in ledgers.iter().flat_map(|ledger| &ledger.users) {
        let Some(id) = &tracked.id else {
            if stored
                .values()
                .any(|u| u.user_name.eq_ignore_ascii_case(&tracked.user_name))
            {
                report.committed_unacknowledged += 1;
            }
            continue;
        };
        match stored.get(id) {
            _ if tracked.delete_pending => {}
            Some(_) if tracked.deleted => report.lost(format!("deleted user {id} is back")),
            None if tracked.deleted => {}
            None => report.lost(format!("created user {id} is missing")),
            Some(user) => {
                let allowed = [
                    Some(&tracked.display_name),
                    tracked.pending_display_name.as_ref(),
                ];
                if !allowed.contains(&Some(&user.display_name)) {
                    report.lost(format!(
                        "user {id}: displayName {:?}, acknowledged {:?}",
                        user.display_name, tracked.display_name
                    ));
                }
                if tracked.member && !members.contains(id) {
                    report.lost(format!("user {id}: acknowledged group membership missing"));
                }
            }
        }
    }

    // the feed: 1..=latest without gaps
    let mut changes = ChangeServiceClient::new(channel.clone());
    let mut after = 0;
    loop {
        let page = changes
            .list_changes(pb::ListChangesRequest {
                organization_id: org.clone(),
                after_sequence: after,
                page_size: 1000,
            })
            .await
            .context("ListChanges")?
            .into_inner();
        if page.changes.is_empty() {
            if after != page.latest_sequence {
                report.feed_gaps += 1;
            }
            break;
        }
        for change in page.changes {
            if change.sequence != after + 1 {
                report.feed_gaps += 1;
            }
            after = change.sequence;
        }
    }
    report.feed_changes += u64::try_from(after).unwrap_or_default();
    Ok(())
}
