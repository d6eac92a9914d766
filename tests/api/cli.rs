//! The operator's commands, run as a process against the test's database.

use std::io::Write;
use std::process::{Command, Stdio};

use axum::http::{Method, StatusCode};
use serde_json::json;
use sqlx::PgPool;

use crate::helpers::{TEST_SECRET, TestApp};

/// Runs `bondhu args…` against the test's database; returns stdout, or panics with stderr.
fn bondhu(pool: &PgPool, args: &[&str], stdin: Option<&str>) -> String {
    let output = run_bondhu(pool, args, stdin);
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        output.status.success(),
        "bondhu {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// Runs `bondhu args…` against the test's database and returns what it did.
pub fn run_bondhu(pool: &PgPool, args: &[&str], stdin: Option<&str>) -> std::process::Output {
    let database = pool.connect_options().get_database().unwrap().to_owned();
    let base = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| bondhu::config::DEFAULT_DATABASE_URL.into());
    let url = format!("{}/{database}", base.rsplit_once('/').unwrap().0);
    let mut child = Command::new(env!("CARGO_BIN_EXE_bondhu"))
        .args(args)
        .env("DATABASE_URL", url)
        .env("JWT_SECRET", TEST_SECRET)
        .env("RUST_LOG", "error")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn operators_create_users_keys_and_tokens(pool: PgPool) {
    let app = TestApp::new(pool.clone()).await;
    let created = bondhu(
        &pool,
        &[
            "user",
            "create",
            "--role",
            "marketing-manager",
            "--email",
            "Mina@Shop.example",
            "--name",
            "Mina",
        ],
        Some("a long passphrase\n"),
    );
    assert!(created.contains("mina@shop.example"), "{created}");
    let login = app
        .request(
            Method::POST,
            "/api/auth/login",
            None,
            Some(json!({ "identifier": "mina@shop.example", "password": "a long passphrase" })),
        )
        .await;
    assert_eq!(login.status, StatusCode::CREATED, "{}", login.body);
    assert_eq!(login.body["user"]["roleSlug"], "marketing-manager");

    let generated = bondhu(
        &pool,
        &[
            "user",
            "create",
            "--role",
            "admin",
            "--email",
            "ops@shop.example",
        ],
        None,
    );
    assert!(
        generated.contains("password: "),
        "a password is generated when none is given: {generated}"
    );

    let key_output = bondhu(
        &pool,
        &["api-key", "create", "--name", "pathao-bridge"],
        None,
    );
    let key = key_output.lines().last().unwrap().trim().to_owned();
    assert!(key.starts_with("bk_"), "{key_output}");
    let order = app
        .raw_with_api_key(
            Method::PUT,
            "/api/orders/5",
            &key,
            Some(json!({ "status": "pending" })),
        )
        .await;
    assert_eq!(order.status, StatusCode::OK, "{}", order.body);

    let customer = app.customer("01711990001", None).await;
    let token = bondhu(
        &pool,
        &["token", "--role", "customer", "--id", &customer.to_string()],
        None,
    );
    let wallet = app.get("/api/loyalty/me/wallet", token.trim()).await;
    assert_eq!(wallet.body["customerId"], customer);
    let admin = bondhu(&pool, &["token", "--role", "admin", "--id", "1"], None);
    assert_eq!(
        app.get("/api/loyalty/kpis", admin.trim()).await.status,
        StatusCode::OK
    );
    app.check_invariants().await;
}

/// The binary the tests run is built like a release: without the `failpoints` feature it
/// has no `bondhu failpoints`, and neither a point's name nor the variable that arms one
/// is in it (`failpoint!` expands to a compile-time check only). Under the feature, both
/// are there and an unarmed server runs as usual (the kill phase of scripts/chaos.sh).
#[test]
fn fail_points_are_only_in_a_build_with_the_feature() {
    let listing = Command::new(env!("CARGO_BIN_EXE_bondhu"))
        .arg("failpoints")
        .env("RUST_LOG", "error")
        .output()
        .unwrap();
    assert_eq!(
        listing.status.success(),
        cfg!(feature = "failpoints"),
        "{}",
        String::from_utf8_lossy(&listing.stderr)
    );
    let binary = std::fs::read(env!("CARGO_BIN_EXE_bondhu")).unwrap();
    let holds = |needle: &[u8]| binary.windows(needle.len()).any(|w| w == needle);
    let point = bondhu::failpoint::POINTS[0].name.as_bytes();
    assert_eq!(holds(b"BONDHU_FAILPOINT"), cfg!(feature = "failpoints"));
    assert_eq!(holds(point), cfg!(feature = "failpoints"));
}
