//! Planner statistics for a new PostgreSQL database.
//!
//! Until a table has been analyzed once, PostgreSQL plans with guesses, and for the identity
//! tables they are bad guesses: an existence check by `(org_id, user_name_lower)` is planned on
//! the `(org_id, created_at, id)` index and walks every user of the organization (3 ms at 30,000
//! users, against 0.04 ms on the unique index once statistics exist). Autovacuum analyzes a table
//! only after its naptime (a minute by default), so a fresh installation's first import ran
//! slower with every user it created. This task analyzes each such table as soon as it holds
//! enough rows to matter, and stops once every one has statistics; from then on autovacuum keeps
//! them current.

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use std::time::Duration;

/// The tables whose plans depend on statistics.
const TABLES: [&str; 7] = [
    "identity_user",
    "user_email",
    "user_phone",
    "identity_role",
    "role_member",
    "change_event",
    "access_token",
];

/// Rows changed before a never-analyzed table is worth analyzing.
const MIN_CHANGES: i64 = 500;
const CHECK_EVERY: Duration = Duration::from_secs(2);
/// By then autovacuum has analyzed every table that changes (a table that never changes needs
/// no statistics).
const GIVE_UP_AFTER: Duration = Duration::from_secs(3600);

/// Analyzes each never-analyzed table once it has changed enough, until all have statistics.
/// Does nothing on other databases (SQLite plans by its own rules and is served from the index
/// without statistics).
pub async fn bootstrap(db: DatabaseConnection) {
    if db.get_database_backend() != DbBackend::Postgres {
        return;
    }
    let mut ticks = tokio::time::interval(CHECK_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let started = tokio::time::Instant::now();
    while started.elapsed() < GIVE_UP_AFTER {
        ticks.tick().await;
        match pass(&db).await {
            Ok(true) => return,
            Ok(false) => {}
            Err(error) => tracing::warn!(%error, "planner statistics check failed"),
        }
    }
}

/// One check; whether every table now has statistics.
async fn pass(db: &DatabaseConnection) -> Result<bool, sea_orm::DbErr> {
    let list = TABLES
        .iter()
        .map(|table| format!("'{table}'"))
        .collect::<Vec<_>>()
        .join(", ");
    let rows = db
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            format!(
                "SELECT relname::text, n_mod_since_analyze FROM pg_stat_user_tables \
                 WHERE relname IN ({list}) AND schemaname = current_schema() \
                 AND last_analyze IS NULL AND last_autoanalyze IS NULL"
            ),
        ))
        .await?;
    if rows.is_empty() {
        return Ok(true);
    }
    for row in rows {
        let table: String = row.try_get_by_index(0)?;
        let changed: i64 = row.try_get_by_index(1)?;
        // only names from TABLES come back, so quoting them is safe
        if changed >= MIN_CHANGES && TABLES.contains(&table.as_str()) {
            db.execute_unprepared(&format!("ANALYZE \"{table}\""))
                .await?;
            tracing::info!(
                table,
                changed,
                "analyzed a table for its first planner statistics"
            );
        }
    }
    Ok(false)
}
