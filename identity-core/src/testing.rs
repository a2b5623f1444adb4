//! Test support shared by this crate's tests: a fresh, migrated store per test.
//!
//! With `IDENTITY_TEST_DATABASE_URL` set (for example
//! `postgres://postgres@127.0.0.1:5432/test`), each store is a new PostgreSQL database created
//! through that server and dropped afterwards; otherwise it is a SQLite file in a temporary
//! directory. The same tests therefore run against both backends.

use crate::entity::organization;
use crate::ids::OrgId;
use sea_orm::{ActiveModelTrait, ConnectionTrait, DatabaseConnection, Set};

/// The environment variable naming a PostgreSQL server for tests.
pub const TEST_DATABASE_URL_ENV: &str = "IDENTITY_TEST_DATABASE_URL";

/// A migrated, empty store that disappears when dropped.
#[derive(Debug)]
pub struct TestDb {
    pub db: DatabaseConnection,
    pub url: String,
    place: Place,
}

/// Where the store lives, so that dropping it removes it.
#[derive(Debug)]
enum Place {
    /// The temporary directory of the SQLite file, deleted on drop.
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    /// A database on the test server: (server URL, database name).
    Postgres(String, String),
}

impl TestDb {
    pub async fn new() -> Self {
        let place = fresh_database().await;
        let url = match &place {
            Place::Sqlite(dir) => {
                format!(
                    "sqlite://{}?mode=rwc",
                    dir.path().join("identity.db").display()
                )
            }
            Place::Postgres(server_url, name) => with_database(server_url, name),
        };
        let db = crate::db::connect(&url, 8)
            .await
            .expect("connect test store");
        crate::db::migrate(&db).await.expect("migrate test store");
        Self { db, url, place }
    }

    /// Inserts an organization directly (admin API not involved) and returns its id.
    pub async fn create_org(&self, scim_enabled: bool) -> OrgId {
        let id = OrgId::generate();
        organization::ActiveModel {
            id: Set(id.0),
            slug: Set(format!("org-{}", id.0.simple())),
            display_name: Set("Test organization".into()),
            scim_enabled: Set(scim_enabled),
            default_role_id: Set(None),
            scim_updated_at: Set(None),
            change_seq: Set(0),
            created_at: Set(crate::time::now_micros()),
            rate_limit_per_second: Set(0),
            rate_limit_burst: Set(0),
            rate_limit_concurrency: Set(0),
            verified_domains: Set(String::new()),
        }
        .insert(&self.db)
        .await
        .expect("insert organization");
        id
    }
}

/// A brand-new store: a PostgreSQL database created on the server named by
/// [`TEST_DATABASE_URL_ENV`] when it is set, else a temporary directory for a SQLite file.
async fn fresh_database() -> Place {
    match std::env::var(TEST_DATABASE_URL_ENV) {
        Ok(server_url) if !server_url.is_empty() => {
            let admin = sea_orm::Database::connect(&server_url)
                .await
                .expect("connect to the PostgreSQL test server");
            let name = format!("idtest_{}", uuid::Uuid::new_v4().simple());
            admin
                .execute_unprepared(&format!("CREATE DATABASE {name}"))
                .await
                .expect("create test database");
            let _ = admin.close().await;
            Place::Postgres(server_url, name)
        }
        _ => Place::Sqlite(tempfile::tempdir().expect("temporary directory")),
    }
}

/// The server URL with its database replaced, keeping any query parameters.
fn with_database(server_url: &str, database: &str) -> String {
    let (base, query) = match server_url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (server_url, None),
    };
    let base = base.rsplit_once('/').map_or(base, |(base, _)| base);
    match query {
        Some(query) => format!("{base}/{database}?{query}"),
        None => format!("{base}/{database}"),
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Place::Postgres(server_url, name) = &self.place else {
            return;
        };
        // Drop runs inside the test's runtime, where blocking on a future is not allowed: a
        // short-lived thread with its own runtime removes the database (best effort; FORCE
        // closes the pool's connections that are still open)
        let server_url = server_url.clone();
        let statement = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let admin = sea_orm::Database::connect(&server_url).await.ok()?;
                admin.execute_unprepared(&statement).await.ok()?;
                admin.close().await.ok()
            })
        });
        let _ = cleanup.join();
    }
}
