//! identity.v1.ChangeService: pages of the per-organization change feed, and a stream of it.

use crate::error::CoreError;
use crate::ids::OrgId;
use crate::service::caller::{Access, Caller};
use crate::service::convert;
use crate::store::changes;
use crate::store::paging;
use identity_proto::identity::v1 as pb;
use identity_proto::identity::v1::change_service_server::ChangeService;
use sea_orm::DatabaseConnection;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

/// How often a watch that has caught up looks for new changes without being woken. Commits wake
/// watches at once (on this process directly, on other replicas through PostgreSQL `NOTIFY`);
/// this poll only bounds the delay of a wake-up that was lost, for example while the
/// notification listener reconnects.
const WATCH_POLL_INTERVAL: Duration = Duration::from_secs(1);
/// Changes read per query while a watch catches up.
const WATCH_BATCH: u64 = 500;
/// Messages buffered per stream: a slow reader fills its buffer and then its own poller waits,
/// so memory per stream stays bounded and writers are never held up.
const WATCH_BUFFER: usize = 4;

/// The ChangeService handlers.
#[derive(Debug, Clone)]
pub struct ChangeServiceImpl {
    db: DatabaseConnection,
    /// Turns true when the server starts draining: open watches then end cleanly, so a
    /// rollout is not held up by streams that never finish and clients resume elsewhere.
    draining: watch::Receiver<bool>,
}

impl ChangeServiceImpl {
    pub fn new(db: DatabaseConnection, draining: watch::Receiver<bool>) -> Self {
        Self { db, draining }
    }
}

/// Resolves when `draining` turns true; never, if its sender is gone without draining.
async fn drained(mut draining: watch::Receiver<bool>) {
    if draining.wait_for(|draining| *draining).await.is_err() {
        std::future::pending::<()>().await;
    }
}

fn check_cursor(after_sequence: i64) -> Result<(), Status> {
    if after_sequence < 0 {
        return Err(CoreError::invalid("after_sequence", "must not be negative").into());
    }
    Ok(())
}

/// Feeds `tx` with the organization's changes after `cursor` until the client goes away.
async fn watch(
    db: DatabaseConnection,
    org: OrgId,
    mut cursor: i64,
    tx: mpsc::Sender<Result<pb::WatchChangesResponse, Status>>,
    draining: watch::Receiver<bool>,
) {
    let drained = drained(draining);
    tokio::pin!(drained);
    // subscribed before the first read: a commit after any read wakes the wait that follows it
    let mut committed = changes::commit_signals::subscribe(org.0);
    loop {
        committed.mark_unchanged();
        let page = match changes::list_changes(&db, org, cursor, WATCH_BATCH).await {
            Ok(page) => page,
            Err(error) => {
                let _ = tx.send(Err(error.into())).await;
                return;
            }
        };
        if let Some(last) = page.changes.last() {
            cursor = last.sequence;
            let message = pb::WatchChangesResponse {
                changes: page.changes.iter().map(convert::change_to_proto).collect(),
            };
            if tx.send(Ok(message)).await.is_err() {
                return; // the client went away
            }
            continue;
        }
        tokio::select! {
            _ = committed.changed() => {}
            () = tokio::time::sleep(WATCH_POLL_INTERVAL) => {}
            () = tx.closed() => return,
            // dropping `tx` ends the stream with OK: the client resumes from its cursor
            () = &mut drained => return,
        }
    }
}

#[tonic::async_trait]
impl ChangeService for ChangeServiceImpl {
    async fn list_changes(
        &self,
        request: Request<pb::ListChangesRequest>,
    ) -> Result<Response<pb::ListChangesResponse>, Status> {
        let (caller, req) = Caller::split(request)?;
        let org = caller.org(&req.organization_id, Access::Read)?;
        check_cursor(req.after_sequence)?;
        let page_size = paging::page_size(
            "page_size",
            req.page_size,
            changes::DEFAULT_CHANGES_PAGE_SIZE,
            changes::MAX_CHANGES_PAGE_SIZE,
        )?;
        let page = changes::list_changes(&self.db, org, req.after_sequence, page_size).await?;
        let oldest_cursor = changes::oldest_cursor(&self.db, org, page.latest_sequence).await?;
        let mut listed: Vec<pb::Change> =
            page.changes.iter().map(convert::change_to_proto).collect();
        // a page too large for one message ends early: the client resumes from its last change
        listed.truncate(convert::fitting(&listed));
        Ok(Response::new(pb::ListChangesResponse {
            changes: listed,
            latest_sequence: page.latest_sequence,
            oldest_cursor,
        }))
    }

    type WatchChangesStream = ReceiverStream<Result<pb::WatchChangesResponse, Status>>;

    async fn watch_changes(
        &self,
        request: Request<pb::WatchChangesRequest>,
    ) -> Result<Response<Self::WatchChangesStream>, Status> {
        let (caller, req) = Caller::split(request)?;
        let org = caller.org(&req.organization_id, Access::Read)?;
        check_cursor(req.after_sequence)?;
        // the organization and the cursor are checked before the stream starts, so a bad request
        // is an error status rather than a stream that fails later
        let head = changes::list_changes(&self.db, org, req.after_sequence, 1).await?;
        if req.after_sequence > head.latest_sequence {
            return Err(CoreError::invalid(
                "after_sequence",
                format!(
                    "is beyond the latest sequence {} of the organization",
                    head.latest_sequence
                ),
            )
            .into());
        }
        let (tx, rx) = mpsc::channel(WATCH_BUFFER);
        tokio::spawn(watch(
            self.db.clone(),
            org,
            req.after_sequence,
            tx,
            self.draining.clone(),
        ));
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}
