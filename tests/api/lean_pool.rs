//! The lean pool (`db::lean`): connections go back without a ping, and one that broke, or
//! whose statement was abandoned half-way, is never handed out again.

use std::sync::Arc;
use std::time::Duration;

use bondhu::db::lean::LeanPool;
use sqlx::PgPool;

fn lean(pool: &PgPool, max_connections: u32) -> LeanPool {
    LeanPool::new(
        (*pool.connect_options()).clone(),
        max_connections,
        Duration::from_millis(500),
    )
}

async fn backend_pid(lean: &LeanPool) -> sqlx::Result<i32> {
    let mut conn = lean.acquire().await?;
    sqlx::query_scalar::<_, i32>("select pg_backend_pid()")
        .fetch_one(&mut conn)
        .await
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn a_finished_statement_gives_its_connection_back(pool: PgPool) {
    let lean = lean(&pool, 4);
    let first = backend_pid(&lean).await.unwrap();
    assert_eq!((lean.size(), lean.num_idle()), (1, 1));
    // The same server process answers again: nothing was closed or reopened.
    assert_eq!(backend_pid(&lean).await.unwrap(), first);
    // Several statements on one lease, and a stream read to its end.
    let mut conn = lean.acquire().await.unwrap();
    let rows: Vec<i32> = sqlx::query_scalar("select generate_series(1, 3)")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    assert_eq!(rows, [1, 2, 3]);
    drop(conn);
    assert_eq!(backend_pid(&lean).await.unwrap(), first);
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn a_database_error_keeps_the_connection(pool: PgPool) {
    let lean = lean(&pool, 4);
    let first = backend_pid(&lean).await.unwrap();
    let mut conn = lean.acquire().await.unwrap();
    let err = sqlx::query_scalar::<_, i32>("select 1 / 0")
        .fetch_one(&mut conn)
        .await
        .unwrap_err();
    assert_eq!(
        err.as_database_error().and_then(|e| e.code()).as_deref(),
        Some("22012")
    );
    drop(conn);
    assert_eq!(backend_pid(&lean).await.unwrap(), first);
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn an_abandoned_statement_closes_its_connection(pool: PgPool) {
    let lean = lean(&pool, 4);
    let first = backend_pid(&lean).await.unwrap();
    let mut conn = lean.acquire().await.unwrap();
    // A client that hangs up drops the handler's future mid-statement.
    let sleep = sqlx::query("select pg_sleep(5)").execute(&mut conn);
    assert!(
        tokio::time::timeout(Duration::from_millis(100), sleep)
            .await
            .is_err()
    );
    drop(conn);
    assert_eq!((lean.size(), lean.num_idle()), (0, 0));
    let second = backend_pid(&lean).await.unwrap();
    assert_ne!(second, first);
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn a_broken_connection_is_not_handed_out_again(pool: PgPool) {
    let lean = lean(&pool, 4);
    let first = backend_pid(&lean).await.unwrap();
    let terminated: bool = sqlx::query_scalar("select pg_terminate_backend($1, 5000)")
        .bind(first)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(terminated);
    // The idle connection is dead: its next statement fails (a 503 at the HTTP layer)...
    let err = backend_pid(&lean).await.unwrap_err();
    assert!(
        err.as_database_error()
            .is_none_or(|e| e.code().as_deref() == Some("57P01")),
        "{err}"
    );
    // ... and the one after that runs on a new connection.
    let second = backend_pid(&lean).await.unwrap();
    assert_ne!(second, first);
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn leases_never_exceed_the_limit(pool: PgPool) {
    let lean = Arc::new(lean(&pool, 3));
    let reads = (0..60).map(|_| {
        let lean = Arc::clone(&lean);
        tokio::spawn(async move {
            let mut conn = lean.acquire().await?;
            sqlx::query("select pg_sleep(0.005)")
                .execute(&mut conn)
                .await
                .map(|_| ())
        })
    });
    for read in futures::future::join_all(reads).await {
        read.unwrap().unwrap();
    }
    assert!(lean.size() <= 3, "{} connections", lean.size());
    let open: i64 = sqlx::query_scalar(
        "select count(*) from pg_stat_activity
         where datname = current_database() and pid <> pg_backend_pid()
           and query like 'select pg_sleep(0.005)%'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(open <= 3, "{open} connections");

    // With every connection leased, the next request waits, then times out.
    let held = [
        lean.acquire().await.unwrap(),
        lean.acquire().await.unwrap(),
        lean.acquire().await.unwrap(),
    ];
    assert!(matches!(
        lean.acquire().await,
        Err(sqlx::Error::PoolTimedOut)
    ));
    drop(held);
    backend_pid(&lean).await.unwrap();

    lean.close().await;
    assert!(matches!(lean.acquire().await, Err(sqlx::Error::PoolClosed)));
}

/// Leases returned at the same instant on several threads keep their connections: the
/// pool opens its limit and no more (it once closed one in most races between two
/// returns, and reopened it for the next read).
#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn busy_leases_reuse_their_connections(pool: PgPool) {
    let options = (*pool.connect_options()).clone();
    // The race needs threads; #[sqlx::test] runs on one.
    let opened = tokio::task::spawn_blocking(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(4)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let lean = Arc::new(LeanPool::new(options, 3, Duration::from_secs(10)));
            let clients = (0..24).map(|_| {
                let lean = Arc::clone(&lean);
                tokio::spawn(async move {
                    for _ in 0..100 {
                        let mut conn = lean.acquire().await?;
                        sqlx::query("select 1").execute(&mut conn).await?;
                    }
                    Ok::<_, sqlx::Error>(())
                })
            });
            for client in futures::future::join_all(clients).await {
                client.unwrap().unwrap();
            }
            let opened = lean.opened_total();
            lean.close().await;
            opened
        })
    })
    .await
    .unwrap();
    assert_eq!(opened, 3, "2,400 reads opened {opened} connections");
}
