//! `identity-admin selftest`: replays what Okta and Entra ID send when they provision against a
//! live SCIM endpoint, with throw-away names, and deletes what it created even when a step in
//! the middle fails or the operator presses Ctrl-C.
//!
//! It speaks SCIM only, with the token an identity provider would hold, so it tests exactly
//! what the provider will meet (ingress, TLS, token, edge, core) and needs no admin access.

mod entra;
mod okta;
mod report;
mod scim;

use crate::{CliError, OutputFormat};
use clap::{Args, ValueEnum};
use report::{CLEAN_UP, Failure, Problem, Report, Reporter, StepError, StepResult};
use scim::Scim;
use serde_json::{Value, json};
use std::io::{self, Write};
use std::path::PathBuf;

const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const ENTERPRISE_SCHEMA: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const LIST_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
/// Every user and group the self-test creates is named with this prefix, so leftovers are easy
/// to find (`filter=userName sw "selftest-"`).
const NAME_PREFIX: &str = "selftest-";

/// `identity-admin selftest …`
#[derive(Debug, Args)]
pub struct SelftestArgs {
    /// The SCIM base URL as pasted into the identity provider, e.g. https://edge.example/scim/v2
    #[arg(long, env = "IDENTITY_SELFTEST_SCIM_URL", value_name = "URL")]
    pub scim_url: String,

    /// The SCIM bearer token the identity provider uses (prefer the environment variable or
    /// --token-file: arguments show in `ps`)
    #[arg(long, env = "IDENTITY_SELFTEST_TOKEN", hide_env_values = true)]
    pub token: Option<String>,

    /// A file holding the SCIM token (surrounding whitespace ignored); takes precedence over
    /// --token
    #[arg(long, env = "IDENTITY_SELFTEST_TOKEN_FILE", value_name = "PATH")]
    pub token_file: Option<PathBuf>,

    /// Whose requests to replay
    #[arg(long, value_enum, default_value_t = SelftestDialect::Both)]
    pub dialect: SelftestDialect,
}

/// `--dialect`: which identity provider's habits the requests follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SelftestDialect {
    /// Okta: paged imports, GET-then-PUT updates, deactivation, group push
    Okta,
    /// Microsoft Entra ID: capitalised PATCH ops, "True"/"False" strings, hard delete
    Entra,
    /// Okta, then Entra ID
    Both,
}

impl SelftestDialect {
    fn dialects(self) -> &'static [Dialect] {
        match self {
            Self::Okta => &[Dialect::Okta],
            Self::Entra => &[Dialect::Entra],
            Self::Both => &[Dialect::Okta, Dialect::Entra],
        }
    }
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

/// Runs the self-test; `Err` when a step did not pass (every step is printed on `stdout`).
pub(crate) async fn run(
    args: &SelftestArgs,
    ca_file: Option<&std::path::Path>,
    format: OutputFormat,
    stdout: &mut impl Write,
) -> Result<(), CliError> {
    let scim = Scim::new(&args.scim_url, &token(args)?, ca_file)?;
    let mut reporter = Reporter::new(format, stdout);
    let mut stop = None;
    for &dialect in args.dialect.dialects() {
        let mut ctx = Ctx::new(scim.clone());
        let flow = tokio::select! {
            flow = steps(dialect, &mut ctx, &mut reporter) => flow?,
            () = interrupted() => {
                reporter.interrupted()?;
                Flow::Interrupted
            }
        };
        if ctx.sent_create {
            clean_up_reported(dialect, &mut ctx, &mut reporter).await?;
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
        Some(reason) => Err(CliError::Selftest(reason.to_owned())),
        None if summary.failed + summary.skipped > 0 => Err(CliError::Selftest(format!(
            "{} of {} steps failed, {} skipped",
            summary.failed, summary.steps, summary.skipped
        ))),
        None => Ok(()),
    }
}

/// The SCIM token from `--token-file` or `--token`.
fn token(args: &SelftestArgs) -> Result<String, CliError> {
    match (&args.token_file, &args.token) {
        (Some(path), _) => std::fs::read_to_string(path)
            .map(|token| token.trim().to_owned())
            .map_err(|err| CliError::Usage(format!("cannot read {}: {err}", path.display()))),
        (None, Some(token)) => Ok(token.trim().to_owned()),
        (None, None) => Err(CliError::Usage(
            "no SCIM token: set IDENTITY_SELFTEST_TOKEN or pass --token-file".into(),
        )),
    }
}

/// Resolves on Ctrl-C; never when signals cannot be watched.
async fn interrupted() {
    if tokio::signal::ctrl_c().await.is_err() {
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
) -> io::Result<()> {
    let started = std::time::Instant::now();
    let outcome = tokio::select! {
        outcome = clean_up(ctx) => outcome,
        () = interrupted() => Err(StepError::Failed(Failure {
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

#[cfg(test)]
mod tests {
    use crate::{Cli, CliError, Command, SelftestDialect};
    use clap::Parser;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("identity-admin").chain(args.iter().copied()))
    }

    #[test]
    fn selftest_takes_a_url_a_token_and_a_dialect() {
        let cli = parse(&[
            "selftest",
            "--scim-url",
            "https://e/scim/v2",
            "--token",
            "t",
        ])
        .unwrap();
        match cli.command {
            Command::Selftest(args) => {
                assert_eq!(args.scim_url, "https://e/scim/v2");
                assert_eq!(args.token.as_deref(), Some("t"));
                assert_eq!(args.dialect, SelftestDialect::Both);
            }
            other => panic!("unexpected {other:?}"),
        }
        let cli = parse(&[
            "-o",
            "json",
            "selftest",
            "--scim-url",
            "u",
            "--token-file",
            "/f",
            "--dialect",
            "entra",
        ])
        .unwrap();
        assert!(matches!(
            cli.command,
            Command::Selftest(ref args)
                if args.dialect == SelftestDialect::Entra && args.token_file.is_some()
        ));
        assert!(parse(&["selftest", "--scim-url", "u", "--dialect", "onelogin"]).is_err());
    }

    #[tokio::test]
    async fn selftest_never_calls_the_admin_api() {
        // no credential and an admin endpoint nothing listens on: the SCIM URL is all it uses
        // (also nothing there, so the connection test fails and nothing else is tried)
        let mut cli = parse(&[
            "--endpoint",
            "http://127.0.0.1:1",
            "selftest",
            "--scim-url",
            "http://127.0.0.1:1/scim/v2",
            "--token",
            "idscim_x",
            "--dialect",
            "okta",
        ])
        .unwrap();
        cli.credential = None;
        cli.credential_file = None;
        let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
        let err = crate::run(cli, &mut stdout, &mut stderr).await.unwrap_err();
        assert!(matches!(err, CliError::Selftest(_)), "{err}");
        assert_eq!(
            err.to_string(),
            "self-test: the connection test failed, so nothing else was tried"
        );
        let stdout = String::from_utf8(stdout).unwrap();
        assert_eq!(stdout.lines().count(), 1, "{stdout}");
        assert!(
            stdout.starts_with(
                "FAIL okta  connection test      GET /Users?startIndex=1&count=1 → cannot connect: "
            ),
            "{stdout}"
        );
        assert!(!stdout.contains("idscim_x"));
        assert!(stderr.is_empty());
    }

    #[tokio::test]
    async fn an_unusable_token_or_url_is_refused_before_sending() {
        let dir = std::env::temp_dir().join(format!("identity-selftest-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = dir.join("empty-token");
        std::fs::write(&empty, "\n").unwrap();
        for args in [
            vec!["--scim-url", "https://e/scim/v2"],
            vec!["--scim-url", "https://e/scim/v2", "--token", " "],
            vec![
                "--scim-url",
                "https://e/scim/v2",
                "--token",
                "t",
                "--token-file",
                empty.to_str().unwrap(),
            ],
            vec!["--scim-url", "e/scim/v2", "--token", "t"],
        ] {
            let mut cli = parse(&[&["selftest"], args.as_slice()].concat()).unwrap();
            if let Command::Selftest(selftest) = &mut cli.command
                && !args.contains(&"--token")
            {
                // whatever the environment of the test holds
                selftest.token = None;
                selftest.token_file = None;
            }
            let mut stdout = Vec::new();
            let err = crate::run(cli, &mut stdout, &mut Vec::new())
                .await
                .unwrap_err();
            assert!(matches!(err, CliError::Usage(_)), "{args:?}: {err}");
            assert!(stdout.is_empty());
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
