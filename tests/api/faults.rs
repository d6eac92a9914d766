//! PostgreSQL going away under a running server: a TCP proxy between the server and the
//! database cuts every connection and refuses new ones, then lets them through again.
//! The server must say it is not ready, answer 503 with the JSON envelope (never 500 and
//! never a hang), and recover on its own once the database is back, without a restart.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;
use sqlx::postgres::PgConnectOptions;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;
use tokio::task::JoinHandle;

use crate::server::spawn;

/// A loopback TCP proxy to PostgreSQL that can drop the database off the network.
struct Proxy {
    port: u16,
    up: Arc<AtomicBool>,
    links: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accept: JoinHandle<()>,
}

impl Proxy {
    async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(AtomicBool::new(true));
        let links = Arc::new(Mutex::new(Vec::<JoinHandle<()>>::new()));
        let accept = tokio::spawn({
            let (up, links) = (up.clone(), links.clone());
            async move {
                loop {
                    let Ok((mut client, _)) = listener.accept().await else {
                        return;
                    };
                    if !up.load(Ordering::SeqCst) {
                        // The database is away: the connection is reset at once.
                        drop(client);
                        continue;
                    }
                    links.lock().await.push(tokio::spawn(async move {
                        if let Ok(mut server) = TcpStream::connect(upstream).await {
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                        }
                    }));
                }
            }
        });
        Self {
            port,
            up,
            links,
            accept,
        }
    }

    /// Cuts every open connection (both sockets close) and refuses new ones.
    async fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for link in self.links.lock().await.drain(..) {
            link.abort();
        }
    }

    /// Lets connections through again.
    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// Asserts a response is a 503 carrying the JSON error envelope.
async fn assert_unavailable(response: reqwest::Response) {
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["code"].as_str().is_some_and(|c| !c.is_empty()),
        "not the error envelope: {body}"
    );
}

/// The URL of the test's database as the server's `DATABASE_URL`, reached at `host:port`.
fn database_url(options: &PgConnectOptions, host: &str, port: u16) -> String {
    format!(
        "postgres://{}@{host}:{port}/{}",
        options.get_username(),
        options.get_database().unwrap()
    )
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn the_database_going_away_is_a_503_and_the_server_recovers_by_itself(pool: PgPool) {
    let options = pool.connect_options();
    let upstream: SocketAddr = tokio::net::lookup_host((options.get_host(), options.get_port()))
        .await
        .unwrap()
        .next()
        .unwrap();
    let proxy = Proxy::start(upstream).await;
    let url = database_url(&options, "127.0.0.1", proxy.port);
    let server = spawn(
        &options,
        &[
            ("DATABASE_URL", url.as_str()),
            ("DATABASE_ACQUIRE_TIMEOUT_SECS", "2"),
        ],
    )
    .await;
    let client = reqwest::Client::new();
    let base = &server.base;
    let signup = |phone: &'static str| {
        client
            .post(format!("{base}/api/customers/public"))
            .json(&json!({ "phone": phone, "name": "Karim" }))
            .send()
    };
    assert_eq!(signup("01711800001").await.unwrap().status(), 201);

    proxy.cut().await;
    // Open connections died and new ones are refused: not ready, and every request that
    // needs the database is a 503 envelope, quickly.
    let started = std::time::Instant::now();
    assert_unavailable(client.get(format!("{base}/readyz")).send().await.unwrap()).await;
    for phone in ["01711800002", "01711800003", "01711800004"] {
        assert_unavailable(signup(phone).await.unwrap()).await;
    }
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    // Liveness does not need the database: the process is fine, only not ready.
    let health = client.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);

    proxy.restore();
    let mut ready = false;
    for _ in 0..50 {
        let answer = client.get(format!("{base}/readyz")).send().await.unwrap();
        if answer.status() == 200 {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ready, "the server did not become ready again");
    assert_eq!(signup("01711800005").await.unwrap().status(), 201);

    // What was refused left nothing behind; what was acknowledged is there.
    let phones: Vec<String> = sqlx::query_scalar("select phone from customers order by id")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(phones.len(), 2, "{phones:?}");
    server.stop.send(()).unwrap();
    server.handle.await.unwrap();
}

/// A transaction left idle (a task stalled between two statements) is ended by PostgreSQL
/// after `DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_SECS`, with its locks: every connection of
/// the server's pools carries the setting.
#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn a_transaction_left_idle_is_ended_by_the_database(pool: PgPool) {
    let options = pool.connect_options();
    let url = database_url(&options, options.get_host(), options.get_port());
    let config = crate::helpers::test_config(&[
        ("DATABASE_URL", url.as_str()),
        ("DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_SECS", "1"),
    ]);
    let server_pool = bondhu::db::connect(&config).await.unwrap();
    let setting: String = sqlx::query_scalar("show idle_in_transaction_session_timeout")
        .fetch_one(&server_pool)
        .await
        .unwrap();
    assert_eq!(setting, "1s");

    let mut tx = server_pool.begin().await.unwrap();
    sqlx::query("select 1 from customers for update")
        .execute(&mut *tx)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let err = sqlx::query("select 1").execute(&mut *tx).await.unwrap_err();
    assert!(
        err.to_string().contains("idle-in-transaction"),
        "not ended by the timeout: {err}"
    );
    drop(tx);
    // The pool replaces the ended session.
    let one: i32 = sqlx::query_scalar("select 1")
        .fetch_one(&server_pool)
        .await
        .unwrap();
    assert_eq!(one, 1);
}
