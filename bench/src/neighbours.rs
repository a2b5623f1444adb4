//! `identity-bench neighbours`: the noisy neighbour. Organization B runs an Okta-style import and
//! push at a steady rate, first alone, then while organization A sends the most expensive
//! requests it is allowed (pages of 1,000 users, substring filters over all of them, a group of
//! every user with its members, whole-membership replacements) as fast as it can, with many in
//! flight. Both phases run in one sitting against one stack with the edge's default limits; the
//! report is B's latency and errors with A against B alone (target: p99 at most 2×, no errors).

use crate::edge::{GROUP_SCHEMA, PATCH_SCHEMA, SCIM_JSON, USER_SCHEMA, client};
use crate::stack::{self, Stack, StackOptions};
use crate::stats::{Samples, Summary};
use anyhow::{Context, Result, ensure};
use clap::Args;
use reqwest::{Client, Method, StatusCode};
use serde::Serialize;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

const BULK_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";

#[derive(Debug, Args)]
pub(crate) struct NeighbourArgs {
    /// Seconds of each phase (B alone, B with A)
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// Users of organization A (its pages, filters and group span all of them)
    #[arg(long, default_value_t = 2000)]
    users: usize,
    /// A's requests in flight
    #[arg(long, default_value_t = 64)]
    flood: usize,
    /// A waits as told by `Retry-After` after a 429, as identity providers do (default: A
    /// ignores it and sends again at once, as a hostile client would)
    #[arg(long)]
    polite: bool,
    /// B's requests per second (Okta and Entra stay well below the default 100/s limit)
    #[arg(long, default_value_t = 40)]
    rate: u64,
    /// Store of the started core (default: SQLite in a temporary directory)
    #[arg(long, env = "IDENTITY_BENCH_DATABASE_URL")]
    database_url: Option<String>,
    /// Directory holding identity-core and scim-edge (default: next to this executable)
    #[arg(long)]
    bin_dir: Option<PathBuf>,
    /// Print the report as JSON
    #[arg(long)]
    json: bool,
}

pub(crate) async fn run(args: NeighbourArgs) -> Result<()> {
    ensure!(
        args.seconds > 0 && args.users > 0 && args.flood > 0 && args.rate > 0,
        "--seconds, --users, --flood and --rate must be at least 1"
    );
    // the edge's default limits: fairness is what is measured
    let stack = Stack::start(&StackOptions {
        bin_dir: args.bin_dir.clone(),
        database_url: args.database_url.clone(),
        with_edge: true,
        edge_args: Vec::new(),
        // fairness is what this run measures: the edge's limits stay as configured
        unlimited: false,
    })
    .await?;
    let base_url = stack
        .scim_base_url
        .clone()
        .context("the edge was started")?;
    let a = Org::create(&stack, &base_url, args.flood).await?;
    let b = Org::create(&stack, &base_url, 8).await?;
    let run_id = crate::run_id();
    eprintln!(
        "neighbours: filling organization A with {} users",
        args.users
    );
    let a_group = fill(&a, args.users, &run_id).await?;
    let b_group = create_group(&b, &format!("push-{run_id}"), &[]).await?;
    let phase = Duration::from_secs(args.seconds);

    eprintln!("neighbours: B alone for {phase:?}");
    let alone = push(&b, &b_group, args.rate, phase, &format!("{run_id}-alone")).await;
    eprintln!("neighbours: B with A flooding for {phase:?}");
    let stop = Arc::new(AtomicBool::new(false));
    let flood = tokio::spawn(flood_with(
        a.clone(),
        a_group,
        args.flood,
        args.polite,
        stop.clone(),
    ));
    let with_a = push(&b, &b_group, args.rate, phase, &format!("{run_id}-with-a")).await;
    stop.store(true, Ordering::Relaxed);
    let a_counts = flood.await.context("the flood panicked")?;

    let report = Report {
        store: stack.store.clone(),
        seconds: args.seconds,
        b_rate: args.rate,
        a_in_flight: args.flood,
        a_polite: args.polite,
        a_users: args.users,
        alone: alone.summarize("B alone", phase),
        with_a: with_a.summarize("B with A", phase),
        a_served: a_counts.served.load(Ordering::Relaxed),
        a_throttled: a_counts.throttled.load(Ordering::Relaxed),
        a_other: a_counts.other.load(Ordering::Relaxed),
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.render());
    }
    Ok(())
}

/// An organization with SCIM on and a client for its token.
#[derive(Clone)]
struct Org {
    base_url: String,
    http: Client,
}

impl Org {
    async fn create(stack: &Stack, base_url: &str, in_flight: usize) -> Result<Self> {
        let org =
            stack::create_organization(&stack.admin_endpoint, &stack.admin_token, true).await?;
        Ok(Self {
            base_url: base_url.to_owned(),
            http: client(&org.scim_token.context("SCIM token issued")?, in_flight)?,
        })
    }

    fn request(&self, method: Method, path: &str, body: Option<&Value>) -> reqwest::RequestBuilder {
        let request = self
            .http
            .request(method, format!("{}{path}", self.base_url));
        match body {
            Some(body) => request
                .header(reqwest::header::CONTENT_TYPE, SCIM_JSON)
                .json(body),
            None => request,
        }
    }
}

/// Creates `users` users in A through Bulk (two requests per 1,000, inside A's own limits) and a
/// group holding all of them; returns the group's id.
async fn fill(a: &Org, users: usize, run_id: &str) -> Result<String> {
    let mut ids = Vec::with_capacity(users);
    for chunk in (0..users).collect::<Vec<_>>().chunks(500) {
        let operations: Vec<Value> = chunk
            .iter()
            .map(|i| {
                json!({
                    "method": "POST",
                    "path": "/Users",
                    "bulkId": format!("u{i}"),
                    "data": {
                        "schemas": [USER_SCHEMA],
                        "userName": format!("a{i:06}.{run_id}@noisy.example.com"),
                        "displayName": format!("Noisy User {i}"),
                        "emails": [{"value": format!("a{i:06}.{run_id}@noisy.example.com"), "primary": true}],
                        "active": true
                    }
                })
            })
            .collect();
        let body = json!({"schemas": [BULK_SCHEMA], "Operations": operations});
        let answered = crate::edge::send(
            a.request(Method::POST, "/Bulk", Some(&body)),
            &[StatusCode::OK],
        )
        .await
        .context("POST /Bulk")?;
        for operation in answered["Operations"].as_array().into_iter().flatten() {
            let location = operation["location"].as_str().unwrap_or_default();
            ensure!(
                operation["status"].as_str() == Some("201"),
                "bulk create failed: {operation}"
            );
            ids.push(location.rsplit('/').next().unwrap_or_default().to_owned());
        }
    }
    create_group(a, &format!("everyone-{run_id}"), &ids).await
}

/// Creates a group holding `members`; returns its id.
async fn create_group(org: &Org, name: &str, members: &[String]) -> Result<String> {
    let members: Vec<Value> = members.iter().map(|id| json!({"value": id})).collect();
    let body = json!({"schemas": [GROUP_SCHEMA], "displayName": name, "members": members});
    let created = crate::edge::send(
        org.request(Method::POST, "/Groups", Some(&body)),
        &[StatusCode::CREATED],
    )
    .await
    .context("POST /Groups")?;
    Ok(created["id"].as_str().context("group id")?.to_owned())
}

#[derive(Default)]
struct FloodCounts {
    served: AtomicU64,
    throttled: AtomicU64,
    other: AtomicU64,
}

/// A's requests, the most expensive it may send, round-robin with `in_flight` at once until
/// `stop`.
async fn flood_with(
    a: Org,
    group: String,
    in_flight: usize,
    polite: bool,
    stop: Arc<AtomicBool>,
) -> Arc<FloodCounts> {
    let counts = Arc::new(FloodCounts::default());
    let mut workers = Vec::new();
    for worker in 0..in_flight {
        let (a, group, stop, counts) = (a.clone(), group.clone(), stop.clone(), counts.clone());
        workers.push(tokio::spawn(async move {
            let mut turn = worker;
            while !stop.load(Ordering::Relaxed) {
                let request = match turn % 4 {
                    0 => a.request(Method::GET, "/Users?count=1000", None),
                    1 => a.request(
                        Method::GET,
                        "/Users?count=1000&filter=displayName%20co%20%227%22",
                        None,
                    ),
                    2 => a.request(Method::GET, &format!("/Groups/{group}"), None),
                    _ => a.request(Method::GET, "/Groups?attributes=members", None),
                };
                turn += 1;
                let answered = request.send().await;
                let retry_after = answered
                    .as_ref()
                    .ok()
                    .and_then(|r| r.headers().get(reqwest::header::RETRY_AFTER))
                    .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
                match answered.map(|r| r.status()) {
                    Ok(status) if status.is_success() => &counts.served,
                    Ok(StatusCode::TOO_MANY_REQUESTS) => {
                        if polite {
                            let wait = Duration::from_secs(retry_after.unwrap_or(1));
                            tokio::time::sleep(wait).await;
                        }
                        &counts.throttled
                    }
                    _ => &counts.other,
                }
                .fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for worker in workers {
        let _ = worker.await;
    }
    counts
}

/// B's import and push for `phase` at `rate` requests per second: look a user up by userName,
/// create them, add them to a group, deactivate them, and every tenth user read a page of 100.
/// Every request's latency is recorded; anything but the expected status is an error.
async fn push(b: &Org, group: &str, rate: u64, phase: Duration, tag: &str) -> Samples {
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let started = Instant::now();
    let mut samples = Samples::default();
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut in_flight = tokio::task::JoinSet::new();
    let mut user = 0usize;
    while started.elapsed() < phase {
        // one user's steps in order, started at the paced rate (five requests per user)
        for _ in 0..5 {
            tick.tick().await;
        }
        let (b, group, name) = (
            b.clone(),
            group.to_owned(),
            format!("b{user}.{tag}@quiet.example.com"),
        );
        let page = user.is_multiple_of(10);
        user += 1;
        in_flight.spawn(async move { push_one(&b, &group, &name, page).await });
        while let Some(Ok(done)) = in_flight.try_join_next() {
            samples.merge(done);
        }
    }
    while let Some(done) = in_flight.join_next().await {
        if let Ok(done) = done {
            samples.merge(done);
        }
    }
    samples
}

async fn push_one(b: &Org, group: &str, name: &str, page: bool) -> Samples {
    let mut samples = Samples::default();
    let filter = format!("/Users?filter=userName%20eq%20%22{name}%22");
    let mut step = async |request: reqwest::RequestBuilder, expected: &[StatusCode]| {
        let sent = Instant::now();
        match crate::edge::send(request, expected).await {
            Ok(body) => {
                samples.record(sent.elapsed());
                Some(body)
            }
            Err(error) => {
                eprintln!("B: {error:#}");
                samples.record_error();
                None
            }
        }
    };
    let ok = [StatusCode::OK];
    if step(b.request(Method::GET, &filter, None), &ok)
        .await
        .is_none()
    {
        return samples;
    }
    let body = json!({"schemas": [USER_SCHEMA], "userName": name, "active": true,
        "name": {"givenName": "Quiet", "familyName": "User"},
        "emails": [{"value": name, "primary": true}]});
    let Some(created) = step(
        b.request(Method::POST, "/Users", Some(&body)),
        &[StatusCode::CREATED],
    )
    .await
    else {
        return samples;
    };
    let id = created["id"].as_str().unwrap_or_default().to_owned();
    let add = json!({"schemas": [PATCH_SCHEMA], "Operations": [{"op": "add", "path": "members", "value": [{"value": id}]}]});
    let patched = [StatusCode::OK, StatusCode::NO_CONTENT];
    step(
        b.request(Method::PATCH, &format!("/Groups/{group}"), Some(&add)),
        &patched,
    )
    .await;
    let deactivate = json!({"schemas": [PATCH_SCHEMA], "Operations": [{"op": "replace", "value": {"active": false}}]});
    step(
        b.request(Method::PATCH, &format!("/Users/{id}"), Some(&deactivate)),
        &patched,
    )
    .await;
    if page {
        step(
            b.request(Method::GET, "/Users?startIndex=1&count=100", None),
            &ok,
        )
        .await;
    }
    samples
}

#[derive(Debug, Serialize)]
struct Report {
    store: String,
    seconds: u64,
    b_rate: u64,
    a_in_flight: usize,
    a_polite: bool,
    a_users: usize,
    alone: Summary,
    with_a: Summary,
    a_served: u64,
    a_throttled: u64,
    a_other: u64,
}

impl Report {
    fn render(&self) -> String {
        let ratio = if self.alone.p99_ms > 0.0 {
            self.with_a.p99_ms / self.alone.p99_ms
        } else {
            0.0
        };
        let row = |s: &Summary| {
            format!(
                "  {:<10} {:>7} requests {:>4} errors   p50 {:>8.2} ms   p99 {:>8.2} ms\n",
                s.name, s.count, s.errors, s.p50_ms, s.p99_ms
            )
        };
        format!(
            "noisy neighbour ({}, {} s per phase; B at {}/s; A: {} users, {} in flight, {})\n{}{}  B's p99 with A / alone: {ratio:.2}× (target ≤ 2×), B's errors with A: {} (target 0)\n  A: {} served, {} throttled (429), {} other\n",
            self.store,
            self.seconds,
            self.b_rate,
            self.a_users,
            self.a_in_flight,
            if self.a_polite {
                "honouring Retry-After"
            } else {
                "ignoring Retry-After"
            },
            row(&self.alone),
            row(&self.with_a),
            self.with_a.errors,
            self.a_served,
            self.a_throttled,
            self.a_other,
        )
    }
}
