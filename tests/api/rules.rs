//! Rules that used to live in two places, and the defects found where the copies
//! disagreed: each now has one home (docs/ARCHITECTURE.md, "Where each rule lives").

use axum::http::StatusCode;
use futures::future::join_all;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::helpers::{TestApp, dec};

const CAMPAIGNS: &str = "/api/loyalty/referral-campaigns";

/// Creates a campaign and makes it the default.
async fn default_campaign(app: &TestApp, body: Value) -> Value {
    let admin = app.admin_token();
    let created = app.post(CAMPAIGNS, &admin, body).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let path = format!("{CAMPAIGNS}/{}", created.body["id"].as_str().unwrap());
    let made = app.put(&path, &admin, json!({ "is_default": true })).await;
    assert_eq!(made.status, StatusCode::OK, "{}", made.body);
    created.body
}

/// The friend's welcome coupon code.
async fn welcome_coupon(app: &TestApp, friend: i32) -> String {
    let rewards = app
        .get("/api/loyalty/me/rewards", &app.customer_token(friend))
        .await;
    rewards.body[0]["code"].as_str().unwrap().to_owned()
}

async fn validate(app: &TestApp, friend: i32, code: &str) -> Value {
    let check = app
        .post(
            "/api/coupons/validate",
            &app.customer_token(friend),
            json!({ "code": code, "orderAmount": 500 }),
        )
        .await;
    assert_eq!(check.status, StatusCode::OK, "{}", check.body);
    check.body
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn the_checkout_check_and_the_redemption_judge_a_coupon_alike(pool: PgPool) {
    let app = TestApp::new(pool).await;
    default_campaign(
        &app,
        json!({ "name": "Coupons", "reward_type": "coupon", "reward_referred_amount": 100 }),
    )
    .await;
    let referrer = app.customer("01712000001", None).await;
    let friend = app
        .customer("01812000001", Some(&format!("REF{referrer}")))
        .await;
    let code = welcome_coupon(&app, friend).await;
    assert_eq!(validate(&app, friend, &code).await["valid"], true);

    // A first order that was delivered and then returned is still a first order that
    // was delivered: the check now says so, as the redemption always did.
    app.order(7001, friend, "delivered").await;
    app.order_status(7001, "returned").await;
    let check = validate(&app, friend, &code).await;
    assert_eq!(check["valid"], false);
    assert_eq!(check["reason"], "not_first_order");
    app.put(
        "/api/orders/7002",
        &app.admin_token(),
        json!({ "customerId": friend, "status": "pending", "totalAmount": 500, "couponCode": code }),
    )
    .await;
    app.order_status(7002, "delivered").await;
    let refused: String = sqlx::query_scalar!(
        r#"select payload ->> 'reason' as "reason!" from referral_events
           where event_type = 'coupon_not_redeemed' and order_id = 7002"#
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(refused, "not_first_order");
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn void_and_not_yet_valid_coupons_say_so(pool: PgPool) {
    let app = TestApp::new(pool).await;
    default_campaign(
        &app,
        json!({ "name": "Coupons", "reward_type": "coupon", "reward_referred_amount": 100 }),
    )
    .await;
    let referrer = app.customer("01712000011", None).await;
    let void_friend = app
        .customer("01812000011", Some(&format!("REF{referrer}")))
        .await;
    let later_friend = app
        .customer("01812000012", Some(&format!("REF{referrer}")))
        .await;
    let void_code = welcome_coupon(&app, void_friend).await;
    let later_code = welcome_coupon(&app, later_friend).await;
    sqlx::query!(
        "update coupons set status = 'void' where code = $1",
        void_code
    )
    .execute(&app.pool)
    .await
    .unwrap();
    sqlx::query!(
        "update coupons set valid_from = now() + interval '1 day' where code = $1",
        later_code
    )
    .execute(&app.pool)
    .await
    .unwrap();

    // A void coupon was reported as already redeemed; valid_from was checked in Rust only.
    assert_eq!(
        validate(&app, void_friend, &void_code).await["reason"],
        "void"
    );
    assert_eq!(
        validate(&app, later_friend, &later_code).await["reason"],
        "not_yet_valid"
    );
    // The redemption at delivery refuses the not-yet-valid coupon too.
    app.put(
        "/api/orders/7101",
        &app.admin_token(),
        json!({ "customerId": later_friend, "status": "pending", "totalAmount": 500, "couponCode": later_code }),
    )
    .await;
    app.order_status(7101, "delivered").await;
    let status: String = sqlx::query_scalar!(
        r#"select status::text as "status!" from coupons where code = $1"#,
        later_code
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(status, "active");
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn an_order_amount_out_of_bounds_is_refused_not_overflowed(pool: PgPool) {
    let app = TestApp::new(pool).await;
    default_campaign(
        &app,
        json!({ "name": "Percent", "reward_type": "coupon", "reward_referred_percent": 10, "reward_referred_cap": 300 }),
    )
    .await;
    let referrer = app.customer("01712000021", None).await;
    let friend = app
        .customer("01812000021", Some(&format!("REF{referrer}")))
        .await;
    let code = welcome_coupon(&app, friend).await;
    // 1e28 used to overflow a Decimal multiplication inside the check (a panic, a 500).
    for amount in [
        "1e28",
        "79228162514264337593543950335",
        "10000000000",
        "-1",
        "0.001",
    ] {
        let response = app
            .raw(
                axum::http::Method::POST,
                "/api/coupons/validate",
                Some(&app.customer_token(friend)),
                Some(&format!(r#"{{"code":"{code}","orderAmount":{amount}}}"#)),
                Some("application/json"),
            )
            .await;
        assert_eq!(
            response.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{amount}: {}",
            response.body
        );
    }
    let check = app
        .post(
            "/api/coupons/validate",
            &app.customer_token(friend),
            json!({ "code": code, "orderAmount": 9_999_999_999.99 }),
        )
        .await;
    assert_eq!(check.body["valid"], true, "{}", check.body);
    assert_eq!(dec(&check.body["discount"]), Decimal::from(300), "capped");
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn a_deleted_customer_cannot_be_written_to(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let admin = app.admin_token();
    let customer = app.customer("01712000031", None).await;
    let credited = app
        .post(
            &format!("/api/loyalty/wallet/{customer}/credit"),
            &admin,
            json!({ "amount": 50, "source": "bonus", "idempotencyKey": "before" }),
        )
        .await;
    assert_eq!(credited.status, StatusCode::CREATED, "{}", credited.body);
    sqlx::query!(
        "update customers set is_deleted = true where id = $1",
        customer
    )
    .execute(&app.pool)
    .await
    .unwrap();
    let before = app.snapshot().await;

    // Reads already answered 404; writes now refuse with the same code.
    for (path, body) in [
        (
            format!("/api/loyalty/wallet/{customer}/credit"),
            json!({ "amount": 10, "source": "bonus", "idempotencyKey": "after-credit" }),
        ),
        (
            format!("/api/loyalty/wallet/{customer}/debit"),
            json!({ "amount": 10, "source": "purchase", "idempotencyKey": "after-debit" }),
        ),
        (
            format!("/api/loyalty/points/{customer}/earn"),
            json!({ "points": 10, "source": "bonus", "idempotencyKey": "after-points" }),
        ),
    ] {
        app.post(&path, &admin, body)
            .await
            .assert_error(StatusCode::NOT_FOUND, "customer_not_found");
    }
    app.put(
        "/api/orders/7201",
        &admin,
        json!({ "customerId": customer, "status": "delivered", "totalAmount": 100 }),
    )
    .await
    .assert_error(StatusCode::NOT_FOUND, "customer_not_found");
    assert_eq!(app.snapshot().await, before, "nothing was written");
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn idempotency_keys_are_counted_in_characters(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let admin = app.admin_token();
    let customer = app.customer("01712000041", None).await;
    let path = format!("/api/loyalty/wallet/{customer}/credit");
    // 100 Bangla letters are 300 bytes: within varchar(100), which counts characters.
    let hundred = "ক".repeat(100);
    let accepted = app
        .post(
            &path,
            &admin,
            json!({ "amount": 1, "source": "bonus", "idempotencyKey": hundred }),
        )
        .await;
    assert_eq!(accepted.status, StatusCode::CREATED, "{}", accepted.body);
    app.post(
        &path,
        &admin,
        json!({ "amount": 1, "source": "bonus", "idempotencyKey": "ক".repeat(101) }),
    )
    .await
    .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn a_milestone_the_budget_cannot_pay_is_recorded_as_skipped(pool: PgPool) {
    let app = TestApp::new(pool).await;
    // ৳100 a referral and a ৳100 milestone at 2 friends, against a budget of ৳250: the
    // two rewards fit, the milestone does not. Rewards and milestones follow one budget
    // rule: refused, recorded, never retried.
    default_campaign(
        &app,
        json!({ "name": "Tight", "reward_referrer_amount": 100, "budget_amount": 250,
                "milestones": [{ "referral_count": 2, "reward_amount": 100 }] }),
    )
    .await;
    let referrer = app.customer("01712000051", None).await;
    for i in 0..3 {
        let friend = app
            .customer(&format!("0181200005{i}"), Some(&format!("REF{referrer}")))
            .await;
        app.order(7300 + i, friend, "delivered").await;
    }
    // The third referral's reward did not fit the budget at completion; the milestone is
    // decided on release.
    assert_eq!(app.balance(referrer).await, Decimal::ZERO);
    assert_eq!(app.events("milestone_skipped").await, 0);
    assert_eq!(app.end_holds().await, 3);
    assert_eq!(app.balance(referrer).await, Decimal::from(200));
    let awards = sqlx::query!(
        r#"select status::text as "status!", reason from milestone_awards where customer_id = $1"#,
        referrer
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(awards.len(), 1, "decided once");
    assert_eq!(awards[0].status, "skipped");
    assert_eq!(awards[0].reason.as_deref(), Some("budget_exhausted"));
    assert_eq!(app.events("milestone_skipped").await, 1);
    assert_eq!(app.events("milestone_reached").await, 0);
    app.check_invariants().await;
}

/// The lock order (order → referral → referrer → campaign → wallets → membership) is what
/// keeps concurrent deliveries free of deadlocks. This runs everything that takes those
/// locks at once — chains of referrals in one budgeted campaign with milestones and a VIP
/// threshold (a friend is also a referrer), and operators' postings to the same wallets —
/// and asks PostgreSQL whether it had to break a deadlock (its detector aborts one of the
/// transactions; the server's retry would hide that from the answers, not from the count).
#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn everything_that_locks_at_once_never_deadlocks(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let admin = app.admin_token();
    default_campaign(
        &app,
        json!({ "name": "Everything", "reward_referrer_amount": 20, "reward_referred_amount": 10,
                "budget_amount": 100000, "vip_referrals_threshold": 2,
                "milestones": [{ "referral_count": 1, "reward_amount": 5 }, { "referral_count": 2, "reward_amount": 5 }] }),
    )
    .await;
    let deadlocks_before: i64 = sqlx::query_scalar!(
        r#"select deadlocks as "n!" from pg_stat_database where datname = current_database()"#
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();

    // Three generations: roots refer friends, each friend refers two more.
    let mut orders = Vec::new();
    let mut wallets = Vec::new();
    let mut next_phone = 0u32;
    let mut phone = || {
        next_phone += 1;
        format!("0171300{next_phone:04}")
    };
    for _root in 0..3 {
        let root = app.customer(&phone(), None).await;
        wallets.push(root);
        for _ in 0..2 {
            let friend = app.customer(&phone(), Some(&format!("REF{root}"))).await;
            wallets.push(friend);
            orders.push(friend);
            for _ in 0..2 {
                let grandchild = app.customer(&phone(), Some(&format!("REF{friend}"))).await;
                orders.push(grandchild);
            }
        }
    }
    for (i, customer) in orders.iter().enumerate() {
        app.order(7400 + i as i32, *customer, "shipped").await;
    }
    // Every wallet has something to debit.
    for customer in &wallets {
        app.post(
            &format!("/api/loyalty/wallet/{customer}/credit"),
            &admin,
            json!({ "amount": 100, "source": "bonus", "idempotencyKey": "seed" }),
        )
        .await;
    }

    let deliveries = (0..orders.len()).map(|i| {
        let app = app.clone();
        tokio::spawn(async move { app.order_status(7400 + i as i32, "delivered").await.status })
    });
    let postings = wallets.iter().flat_map(|&customer| {
        (0..3).map(move |n| (customer, n))
    }).map(|(customer, n)| {
        let app = app.clone();
        let admin = admin.clone();
        tokio::spawn(async move {
            app.post(
                &format!("/api/loyalty/wallet/{customer}/debit"),
                &admin,
                json!({ "amount": 1, "source": "purchase", "idempotencyKey": format!("spend-{n}") }),
            )
            .await
            .status
        })
    });
    let statuses = join_all(deliveries.chain(postings)).await;
    for status in statuses {
        let status = status.unwrap();
        assert!(status.is_success(), "{status}");
    }
    // Then the holds end: three instances of the release job (which takes the same locks,
    // reaching the milestones and the VIP tier) run beside more operators' postings.
    app.expire_holds().await;
    let releases: Vec<_> = (0..3)
        .map(|_| {
            let pool = app.pool.clone();
            tokio::spawn(async move { bondhu::jobs::release_due(&pool, None).await.unwrap() })
        })
        .collect();
    let postings = wallets.iter().flat_map(|&customer| {
        (0..3).map(move |n| (customer, n))
    }).map(|(customer, n)| {
        let app = app.clone();
        let admin = admin.clone();
        tokio::spawn(async move {
            let status = app.post(
                &format!("/api/loyalty/wallet/{customer}/debit"),
                &admin,
                json!({ "amount": 1, "source": "purchase", "idempotencyKey": format!("spend-after-{n}") }),
            )
            .await
            .status;
            assert!(status.is_success(), "{status}");
        })
    }).collect::<Vec<_>>();
    let released: u32 = join_all(releases)
        .await
        .into_iter()
        .map(|n| n.unwrap())
        .sum();
    for posting in join_all(postings).await {
        posting.unwrap();
    }
    assert_eq!(released as usize, orders.len());
    assert!(app.events("milestone_reached").await > 0);
    assert!(app.events("vip_tier_upgraded").await > 0);
    // Other backends flush their statistics within a second of going idle.
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    sqlx::query!("select pg_stat_clear_snapshot()")
        .execute(&app.pool)
        .await
        .unwrap();
    let deadlocks_after: i64 = sqlx::query_scalar!(
        r#"select deadlocks as "n!" from pg_stat_database where datname = current_database()"#
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        deadlocks_after, deadlocks_before,
        "PostgreSQL broke a deadlock: the lock order was not kept"
    );
    let completed: i64 = sqlx::query_scalar!(
        r#"select count(*) as "n!" from customer_referrals where status = 'completed'"#
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(completed, orders.len() as i64);
    app.check_invariants().await;
}
