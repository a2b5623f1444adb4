//! The store behind one stack: a SQLite file in a temporary directory, or — when
//! `IDENTITY_TEST_DATABASE_URL` names a PostgreSQL server (CI) — a database created for the
//! stack and dropped with it, so stacks never see each other's rows.

use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection, SqliteConnection};
use std::time::Duration;
use tempfile::TempDir;

/// Environment variable naming a PostgreSQL server to test against (a maintenance database URL).
pub(crate) const DATABASE_URL_ENV: &str = "IDENTITY_TEST_DATABASE_URL";

/// A store for a stack of one's own (tests that launch the binaries themselves).
pub enum Store {
    Sqlite {
        _dir: TempDir,
        url: String,
    },
    Postgres {
        server_url: String,
        database: String,
        url: String,
    },
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // URLs may carry passwords: show the kind and the database name only
        match self {
            Self::Sqlite { .. } => f.write_str("Store::Sqlite"),
            Self::Postgres { database, .. } => write!(f, "Store::Postgres({database})"),
        }
    }
}

impl Store {
    /// A fresh, empty store (see the module documentation).
    pub async fn create() -> Self {
        match std::env::var(DATABASE_URL_ENV) {
            Ok(server_url) if !server_url.trim().is_empty() => Self::postgres(server_url).await,
            _ => {
                let dir = tempfile::tempdir().expect("create a temporary directory");
                let url = format!(
                    "sqlite://{}?mode=rwc",
                    dir.path().join("identity.db").display()
                );
                Self::Sqlite { _dir: dir, url }
            }
        }
    }

    async fn postgres(server_url: String) -> Self {
        let database = format!("idtest_{}", uuid::Uuid::new_v4().simple());
        let mut conn = PgConnection::connect(&server_url)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to {DATABASE_URL_ENV}: {e}"));
        // the name is generated above (hex only), so formatting it into the statement is safe
        conn.execute(AssertSqlSafe(format!("CREATE DATABASE \"{database}\"")))
            .await
            .unwrap_or_else(|e| panic!("cannot create database {database}: {e}"));
        let _ = conn.close().await;
        let url = with_database(&server_url, &database);
        Self::Postgres {
            server_url,
            database,
            url,
        }
    }

    /// The URL to hand to `identity-core --database-url`.
    pub fn url(&self) -> &str {
        match self {
            Self::Sqlite { url, .. } | Self::Postgres { url, .. } => url,
        }
    }
}

impl Store {
    /// Takes the store's write lock (SQLite: the database's; PostgreSQL: the organization
    /// table's, which every write batch locks a row of) as a long transaction elsewhere would,
    /// and releases it after `hold`. Returns once the lock is held; the task ends on release.
    pub(crate) async fn hold_write_lock(&self, hold: Duration) -> tokio::task::JoinHandle<()> {
        match self {
            Self::Sqlite { url, .. } => {
                let mut conn = SqliteConnection::connect(url).await.expect("open SQLite");
                conn.execute("BEGIN IMMEDIATE").await.expect("lock SQLite");
                tokio::spawn(async move {
                    tokio::time::sleep(hold).await;
                    conn.execute("COMMIT").await.expect("unlock SQLite");
                })
            }
            Self::Postgres { url, .. } => {
                let mut conn = PgConnection::connect(url).await.expect("open PostgreSQL");
                conn.execute("BEGIN").await.expect("begin");
                conn.execute("LOCK TABLE organization IN EXCLUSIVE MODE")
                    .await
                    .expect("lock the organization table");
                tokio::spawn(async move {
                    tokio::time::sleep(hold).await;
                    conn.execute("COMMIT").await.expect("unlock PostgreSQL");
                })
            }
        }
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        let Self::Postgres {
            server_url,
            database,
            ..
        } = self
        else {
            return;
        };
        // Drop may run inside a runtime, where blocking on another future is not allowed:
        // a short-lived thread with its own runtime does the clean-up (best effort)
        let server_url = server_url.clone();
        let database = database.clone();
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let mut conn = PgConnection::connect(&server_url).await.ok()?;
                conn.execute(AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)"
                )))
                .await
                .ok()?;
                conn.close().await.ok()
            })
        });
        let _ = cleanup.join();
    }
}

/// Replaces the database of a PostgreSQL URL, keeping user, host and query parameters.
fn with_database(server_url: &str, database: &str) -> String {
    let (base, query) = match server_url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (server_url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let base = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{base}/{database}?{query}"),
        None => format!("{base}/{database}"),
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn database_is_replaced() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/test", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            with_database("postgres://u:p@h/db?sslmode=disable", "x"),
            "postgres://u:p@h/x?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://h:5432", "x"),
            "postgres://h:5432/x"
        );
    }
}
