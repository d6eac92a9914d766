//! Reports on a read replica (issue 13), against a real streaming standby: a scratch
//! primary and its standby (started by `scripts/replica.sh`), and the real server with
//! `DATABASE_URL` on the one and `DATABASE_READ_URL` on the other.

use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use bondhu::auth::{JwtKeys, TokenKind};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

use rust_decimal::Decimal;

use crate::helpers::{TEST_SECRET, dec};
use crate::server::{Running, spawn};

/// Where the PostgreSQL 15 binaries are (`PG_BIN` to override).
fn pg_bin() -> PathBuf {
    std::env::var_os("PG_BIN").map_or_else(|| "/usr/lib/postgresql/15/bin".into(), PathBuf::from)
}

/// Runs `program` as the clusters' owner: PostgreSQL refuses to run as root, so as root
/// it runs as `postgres` (as `scripts/replica.sh` does).
fn as_owner(program: &Path) -> Command {
    let root = std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
    if root {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

fn run(command: &mut Command) {
    let output = command
        .output()
        .expect("the PostgreSQL binaries (set PG_BIN)");
    assert!(
        output.status.success(),
        "{command:?} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Two ports nobody listens on (both held while choosing, so they differ).
fn free_ports() -> (u16, u16) {
    let a = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let b = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    (
        a.local_addr().unwrap().port(),
        b.local_addr().unwrap().port(),
    )
}

/// A scratch primary and its streaming standby in a temporary directory. Dropping it
/// stops both (`-m immediate`: nothing in them is kept) and removes the directory.
struct Clusters {
    root: PathBuf,
    primary_port: u16,
    standby_port: u16,
}

impl Clusters {
    /// initdb, start, migrate the primary, then a standby of it.
    async fn start() -> Self {
        let root = std::env::temp_dir().join(format!(
            "bondhu-replica-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir(&root).unwrap();
        // The clusters' owner (postgres, when the tests run as root) writes in here.
        std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o777)).unwrap();
        let (primary_port, standby_port) = free_ports();
        let clusters = Self {
            root,
            primary_port,
            standby_port,
        };
        let primary = clusters.root.join("primary");
        run(as_owner(&pg_bin().join("initdb"))
            .args(["--no-sync", "-U", "postgres", "--auth=trust", "-D"])
            .arg(&primary));
        run(as_owner(&pg_bin().join("pg_ctl"))
            .arg("-D")
            .arg(&primary)
            .arg("-l")
            .arg(clusters.root.join("primary.log"))
            .args(["-w", "-s", "-o"])
            .arg(format!(
                "-c port={primary_port} -c listen_addresses=127.0.0.1 \
                 -c unix_socket_directories='' -c fsync=off"
            ))
            .arg("start"));
        let admin = PgPool::connect(&clusters.primary_url("postgres"))
            .await
            .unwrap();
        sqlx::query("create database bondhu")
            .execute(&admin)
            .await
            .unwrap();
        admin.close().await;
        let primary = clusters.primary_pool().await;
        bondhu::MIGRATOR.run(&primary).await.unwrap();
        primary.close().await;
        // The developers' script starts the standby, so it is tested here too.
        run(
            Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/replica.sh"))
                .env("PG_BIN", pg_bin())
                .env("REPLICA_PG_OPTIONS", "-c fsync=off")
                .arg("start")
                .arg(clusters.primary_url("postgres"))
                .arg(clusters.root.join("standby"))
                .arg(standby_port.to_string()),
        );
        clusters
    }

    fn primary_url(&self, database: &str) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{}/{database}",
            self.primary_port
        )
    }

    fn standby_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/bondhu", self.standby_port)
    }

    async fn primary_pool(&self) -> PgPool {
        PgPool::connect(&self.primary_url("bondhu")).await.unwrap()
    }

    async fn standby_pool(&self) -> PgPool {
        PgPoolOptions::new()
            .max_connections(1)
            .connect(&self.standby_url())
            .await
            .unwrap()
    }

    fn stop(&self, cluster: &str) {
        let _ = as_owner(&pg_bin().join("pg_ctl"))
            .arg("-D")
            .arg(self.root.join(cluster))
            .args(["-m", "immediate", "-w", "-s", "stop"])
            .output();
    }
}

impl Drop for Clusters {
    fn drop(&mut self) {
        self.stop("standby");
        self.stop("primary");
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// The client side of one test: the server's address and an admin's token.
struct Api {
    client: reqwest::Client,
    base: String,
    admin: String,
}

impl Api {
    async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.json().await.unwrap())
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let response = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.admin)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert!(status.is_success(), "{path}: {status} {body}");
        body
    }

    /// A customer signed up (with `referrer`'s code, if any); returns its id.
    async fn customer(&self, phone: &str, referrer: Option<i64>) -> i64 {
        let mut body = json!({ "phone": phone });
        if let Some(referrer) = referrer {
            body["ref"] = json!(format!("REF{referrer:06}"));
        }
        let created = self
            .send(reqwest::Method::POST, "/api/customers/public", body)
            .await;
        created["id"].as_i64().unwrap()
    }

    /// Order `id` of `customer`, delivered: a money path (it completes the referral and
    /// holds the reward), so on the primary.
    async fn deliver(&self, id: i32, customer: i64) {
        self.send(
            reqwest::Method::PUT,
            &format!("/api/orders/{id}"),
            json!({ "customerId": customer, "status": "delivered", "totalAmount": 990 }),
        )
        .await;
    }

    /// The referrer's reward in its hold, read by the wallet route (the primary).
    async fn pending_reward(&self, customer: i64) -> Decimal {
        let (status, wallet) = self
            .get(&format!("/api/loyalty/wallet/{customer}"), &self.admin)
            .await;
        assert_eq!(status, StatusCode::OK, "{wallet}");
        dec(&wallet["pendingBalance"])
    }

    async fn completed_referrals(&self) -> i64 {
        let (status, kpis) = self.get("/api/loyalty/kpis", &self.admin).await;
        assert_eq!(status, StatusCode::OK, "{kpis}");
        kpis["completed_referrals"].as_i64().unwrap()
    }

    /// Waits (at most 10 s) until the KPIs count `n` completed referrals.
    async fn until_completed_referrals(&self, n: i64) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.completed_referrals().await != n {
            assert!(
                Instant::now() < deadline,
                "the replica never showed {n} completed referrals"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits (at most 10 s) until `path` answers 200 and returns its body.
    async fn until_ok(&self, path: &str, token: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (status, body) = self.get(path, token).await;
            if status == StatusCode::OK {
                return body;
            }
            assert!(Instant::now() < deadline, "{path}: {status} {body}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits (at most 20 s) until `/readyz` says the reports are `state`.
    async fn until_reports(&self, state: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let (status, ready) = self.ready().await;
            assert_eq!(status, StatusCode::OK, "{ready}");
            if ready["reports"] == state {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the reports never became {state}: {ready}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn ready(&self) -> (StatusCode, Value) {
        let response = self
            .client
            .get(format!("{}/readyz", self.base))
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.json().await.unwrap())
    }
}

/// The replica lag past which the test's server reads reports from the primary: long
/// enough that the paused replay of the first phase (well under a second) stays under it.
const MAX_LAG_SECS: u64 = 5;

/// Pauses the standby's replay and waits (at most 10 s) until it has.
async fn pause_replay(standby: &PgPool) {
    sqlx::query("select pg_wal_replay_pause()")
        .execute(standby)
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let state: String = sqlx::query_scalar("select pg_get_wal_replay_pause_state()")
            .fetch_one(standby)
            .await
            .unwrap();
        if state == "paused" {
            break;
        }
        assert!(Instant::now() < deadline, "replay never paused: {state}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The value of the metrics series `name` (no labels) on the page at `metrics`.
async fn metric(metrics: &str, name: &str) -> f64 {
    let page = reqwest::get(format!("{metrics}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    page.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {name} in:\n{page}"))
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_read_the_replica_and_money_paths_do_not_need_it() {
    let started = Instant::now();
    let clusters = Clusters::start().await;
    let primary = clusters.primary_pool().await;
    let standby = clusters.standby_pool().await;
    let setup = started.elapsed();

    let Running {
        base,
        metrics,
        stop,
        handle,
    } = spawn(
        &primary.connect_options(),
        &[
            ("DATABASE_URL", &clusters.primary_url("bondhu")),
            ("DATABASE_READ_URL", &clusters.standby_url()),
            ("DATABASE_READ_MAX_CONNECTIONS", "2"),
            // A replica that is down costs a report at most this long.
            ("DATABASE_ACQUIRE_TIMEOUT_SECS", "1"),
            ("DATABASE_READ_MAX_LAG_SECS", &MAX_LAG_SECS.to_string()),
            ("METRICS_ADDR", "127.0.0.1:0"),
        ],
    )
    .await;
    let metrics = metrics.unwrap();
    let admin_id =
        bondhu::db::users::insert(&primary, "ops@staff.test", None, "$argon2id$x", "admin")
            .await
            .unwrap()
            .unwrap();
    let keys = JwtKeys::new(&TEST_SECRET.to_owned().into());
    let api = Api {
        client: reqwest::Client::new(),
        base,
        admin: keys
            .issue(TokenKind::User, admin_id, "admin", None, None)
            .unwrap(),
    };

    // A write through the API lands on the primary; the KPIs show it once the standby
    // has replayed it.
    let rahim = api.customer("01711900001", None).await;
    let karim = api.customer("01711900002", Some(rahim)).await;
    api.deliver(1, karim).await;
    let delivered = Instant::now();
    api.until_completed_referrals(1).await;
    let replayed = delivered.elapsed();
    assert_eq!(api.pending_reward(rahim).await, Decimal::from(100));

    // Every report route answers from the standby, which refuses any write (25006): none
    // of them writes.
    let partner = api
        .send(
            reqwest::Method::POST,
            "/api/loyalty/referral-partners",
            json!({ "code": "FITFAM", "partnerType": "influencer" }),
        )
        .await;
    let report = api
        .until_ok("/api/loyalty/referral-partners/FITFAM/report", &api.admin)
        .await;
    assert_eq!(report["partner_code"], "FITFAM", "{report}");
    let partner_token = keys
        .issue_partner(partner["id"].as_str().unwrap().parse().unwrap())
        .unwrap();
    api.until_ok("/api/partners/me/report", &partner_token)
        .await;
    let (_, campaigns) = api.get("/api/loyalty/referral-campaigns", &api.admin).await;
    let campaign = campaigns[0]["id"].as_str().unwrap();
    api.until_ok(
        &format!("/api/loyalty/referral-campaigns/{campaign}/report"),
        &api.admin,
    )
    .await;
    api.until_ok("/api/crm/referrals/agents/report", &api.admin)
        .await;
    api.until_ok("/api/loyalty/dashboard", &api.admin).await;
    assert_eq!(metric(&metrics, "bondhu_db_replica_up").await, 1.0);

    // Replay paused: a new delivery is on the money route at once, not yet on the KPIs.
    pause_replay(&standby).await;
    let salma = api.customer("01711900003", None).await;
    let nasrin = api.customer("01711900004", Some(salma)).await;
    api.deliver(2, nasrin).await;
    assert_eq!(api.pending_reward(salma).await, Decimal::from(100));
    assert_eq!(api.completed_referrals().await, 1);
    let (status, ready) = api.ready().await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ready, json!({ "status": "ready", "reports": "ok" }));
    assert!(metric(&metrics, "bondhu_db_replica_lag_bytes").await > 0.0);
    assert_eq!(api.completed_referrals().await, 1, "replay is paused");

    // Resumed: the KPIs catch up.
    sqlx::query("select pg_wal_replay_resume()")
        .execute(&standby)
        .await
        .unwrap();
    api.until_completed_referrals(2).await;

    // Paused for longer than DATABASE_READ_MAX_LAG_SECS: the replica is marked lagging
    // and the reports read the primary, which has the new delivery; resumed, the replica
    // catches up and the reports read it again.
    pause_replay(&standby).await;
    let rina = api.customer("01711900006", None).await;
    let mina = api.customer("01711900007", Some(rina)).await;
    api.deliver(4, mina).await;
    api.until_reports("lagging").await;
    assert_eq!(api.completed_referrals().await, 3, "read from the primary");
    assert_eq!(metric(&metrics, "bondhu_db_replica_lagging").await, 1.0);
    assert!(metric(&metrics, "bondhu_db_replica_lag_seconds").await > MAX_LAG_SECS as f64);
    sqlx::query("select pg_wal_replay_resume()")
        .execute(&standby)
        .await
        .unwrap();
    api.until_reports("ok").await;
    assert_eq!(api.completed_referrals().await, 3, "read from the replica");
    assert_eq!(metric(&metrics, "bondhu_db_replica_lagging").await, 0.0);
    standby.close().await;

    // The standby down: the reports answer 503 with the envelope, the money paths and
    // the readiness probe carry on.
    clusters.stop("standby");
    for (path, token) in [
        ("/api/loyalty/kpis", &api.admin),
        ("/api/partners/me/report", &partner_token),
    ] {
        let (status, body) = api.get(path, token).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{path}: {body}");
        assert_eq!(body["code"], "service_unavailable", "{body}");
        assert_eq!(body["statusCode"], 503, "{body}");
    }
    let fatema = api.customer("01711900005", Some(salma)).await;
    api.deliver(3, fatema).await;
    assert_eq!(api.pending_reward(salma).await, Decimal::from(200));
    let (status, ready) = api.ready().await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        ready,
        json!({ "status": "ready", "reports": "unavailable" })
    );
    assert_eq!(metric(&metrics, "bondhu_db_replica_up").await, 0.0);

    drop(api);
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(15), handle)
        .await
        .unwrap()
        .unwrap();
    crate::helpers::assert_invariants(&primary).await;
    primary.close().await;
    eprintln!(
        "replica test: clusters ready in {setup:?}; a delivery on the KPIs after {replayed:?}; \
         {:?} in all",
        started.elapsed()
    );
}

/// Without a replica the reports read the primary, still in read-only transactions: a
/// statement that wrote there would fail in every test of its route, as it would on a
/// standby, and it is a 503 with the envelope, never a 500.
#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn a_write_where_reports_read_is_refused_with_a_503(pool: PgPool) {
    let reports = bondhu::db::ReportsDb::primary(pool.clone());
    let mut tx = reports.begin().await.unwrap();
    let refused = sqlx::query("delete from customers")
        .execute(&mut *tx)
        .await
        .unwrap_err();
    let error = bondhu::error::Error::from(refused);
    assert_eq!(error.code(), bondhu::error::Code::DatabaseReadOnly);
    let response = axum::response::IntoResponse::into_response(error);
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()["retry-after"], "1");
    let body = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap()
        .to_bytes();
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["code"], "database_read_only");
    assert_eq!(body["statusCode"], 503);
}
