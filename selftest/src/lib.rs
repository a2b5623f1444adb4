//! The operators' self-test: replays what Okta and Entra ID send when they provision against a
//! live SCIM endpoint, with throw-away names, and deletes what it created even when a step in
//! the middle fails or the operator presses Ctrl-C. `identity-admin selftest` runs it from a
//! terminal, the setup portal's "Test connection" from the edge.
//!
//! It speaks SCIM only, with the token an identity provider would hold, so it tests exactly
//! what the provider will meet (ingress, TLS, token, edge, core) and needs no admin access.

#![cfg_attr(not(test), warn(unused_crate_dependencies))]

mod entra;
mod okta;
mod report;
mod scim;

use report::{CLEAN_UP, Failure, Problem, Report, Reporter, StepError, StepResult};
use scim::Scim;
use serde_json::{Value, json};
use std::io::{self, Write};

const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const ENTERPRISE_SCHEMA: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const LIST_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
/// Every user and group the self-test creates is named with this prefix, so leftovers are easy
/// to find (`filter=userName sw "selftest-"`).
const NAME_PREFIX: &str = "selftest-";

/// How the steps are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One aligned line per step, for people.
    Human,
    /// One JSON object per step and a summary.
    Json,
}

/// Whose requests to replay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialects {
    /// Okta: paged imports, GET-then-PUT updates, deactivation, group push.
    Okta,
    /// Microsoft Entra ID: capitalised PATCH ops, "True"/"False" strings, hard delete.
    Entra,
    /// Okta, then Entra ID.
    Both,
}

impl Dialects {
    fn dialects(self) -> &'static [Dialect] {
        match self {
            Self::Okta => &[Dialect::Okta],
            Self::Entra => &[Dialect::Entra],
            Self::Both => &[Dialect::Okta, Dialect::Entra],
        }
    }
}

/// What to test.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    /// The SCIM base URL as pasted into the identity provider.
    pub scim_url: &'a str,
    /// The SCIM token (bare, or `Bearer <token>` as pasted).
    pub token: &'a str,
    /// CA certificates trusted as well as the system's.
    pub ca_file: Option<&'a std::path::Path>,
}

/// Why a run did not pass.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The URL, token or CA file cannot be used; nothing was sent.
    #[error("{0}")]
    Usage(String),
    /// A step did not pass (every step is in the output).
    #[error("self-test: {0}")]
    Failed(String),
    /// The output could not be written.
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// One identity provider's way of sending the same operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dialect {
    Okta,
    Entra,
}

impl Dialect {
    fn name(self) -> &'static str {
        match self {
            Self::Okta => "okta",
            Self::Entra => "entra",
        }
    }
}

/// Whether the run goes on after a dialect's steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    Continue,
    /// The connection test failed: with a wrong URL or token every other step would fail too.
    Stop,
    /// Ctrl-C: clean up and end.
    Interrupted,
}

/// What one dialect's steps work on, and what clean-up must remove.
#[derive(Debug)]
struct Ctx {
    scim: Scim,
    /// The random part of this dialect's names.
    tag: String,
    /// `selftest-<tag>@selftest.invalid`
    user_name: String,
    /// `selftest-<tag>`, renamed to `selftest-<tag>-renamed`
    group_name: String,
    renamed_group: String,
    /// The created user and group, until a step deletes them.
    user_id: Option<String>,
    group_id: Option<String>,
    /// Set before the first POST: from then on clean-up runs, even if the POST never answered
    /// (it may still have created the resource, which clean-up finds by name).
    sent_create: bool,
}

impl Ctx {
    fn new(scim: Scim) -> Self {
        let tag = random_hex(12);
        Self {
            scim,
            user_name: format!("{NAME_PREFIX}{tag}@selftest.invalid"),
            group_name: format!("{NAME_PREFIX}{tag}"),
            renamed_group: format!("{NAME_PREFIX}{tag}-renamed"),
            tag,
            user_id: None,
            group_id: None,
            sent_create: false,
        }
    }

    /// The created user, or the reason a step that needs it is skipped.
    fn user(&self) -> Result<String, StepError> {
        self.user_id
            .clone()
            .ok_or_else(|| StepError::Skipped("no user to work on: create user failed".into()))
    }

    /// The created group, or the reason a step that needs it is skipped.
    fn group(&self) -> Result<String, StepError> {
        self.group_id
            .clone()
            .ok_or_else(|| StepError::Skipped("no group to work on: push group failed".into()))
    }
}

/// Random lowercase hex: names no earlier run or real user has.
fn random_hex(len: usize) -> String {
    let mut hex = uuid::Uuid::new_v4().simple().to_string();
    hex.truncate(len);
    hex
}

/// Runs the self-test against `target`, printing every step on `out`; `Err` when a step did
/// not pass. With `watch_ctrl_c`, Ctrl-C stops the steps and cleans up (a terminal's run; a
/// server's run leaves the process's signals alone).
pub async fn run(
    target: Target<'_>,
    dialects: Dialects,
    format: Format,
    watch_ctrl_c: bool,
    out: &mut impl Write,
) -> Result<(), Error> {
    let scim = Scim::new(target.scim_url, target.token, target.ca_file)?;
    let mut reporter = Reporter::new(format, out);
    let mut stop = None;
    for &dialect in dialects.dialects() {
        let mut ctx = Ctx::new(scim.clone());
        let flow = tokio::select! {
            flow = steps(dialect, &mut ctx, &mut reporter) => flow?,
            () = interrupted(watch_ctrl_c) => {
                reporter.interrupted()?;
                Flow::Interrupted
            }
        };
        if ctx.sent_create {
            clean_up_reported(dialect, &mut ctx, &mut reporter, watch_ctrl_c).await?;
        }
        stop = match flow {
            Flow::Continue => continue,
            Flow::Stop => Some("the connection test failed, so nothing else was tried"),
            Flow::Interrupted => Some("interrupted"),
        };
        break;
    }
    let summary = reporter.finish()?;
    match stop {
        Some(reason) => Err(Error::Failed(reason.to_owned())),
        None if summary.failed + summary.skipped > 0 => Err(Error::Failed(format!(
            "{} of {} steps failed, {} skipped",
            summary.failed, summary.steps, summary.skipped
        ))),
        None => Ok(()),
    }
}

/// Resolves on Ctrl-C when `watch`; never otherwise, or when signals cannot be watched.
async fn interrupted(watch: bool) {
    if !watch || tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}

async fn steps<W: Write>(
    dialect: Dialect,
    ctx: &mut Ctx,
    reporter: &mut Reporter<'_, W>,
) -> io::Result<Flow> {
    match dialect {
        Dialect::Okta => okta::steps(ctx, reporter).await,
        Dialect::Entra => entra::steps(ctx, reporter).await,
    }
}

/// The clean-up step; a second Ctrl-C abandons it, naming what may be left.
async fn clean_up_reported<W: Write>(
    dialect: Dialect,
    ctx: &mut Ctx,
    reporter: &mut Reporter<'_, W>,
    watch_ctrl_c: bool,
) -> io::Result<()> {
    let started = std::time::Instant::now();
    let outcome = tokio::select! {
        outcome = clean_up(ctx) => outcome,
        () = interrupted(watch_ctrl_c) => Err(StepError::Failed(Failure {
            request: String::new(),
            status: None,
            problem: Problem::Transport(format!("interrupted{}", left_behind(ctx))),
        })),
    };
    reporter.record(Report {
        dialect,
        step: CLEAN_UP,
        outcome,
        elapsed: started.elapsed(),
    })?;
    Ok(())
}

/// What an operator deletes by hand when clean-up could not.
fn left_behind(ctx: &Ctx) -> String {
    format!(
        "; may be left behind: user {}, group {} or {}",
        ctx.user_name, ctx.group_name, ctx.renamed_group
    )
}

/// Deletes this dialect's user and group, found by id and by name (a create whose answer was
/// lost still made one); a 404 means already gone.
async fn clean_up(ctx: &mut Ctx) -> StepResult {
    let mut failures = Vec::new();
    let mut groups: Vec<String> = ctx.group_id.take().into_iter().collect();
    for name in [&ctx.group_name, &ctx.renamed_group] {
        let lookup = format!("/Groups?filter=displayName eq \"{name}\"&excludedAttributes=members");
        match find(&ctx.scim, &lookup).await {
            Ok(ids) => groups.extend(ids),
            Err(failure) => failures.push(failure),
        }
    }
    let mut users: Vec<String> = ctx.user_id.take().into_iter().collect();
    let lookup = format!("/Users?filter=userName eq \"{}\"", ctx.user_name);
    match find(&ctx.scim, &lookup).await {
        Ok(ids) => users.extend(ids),
        Err(failure) => failures.push(failure),
    }
    groups.sort();
    groups.dedup();
    users.sort();
    users.dedup();
    let targets = groups
        .iter()
        .map(|id| format!("/Groups/{id}"))
        .chain(users.iter().map(|id| format!("/Users/{id}")));
    for target in targets {
        if let Err(failure) = delete(&ctx.scim, &target, &[204, 404]).await {
            failures.push(failure);
        }
    }
    let mut failures = failures.into_iter();
    match failures.next() {
        None => Ok(()),
        Some(first) => {
            let more = failures.len();
            let more = if more > 0 {
                format!(" (and {more} more)")
            } else {
                String::new()
            };
            Err(first.noting(&format!("{more}{}", left_behind(ctx))).into())
        }
    }
}

/// The ids a ListResponse lists.
async fn find(scim: &Scim, target: &str) -> Result<Vec<String>, Failure> {
    let reply = scim.get(target).await?.expect(&[200])?;
    Ok(reply.resource_ids())
}

async fn delete(scim: &Scim, target: &str, expected: &[u16]) -> Result<(), Failure> {
    scim.delete(target).await?.expect(expected)?;
    Ok(())
}

/// A ListResponse as providers parse it: the schema named, `totalResults` an integer.
fn expect_list(reply: &scim::Reply) -> Result<u64, Failure> {
    let schemas = reply.body["schemas"].as_array();
    if !schemas.is_some_and(|schemas| schemas.contains(&json!(LIST_RESPONSE))) {
        return Err(reply.check_failed(format!("schemas does not name {LIST_RESPONSE}")));
    }
    reply.total()
}

/// A PatchOp body.
fn patch_op(operations: Value) -> Value {
    json!({ "schemas": [PATCH_OP], "Operations": operations })
}

/// PATCH answers 200 with the resource or 204 without (RFC 7644 §3.5.2).
const PATCHED: &[u16] = &[200, 204];

/// Reads a resource back after a write, as the provider's next sync would.
async fn read_back(scim: &Scim, target: &str) -> Result<scim::Reply, Failure> {
    scim.get(target).await?.expect(&[200])
}

/// DELETE /Groups/{id}, then the group is gone (both providers remove a group this way).
async fn delete_group(ctx: &mut Ctx) -> StepResult {
    let id = ctx.group()?;
    let target = format!("/Groups/{id}");
    delete(&ctx.scim, &target, &[204]).await?;
    ctx.group_id = None;
    ctx.scim.get(&target).await?.expect(&[404])?;
    Ok(())
}

/// An error's causes, `outer: inner: …`, without its own top level (the transport errors of
/// reqwest and tonic are generic, or repeat the URL); the error itself when it has no cause.
/// Also what `identity-admin` says when it cannot connect.
pub fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = Vec::new();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        parts.push(cause.to_string());
        source = cause.source();
    }
    // hyper, tonic and reqwest wrap each other with the same message; say it once
    parts.dedup();
    if parts.is_empty() {
        err.to_string()
    } else {
        parts.join(": ")
    }
}
