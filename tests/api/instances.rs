//! Several real servers on one database, as behind a load balancer: what one client may do
//! is counted once, whichever instance answers.

use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::server::{Running, spawn};

/// Three instances with shared quotas: 6 public requests a minute per client, logins
/// unlimited by rate (0) but locked after 3 wrong passwords.
async fn three_instances(pool: &PgPool) -> Vec<Running> {
    let vars = [
        ("TRUST_PROXY_HEADERS", "true"),
        ("PUBLIC_RATE_LIMIT_PER_MINUTE", "6"),
        ("LOGIN_RATE_LIMIT_PER_MINUTE", "0"),
        ("LOGIN_MAX_FAILURES", "3"),
        ("LOGIN_LOCKOUT_SECS", "600"),
    ];
    let options = pool.connect_options();
    join_all((0..3).map(|_| spawn(&options, &vars))).await
}

async fn stop(servers: Vec<Running>) {
    for server in servers {
        server.stop.send(()).unwrap();
        server.handle.await.unwrap();
    }
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn a_client_gets_its_public_quota_once_across_three_instances(pool: PgPool) {
    let servers = three_instances(&pool).await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    // 18 landings from one client address at once, spread over the instances.
    let landing = |i: usize, from: &'static str| {
        let request = client
            .get(format!("{}/r/REF000001?ch=qr", servers[i % 3].base))
            .header("x-forwarded-for", from);
        async move { request.send().await.unwrap() }
    };
    let answers = join_all((0..18).map(|i| landing(i, "198.51.100.7"))).await;
    let mut admitted = 0;
    for answer in answers {
        if answer.status() == StatusCode::TOO_MANY_REQUESTS {
            assert!(answer.headers().contains_key("retry-after"));
            let body: Value = answer.json().await.unwrap();
            assert_eq!(body["code"], "rate_limited");
        } else {
            assert!(answer.status().is_redirection(), "{}", answer.status());
            admitted += 1;
        }
    }
    assert_eq!(
        admitted, 6,
        "the quota is counted once, not once per instance"
    );

    // Another client address has its own quota, on any instance.
    for i in 0..3 {
        assert!(landing(i, "198.51.100.8").await.status().is_redirection());
    }
    stop(servers).await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn parallel_wrong_passwords_over_three_instances_check_at_most_the_limit(pool: PgPool) {
    let servers = three_instances(&pool).await;
    let client = reqwest::Client::new();
    let signup = client
        .post(format!("{}/api/customers/public", servers[0].base))
        .header("x-forwarded-for", "192.0.2.1")
        .json(&json!({ "phone": "01911800071", "password": "correct horse" }))
        .send()
        .await
        .unwrap();
    assert!(signup.status().is_success(), "{}", signup.status());

    // 12 wrong passwords at once, each from its own address (the per-address login rate
    // is off: 0), spread over the instances.
    let answers = join_all((0..12).map(|i| {
        client
            .post(format!("{}/api/auth/login", servers[i % 3].base))
            .header("x-forwarded-for", format!("192.0.2.{}", 10 + i))
            .json(&json!({ "identifier": "01911800071", "password": format!("guess {i}") }))
            .send()
    }))
    .await;
    let (mut checked, mut locked) = (0, 0);
    for answer in answers {
        let answer = answer.unwrap();
        let status = answer.status();
        let body: Value = answer.json().await.unwrap();
        match (status, body["code"].as_str()) {
            (StatusCode::UNAUTHORIZED, Some("invalid_credentials")) => checked += 1,
            (StatusCode::TOO_MANY_REQUESTS, Some("account_locked")) => locked += 1,
            other => panic!("unexpected answer {other:?}: {body}"),
        }
    }
    assert_eq!((checked, locked), (3, 9));

    // Locked on every instance, even with the right password.
    for server in &servers {
        let answer = client
            .post(format!("{}/api/auth/login", server.base))
            .json(&json!({ "identifier": "01911800071", "password": "correct horse" }))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::TOO_MANY_REQUESTS);
    }
    stop(servers).await;
}
