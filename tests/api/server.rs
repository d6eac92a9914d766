//! The real server on a real port: start-up, middleware, the docs, shutdown.

use std::time::Duration;

use bondhu::config::Config;
use bondhu::startup::Application;
use serde_json::{Value, json};
use sqlx::PgPool;
use sqlx::postgres::PgConnectOptions;

use crate::helpers::TEST_SECRET;

/// A server started by [`spawn`].
pub(crate) struct Running {
    /// `http://127.0.0.1:{port}`.
    pub base: String,
    /// The metrics listener's base URL, when `METRICS_ADDR` was given.
    pub metrics: Option<String>,
    /// Send to stop the server.
    pub stop: tokio::sync::oneshot::Sender<()>,
    /// Ends when the server has stopped.
    pub handle: tokio::task::JoinHandle<()>,
}

/// Starts the server on port 0 against the test's own database, with `extra` variables
/// (which win over these defaults: `DATABASE_URL` too).
pub(crate) async fn spawn(options: &PgConnectOptions, extra: &[(&str, &str)]) -> Running {
    let database = options.get_database().unwrap().to_owned();
    let base_url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| bondhu::config::DEFAULT_DATABASE_URL.into());
    let (server_part, _) = base_url.rsplit_once('/').unwrap();
    let url = format!("{server_part}/{database}");
    let config = Config::from_lookup(|name| {
        if let Some((_, value)) = extra.iter().find(|(key, _)| *key == name) {
            return Some((*value).to_owned());
        }
        match name {
            "DATABASE_URL" => Some(url.clone()),
            "PORT" => Some("0".into()),
            "JWT_SECRET" => Some(TEST_SECRET.into()),
            // The release job runs every second, so the test sees it release.
            "JOBS_INTERVAL_SECS" => Some("1".into()),
            _ => None,
        }
    })
    .unwrap();
    let app = Application::build(config).await.unwrap();
    let base = format!("http://127.0.0.1:{}", app.port());
    let metrics = app
        .metrics_port()
        .map(|port| format!("http://127.0.0.1:{port}"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let handle = tokio::spawn(async move {
        app.run_until_stopped(async {
            let _ = stopped.await;
        })
        .await
        .unwrap();
    });
    Running {
        base,
        metrics,
        stop,
        handle,
    }
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn the_server_serves_the_main_path_and_shuts_down(pool: PgPool) {
    let Running {
        base, stop, handle, ..
    } = spawn(&pool.connect_options(), &[]).await;
    let client = reqwest::Client::new();

    let health: Value = client
        .get(format!("{base}/healthz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health, json!({ "status": "ok" }));
    let ready = client.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    assert!(ready.headers().contains_key("x-request-id"));

    let referrer: Value = client
        .post(format!("{base}/api/customers/public"))
        .json(&json!({ "phone": "01711700001", "name": "Rahim" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let referrer_id = referrer["id"].as_i64().unwrap();
    let friend: Value = client
        .post(format!("{base}/api/customers/public"))
        .json(&json!({ "phone": "01711700002", "ref": format!("REF{referrer_id:06}") }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    let admin_id =
        bondhu::db::users::insert(&pool, "ops@staff.test", None, "$argon2id$unused", "admin")
            .await
            .unwrap()
            .unwrap();
    let admin = bondhu::auth::JwtKeys::new(&TEST_SECRET.to_owned().into())
        .issue(bondhu::auth::TokenKind::User, admin_id, "admin", None, None)
        .unwrap();
    // 32 concurrent deliveries over real connections.
    let deliveries = (0..32).map(|_| {
        let client = client.clone();
        let (base, admin, friend_id) = (base.clone(), admin.clone(), friend["id"].clone());
        tokio::spawn(async move {
            client
                .put(format!("{base}/api/orders/42"))
                .bearer_auth(admin)
                .json(
                    &json!({ "customerId": friend_id, "status": "delivered", "totalAmount": 990 }),
                )
                .send()
                .await
                .unwrap()
                .status()
        })
    });
    for status in futures::future::join_all(deliveries).await {
        assert_eq!(status.unwrap(), 200);
    }
    let balance = || {
        let (client, base, admin) = (client.clone(), base.clone(), admin.clone());
        async move {
            let wallet: Value = client
                .get(format!("{base}/api/loyalty/wallet/{referrer_id}"))
                .bearer_auth(&admin)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            wallet["balance"].to_string()
        }
    };
    // Held for the return window: nothing is paid at the delivery.
    assert_eq!(balance().await, "0");
    // The window passes; the server's own release job pays the reward, once.
    sqlx::query!(
        "update customer_referrals set hold_until = now() - interval '1 second'
         where status = 'completed' and released_at is null"
    )
    .execute(&pool)
    .await
    .unwrap();
    let released = async {
        loop {
            let now = balance().await;
            if now != "0" {
                return now;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    let released = tokio::time::timeout(Duration::from_secs(15), released)
        .await
        .expect("the server's job loop released the reward");
    assert_eq!(released, "100.00");

    // The OpenAPI document lists every route; the docs UI is served.
    let openapi: Value = client
        .get(format!("{base}/api/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let paths = openapi["paths"].as_object().unwrap();
    for path in [
        "/api/loyalty/me/referral-code",
        "/api/loyalty/referral-code/{customerId}",
        "/api/loyalty/me/referrals",
        "/api/loyalty/referrals/{customerId}",
        "/api/loyalty/me/referrals/stats",
        "/api/loyalty/referrals/{customerId}/stats",
        "/api/loyalty/me/referral",
        "/api/loyalty/referral",
        "/api/loyalty/referral/{referralId}/complete",
        "/api/loyalty/me/wallet",
        "/api/loyalty/me/wallet/transactions",
        "/api/loyalty/wallet/{customerId}",
        "/api/loyalty/wallet/{customerId}/transactions",
        "/api/loyalty/wallet/{customerId}/credit",
        "/api/loyalty/wallet/{customerId}/debit",
        "/api/loyalty/kpis",
        "/api/loyalty/dashboard",
        "/api/customers/public",
        "/api/customers/me",
        "/api/customers/lookup",
        "/api/auth/login",
        "/api/auth/me",
        "/api/referral-codes/{code}",
        "/r/{code}",
        "/api/orders/{orderId}",
        "/api/orders/{orderId}/status",
        "/healthz",
        "/readyz",
        "/api/loyalty/referral-campaigns",
        "/api/loyalty/referral-campaigns/{id}",
        "/api/loyalty/referral-campaigns/dry-run",
        "/api/loyalty/referral-campaigns/{id}/report",
        "/api/loyalty/referral-partners",
        "/api/loyalty/referral-partners/{id}",
        "/api/loyalty/referral-partners/{code}/report",
        "/api/loyalty/points/{customerId}",
        "/api/loyalty/points/{customerId}/transactions",
        "/api/loyalty/points/{customerId}/earn",
        "/api/loyalty/points/{customerId}/redeem",
        "/api/loyalty/me/points",
        "/api/loyalty/me/points/transactions",
        "/api/loyalty/me/rewards",
        "/api/loyalty/rewards/{customerId}",
        "/api/coupons/validate",
        "/api/loyalty/membership/{customerId}",
        "/api/loyalty/memberships",
        "/api/loyalty/membership/{customerId}/tier",
        "/api/loyalty/membership/{customerId}/evaluate",
    ] {
        assert!(
            paths.contains_key(path),
            "{path} missing from the OpenAPI document"
        );
    }
    let docs = client
        .get(format!("{base}/api/docs/"))
        .send()
        .await
        .unwrap();
    assert_eq!(docs.status(), 200);
    assert!(docs.text().await.unwrap().contains("swagger"));

    drop(client);
    let stopping = std::time::Instant::now();
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(15), handle)
        .await
        .unwrap()
        .unwrap();
    // The job loop stops when told, well within the grace (10 s) after which the server
    // would abort it.
    assert!(
        stopping.elapsed() < Duration::from_secs(5),
        "shutdown took {:?}",
        stopping.elapsed()
    );
    crate::helpers::assert_invariants(&pool).await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn metrics_are_served_on_their_own_listener_labelled_by_route_template(pool: PgPool) {
    let server = spawn(&pool.connect_options(), &[("METRICS_ADDR", "127.0.0.1:0")]).await;
    let metrics = server.metrics.clone().expect("a metrics listener");
    // The landing redirects to the shop, which is not running here.
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    // A route with a path parameter, twice, and a path no route matches.
    for _ in 0..2 {
        let landing = client
            .get(format!("{}/r/REF000777?ch=qr", server.base))
            .send()
            .await
            .unwrap();
        assert!(landing.status().is_redirection() || landing.status().is_success());
    }
    let missing = client
        .get(format!("{}/no/such/route/991", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);

    // The public listener never serves metrics.
    let public = client
        .get(format!("{}/metrics", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(public.status(), 404);
    let body: Value = public.json().await.unwrap();
    assert_eq!(body["code"], "route_not_found");

    let scrape = client
        .get(format!("{metrics}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(scrape.status(), 200);
    assert!(
        scrape.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = scrape.text().await.unwrap();
    let line = |prefix: &str| {
        text.lines()
            .find(|line| line.starts_with(prefix))
            .unwrap_or_else(|| panic!("no line starting {prefix:?} in:\n{text}"))
            .to_owned()
    };
    // Labelled by the template, never by the raw path or its code.
    let landing = line(r#"bondhu_http_requests_total{method="GET",route="/r/{code}",status="#);
    assert!(landing.ends_with(" 2"), "{landing}");
    assert!(!text.contains("REF000777"), "{text}");
    // The raw id in a label set; values are numbers that may hold the digits (a latency
    // sum of 0.00991 s).
    let labelled_by_id = text.lines().find(|line| {
        let labels = line.find('{').zip(line.rfind('}'));
        labels.is_some_and(|(open, close)| line[open..close].contains("991"))
    });
    assert_eq!(labelled_by_id, None);
    line(r#"bondhu_http_requests_total{method="GET",route="unmatched",status="404"}"#);
    // Latency is a histogram with buckets, not a summary.
    line(
        r#"bondhu_http_request_duration_seconds_bucket{method="GET",route="/r/{code}",le="0.001"}"#,
    );
    line(r#"bondhu_db_pool_connections{state="idle"}"#);
    line("bondhu_db_pool_max_connections 16");
    line(r#"bondhu_db_lean_connections{state="idle"}"#);
    line("bondhu_db_lean_max_connections 8");
    line("bondhu_outbox_depth ");
    line("bondhu_outbox_lag_seconds ");
    line("bondhu_outbox_dead 0");
    assert!(text.contains("# HELP bondhu_http_requests_total"));

    // Nothing else is served there.
    let other = client
        .get(format!("{metrics}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 404);

    server.stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), server.handle)
        .await
        .expect("the server stops")
        .unwrap();
}
