//! Process lifecycle: SIGTERM makes each binary drain and exit 0; the edge's `/readyz` follows
//! the core while `/healthz` only reports that the edge runs.

use identity_tests::{Stack, unique};

async fn status(url: String) -> u16 {
    reqwest::get(url)
        .await
        .expect("edge answers")
        .status()
        .as_u16()
}

#[tokio::test]
async fn core_exits_0_on_sigterm_and_the_edge_notices() {
    let mut stack = Stack::start().await;
    let tenant = stack.new_tenant().await;
    tenant.create_user(&unique("before-stop")).await;
    let edge = stack.edge_addr();
    assert_eq!(status(format!("http://{edge}/readyz")).await, 200);

    let exit = stack.terminate_core().await;
    assert_eq!(exit.code(), Some(0), "identity-core exit status: {exit}");

    assert_eq!(status(format!("http://{edge}/healthz")).await, 200);
    assert_eq!(status(format!("http://{edge}/readyz")).await, 503);
}

#[tokio::test]
async fn edge_exits_0_on_sigterm() {
    let mut stack = Stack::start().await;
    let tenant = stack.new_tenant().await;
    tenant.get("/Users").await.expect(200);
    let exit = stack.terminate_edge().await;
    assert_eq!(exit.code(), Some(0), "scim-edge exit status: {exit}");
}

#[tokio::test]
async fn core_without_edge_exits_0_on_sigterm() {
    let mut stack = Stack::builder().with_edge(false).start().await;
    let exit = stack.terminate_core().await;
    assert_eq!(exit.code(), Some(0), "identity-core exit status: {exit}");
}

/// On PostgreSQL a new database gets planner statistics as soon as its first import has written
/// enough rows, not after autovacuum's naptime: without them, every uniqueness check of the
/// import walked all the organization's users. (SQLite needs none; the test checks PostgreSQL.)
#[tokio::test]
async fn a_new_postgres_database_is_analyzed_during_its_first_import() {
    use identity_tests::scim::{BULK_REQUEST, user};
    use sqlx::{Connection, PgConnection, Row};
    let stack = Stack::start().await;
    if !stack.database_url().starts_with("postgres") {
        return;
    }
    let tenant = stack.new_tenant().await;
    let prefix = unique("analyze");
    let operations: Vec<_> = (0..600)
        .map(|i| {
            serde_json::json!({
                "method": "POST", "path": "/Users", "bulkId": format!("u{i}"),
                "data": user(&format!("{prefix}-{i}")),
            })
        })
        .collect();
    tenant
        .post(
            "/Bulk",
            serde_json::json!({"schemas": [BULK_REQUEST], "Operations": operations}),
        )
        .await
        .expect(200);

    let mut conn = PgConnection::connect(stack.database_url()).await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let analyzed: bool = sqlx::query(
            "SELECT last_analyze IS NOT NULL OR last_autoanalyze IS NOT NULL \
             FROM pg_stat_user_tables WHERE relname = 'identity_user'",
        )
        .fetch_one(&mut conn)
        .await
        .unwrap()
        .get(0);
        if analyzed {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "identity_user still has no statistics 30 s after 600 users were created"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}
