//! `identity-admin selftest`: the arguments, and the run of `identity_selftest` they ask for.

use crate::{CliError, OutputFormat};
use clap::{Args, ValueEnum};
use identity_selftest::{Dialects, Error, Format, Target};
use std::io::Write;
use std::path::PathBuf;

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

impl From<SelftestDialect> for Dialects {
    fn from(dialect: SelftestDialect) -> Self {
        match dialect {
            SelftestDialect::Okta => Self::Okta,
            SelftestDialect::Entra => Self::Entra,
            SelftestDialect::Both => Self::Both,
        }
    }
}

/// Runs the self-test; `Err` when a step did not pass (every step is printed on `stdout`).
pub(crate) async fn run(
    args: &SelftestArgs,
    ca_file: Option<&std::path::Path>,
    format: OutputFormat,
    stdout: &mut impl Write,
) -> Result<(), CliError> {
    let token = token(args)?;
    let target = Target {
        scim_url: &args.scim_url,
        token: &token,
        ca_file,
    };
    let format = match format {
        OutputFormat::Human => Format::Human,
        OutputFormat::Json => Format::Json,
    };
    identity_selftest::run(target, args.dialect.into(), format, true, stdout)
        .await
        .map_err(|error| match error {
            Error::Usage(message) => CliError::Usage(message),
            Error::Failed(reason) => CliError::Selftest(reason),
            Error::Io(error) => CliError::Output(error),
        })
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
