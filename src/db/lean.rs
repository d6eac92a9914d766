//! A small pool for the hottest single-statement reads, whose connections go back without
//! a round trip.
//!
//! sqlx's pool pings every connection it is given back (`PoolConnection::return_to_pool`
//! in sqlx-core 0.9, unconditionally), and the connection is not free again until the
//! database has answered. On the customer's wallet read that ping is one of the request's
//! two round trips (bench/README.md has what removing it measured). It is there to flush
//! the rollback a dropped transaction queued and to find connections that broke; a
//! [`Lease`] needs neither:
//! - it runs no transaction: it offers [`sqlx::Executor`] and nothing else, so there is no
//!   `begin` to forget;
//! - it watches its own statements: a connection goes back to the pool only when the last
//!   statement run on it finished, with rows, with an error the database answered (a
//!   unique violation) or with rows that did not decode. An I/O or protocol error, a FATAL
//!   error (the server ending the session), or a future dropped half-way (a client that
//!   hung up) closes the connection instead, so a broken or half-read connection is never
//!   handed out again.
//!
//! Everything else reads and writes through the main `PgPool`; this pool is for routes
//! that are one `select` and are called on every page view.

use std::fmt;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use futures_core::future::BoxFuture;
use futures_core::stream::{BoxStream, Stream};
use sqlx::postgres::{
    PgConnectOptions, PgDatabaseError, PgQueryResult, PgRow, PgSeverity, PgStatement, PgTypeInfo,
};
use sqlx::{ConnectOptions, Describe, Either, Execute, Executor, PgConnection, Postgres};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// A pool of connections handed out as [`Lease`]s, opened on demand.
#[derive(Clone)]
pub struct LeanPool {
    inner: Arc<Inner>,
}

struct Inner {
    options: PgConnectOptions,
    /// Idle connections, the most recently used last (handed out first, so the others
    /// age out under light load).
    idle: Mutex<Vec<Idle>>,
    /// One permit per leased connection; idle ones hold none, so a request never waits
    /// while a connection sits idle.
    permits: Arc<Semaphore>,
    max_connections: usize,
    /// Connections opened since the pool was made (a churning pool shows here).
    opened: AtomicU64,
    acquire_timeout: Duration,
    idle_timeout: Duration,
    max_lifetime: Duration,
}

struct Idle {
    conn: PgConnection,
    opened: Instant,
    returned: Instant,
}

impl LeanPool {
    /// A pool of at most `max_connections` connections to `options`; nothing is opened
    /// until the first [`acquire`](Self::acquire). A request waits at most
    /// `acquire_timeout` for a connection; idle connections close after 10 minutes and
    /// every connection after 30, as in the main pool.
    pub fn new(options: PgConnectOptions, max_connections: u32, acquire_timeout: Duration) -> Self {
        let max_connections = max_connections as usize;
        Self {
            inner: Arc::new(Inner {
                options,
                idle: Mutex::new(Vec::with_capacity(max_connections)),
                permits: Arc::new(Semaphore::new(max_connections)),
                max_connections,
                opened: AtomicU64::new(0),
                acquire_timeout,
                idle_timeout: Duration::from_secs(600),
                max_lifetime: Duration::from_secs(1800),
            }),
        }
    }

    /// A connection: an idle one when there is one, else a new one. Fails with
    /// `PoolTimedOut` (a 503) after the acquire timeout, and `PoolClosed` once the pool is
    /// closed.
    pub async fn acquire(&self) -> sqlx::Result<Lease> {
        let inner = &self.inner;
        let deadline = Instant::now() + inner.acquire_timeout;
        let permit =
            tokio::time::timeout_at(deadline.into(), Arc::clone(&inner.permits).acquire_owned())
                .await
                .map_err(|_| sqlx::Error::PoolTimedOut)?
                .map_err(|_| sqlx::Error::PoolClosed)?;
        if let Some(idle) = inner.take_idle() {
            return Ok(Lease::new(
                idle.conn,
                idle.opened,
                Arc::clone(inner),
                permit,
            ));
        }
        let conn = tokio::time::timeout_at(deadline.into(), inner.options.connect())
            .await
            .map_err(|_| sqlx::Error::PoolTimedOut)??;
        inner.opened.fetch_add(1, Ordering::Relaxed);
        Ok(Lease::new(conn, Instant::now(), Arc::clone(inner), permit))
    }

    /// Connections opened since the pool was made: the open ones, those closed after an
    /// error or at the end of their lifetime, and none more in a healthy pool.
    pub fn opened_total(&self) -> u64 {
        self.inner.opened.load(Ordering::Relaxed)
    }

    /// Connections open now, leased or idle.
    pub fn size(&self) -> usize {
        self.inner.max_connections - self.inner.permits.available_permits() + self.num_idle()
    }

    /// Connections open and idle now.
    pub fn num_idle(&self) -> usize {
        self.inner.lock_idle().len()
    }

    /// The most connections the pool opens (`DATABASE_LEAN_MAX_CONNECTIONS`).
    pub fn max_connections(&self) -> usize {
        self.inner.max_connections
    }

    /// Stops handing out connections and closes the idle ones; leased ones close when
    /// their lease ends. For shutdown.
    pub async fn close(&self) {
        self.inner.permits.close();
        let idle = std::mem::take(&mut *self.inner.lock_idle());
        for idle in idle {
            // Terminate politely; a connection that is already gone has nothing to say.
            let _ = sqlx::Connection::close(idle.conn).await;
        }
    }
}

impl fmt::Debug for LeanPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LeanPool")
            .field("size", &self.size())
            .field("idle", &self.num_idle())
            .field("max_connections", &self.inner.max_connections)
            .finish()
    }
}

impl Inner {
    fn lock_idle(&self) -> std::sync::MutexGuard<'_, Vec<Idle>> {
        // The list is consistent after every push and pop, so a panic elsewhere while it
        // was locked leaves nothing to repair.
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The freshest idle connection still within its lifetime; stale ones are dropped.
    fn take_idle(&self) -> Option<Idle> {
        let mut idle = self.lock_idle();
        while let Some(candidate) = idle.pop() {
            if candidate.returned.elapsed() < self.idle_timeout
                && candidate.opened.elapsed() < self.max_lifetime
            {
                return Some(candidate);
            }
        }
        None
    }

    fn give_back(&self, conn: PgConnection, opened: Instant) {
        if self.permits.is_closed() || opened.elapsed() >= self.max_lifetime {
            return;
        }
        // No limit is checked here: there is never one connection too many. A connection
        // is opened only by a lease holding a permit and finding no idle connection, and a
        // lease puts its connection back before its permit is released, so idle plus leased
        // connections never exceed the permits. (Comparing them with the permits here would
        // count a lease on its way back twice, in the idle list and among the permits, and
        // closed a healthy connection in most races between two returns: under 16 clients,
        // dozens of reconnections a second.)
        let mut idle = self.lock_idle();
        // The least recently used connection ages out here: under light load it would
        // otherwise sit at the bottom of the stack forever.
        if idle
            .first()
            .is_some_and(|oldest| oldest.returned.elapsed() >= self.idle_timeout)
        {
            idle.remove(0);
        }
        idle.push(Idle {
            conn,
            opened,
            returned: Instant::now(),
        });
    }
}

/// A connection leased from a [`LeanPool`]; `&mut Lease` is an executor. Dropping it gives
/// the connection back without a round trip when its last statement finished, and closes
/// it otherwise (see the module's documentation).
pub struct Lease {
    conn: Option<PgConnection>,
    /// False from the moment a statement starts until it has finished cleanly.
    settled: bool,
    opened: Instant,
    pool: Arc<Inner>,
    // Released after the connection is back in the idle list (fields drop after `drop`).
    _permit: OwnedSemaphorePermit,
}

impl Lease {
    fn new(
        conn: PgConnection,
        opened: Instant,
        pool: Arc<Inner>,
        permit: OwnedSemaphorePermit,
    ) -> Self {
        Self {
            conn: Some(conn),
            settled: true,
            opened,
            pool,
            _permit: permit,
        }
    }

    /// The connection and the flag its statement must set when it finishes.
    fn start(&mut self) -> (&mut PgConnection, &mut bool) {
        self.settled = false;
        let conn = self
            .conn
            .as_mut()
            .expect("a lease holds its connection until it is dropped");
        (conn, &mut self.settled)
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take()
            && self.settled
        {
            self.pool.give_back(conn, self.opened);
        }
        // Otherwise the connection is dropped here, which closes its socket.
    }
}

impl fmt::Debug for Lease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lease")
            .field("settled", &self.settled)
            .finish_non_exhaustive()
    }
}

/// Whether the connection is still in step with the server after `err`: the database
/// refused the statement or its rows did not decode, but the exchange itself completed
/// (sqlx reads up to the next ReadyForQuery before the connection's next statement). A
/// FATAL error (`pg_terminate_backend`, a shutdown) is the server closing the session.
fn connection_survives(err: &sqlx::Error) -> bool {
    if let sqlx::Error::Database(db_err) = err {
        return !db_err
            .try_downcast_ref::<PgDatabaseError>()
            .is_some_and(|e| matches!(e.severity(), PgSeverity::Fatal | PgSeverity::Panic));
    }
    matches!(
        err,
        sqlx::Error::RowNotFound
            | sqlx::Error::ColumnNotFound(_)
            | sqlx::Error::ColumnIndexOutOfBounds { .. }
            | sqlx::Error::ColumnDecode { .. }
            | sqlx::Error::Decode(_)
            | sqlx::Error::TypeNotFound { .. }
            | sqlx::Error::Encode(_)
    )
}

fn settle<T>(settled: &mut bool, result: &sqlx::Result<T>) {
    *settled = match result {
        Ok(_) => true,
        Err(err) => connection_survives(err),
    };
}

/// A statement's stream of results that settles its lease when it ends.
struct Watched<'e, S> {
    results: S,
    settled: &'e mut bool,
}

impl<S, T> Stream for Watched<'_, S>
where
    S: Stream<Item = sqlx::Result<T>> + Unpin,
{
    type Item = sqlx::Result<T>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<sqlx::Result<T>>> {
        let item = ready!(Pin::new(&mut self.results).poll_next(cx));
        match &item {
            None => *self.settled = true,
            Some(Err(err)) => *self.settled = connection_survives(err),
            Some(Ok(_)) => {}
        }
        Poll::Ready(item)
    }
}

impl<'c> Executor<'c> for &'c mut Lease {
    type Database = Postgres;

    fn fetch_many<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxStream<'e, sqlx::Result<Either<PgQueryResult, PgRow>>>
    where
        'c: 'e,
        E: 'q + Execute<'q, Postgres>,
    {
        let (conn, settled) = self.start();
        Box::pin(Watched {
            results: conn.fetch_many(query),
            settled,
        })
    }

    fn fetch_optional<'e, 'q: 'e, E>(self, query: E) -> BoxFuture<'e, sqlx::Result<Option<PgRow>>>
    where
        'c: 'e,
        E: 'q + Execute<'q, Postgres>,
    {
        let (conn, settled) = self.start();
        Box::pin(async move {
            let result = conn.fetch_optional(query).await;
            settle(settled, &result);
            result
        })
    }

    fn prepare_with<'e>(
        self,
        sql: sqlx::SqlStr,
        parameters: &'e [PgTypeInfo],
    ) -> BoxFuture<'e, sqlx::Result<PgStatement>>
    where
        'c: 'e,
    {
        let (conn, settled) = self.start();
        Box::pin(async move {
            let result = conn.prepare_with(sql, parameters).await;
            settle(settled, &result);
            result
        })
    }

    fn describe<'e>(self, sql: sqlx::SqlStr) -> BoxFuture<'e, sqlx::Result<Describe<Postgres>>>
    where
        'c: 'e,
    {
        let (conn, settled) = self.start();
        Box::pin(async move {
            let result = conn.describe(sql).await;
            settle(settled, &result);
            result
        })
    }
}
