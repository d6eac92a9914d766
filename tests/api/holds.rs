//! Money that is safe to pay: rewards held through the return window, released by the
//! job, voided or clawed back when the qualifying order is reversed or refunded.

use axum::http::StatusCode;
use futures::future::join_all;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::helpers::{TestApp, dec};

/// The status of every reward of `referral_id`, by side and kind.
async fn reward_statuses(app: &TestApp, referral_id: i64) -> Vec<(String, String, String)> {
    sqlx::query!(
        r#"select side::text as "side!", kind::text as "kind!", status::text as "status!"
           from referral_rewards where referral_id = $1 order by completion, side, kind"#,
        referral_id as i32
    )
    .fetch_all(&app.pool)
    .await
    .unwrap()
    .into_iter()
    .map(|r| (r.side, r.kind, r.status))
    .collect()
}

/// Changes the default campaign (the one the referrals here get), as an admin would.
async fn update_default_campaign(app: &TestApp, change: Value) -> Value {
    let admin = app.admin_token();
    let campaigns = app.get("/api/loyalty/referral-campaigns", &admin).await;
    let default = campaigns
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["is_default"] == true)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let updated = app
        .put(
            &format!("/api/loyalty/referral-campaigns/{default}"),
            &admin,
            change,
        )
        .await;
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.body);
    updated.body
}

async fn set_default_hold(app: &TestApp, hold: &str) {
    let updated = update_default_campaign(app, json!({ "reward_hold": hold })).await;
    assert_eq!(updated["reward_hold"], hold);
}

fn referral_of(referrals: &Value) -> &Value {
    &referrals.as_array().unwrap()[0]
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn a_delivered_reward_is_pending_for_the_hold_then_released_once(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let (referrer, friend) = app.referrer_and_friend(1).await;
    let token = app.customer_token(referrer);

    assert_eq!(
        app.order(7001, friend, "delivered").await.status,
        StatusCode::OK
    );

    // In the hold: visible, not spendable.
    let wallet = app.get("/api/loyalty/me/wallet", &token).await;
    assert_eq!(dec(&wallet.body["balance"]), Decimal::ZERO);
    assert_eq!(dec(&wallet.body["pendingBalance"]), Decimal::from(100));
    let statement = app.get("/api/loyalty/me/wallet/transactions", &token).await;
    let entries = statement.body.as_array().unwrap();
    assert_eq!(entries.len(), 1, "{}", statement.body);
    assert_eq!(entries[0]["status"], "pending");
    assert_eq!(dec(&entries[0]["amount"]), Decimal::from(100));
    assert!(entries[0]["releaseAt"].is_string());
    let referrals = app.get("/api/loyalty/me/referrals", &token).await;
    let referral = referral_of(&referrals.body);
    let referral_id = referral["id"].as_i64().unwrap();
    assert_eq!(referral["status"], "completed");
    assert_eq!(referral["rewardCredited"], false);
    assert!(referral["holdUntil"].is_string());
    let stats = app.get("/api/loyalty/me/referrals/stats", &token).await;
    assert_eq!(stats.body["pending_rewards"], "100.00");
    assert_eq!(stats.body["total_rewards_earned"], "0");
    // Pending money cannot be spent.
    let debit = app
        .post(
            &format!("/api/loyalty/wallet/{referrer}/debit"),
            &app.admin_token(),
            json!({ "amount": 1, "source": "purchase", "idempotencyKey": "spend-1" }),
        )
        .await;
    debit.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "insufficient_balance");
    // The job runs before the hold ends: nothing happens.
    assert_eq!(bondhu::jobs::release_due(&app.pool, None).await.unwrap(), 0);
    assert_eq!(app.balance(referrer).await, Decimal::ZERO);

    // The return window passes.
    assert_eq!(app.end_holds().await, 1);
    assert_eq!(app.end_holds().await, 0, "released once");
    let wallet = app.get("/api/loyalty/me/wallet", &token).await;
    assert_eq!(dec(&wallet.body["balance"]), Decimal::from(100));
    assert_eq!(dec(&wallet.body["pendingBalance"]), Decimal::ZERO);
    let statement = app.get("/api/loyalty/me/wallet/transactions", &token).await;
    let entries = statement.body.as_array().unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["status"], "posted");
    assert_eq!(
        entries[0]["idempotencyKey"],
        format!("referral:{referral_id}:referrer:wallet")
    );
    let referrals = app.get("/api/loyalty/me/referrals", &token).await;
    assert_eq!(referral_of(&referrals.body)["rewardCredited"], true);
    assert!(referral_of(&referrals.body)["releasedAt"].is_string());
    let stats = app.get("/api/loyalty/me/referrals/stats", &token).await;
    assert_eq!(stats.body["pending_rewards"], "0");
    assert_eq!(stats.body["total_rewards_earned"], "100.00");
    assert_eq!(app.events("reward_pending").await, 1);
    assert_eq!(app.events("reward_released").await, 1);
    assert_eq!(
        reward_statuses(&app, referral_id).await,
        [("referrer".into(), "wallet".into(), "released".into())]
    );
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn a_campaign_without_a_hold_pays_at_delivery_and_holds_are_validated(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let admin = app.admin_token();
    let created = app
        .post(
            "/api/loyalty/referral-campaigns",
            &admin,
            json!({ "name": "Eid", "reward_referrer_amount": 50 }),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(
        created.body["reward_hold"], "7d",
        "new campaigns hold 7 days"
    );
    for bad in ["7", "1w", "-1d", "91d", "1.5h", ""] {
        let refused = app
            .post(
                "/api/loyalty/referral-campaigns",
                &admin,
                json!({ "name": "Bad", "reward_hold": bad }),
            )
            .await;
        assert_eq!(
            refused.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{bad:?}: {}",
            refused.body
        );
        assert!(
            refused.body["fields"]["reward_hold"].is_array(),
            "{}",
            refused.body
        );
    }
    for (given, shown) in [("90s", "90s"), ("12h", "12h"), ("48h", "2d"), ("0", "0")] {
        let id = created.body["id"].as_str().unwrap();
        let updated = app
            .put(
                &format!("/api/loyalty/referral-campaigns/{id}"),
                &admin,
                json!({ "reward_hold": given }),
            )
            .await;
        assert_eq!(updated.status, StatusCode::OK, "{}", updated.body);
        assert_eq!(updated.body["reward_hold"], shown);
    }

    set_default_hold(&app, "0").await;
    let (referrer, friend) = app.referrer_and_friend(2).await;
    assert_eq!(
        app.order(7002, friend, "delivered").await.status,
        StatusCode::OK
    );
    assert_eq!(app.balance(referrer).await, Decimal::from(100));
    let referrals = app
        .get("/api/loyalty/me/referrals", &app.customer_token(referrer))
        .await;
    assert_eq!(referral_of(&referrals.body)["rewardCredited"], true);
    assert_eq!(app.end_holds().await, 0);
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn a_return_in_the_hold_voids_and_the_next_order_can_qualify(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let (referrer, friend) = app.referrer_and_friend(3).await;
    let token = app.customer_token(referrer);
    assert_eq!(
        app.order(7003, friend, "delivered").await.status,
        StatusCode::OK
    );
    let referral_id = referral_of(&app.get("/api/loyalty/me/referrals", &token).await.body)["id"]
        .as_i64()
        .unwrap();

    assert_eq!(
        app.order_status(7003, "returned").await.status,
        StatusCode::OK
    );
    let referral = referral_of(&app.get("/api/loyalty/me/referrals", &token).await.body).clone();
    assert_eq!(referral["status"], "registered");
    assert_eq!(referral["holdUntil"], json!(null));
    assert_eq!(
        reward_statuses(&app, referral_id).await,
        [("referrer".into(), "wallet".into(), "voided".into())]
    );
    let wallet = app.get("/api/loyalty/me/wallet", &token).await;
    assert_eq!(dec(&wallet.body["pendingBalance"]), Decimal::ZERO);
    assert_eq!(
        app.end_holds().await,
        0,
        "a voided reward is never released"
    );
    assert_eq!(app.balance(referrer).await, Decimal::ZERO);
    assert_eq!(
        app.ledger_rows(referrer).await,
        0,
        "nothing was ever posted"
    );
    assert_eq!(app.events("reward_voided").await, 1);

    // The friend's next order (placed after the referral) qualifies: the returned one is
    // not a successful order.
    let next = app.order(7004, friend, "delivered").await;
    assert_eq!(
        next.body["completedReferralId"], referral_id,
        "{}",
        next.body
    );
    assert_eq!(app.end_holds().await, 1);
    assert_eq!(app.balance(referrer).await, Decimal::from(100));
    let keys: Vec<String> = sqlx::query_scalar!(
        "select idempotency_key from wallet_transactions where customer_id = $1",
        referrer
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(keys, [format!("referral:{referral_id}:referrer:wallet:2")]);
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn a_return_after_release_claws_back_and_what_was_spent_is_owed(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let admin = app.admin_token();
    let (referrer, friend) = app.referrer_and_friend(4).await;
    assert_eq!(
        app.order(7005, friend, "delivered").await.status,
        StatusCode::OK
    );
    assert_eq!(app.end_holds().await, 1);
    assert_eq!(app.balance(referrer).await, Decimal::from(100));

    // The referrer spends ৳70 of it; then the parcel comes back.
    let spend = app
        .post(
            &format!("/api/loyalty/wallet/{referrer}/debit"),
            &admin,
            json!({ "amount": 70, "source": "purchase", "idempotencyKey": "order-1" }),
        )
        .await;
    assert_eq!(spend.status, StatusCode::CREATED, "{}", spend.body);
    assert_eq!(
        app.order_status(7005, "returned").await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.balance(referrer).await,
        Decimal::ZERO,
        "never below zero"
    );
    let owed = sqlx::query!(
        "select w.owed_amount, rr.status::text as status, rr.owed_amount as reward_owed
         from customer_wallets w join referral_rewards rr on rr.customer_id = w.customer_id
         where w.customer_id = $1",
        referrer
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(owed.owed_amount, Decimal::from(70));
    assert_eq!(owed.status.as_deref(), Some("clawed_back"));
    assert_eq!(owed.reward_owed, Some(Decimal::from(70)));
    // A second return report changes nothing.
    assert_eq!(
        app.order_status(7005, "returned").await.status,
        StatusCode::OK
    );
    assert_eq!(app.events("reward_clawed_back").await, 1);

    // The next credit pays the debt first.
    let credit = app
        .post(
            &format!("/api/loyalty/wallet/{referrer}/credit"),
            &admin,
            json!({ "amount": 50, "source": "bonus", "idempotencyKey": "eid-bonus" }),
        )
        .await;
    assert_eq!(credit.status, StatusCode::CREATED, "{}", credit.body);
    assert_eq!(app.balance(referrer).await, Decimal::ZERO);
    let credit = app
        .post(
            &format!("/api/loyalty/wallet/{referrer}/credit"),
            &admin,
            json!({ "amount": 50, "source": "bonus", "idempotencyKey": "eid-bonus-2" }),
        )
        .await;
    assert_eq!(credit.status, StatusCode::CREATED);
    assert_eq!(app.balance(referrer).await, Decimal::from(30));
    let owed: Decimal = sqlx::query_scalar!(
        "select owed_amount from customer_wallets where customer_id = $1",
        referrer
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(owed, Decimal::ZERO);
    // Replaying a credit does not collect twice.
    let replay = app
        .post(
            &format!("/api/loyalty/wallet/{referrer}/credit"),
            &admin,
            json!({ "amount": 50, "source": "bonus", "idempotencyKey": "eid-bonus-2" }),
        )
        .await;
    assert_eq!(replay.headers["idempotent-replayed"], "true");
    assert_eq!(app.balance(referrer).await, Decimal::from(30));
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn refunds_reverse_below_the_minimum_and_are_recorded_once(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let admin = app.admin_token();
    // The default campaign's minimum becomes ৳800; orders are ৳1000.
    update_default_campaign(&app, json!({ "min_order_amount": 800 })).await;
    let (referrer, friend) = app.referrer_and_friend(5).await;
    assert_eq!(
        app.order(7006, friend, "delivered").await.status,
        StatusCode::OK
    );
    let refund = |amount: Value, key: &str| {
        let app = app.clone();
        let admin = admin.clone();
        let key = key.to_owned();
        async move {
            app.post(
                "/api/orders/7006/refund",
                &admin,
                json!({ "amount": amount, "reason": "one item damaged", "idempotencyKey": key }),
            )
            .await
        }
    };

    // ৳150 back leaves ৳850: still above the minimum.
    let first = refund(json!(150), "refund-1").await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    assert_eq!(dec(&first.body["refundedAmount"]), Decimal::from(150));
    assert_eq!(first.body["reversedReferralId"], json!(null));
    let replay = refund(json!(150), "refund-1").await;
    assert_eq!(replay.status, StatusCode::CREATED);
    assert_eq!(replay.headers["idempotent-replayed"], "true");
    assert_eq!(replay.body["refundId"], first.body["refundId"]);
    refund(json!(10), "refund-1")
        .await
        .assert_error(StatusCode::CONFLICT, "idempotency_key_reused");
    refund(json!(900), "refund-too-much")
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "refund_exceeds_total");
    refund(json!(0), "refund-zero")
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body");
    let no_key = app
        .post(
            "/api/orders/7006/refund",
            &admin,
            json!({ "amount": 1, "reason": "x" }),
        )
        .await;
    assert_eq!(
        no_key.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        no_key.body
    );
    app.post(
        "/api/orders/424242/refund",
        &admin,
        json!({ "amount": 1, "reason": "x", "idempotencyKey": "k" }),
    )
    .await
    .assert_error(StatusCode::NOT_FOUND, "order_not_found");
    let customer = app
        .post(
            "/api/orders/7006/refund",
            &app.customer_token(friend),
            json!({ "amount": 1, "reason": "x", "idempotencyKey": "k" }),
        )
        .await;
    customer.assert_error(StatusCode::FORBIDDEN, "forbidden");

    // ৳100 more leaves ৳750: below the minimum, so the referral is reversed in its hold.
    let second = refund(json!(100), "refund-2").await;
    assert_eq!(second.status, StatusCode::CREATED, "{}", second.body);
    assert_eq!(dec(&second.body["refundedAmount"]), Decimal::from(250));
    let referral_id = second.body["reversedReferralId"].as_i64().unwrap();
    assert_eq!(
        reward_statuses(&app, referral_id).await,
        [("referrer".into(), "wallet".into(), "voided".into())]
    );
    assert_eq!(app.end_holds().await, 0);
    assert_eq!(app.balance(referrer).await, Decimal::ZERO);
    // The shop cannot lower the total below what it refunded.
    let lower = app
        .put(
            "/api/orders/7006",
            &admin,
            json!({ "customerId": friend, "status": "delivered", "totalAmount": 100 }),
        )
        .await;
    lower.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "refund_exceeds_total");
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn a_full_refund_after_release_claws_back(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let (referrer, friend) = app.referrer_and_friend(6).await;
    assert_eq!(
        app.order(7007, friend, "delivered").await.status,
        StatusCode::OK
    );
    assert_eq!(app.end_holds().await, 1);
    let refund = app
        .post(
            "/api/orders/7007/refund",
            &app.admin_token(),
            json!({ "amount": 1000, "reason": "refused at the door", "idempotencyKey": "r" }),
        )
        .await;
    assert_eq!(refund.status, StatusCode::CREATED, "{}", refund.body);
    assert!(refund.body["reversedReferralId"].is_number());
    assert_eq!(app.balance(referrer).await, Decimal::ZERO);
    let referrals = app
        .get("/api/loyalty/me/referrals", &app.customer_token(referrer))
        .await;
    assert_eq!(referral_of(&referrals.body)["status"], "registered");
    assert_eq!(referral_of(&referrals.body)["rewardCredited"], false);
    app.check_invariants().await;
}

/// A return racing the release job: whatever the interleaving, the reward ends either
/// voided (the return came first) or released and then clawed back, never paid and kept.
#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn a_return_racing_the_release_job_is_voided_or_clawed_back(pool: PgPool) {
    let app = TestApp::new(pool).await;
    const ROUNDS: u32 = 12;
    let mut pairs = Vec::new();
    for n in 0..ROUNDS {
        let (referrer, friend) = app.referrer_and_friend(100 + n).await;
        let order = 7100 + n as i32;
        assert_eq!(
            app.order(order, friend, "delivered").await.status,
            StatusCode::OK
        );
        pairs.push((referrer, order));
    }
    sqlx::query!("update customer_referrals set hold_until = now() - interval '1 second' where status = 'completed'")
        .execute(&app.pool)
        .await
        .unwrap();
    let returns = pairs.iter().map(|&(_, order)| {
        let app = app.clone();
        tokio::spawn(async move { app.order_status(order, "returned").await.status })
    });
    let job = {
        let pool = app.pool.clone();
        tokio::spawn(async move { bondhu::jobs::release_due(&pool, None).await.unwrap() })
    };
    for status in join_all(returns).await {
        assert_eq!(status.unwrap(), StatusCode::OK);
    }
    job.await.unwrap();
    let outcomes = sqlx::query!(
        r#"select status::text as "status!", count(*) as "n!" from referral_rewards group by status"#
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    let total: i64 = outcomes
        .iter()
        .inspect(|o| {
            assert!(
                matches!(o.status.as_str(), "voided" | "clawed_back"),
                "{}",
                o.status
            )
        })
        .map(|o| o.n)
        .sum();
    assert_eq!(total, i64::from(ROUNDS));
    for (referrer, _) in pairs {
        assert_eq!(app.balance(referrer).await, Decimal::ZERO);
    }
    app.check_invariants().await;
}

/// Two instances run the release job at the same moment: each referral is released by
/// exactly one of them, and each reward is paid once.
#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn two_instances_releasing_at_once_pay_each_reward_once(pool: PgPool) {
    let app = TestApp::new(pool).await;
    const REFERRALS: u32 = 30;
    let mut referrers = Vec::new();
    for n in 0..REFERRALS {
        let (referrer, friend) = app.referrer_and_friend(200 + n).await;
        assert_eq!(
            app.order(7200 + n as i32, friend, "delivered").await.status,
            StatusCode::OK
        );
        referrers.push(referrer);
    }
    sqlx::query!("update customer_referrals set hold_until = now() - interval '1 second' where status = 'completed'")
        .execute(&app.pool)
        .await
        .unwrap();
    let instances = (0..2).map(|_| {
        let pool = app.pool.clone();
        tokio::spawn(async move { bondhu::jobs::release_due(&pool, None).await.unwrap() })
    });
    let released: u32 = join_all(instances)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .sum();
    assert_eq!(released, REFERRALS);
    for referrer in referrers {
        assert_eq!(app.balance(referrer).await, Decimal::from(100));
        assert_eq!(app.ledger_rows(referrer).await, 1);
    }
    assert_eq!(app.events("reward_released").await, i64::from(REFERRALS));
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn milestones_count_only_released_referrals_and_go_back_with_them(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let admin = app.admin_token();
    let campaign = app
        .post(
            "/api/loyalty/referral-campaigns",
            &admin,
            json!({
                "name": "Three friends", "is_default": true, "reward_referrer_amount": 20,
                "milestones": [{ "referral_count": 2, "reward_amount": 100 }]
            }),
        )
        .await;
    assert_eq!(campaign.status, StatusCode::CREATED, "{}", campaign.body);
    let referrer = app.customer("01719000001", None).await;
    let code = format!("REF{referrer:06}");
    let first = app.customer("01819000001", Some(&code)).await;
    let second = app.customer("01819000002", Some(&code)).await;
    assert_eq!(
        app.order(7301, first, "delivered").await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.order(7302, second, "delivered").await.status,
        StatusCode::OK
    );
    // Two completed, none released: no milestone yet.
    assert_eq!(app.balance(referrer).await, Decimal::ZERO);
    assert_eq!(app.events("milestone_reached").await, 0);
    assert_eq!(app.end_holds().await, 2);
    assert_eq!(app.balance(referrer).await, Decimal::from(140));
    assert_eq!(app.events("milestone_reached").await, 1);

    // The second friend's parcel comes back after the window: its reward and the
    // milestone it reached are taken back.
    assert_eq!(
        app.order_status(7302, "returned").await.status,
        StatusCode::OK
    );
    assert_eq!(app.balance(referrer).await, Decimal::from(20));
    let milestone: String =
        sqlx::query_scalar!(r#"select status::text as "s!" from milestone_awards"#)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(milestone, "clawed_back");
    // A third friend reaches it again.
    let third = app.customer("01819000003", Some(&code)).await;
    assert_eq!(
        app.order(7303, third, "delivered").await.status,
        StatusCode::OK
    );
    assert_eq!(app.end_holds().await, 1);
    assert_eq!(app.balance(referrer).await, Decimal::from(140));
    assert_eq!(app.events("milestone_reached").await, 2);
    app.check_invariants().await;
}

/// Releases by two job instances, returns, refunds and operators' postings, all at once
/// over a chain of referrals (friends who are referrers too, milestones, a budget):
/// PostgreSQL must break no deadlock, and the ledger must add up.
#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn releases_returns_and_postings_at_once_never_deadlock(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let admin = app.admin_token();
    let created = app
        .post(
            "/api/loyalty/referral-campaigns",
            &admin,
            json!({ "name": "Everything", "is_default": true, "reward_referrer_amount": 20,
                    "reward_referred_amount": 10, "budget_amount": 100000,
                    "vip_referrals_threshold": 2,
                    "milestones": [{ "referral_count": 1, "reward_amount": 5 },
                                   { "referral_count": 2, "reward_amount": 5 }] }),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let deadlocks = || async {
        sqlx::query!("select pg_stat_clear_snapshot()")
            .execute(&app.pool)
            .await
            .unwrap();
        sqlx::query_scalar!(
            r#"select deadlocks as "n!" from pg_stat_database where datname = current_database()"#
        )
        .fetch_one(&app.pool)
        .await
        .unwrap()
    };
    let deadlocks_before: i64 = deadlocks().await;

    let mut customers = Vec::new();
    let mut orders = Vec::new();
    let mut next = 0u32;
    for _ in 0..3 {
        next += 1;
        let root = app.customer(&format!("01714{next:06}"), None).await;
        customers.push(root);
        for _ in 0..2 {
            next += 1;
            let friend = app
                .customer(&format!("01714{next:06}"), Some(&format!("REF{root:06}")))
                .await;
            customers.push(friend);
            orders.push(friend);
            for _ in 0..2 {
                next += 1;
                let grandchild = app
                    .customer(&format!("01714{next:06}"), Some(&format!("REF{friend:06}")))
                    .await;
                customers.push(grandchild);
                orders.push(grandchild);
            }
        }
    }
    for (i, customer) in orders.iter().enumerate() {
        assert_eq!(
            app.order(7500 + i as i32, *customer, "delivered")
                .await
                .status,
            StatusCode::OK
        );
    }
    sqlx::query!("update customer_referrals set hold_until = now() where status = 'completed'")
        .execute(&app.pool)
        .await
        .unwrap();

    let mut tasks = Vec::new();
    for _ in 0..2 {
        let pool = app.pool.clone();
        tasks.push(tokio::spawn(async move {
            bondhu::jobs::release_due(&pool, None).await.unwrap();
            StatusCode::OK
        }));
    }
    for i in (0..orders.len()).step_by(3) {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            app.order_status(7500 + i as i32, "returned").await.status
        }));
    }
    for i in (1..orders.len()).step_by(3) {
        let app = app.clone();
        let admin = admin.clone();
        tasks.push(tokio::spawn(async move {
            app.post(
                &format!("/api/orders/{}/refund", 7500 + i as i32),
                &admin,
                json!({ "amount": 1000, "reason": "refused", "idempotencyKey": "all" }),
            )
            .await
            .status
        }));
    }
    for &customer in &customers {
        for n in 0..2 {
            let app = app.clone();
            let admin = admin.clone();
            let direction = if n == 0 { "credit" } else { "debit" };
            tasks.push(tokio::spawn(async move {
                let response = app
                    .post(
                        &format!("/api/loyalty/wallet/{customer}/{direction}"),
                        &admin,
                        json!({ "amount": 3, "source": "bonus", "idempotencyKey": format!("op-{n}") }),
                    )
                    .await;
                // A debit may find nothing to take yet; that is a 422, not a failure.
                if response.status == StatusCode::UNPROCESSABLE_ENTITY {
                    StatusCode::OK
                } else {
                    response.status
                }
            }));
        }
    }
    for status in join_all(tasks).await {
        let status = status.unwrap();
        assert!(status.is_success(), "{status}");
    }
    // Whatever the job did not reach yet, it reaches now.
    bondhu::jobs::release_due(&app.pool, None).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    assert_eq!(
        deadlocks().await,
        deadlocks_before,
        "PostgreSQL broke a deadlock: the lock order was not kept"
    );
    let undone: i64 = sqlx::query_scalar!(
        r#"select count(*) as "n!" from referral_rewards
           where status in ('voided', 'clawed_back')"#
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert!(undone > 0);
    app.check_invariants().await;
}
