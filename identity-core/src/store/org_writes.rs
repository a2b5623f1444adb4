//! Group commit of one organization's writes.
//!
//! Every mutation of users, roles, memberships and access tokens runs under the organization's
//! write lock (an update of its row: the row lock on PostgreSQL, the write lock on SQLite), so
//! that existence pre-checks are race free and the change feed's sequence numbers
//! have no gaps and follow commit order. Taken one transaction per mutation, that lock made an
//! organization's writes commit one at a time, each waiting for the previous one's fsync.
//!
//! [`write`] queues the mutation instead. One runner per organization (per database) takes the
//! queued mutations in arrival order, at most [`DEFAULT_MAX_BATCH`] (configurable) at a time, opens one transaction,
//! takes the lock once, runs each mutation in a savepoint of its own, commits once and only then
//! answers each caller. A mutation that fails rolls back to its savepoint and is answered with
//! its error; the others still commit. When the commit fails, every mutation of the batch is
//! answered with that error, so nothing is acknowledged that did not commit. A batch of one runs
//! without a savepoint, so an organization written by one caller at a time pays nothing extra.
//!
//! Each mutation sees the writes of the mutations before it in the batch, exactly as if they
//! had committed one after the other: the guarantees of the single-writer lock are kept, only
//! the commits (and their fsync) are shared. Replicas on PostgreSQL each batch their own
//! callers; their batches still take turns on the row lock.
//!
//! A queued mutation whose caller has gone away before its batch starts (the client gave up, its
//! call was cancelled) is dropped, not run: the caller was told it failed, so it must not commit.
//! One that waited longer than [`MAX_QUEUE_WAIT`] is answered UNAVAILABLE without running, so a
//! caller learns "nothing changed, retry" in bounded time instead of giving up on a write that
//! may still commit. Once a batch has started, it commits and answers whether or not the caller
//! still listens.

use crate::entity::organization;
use crate::error::{CoreError, CoreResult};
use crate::ids::OrgId;
use crate::store::changes::{CHANGES_CHANNEL, commit_signals};
use crate::store::write_txn::{WriteContext, WriteTxn};
use futures::future::BoxFuture;
use sea_orm::sea_query::{Expr, Func, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend,
    TransactionTrait,
};
use std::collections::{HashMap, VecDeque, hash_map::Entry};
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use tracing::Instrument;
use uuid::Uuid;

/// The most mutations one transaction commits unless configured otherwise. Larger batches hold
/// the lock longer before anyone is answered; past a few dozen the shared fsync no longer
/// dominates.
pub const DEFAULT_MAX_BATCH: usize = 64;

/// The longest a mutation waits in its organization's queue before it is refused unrun.
pub const MAX_QUEUE_WAIT: Duration = Duration::from_secs(10);

static MAX_BATCH: AtomicUsize = AtomicUsize::new(DEFAULT_MAX_BATCH);

/// Sets the most mutations one transaction commits (at least 1; 1 turns group commit off).
pub fn set_max_batch(mutations: usize) {
    MAX_BATCH.store(mutations.max(1), Ordering::Relaxed);
}

/// Runs `mutation` inside the organization's write lock and answers once it has committed:
/// NOT_FOUND when the organization does not exist, the mutation's own error when it fails (it
/// then leaves nothing behind), an UNAVAILABLE or INTERNAL error when the commit fails.
pub async fn write<T, F>(
    db: &DatabaseConnection,
    context: impl Into<WriteContext>,
    mutation: F,
) -> CoreResult<T>
where
    T: Send + 'static,
    F: for<'w> FnOnce(&'w WriteTxn<'w>) -> BoxFuture<'w, CoreResult<T>> + Send + 'static,
{
    let context = context.into();
    let (answer, answered) = oneshot::channel::<CoreResult<T>>();
    enqueue(
        db,
        context.org,
        Box::new(Pending {
            mutation,
            answer,
            // the call's context travels with the mutation: the connection it acts as and its
            // span (the parent of its statements')
            connection: context.connection,
            span: tracing::Span::current(),
            queued_at: Instant::now(),
        }),
    );
    answered.await.unwrap_or_else(|_| {
        Err(CoreError::Internal(
            "the organization's write runner stopped before answering".into(),
        ))
    })
}

/// A queued mutation with its caller's context and answer channel.
struct Pending<T, F> {
    mutation: F,
    answer: oneshot::Sender<CoreResult<T>>,
    connection: Option<Uuid>,
    span: tracing::Span,
    queued_at: Instant,
}

/// A queued mutation, type-erased.
trait Job: Send {
    /// Runs the mutation on the batch's transaction; the returned [`Ran`] answers the caller
    /// once the batch's outcome is known.
    fn run<'t>(
        self: Box<Self>,
        batch: &'t Batch,
        txn: &'t DatabaseTransaction,
    ) -> BoxFuture<'t, Ran>;
    /// Answers the caller with `error` without running.
    fn fail(self: Box<Self>, error: &CoreError);
    /// Whether the caller stopped waiting for the answer.
    fn abandoned(&self) -> bool;
    /// When the mutation was queued.
    fn queued_at(&self) -> Instant;
}

impl<T, F> Job for Pending<T, F>
where
    T: Send + 'static,
    F: for<'w> FnOnce(&'w WriteTxn<'w>) -> BoxFuture<'w, CoreResult<T>> + Send + 'static,
{
    fn run<'t>(
        self: Box<Self>,
        batch: &'t Batch,
        txn: &'t DatabaseTransaction,
    ) -> BoxFuture<'t, Ran> {
        let Pending {
            mutation,
            answer,
            connection,
            span,
            ..
        } = *self;
        Box::pin(
            async move {
                let write = WriteTxn {
                    txn,
                    org: batch.org,
                    default_role: batch.default_role,
                    verified_domains: &batch.verified_domains,
                    connection,
                    counted: Mutex::new(None),
                    numbering: Some(&batch.last),
                };
                let outcome = mutation(&write).await;
                Ran {
                    succeeded: outcome.is_ok(),
                    answer: Box::new(move |committed: Result<(), &CoreError>| {
                        let _ = answer.send(match (outcome, committed) {
                            (Err(own), _) => Err(own),
                            (Ok(value), Ok(())) => Ok(value),
                            (Ok(_), Err(commit)) => Err(commit.clone()),
                        });
                    }),
                }
            }
            .instrument(span),
        )
    }

    fn fail(self: Box<Self>, error: &CoreError) {
        let _ = self.answer.send(Err(error.clone()));
    }

    fn abandoned(&self) -> bool {
        self.answer.is_closed()
    }

    fn queued_at(&self) -> Instant {
        self.queued_at
    }
}

/// A mutation that ran: whether it succeeded, and its answer given the commit's outcome.
struct Ran {
    succeeded: bool,
    answer: Answer,
}

/// Answers a caller given the outcome of its batch's commit.
type Answer = Box<dyn FnOnce(Result<(), &CoreError>) + Send>;

/// Queues are per organization and per database (tests run several databases in one process,
/// with the same organization ids). An entry exists exactly while its runner runs.
type QueueKey = (Uuid, usize);

/// Each runner's queue of mutations.
type Queues = HashMap<QueueKey, VecDeque<Box<dyn Job>>>;

static QUEUES: LazyLock<Mutex<Queues>> = LazyLock::new(Default::default);

fn queues() -> std::sync::MutexGuard<'static, Queues> {
    QUEUES
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn enqueue(db: &DatabaseConnection, org: OrgId, job: Box<dyn Job>) {
    let key = (org.0, database_identity(db));
    match queues().entry(key) {
        Entry::Occupied(mut queue) => queue.get_mut().push_back(job),
        Entry::Vacant(vacant) => {
            vacant.insert(VecDeque::from([job]));
            tokio::spawn(run(key, db.clone(), org));
        }
    }
}

/// How many mutations of `org` wait for its runner, not counting the batch in flight; `None`
/// when no runner runs.
pub fn queued(db: &DatabaseConnection, org: OrgId) -> Option<usize> {
    queues()
        .get(&(org.0, database_identity(db)))
        .map(VecDeque::len)
}

/// Which database `db` is: the address of its pool's shared connect options, the same for
/// every clone of one pool and distinct between pools (sqlx offers no pool identity of its own).
fn database_identity(db: &DatabaseConnection) -> usize {
    match db.get_database_backend() {
        DbBackend::Postgres => {
            Arc::as_ptr(&db.get_postgres_connection_pool().connect_options()).cast::<()>() as usize
        }
        DbBackend::Sqlite => {
            Arc::as_ptr(&db.get_sqlite_connection_pool().connect_options()).cast::<()>() as usize
        }
        // a backend added later shares one queue per organization across its databases
        _ => 0,
    }
}

/// Removes the runner's queue if the runner panics, so that the next write starts a new one;
/// the mutations still queued are dropped and their callers answered INTERNAL.
struct RunnerExit {
    key: QueueKey,
    finished: bool,
}

impl Drop for RunnerExit {
    fn drop(&mut self) {
        if !self.finished {
            queues().remove(&self.key);
        }
    }
}

/// Commits batches of the organization's queue until it is empty.
async fn run(key: QueueKey, db: DatabaseConnection, org: OrgId) {
    let mut exit = RunnerExit {
        key,
        finished: false,
    };
    loop {
        let batch: Vec<Box<dyn Job>> = {
            let mut queues = queues();
            let Some(queue) = queues.get_mut(&key) else {
                return;
            };
            if queue.is_empty() {
                // checked and removed under one lock, so no write is queued without a runner
                queues.remove(&key);
                exit.finished = true;
                return;
            }
            let take = queue.len().min(MAX_BATCH.load(Ordering::Relaxed));
            queue.drain(..take).collect()
        };
        let batch = runnable(batch);
        if !batch.is_empty() {
            run_batch(&db, org, batch).await;
        }
    }
}

/// The jobs of a batch that should still run: a job whose caller is gone is dropped, one that
/// waited too long is refused (UNAVAILABLE, nothing changed).
fn runnable(batch: Vec<Box<dyn Job>>) -> Vec<Box<dyn Job>> {
    let mut runnable = Vec::with_capacity(batch.len());
    for job in batch {
        if job.abandoned() {
            crate::metrics::write_abandoned();
        } else if job.queued_at().elapsed() > MAX_QUEUE_WAIT {
            job.fail(&CoreError::Unavailable(format!(
                "the organization's writes are backed up (queued over {}s); nothing was changed",
                MAX_QUEUE_WAIT.as_secs()
            )));
        } else {
            runnable.push(job);
        }
    }
    runnable
}

/// An open batch: its organization, what the lock read, and the feed's numbering.
struct Batch {
    org: OrgId,
    /// The organization's default SCIM role.
    default_role: Option<Uuid>,
    /// The organization's verified email domains.
    verified_domains: Vec<String>,
    /// The organization's last sequence number when the batch began.
    first: i64,
    /// The last sequence number handed out in the batch (see `changes::append_change`).
    last: AtomicI64,
}

/// Runs one batch in one transaction and answers every mutation in it.
async fn run_batch(db: &DatabaseConnection, org: OrgId, jobs: Vec<Box<dyn Job>>) {
    crate::metrics::write_batch(jobs.len());
    let (txn, batch) = match begin(db, org).await {
        Ok(opened) => opened,
        Err(error) => return fail_all(jobs, Vec::new(), &error),
    };
    // a lone mutation needs no savepoint: its failure rolls the whole transaction back
    let isolate = jobs.len() > 1;
    let mut succeeded = Vec::with_capacity(jobs.len());
    let mut jobs = jobs.into_iter();
    while let Some(job) = jobs.next() {
        let before = batch.last.load(Ordering::SeqCst);
        let settled = if isolate {
            async {
                let savepoint = txn.begin().await?;
                let ran = job.run(&batch, &savepoint).await;
                if ran.succeeded {
                    savepoint.commit().await?;
                } else {
                    savepoint.rollback().await?;
                }
                Ok::<_, CoreError>(ran)
            }
            .await
        } else {
            Ok(job.run(&batch, &txn).await)
        };
        match settled {
            Ok(ran) if ran.succeeded => succeeded.push(ran),
            Ok(failed) => {
                // its changes were rolled back, so are their numbers
                batch.last.store(before, Ordering::SeqCst);
                (failed.answer)(Ok(()));
            }
            // a savepoint that cannot be taken or released leaves the transaction unusable
            Err(error) => return fail_all(jobs.collect(), succeeded, &error),
        }
    }
    let committed = if succeeded.is_empty() {
        let _ = txn.rollback().await;
        Ok(())
    } else {
        commit(txn, &batch).await
    };
    for ran in succeeded {
        (ran.answer)(committed.as_ref().map(|_| ()));
    }
}

/// Answers every mutation of a batch that cannot commit with `error`.
fn fail_all(not_run: Vec<Box<dyn Job>>, ran: Vec<Ran>, error: &CoreError) {
    tracing::warn!(%error, "an organization's write batch failed");
    for job in not_run {
        job.fail(error);
    }
    for ran in ran {
        (ran.answer)(Err(error));
    }
}

/// Opens the batch's transaction holding the organization's lock, reading its default role and
/// verified domains in the same statement. The lock is the first statement on purpose: on SQLite a transaction that
/// reads first and writes later can fail to upgrade its lock under contention, one that writes
/// first waits.
async fn begin(db: &DatabaseConnection, org: OrgId) -> CoreResult<(DatabaseTransaction, Batch)> {
    let txn = db.begin().await?;
    let row = txn
        .query_one(
            lock_org(org).returning(
                Query::returning()
                    .columns([
                        organization::Column::DefaultRoleId,
                        organization::Column::ChangeSeq,
                        organization::Column::VerifiedDomains,
                    ])
                    .to_owned(),
            ),
        )
        .await?
        .ok_or_else(|| CoreError::organization_not_found(org))?;
    let first = row.try_get_by_index::<i64>(1)?;
    let batch = Batch {
        org,
        default_role: row.try_get_by_index::<Option<Uuid>>(0)?,
        verified_domains: crate::domain::verified_domains::from_stored(
            &row.try_get_by_index::<String>(2)?,
        ),
        first,
        last: AtomicI64::new(first),
    };
    Ok((txn, batch))
}

/// The no-op update of the organization row that takes its write lock.
fn lock_org(org: OrgId) -> sea_orm::sea_query::UpdateStatement {
    Query::update()
        .table(organization::Entity)
        .value(
            organization::Column::ChangeSeq,
            Expr::col(organization::Column::ChangeSeq),
        )
        .and_where(organization::Column::Id.eq(org.0))
        .to_owned()
}

/// Commits the batch (writing the organization's last sequence number when it moved), then wakes the organization's change watchers: on this process directly,
/// on every replica through PostgreSQL `NOTIFY` (sent inside the transaction, so PostgreSQL
/// delivers it only if and when the commit succeeds). A batch that appended no change (every
/// mutation of it failed, or none changes the feed) writes nothing and wakes no one.
async fn commit(txn: DatabaseTransaction, batch: &Batch) -> CoreResult<()> {
    let (org, last) = (batch.org, batch.last.load(Ordering::SeqCst));
    let appended = last != batch.first;
    if appended {
        // the sequence numbers handed out in process (see `changes::numbered`)
        let mut update = Query::update()
            .table(organization::Entity)
            .value(organization::Column::ChangeSeq, last)
            .and_where(organization::Column::Id.eq(org.0))
            .to_owned();
        if txn.get_database_backend() == DbBackend::Postgres {
            // the notification rides on the same statement: one round trip fewer per batch
            update.returning(
                Query::returning().expr(
                    Func::cust("pg_notify")
                        .arg(CHANGES_CHANNEL)
                        .arg(org.0.to_string()),
                ),
            );
        }
        txn.execute(&update).await?;
    }
    txn.commit().await?;
    if appended {
        commit_signals::committed(org.0);
    }
    Ok(())
}
