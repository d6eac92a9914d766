//! Partner reports (issue 11): the numbers on a known data set built through the real
//! routes, the window's boundaries, bad input, and partner self-service (login, lock-out,
//! the partner's own report, and a partner token refused everywhere else).

use axum::http::{Method, StatusCode, header};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::helpers::{TestApp, dec, test_config};

const PARTNERS: &str = "/api/loyalty/referral-partners";

fn report_path(code: &str, query: &str) -> String {
    format!("{PARTNERS}/{code}/report{query}")
}

async fn app(pool: PgPool) -> TestApp {
    TestApp::with_config(
        pool,
        test_config(&[
            ("SHOP_URL", "https://shop.example"),
            ("LOGIN_MAX_FAILURES", "3"),
        ]),
    )
    .await
}

/// Creates a partner (with `campaign`, if any); returns its id.
async fn partner(app: &TestApp, code: &str, campaign: Option<&Value>) -> String {
    let mut body = json!({ "code": code, "partnerType": "influencer", "name": code });
    if let Some(campaign) = campaign {
        body["campaign_id"] = campaign["id"].clone();
    }
    let created = app.post(PARTNERS, &app.admin_token(), body).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    created.body["id"].as_str().unwrap().to_owned()
}

/// A click on the partner's link, as a visitor makes it.
async fn click(app: &TestApp, code: &str) {
    let landed = app
        .request(Method::GET, &format!("/r/{code}?ch=whatsapp"), None, None)
        .await;
    assert_eq!(landed.status, StatusCode::FOUND, "{}", landed.body);
}

/// Records order `id` of `customer` for `total` taka with `status` (and, optionally, when
/// it was placed), as the shop's system does.
async fn put_order(
    app: &TestApp,
    id: i32,
    customer: i32,
    total: u32,
    status: &str,
    placed: Option<&str>,
) {
    let mut body = json!({ "customerId": customer, "status": status, "totalAmount": total });
    if let Some(placed) = placed {
        body["createdAt"] = json!(placed);
    }
    let put = app
        .put(&format!("/api/orders/{id}"), &app.admin_token(), body)
        .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.body);
}

async fn move_order(app: &TestApp, id: i32, status: &str) {
    let moved = app.order_status(id, status).await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.body);
}

/// The partner FitFam's known data set; returns the customers (a, b, c, d, e) and the
/// other partner's customer f.
///
/// | customer | orders (since signing up with FitFam)                     |
/// |----------|-----------------------------------------------------------|
/// | a        | 101 delivered 1200; 102 delivered 800, 300 refunded       |
/// | b        | 103 delivered 900, then returned                          |
/// | c        | 104 returned without delivery (refused at the door): 700  |
/// | d        | 105 cancelled 400                                         |
/// | e        | 106 pending 500; 107 delivered 999 placed BEFORE signup   |
/// | f (Other)| 108 delivered 2000                                        |
///
/// FitFam's link is clicked 3 times, Other's once.
async fn known_data_set(app: &TestApp) -> [i32; 6] {
    let admin = app.admin_token();
    let campaign = app
        .post(
            "/api/loyalty/referral-campaigns",
            &admin,
            json!({ "name": "FitFam welcome", "reward_referrer_amount": 0, "reward_referred_amount": 50 }),
        )
        .await;
    assert_eq!(campaign.status, StatusCode::CREATED, "{}", campaign.body);
    partner(app, "FitFam", Some(&campaign.body)).await;
    partner(app, "OtherPartner", None).await;
    for _ in 0..3 {
        click(app, "fitfam").await;
    }
    click(app, "OtherPartner").await;

    let a = app.customer("01811400001", Some("FITFAM")).await;
    let b = app.customer("01811400002", Some("fitfam")).await;
    let c = app.customer("01811400003", Some("FitFam")).await;
    let d = app.customer("01811400004", Some("FitFam")).await;
    let e = app.customer("01811400005", Some("FitFam")).await;
    let f = app.customer("01811400006", Some("OtherPartner")).await;

    put_order(app, 101, a, 1200, "delivered", None).await;
    put_order(app, 102, a, 800, "delivered", None).await;
    let refund = app
        .post(
            "/api/orders/102/refund",
            &admin,
            json!({ "amount": 300, "reason": "one item damaged", "idempotencyKey": "r-102" }),
        )
        .await;
    assert_eq!(refund.status, StatusCode::CREATED, "{}", refund.body);
    put_order(app, 103, b, 900, "shipped", None).await;
    move_order(app, 103, "delivered").await;
    move_order(app, 103, "returned").await;
    put_order(app, 104, c, 700, "in_transit", None).await;
    move_order(app, 104, "returned").await;
    put_order(app, 105, d, 400, "pending", None).await;
    move_order(app, 105, "cancelled").await;
    put_order(app, 106, e, 500, "pending", None).await;
    // Placed before e signed up with the code: not the partner's doing.
    put_order(app, 107, e, 999, "delivered", Some("2020-01-01T00:00:00Z")).await;
    put_order(app, 108, f, 2000, "delivered", None).await;
    [a, b, c, d, e, f]
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn the_report_counts_a_known_data_set(pool: PgPool) {
    let app = app(pool).await;
    let [a, b, c, d, e, f] = known_data_set(&app).await;
    let admin = app.admin_token();

    let before_release = app.get(&report_path("fitfam", ""), &admin).await;
    assert_eq!(before_release.body["funnel"]["reward_credited"], 0);
    // a's welcome reward is held; the hold ends and the job releases it (and f's
    // completed referral of the other partner).
    assert_eq!(app.end_holds().await, 2);

    let report = app.get(&report_path("fitfam", ""), &admin).await;
    assert_eq!(report.status, StatusCode::OK, "{}", report.body);
    let body = &report.body;
    assert_eq!(body["partner_code"], "FitFam");
    assert_eq!(body["window"], json!({ "from": null, "to": null }));
    assert_eq!(
        body["funnel"],
        json!({
            // 3 clicks and 5 attributions carry the code.
            "total_events": 8, "clicked": 3, "invited": 0,
            "registered": 5, "unique_referred_customers": 5,
            // a's first order completed the referral; b's came back, which undid it.
            "completed": 1, "reward_credited": 1,
            // 101..106: 107 was placed before e's signup.
            "attributed_orders": 6,
            "first_orders": 5, "delivered": 2, "returned": 1
        })
    );
    assert_eq!(body["revenue"]["order_count"], 2);
    // 1200 + (800 - 300 refunded).
    assert_eq!(dec(&body["revenue"]["total_revenue"]), Decimal::from(1700));
    assert_eq!(body["revenue"]["total_discount"], Value::Null);
    let mut outcomes = body["order_outcomes"].clone();
    // 1 refused of the 4 parcels that reached a door; 1 back of the 3 taken.
    assert_eq!(dec(&outcomes["refusal_rate"]), Decimal::new(25, 2));
    assert_eq!(dec(&outcomes["return_rate"]), Decimal::new(3333, 4));
    outcomes["refusal_rate"].take();
    outcomes["return_rate"].take();
    assert_eq!(
        outcomes,
        json!({
            "orders": 6, "delivered": 2, "returned": 1, "refused": 1, "cancelled": 1, "open": 1,
            "refusal_rate": null, "return_rate": null
        })
    );
    // Exact digits on the wire: four places for rates, poisha for money.
    let text = String::from_utf8(report.bytes.to_vec()).unwrap();
    assert!(text.contains(r#""refusal_rate":0.2500"#), "{text}");
    assert!(text.contains(r#""return_rate":0.3333"#), "{text}");
    assert!(text.contains(r#""lifetime_value":1700.00"#), "{text}");
    assert!(
        text.contains(r#""average_lifetime_value":340.00"#),
        "{text}"
    );
    assert_eq!(body["referred_customers"]["customers"], 5);
    assert_eq!(body["referred_customers"]["orders"], 2);

    // The orders of the window, newest first, 107 (before e's signup) and f's left out.
    let ids: Vec<i64> = body["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [106, 105, 104, 103, 102, 101]);
    let customers: Vec<i64> = body["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["customer_id"].as_i64().unwrap())
        .collect();
    assert_eq!(
        customers,
        [e, d, c, b, a, a].map(i64::from),
        "each order keeps its customer"
    );
    assert_eq!(body["orders"][4]["total_amount"], "800.00");
    assert_eq!(body["orders"][2]["status"], "returned");
    let two = app.get(&report_path("FitFam", "?limit=2"), &admin).await;
    assert_eq!(two.body["orders"].as_array().unwrap().len(), 2);
    assert_eq!(two.body["orders"][0]["id"], 106);
    assert_eq!(
        two.body["order_outcomes"]["orders"], 6,
        "the limit lists, never counts"
    );
    assert_eq!(
        body["by_utm"],
        json!([{ "utm_source": null, "utm_campaign": null, "signups": 5, "delivered_first_orders": 1 }])
    );

    // The other partner's report holds only its own customer.
    let other = app.get(&report_path("otherpartner", ""), &admin).await;
    assert_eq!(other.body["funnel"]["clicked"], 1);
    assert_eq!(other.body["funnel"]["registered"], 1);
    assert_eq!(other.body["order_outcomes"]["orders"], 1);
    assert_eq!(other.body["orders"][0]["customer_id"], f);
    assert_eq!(
        dec(&other.body["revenue"]["total_revenue"]),
        Decimal::from(2000)
    );
    assert_eq!(
        dec(&other.body["order_outcomes"]["refusal_rate"]),
        Decimal::ZERO
    );

    // A partner without anything: zeros, and undefined rates and averages are null.
    partner(&app, "QuietOne", None).await;
    let quiet = app.get(&report_path("QuietOne", ""), &admin).await;
    assert_eq!(quiet.status, StatusCode::OK, "{}", quiet.body);
    assert_eq!(quiet.body["order_outcomes"]["refusal_rate"], Value::Null);
    assert_eq!(quiet.body["order_outcomes"]["return_rate"], Value::Null);
    assert_eq!(
        quiet.body["referred_customers"]["average_lifetime_value"],
        Value::Null
    );
    assert_eq!(quiet.body["orders"], json!([]));
    let text = String::from_utf8(quiet.bytes.to_vec()).unwrap();
    for zero in [
        r#""total_revenue":0.00"#,
        r#""lifetime_value":0.00"#,
        r#""paid":0.00"#,
    ] {
        assert!(text.contains(zero), "{zero} in {text}");
    }
    app.check_invariants().await;
}

/// Each order's partner stamp (the code of the partner it counts for), by order id.
async fn stamps(app: &TestApp) -> Vec<(i32, Option<String>)> {
    sqlx::query_as(
        "select o.id, p.code from sales_orders o
         left join referral_partners p on p.id = o.partner_id order by o.id",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap()
}

/// The report's two halves read one snapshot: the second transaction of
/// `ReportsDb::begin_pair` imports the first's, while other sessions commit all the time.
#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn a_reports_two_transactions_see_one_snapshot(pool: PgPool) {
    sqlx::raw_sql("create table snapshot_probe (id serial primary key)")
        .execute(&pool)
        .await
        .unwrap();
    let writer = {
        let pool = pool.clone();
        tokio::spawn(async move {
            loop {
                sqlx::query("insert into snapshot_probe default values")
                    .execute(&pool)
                    .await
                    .unwrap();
            }
        })
    };
    let reports = bondhu::db::ReportsDb::primary(pool.clone());
    let seen = "select pg_current_snapshot()::text, (select count(*) from snapshot_probe)";
    let (mut paired, mut apart) = (0, 0);
    for _ in 0..200 {
        let (mut first, second) = reports.begin_pair().await.unwrap();
        // The second only when a connection is idle at that moment (given back ones are
        // pinged first): try again.
        let Some(mut second) = second else {
            drop(first);
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            continue;
        };
        let a: (String, i64) = sqlx::query_as(seen).fetch_one(&mut *first).await.unwrap();
        let b: (String, i64) = sqlx::query_as(seen).fetch_one(&mut *second).await.unwrap();
        assert_eq!(a, b);
        paired += 1;
        // A transaction begun just after, for comparison: the writer's commits fall
        // between them.
        let mut third = reports.begin().await.unwrap();
        let c: (String, i64) = sqlx::query_as(seen).fetch_one(&mut *third).await.unwrap();
        if c.1 != a.1 {
            apart += 1;
        }
        if paired == 50 {
            break;
        }
    }
    writer.abort();
    assert_eq!(paired, 50, "a second connection was never idle");
    assert!(
        apart > 0,
        "the writer never committed between two transactions"
    );
}

/// With one connection in the pool, a report reads its two halves one after the other on
/// it, never waiting for a second connection while it holds the first, and answers the
/// same as with two at once.
#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn a_report_with_one_connection_reads_its_halves_in_turn(pool: PgPool) {
    let app = app(pool.clone()).await;
    known_data_set(&app).await;
    let one = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(std::time::Duration::from_secs(2))
        .connect_with(pool.connect_options().as_ref().clone())
        .await
        .unwrap();
    let (_, second) = bondhu::db::ReportsDb::primary(one.clone())
        .begin_pair()
        .await
        .unwrap();
    assert!(second.is_none());
    let query = bondhu::service::partner_reports::ReportQuery {
        from: None,
        to: None,
        limit: 50,
    };
    let alone = bondhu::service::partner_reports::report_by_code(
        &bondhu::db::ReportsDb::primary(one),
        "FitFam",
        query,
    )
    .await
    .unwrap();
    let report = app
        .get(&report_path("FitFam", ""), &app.admin_token())
        .await;
    assert_eq!(report.status, StatusCode::OK, "{}", report.body);
    assert_eq!(serde_json::to_value(&alone).unwrap(), report.body);
    app.check_invariants().await;
}

/// Stamps edited behind the triggers' back (a hand edit, a load with the triggers off) are
/// reported by reconciliation, and its repair stamps the customers' orders again.
#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn stamps_edited_by_hand_are_reported_and_restamped(pool: PgPool) {
    let app = app(pool).await;
    known_data_set(&app).await;
    let expected = stamps(&app).await;
    // Orders 101 and 108 lose their partner, order 107 (placed before its customer's
    // referral) gains one.
    sqlx::raw_sql(
        "update sales_orders set partner_id = null, partner_referred_at = null where id in (101, 108);
         update sales_orders
         set partner_id = (select id from referral_partners where code = 'FitFam'),
             partner_referred_at = created_at
         where id = 107",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    let edited = stamps(&app).await;
    assert_ne!(edited, expected);
    let (fitfam, other): (uuid::Uuid, uuid::Uuid) = sqlx::query_as(
        "select (select id from referral_partners where code = 'FitFam'),
                (select id from referral_partners where code = 'OtherPartner')",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    let reconcile = |repair| bondhu::service::reconcile::run(&app.pool, repair, "cli", &|_, _| {});

    let report = reconcile(false).await.unwrap().unwrap();
    assert!(!report.is_clean(), "{report:?}");
    let found: Vec<_> = report
        .partner_stamps
        .items
        .iter()
        .map(|m| (m.order_id, m.stamped, m.expected))
        .collect();
    assert_eq!(
        found,
        [
            (101, None, Some(fitfam)),
            (107, Some(fitfam), None),
            (108, None, Some(other)),
        ]
    );
    assert_eq!(
        (report.partner_stamps.found, report.partner_stamps.repaired),
        (3, 0)
    );
    assert_eq!(
        stamps(&app).await,
        edited,
        "a run without --repair writes nothing"
    );

    let report = reconcile(true).await.unwrap().unwrap();
    assert_eq!(
        (report.partner_stamps.found, report.partner_stamps.repaired),
        (3, 3)
    );
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(stamps(&app).await, expected);
    let report = reconcile(false).await.unwrap().unwrap();
    assert_eq!(report.partner_stamps.found, 0);
    assert!(report.is_clean(), "{report:?}");
    app.check_invariants().await;
}

/// Every order carries the partner it counts for: stamped when it is recorded, and again
/// when the referral behind it changes.
#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn orders_carry_the_partner_they_count_for(pool: PgPool) {
    let app = app(pool).await;
    let [.., e, _] = known_data_set(&app).await;
    let fitfam = Some("FitFam".to_owned());
    let mut expected: Vec<(i32, Option<String>)> =
        (101..=106).map(|id| (id, fitfam.clone())).collect();
    expected.push((107, None)); // placed before e signed up
    expected.push((108, Some("OtherPartner".to_owned())));
    assert_eq!(stamps(&app).await, expected);

    // e's referral backdated before order 107: the order is the partner's now, and the
    // report counts it (a second delivered order and its 999 taka).
    sqlx::query(
        "update customer_referrals set created_at = '2019-12-31' where referred_customer_id = $1",
    )
    .bind(e)
    .execute(&app.pool)
    .await
    .unwrap();
    expected[6].1 = fitfam.clone();
    assert_eq!(stamps(&app).await, expected);
    let report = app
        .get(&report_path("FitFam", ""), &app.admin_token())
        .await;
    assert_eq!(report.status, StatusCode::OK, "{}", report.body);
    assert_eq!(
        report.body["funnel"]["attributed_orders"], 7,
        "{}",
        report.body
    );
    assert_eq!(
        report.body["order_outcomes"]["delivered"], 3,
        "{}",
        report.body
    );

    // An operator's correction moves e's referral to the other partner: so do its orders.
    sqlx::query(
        "update customer_referrals
         set partner_id = (select id from referral_partners where code = 'OtherPartner')
         where referred_customer_id = $1",
    )
    .bind(e)
    .execute(&app.pool)
    .await
    .unwrap();
    expected[5].1 = Some("OtherPartner".to_owned());
    expected[6].1 = Some("OtherPartner".to_owned());
    assert_eq!(stamps(&app).await, expected);

    // The two columns go together (a named CHECK): a write that breaks the pair is refused.
    let broken = sqlx::query("update sales_orders set partner_referred_at = null where id = 101")
        .execute(&app.pool)
        .await
        .unwrap_err();
    assert_eq!(
        broken.as_database_error().and_then(|e| e.constraint()),
        Some("sales_orders_partner_stamp_paired")
    );
    app.check_invariants().await;
}

/// A referral made while its customer's orders are being written, and an order written
/// while its customer's referral is made: whichever commits first, every order ends
/// stamped by the rule. Without the lock of the customer's row neither transaction would
/// see the other's uncommitted row, and the orders would stay unstamped.
#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn referrals_racing_their_customers_orders_stamp_every_order(pool: PgPool) {
    let app = app(pool).await;
    let partner_id: uuid::Uuid = partner(&app, "RaceP", None).await.parse().unwrap();
    let first = app.customer("01811400101", None).await;
    let second = app.customer("01811400102", None).await;
    let refer = move |customer: i32, code: &'static str| {
        sqlx::query(
            "insert into customer_referrals (referred_customer_id, referral_code, partner_id, status, created_at)
             values ($1, $2, $3, 'registered', '2020-01-01')",
        )
        .bind(customer)
        .bind(code)
        .bind(partner_id)
    };
    let order = |id: i32, customer: i32| {
        sqlx::query(
            "insert into sales_orders (id, sales_order_number, customer_id, status, total_amount)
             values ($1, 'SO-' || $1, $2, 'pending', 100)",
        )
        .bind(id)
        .bind(customer)
    };
    let hold = std::time::Duration::from_millis(300);

    // The referral's transaction stays open while eight orders are recorded.
    let mut tx = app.pool.begin().await.unwrap();
    refer(first, "RACE-1").execute(&mut *tx).await.unwrap();
    let writers: Vec<_> = (0..8)
        .map(|i| {
            let pool = app.pool.clone();
            tokio::spawn(async move { order(901 + i, first).execute(&pool).await.unwrap() })
        })
        .collect();
    tokio::time::sleep(hold).await;
    tx.commit().await.unwrap();
    for writer in writers {
        writer.await.unwrap();
    }

    // An order's transaction stays open while the referral is made.
    let mut tx = app.pool.begin().await.unwrap();
    order(911, second).execute(&mut *tx).await.unwrap();
    let referral = {
        let pool = app.pool.clone();
        tokio::spawn(async move { refer(second, "RACE-2").execute(&pool).await.unwrap() })
    };
    tokio::time::sleep(hold).await;
    tx.commit().await.unwrap();
    referral.await.unwrap();

    let stamped: Vec<(i32, Option<String>)> = stamps(&app).await;
    let race = Some("RaceP".to_owned());
    let expected: Vec<(i32, Option<String>)> = (901..=908)
        .chain([911])
        .map(|id| (id, race.clone()))
        .collect();
    assert_eq!(stamped, expected);
    app.check_invariants().await;
}

/// An instant of the database as RFC 3339 with microseconds (the database's precision).
async fn instant(app: &TestApp, sql: &'static str, id: i32) -> String {
    let at: chrono::DateTime<chrono::Utc> = sqlx::query_scalar(sql)
        .bind(id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

async fn signed_up_at(app: &TestApp, customer: i32) -> String {
    let sql = "select created_at from customer_referrals where referred_customer_id = $1";
    instant(app, sql, customer).await
}

async fn placed_at(app: &TestApp, order: i32) -> String {
    instant(
        app,
        "select created_at from sales_orders where id = $1",
        order,
    )
    .await
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn windows_include_from_and_exclude_to(pool: PgPool) {
    let app = app(pool).await;
    let admin = app.admin_token();
    partner(&app, "Window", None).await;
    let early = app.customer("01811400011", Some("Window")).await;
    let late = app.customer("01811400012", Some("Window")).await;
    let late_at = signed_up_at(&app, late).await;
    // Orders placed one after the other, after both signups.
    put_order(&app, 201, early, 100, "delivered", None).await;
    put_order(&app, 202, early, 200, "returned", None).await;
    put_order(&app, 203, late, 300, "delivered", None).await;
    let (at201, at202, at203) = (
        placed_at(&app, 201).await,
        placed_at(&app, 202).await,
        placed_at(&app, 203).await,
    );
    assert!(at201 < at202 && at202 < at203, "{at201} {at202} {at203}");

    let get = |query: String| {
        let app = app.clone();
        let admin = admin.clone();
        async move {
            let report = app.get(&report_path("window", &query), &admin).await;
            assert_eq!(report.status, StatusCode::OK, "{query}: {}", report.body);
            report.body
        }
    };

    // Orders by when they were placed: from inclusive, to exclusive.
    let only_202 = get(format!("?from={at202}&to={at203}")).await;
    assert_eq!(only_202["order_outcomes"]["orders"], 1);
    assert_eq!(only_202["order_outcomes"]["refused"], 1);
    assert_eq!(only_202["orders"][0]["id"], 202);
    assert_eq!(only_202["revenue"]["order_count"], 0);
    let from_202 = get(format!("?from={at202}")).await;
    assert_eq!(from_202["order_outcomes"]["orders"], 2);
    assert_eq!(
        dec(&from_202["revenue"]["total_revenue"]),
        Decimal::from(300)
    );
    let until_202 = get(format!("?to={at202}")).await;
    assert_eq!(until_202["order_outcomes"]["orders"], 1);
    assert_eq!(until_202["orders"][0]["id"], 201);
    // The window is echoed in the API's own format, whatever offset it came in.
    let dhaka =
        get("?from=2026-01-02T06:00:00%2B06:00&to=2026-01-03T06:00:00%2B06:00".into()).await;
    assert_eq!(dhaka["window"]["from"], "2026-01-02T00:00:00.000Z");
    assert_eq!(dhaka["window"]["to"], "2026-01-03T00:00:00.000Z");
    assert_eq!(dhaka["order_outcomes"]["orders"], 0);

    // Signups by when they were made: a window starting at `late`'s signup holds it, one
    // ending there holds `early` only; each cohort's lifetime value follows it past the
    // window's end.
    let from_late = get(format!("?from={late_at}")).await;
    assert_eq!(from_late["funnel"]["registered"], 1);
    assert_eq!(from_late["referred_customers"]["customers"], 1);
    assert_eq!(from_late["referred_customers"]["orders"], 1);
    assert_eq!(
        dec(&from_late["referred_customers"]["lifetime_value"]),
        Decimal::from(300)
    );
    assert_eq!(from_late["funnel"]["first_orders"], 1);
    let until_late = get(format!("?to={late_at}")).await;
    assert_eq!(until_late["funnel"]["registered"], 1);
    assert_eq!(until_late["referred_customers"]["orders"], 1);
    assert_eq!(
        dec(&until_late["referred_customers"]["lifetime_value"]),
        Decimal::from(100)
    );
    assert_eq!(until_late["funnel"]["first_orders"], 1);
    assert_eq!(until_late["funnel"]["delivered"], 1);
    // early's orders were placed after this window: the window itself has no orders.
    assert_eq!(until_late["order_outcomes"]["orders"], 0);
    // An empty window is a question with zeros for an answer.
    let empty = get(format!("?from={late_at}&to={late_at}")).await;
    assert_eq!(empty["funnel"]["registered"], 0);
    assert_eq!(empty["order_outcomes"]["orders"], 0);
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn commissions_pending_released_and_paid_are_reported(pool: PgPool) {
    let app = app(pool).await;
    let admin = app.admin_token();
    let created = app
        .post(
            PARTNERS,
            &admin,
            json!({ "code": "EarnCo", "name": "Earn Co", "commissionAmount": 40,
                    "commissionScope": "every_order", "commissionDays": 90,
                    "payoutMethod": "bkash", "payoutAccount": "01711640010" }),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let partner_id = created.body["id"].as_str().unwrap().to_owned();
    let x = app.customer("01811400021", Some("EarnCo")).await;
    let y = app.customer("01811400022", Some("EarnCo")).await;
    let totals = |report: &Value| {
        let c = &report["commission"];
        [dec(&c["pending"]), dec(&c["released"]), dec(&c["paid"])]
    };
    let report = || async { app.get(&report_path("EarnCo", ""), &admin).await.body };

    put_order(&app, 301, x, 1000, "delivered", None).await;
    put_order(&app, 302, x, 1000, "delivered", None).await;
    put_order(&app, 303, y, 1000, "delivered", None).await;
    // Returned in its hold: the commission is voided, and not shown.
    put_order(&app, 304, y, 1000, "delivered", None).await;
    move_order(&app, 304, "returned").await;
    assert_eq!(totals(&report().await), [120, 0, 0].map(Decimal::from));

    assert_eq!(app.end_commission_holds().await, 3);
    assert_eq!(totals(&report().await), [0, 120, 0].map(Decimal::from));
    let batch = app
        .post(
            "/api/loyalty/payout-batches",
            &admin,
            json!({ "from": "2000-01-01T00:00:00Z", "to": "2100-01-01T00:00:00Z", "method": "bkash" }),
        )
        .await;
    assert_eq!(batch.status, StatusCode::CREATED, "{}", batch.body);
    let paid = app
        .post(
            &format!("/api/loyalty/payout-batches/{}/paid", batch.body["id"]),
            &admin,
            json!([{ "partnerId": partner_id, "transactionId": "TRX-EARN-1" }]),
        )
        .await;
    assert_eq!(paid.status, StatusCode::OK, "{}", paid.body);

    put_order(&app, 305, x, 1000, "delivered", None).await;
    assert_eq!(app.end_commission_holds().await, 1);
    put_order(&app, 306, y, 1000, "delivered", None).await;
    let now = report().await;
    assert_eq!(totals(&now), [40, 40, 120].map(Decimal::from));
    let text = now["commission"].to_string();
    assert!(text.contains(r#""paid":120.00"#), "{text}");

    // The partner sees the same on its own report; a window before it all, nothing.
    let token = app.keys.issue_partner(partner_id.parse().unwrap()).unwrap();
    let mine = app.get("/api/partners/me/report", &token).await;
    assert_eq!(mine.body["commission"], now["commission"]);
    let before = app
        .get(&report_path("EarnCo", "?to=2020-01-01T00:00:00Z"), &admin)
        .await;
    assert_eq!(totals(&before.body), [0, 0, 0].map(Decimal::from));
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn bad_report_queries_are_json_4xx(pool: PgPool) {
    let app = app(pool).await;
    let admin = app.admin_token();
    let id = partner(&app, "Strict", None).await;
    let partner_token = app.keys.issue_partner(id.parse().unwrap()).unwrap();
    for (path, token) in [
        (report_path("Strict", ""), &admin),
        ("/api/partners/me/report".to_owned(), &partner_token),
    ] {
        for query in [
            "?limit=0",
            "?limit=2001",
            "?limit=ten",
            "?from=yesterday",
            "?to=2026-13-01T00:00:00Z",
            "?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z",
        ] {
            let path = format!("{path}{query}");
            app.get(&path, token)
                .await
                .assert_error(StatusCode::BAD_REQUEST, "invalid_query");
        }
        app.get(&format!("{path}?limit=%00"), token)
            .await
            .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        let ok = app.get(&format!("{path}?limit=2000"), token).await;
        assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    }
    app.get(&report_path("NoSuchPartner", ""), &admin)
        .await
        .assert_error(StatusCode::NOT_FOUND, "partner_not_found");
    app.get(&report_path("Strict", ""), &app.staff_token("order-desk"))
        .await
        .assert_error(StatusCode::FORBIDDEN, "forbidden");
}

async fn login(app: &TestApp, code: &str, password: &str) -> crate::helpers::TestResponse {
    app.request(
        Method::POST,
        "/api/partners/login",
        None,
        Some(json!({ "code": code, "password": password })),
    )
    .await
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn a_partner_logs_in_and_reads_only_its_own_report(pool: PgPool) {
    let app = app(pool).await;
    let [a, ..] = known_data_set(&app).await;
    let admin = app.admin_token();
    let fitfam = sqlx::query_scalar!("select id from referral_partners where code = 'FitFam'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let password_path = format!("/api/partners/{fitfam}/password");

    // Without a password there is no login, and the answer is the same as a wrong one.
    login(&app, "FitFam", "whatever-password")
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
    // Setting it takes manage-mlm-settings and a real password.
    app.put(
        &password_path,
        &app.staff_token("support-agent"),
        json!({ "password": "fitfam-secret" }),
    )
    .await
    .assert_error(StatusCode::FORBIDDEN, "forbidden");
    app.put(&password_path, &admin, json!({ "password": "short" }))
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    app.put(
        &password_path,
        &admin,
        json!({ "password": "fitfam-secret", "role": "admin" }),
    )
    .await
    .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body");
    app.put(
        &format!("/api/partners/{}/password", uuid::Uuid::new_v4()),
        &admin,
        json!({ "password": "fitfam-secret" }),
    )
    .await
    .assert_error(StatusCode::NOT_FOUND, "partner_not_found");
    let set = app
        .put(
            &password_path,
            &admin,
            json!({ "password": "fitfam-secret" }),
        )
        .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.body);
    assert_eq!(set.body, json!({ "partnerId": fitfam, "code": "FitFam" }));
    let stored: String = sqlx::query_scalar!(
        "select password_hash from partner_logins where partner_id = $1",
        fitfam
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert!(stored.starts_with("$argon2id$"), "only the hash is stored");

    // Wrong passwords lock the partner (LOGIN_MAX_FAILURES = 3), even for the right one.
    for _ in 0..3 {
        login(&app, "FitFam", "wrong-password")
            .await
            .assert_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
    }
    let locked = login(&app, "FitFam", "fitfam-secret").await;
    locked.assert_error(StatusCode::TOO_MANY_REQUESTS, "account_locked");
    assert!(locked.headers.contains_key(header::RETRY_AFTER));
    // A new password from an admin unlocks it.
    let reset = app
        .put(
            &password_path,
            &admin,
            json!({ "password": "fitfam-secret-2" }),
        )
        .await;
    assert_eq!(reset.status, StatusCode::OK, "{}", reset.body);
    login(&app, "FitFam", "fitfam-secret")
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
    let logged_in = login(&app, "fitfam", "fitfam-secret-2").await;
    assert_eq!(logged_in.status, StatusCode::OK, "{}", logged_in.body);
    assert_eq!(logged_in.body["partner"]["code"], "FitFam");
    assert_eq!(logged_in.body["partner"]["id"], json!(fitfam));
    let token = logged_in.body["accessToken"].as_str().unwrap().to_owned();

    // The partner's own report is the admin's report of that partner, number for number.
    let mine = app.get("/api/partners/me/report", &token).await;
    assert_eq!(mine.status, StatusCode::OK, "{}", mine.body);
    let theirs = app.get(&report_path("FitFam", ""), &admin).await;
    assert_eq!(mine.body, theirs.body);
    let windowed = app
        .get(
            "/api/partners/me/report?from=2099-01-01T00:00:00Z&limit=5",
            &token,
        )
        .await;
    assert_eq!(windowed.status, StatusCode::OK, "{}", windowed.body);
    assert_eq!(windowed.body["funnel"]["registered"], 0);

    // Nothing else: not the other partner's report, not its own admin report, no customer
    // route (not even of its own customers), no staff route, no profile.
    for path in [
        report_path("OtherPartner", ""),
        report_path("FitFam", ""),
        PARTNERS.to_owned(),
        "/api/loyalty/kpis".to_owned(),
        format!("/api/loyalty/wallet/{a}"),
        format!("/api/loyalty/referrals/{a}/stats"),
        "/api/loyalty/me/wallet".to_owned(),
        "/api/loyalty/me/referrals".to_owned(),
        "/api/customers/me".to_owned(),
        "/api/auth/me".to_owned(),
        format!("/api/loyalty/referral-code/{a}/qr.svg"),
    ] {
        app.get(&path, &token)
            .await
            .assert_error(StatusCode::FORBIDDEN, "forbidden");
    }
    app.put(
        &password_path,
        &token,
        json!({ "password": "taken-over-1" }),
    )
    .await
    .assert_error(StatusCode::FORBIDDEN, "forbidden");
    // And the self-service route is for partners only.
    for other in [admin.clone(), app.customer_token(a)] {
        app.get("/api/partners/me/report", &other)
            .await
            .assert_error(StatusCode::FORBIDDEN, "forbidden");
    }
    app.request(Method::GET, "/api/partners/me/report", None, None)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "unauthenticated");

    // A deactivated partner's token stops working, and it cannot log in again.
    let off = app
        .put(
            &format!("{PARTNERS}/{fitfam}"),
            &admin,
            json!({ "is_active": false }),
        )
        .await;
    assert_eq!(off.status, StatusCode::OK, "{}", off.body);
    app.get("/api/partners/me/report", &token)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "account_unavailable");
    login(&app, "FitFam", "fitfam-secret-2")
        .await
        .assert_error(StatusCode::FORBIDDEN, "forbidden");
    // A token for a partner that does not exist names no account.
    let stranger = app.keys.issue_partner(uuid::Uuid::new_v4()).unwrap();
    app.get("/api/partners/me/report", &stranger)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "account_unavailable");
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn bad_partner_logins_are_json_4xx(pool: PgPool) {
    let app = app(pool).await;
    for body in [
        json!({}),
        json!({ "code": "FitFam" }),
        json!({ "password": "secret-secret" }),
        json!({ "code": 7, "password": "secret-secret" }),
        json!({ "code": "FitFam", "password": "secret-secret", "extra": true }),
    ] {
        app.request(Method::POST, "/api/partners/login", None, Some(body))
            .await
            .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body");
    }
    app.raw(
        Method::POST,
        "/api/partners/login",
        None,
        Some("{not json"),
        Some("application/json"),
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, "malformed_json");
    login(&app, "", "secret-secret")
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
}

/// A path of the OpenAPI document with each `{parameter}` (and each required query
/// parameter) given a value of its kind
/// (integers are `customer`, the partner's own customer, wherever a customer is named).
fn concrete(path: &str, params: &[Value], customer: i32) -> String {
    let mut path = path.to_owned();
    let mut query = Vec::new();
    for param in params
        .iter()
        .filter(|p| p["in"] == "path" || (p["in"] == "query" && p["required"] == true))
    {
        let name = param["name"].as_str().unwrap();
        let schema = &param["schema"];
        let value = if schema["format"] == "uuid" {
            uuid::Uuid::new_v4().to_string()
        } else if schema["type"] == "integer" || name.ends_with("Id") || name == "id" {
            customer.to_string()
        } else {
            "SOMECODE".to_owned()
        };
        if param["in"] == "path" {
            path = path.replace(&format!("{{{name}}}"), &value);
        } else {
            query.push(format!("{name}={value}"));
        }
    }
    if query.is_empty() {
        path
    } else {
        format!("{path}?{}", query.join("&"))
    }
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn a_partner_token_is_refused_by_every_other_route(pool: PgPool) {
    let app = app(pool).await;
    let [a, ..] = known_data_set(&app).await;
    let fitfam = sqlx::query_scalar!("select id from referral_partners where code = 'FitFam'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let token = app.keys.issue_partner(fitfam).unwrap();
    let doc = app
        .raw(Method::GET, "/api/openapi.json", None, None, None)
        .await
        .body;
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let Ok(method) = method.to_uppercase().parse::<Method>() else {
                continue;
            };
            let secured = op["security"].as_array().is_some_and(|s| {
                !s.is_empty() && s.iter().all(|r| r != &Value::Object(Default::default()))
            });
            if !secured || path == "/api/partners/me/report" {
                continue;
            }
            let params = op["parameters"].as_array().cloned().unwrap_or_default();
            let concrete = concrete(path, &params, a);
            let before = app.snapshot().await;
            let body = op.get("requestBody").map(|_| json!({}));
            let response = app
                .request(method.clone(), &concrete, Some(&token), body.clone())
                .await;
            if body.is_none() {
                // No body to refuse first: the route itself refuses the partner.
                response.assert_error(StatusCode::FORBIDDEN, "forbidden");
            } else {
                assert!(
                    response.status.is_client_error(),
                    "{method} {concrete}: {} {}",
                    response.status,
                    response.body
                );
            }
            assert_eq!(
                app.snapshot().await,
                before,
                "{method} {concrete} changed data"
            );
            checked += 1;
        }
    }
    assert!(checked > 60, "only {checked} routes checked");
}
