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
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    pub async fn new() -> Self {
        let (url, dir) = fresh_database_url().await;
        let db = crate::db::connect(&url, 8)
            .await
            .expect("connect test store");
        crate::db::migrate(&db).await.expect("migrate test store");
        Self { db, url, _dir: dir }
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
        }
        .insert(&self.db)
        .await
        .expect("insert organization");
        id
    }
}

/// A URL for a brand-new database: a PostgreSQL database created for the caller when
/// [`TEST_DATABASE_URL_ENV`] is set, else a SQLite file in a temporary directory.
pub async fn fresh_database_url() -> (String, Option<tempfile::TempDir>) {
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
            let base = server_url
                .rsplit_once('/')
                .map(|(base, _)| base.to_owned())
                .unwrap_or(server_url);
            (format!("{base}/{name}"), None)
        }
        _ => {
            let dir = tempfile::tempdir().expect("temporary directory");
            let path = dir.path().join("identity.db");
            (format!("sqlite://{}?mode=rwc", path.display()), Some(dir))
        }
    }
}
