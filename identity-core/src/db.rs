//! Opening the store: the embedded SQLite file by default, PostgreSQL in production.

use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend};
use sea_orm_migration::MigratorTrait;
use std::time::Duration;

/// How long a SQLite writer waits for the lock before failing: writers queue instead of erroring
/// under concurrent load.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// PostgreSQL's `lock_timeout` on every connection: a write batch waiting for its organization's
/// row lock (held by another replica) fails after this long (UNAVAILABLE, nothing changed)
/// instead of waiting without bound, so every write is answered in bounded time.
const POSTGRES_LOCK_TIMEOUT: &str = "10s";

/// Connects to `url` (`sqlite://path?mode=rwc` or `postgres://…`).
///
/// SQLite runs in WAL mode (readers never block the writer) with a busy timeout and foreign keys
/// on; its pool is kept small because SQLite has one writer anyway. `synchronous=FULL` syncs the
/// WAL at every commit, so an acknowledged write survives power loss (`NORMAL` only survives a
/// crash of the process); group commit (`store::org_writes`) shares that sync between an
/// organization's concurrent writes.
pub async fn connect(
    url: &str,
    max_connections: u32,
) -> Result<DatabaseConnection, sea_orm::DbErr> {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(10))
        .sqlx_logging(false);
    if url.starts_with("sqlite:") {
        options
            .max_connections(max_connections.min(8))
            .map_sqlx_sqlite_opts(|opts| {
                opts.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                    .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Full)
                    .busy_timeout(SQLITE_BUSY_TIMEOUT)
                    .foreign_keys(true)
                    .create_if_missing(true)
            });
    }
    if url.starts_with("postgres") {
        options
            .map_sqlx_postgres_opts(|opts| opts.options([("lock_timeout", POSTGRES_LOCK_TIMEOUT)]));
    }
    let mut db = Database::connect(options).await?;
    let system = match db.get_database_backend() {
        DbBackend::Sqlite => "sqlite",
        DbBackend::Postgres => "postgresql",
        other => {
            return Err(sea_orm::DbErr::Custom(format!(
                "unsupported store {other:?}: use SQLite or PostgreSQL"
            )));
        }
    };
    db.set_metric_callback(move |info| crate::metrics::statement_executed(info, system));
    if db.get_database_backend() == DbBackend::Sqlite {
        // checked here because a silently rollback-journal database would serialise readers
        db.execute_unprepared("PRAGMA journal_mode=WAL").await?;
    }
    Ok(db)
}

/// Applies every pending migration.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), sea_orm::DbErr> {
    identity_migration::Migrator::up(db, None).await
}
