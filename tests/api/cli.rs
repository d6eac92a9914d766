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
    // String literals live in `.rodata`: a few MB, where the whole debug binary is hundreds.
    let binary = std::fs::read(env!("CARGO_BIN_EXE_bondhu")).unwrap();
    let strings = elf_section(&binary, ".rodata");
    let holds = |needle: &str| {
        strings
            .windows(needle.len())
            .any(|w| w == needle.as_bytes())
    };
    assert_eq!(holds("BONDHU_FAILPOINT"), cfg!(feature = "failpoints"));
    assert_eq!(
        holds(bondhu::failpoint::POINTS[0].name),
        cfg!(feature = "failpoints")
    );
}

/// The bytes of section `name` of a 64-bit little-endian ELF file (the binaries built here).
fn elf_section<'a>(elf: &'a [u8], name: &str) -> &'a [u8] {
    assert_eq!(
        &elf[..6],
        b"\x7fELF\x02\x01",
        "not a 64-bit little-endian ELF file"
    );
    let u16_at = |at: usize| usize::from(u16::from_le_bytes([elf[at], elf[at + 1]]));
    let u32_at = |at: usize| u32::from_le_bytes(elf[at..at + 4].try_into().unwrap()) as usize;
    let u64_at = |at: usize| u64::from_le_bytes(elf[at..at + 8].try_into().unwrap()) as usize;
    // e_shoff, e_shentsize, e_shnum, e_shstrndx; then each header's sh_name, sh_offset, sh_size.
    let (table, size, count) = (u64_at(0x28), u16_at(0x3a), u16_at(0x3c));
    let names = u64_at(table + u16_at(0x3e) * size + 0x18);
    (0..count)
        .map(|i| table + i * size)
        .find(|header| {
            let start = names + u32_at(*header);
            elf[start..].split(|b| *b == 0).next() == Some(name.as_bytes())
        })
        .map(|header| &elf[u64_at(header + 0x18)..][..u64_at(header + 0x20)])
        .unwrap_or_else(|| panic!("no {name} section"))
}
