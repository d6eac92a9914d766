//! Edge cases where money or attribution could go wrong: reserved ledger keys, invitation
//! timing, refused orders, manual attachment, repeat customers, milestone races and bad
//! campaign updates.

use axum::http::StatusCode;
use futures::future::join_all;
use rust_decimal::Decimal;
use serde_json::json;
use sqlx::PgPool;

use crate::helpers::TestApp;

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn operators_cannot_use_the_reward_engines_keys(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let customer = app.customer("01712100001", None).await;
    let before = app.snapshot().await;
    for key in ["referral:1:referrer:wallet", "milestone:1:wallet"] {
        app.post(
            &format!("/api/loyalty/wallet/{customer}/credit"),
            &app.admin_token(),
            json!({ "amount": 1, "source": "bonus", "idempotencyKey": key }),
        )
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        app.post(
            &format!("/api/loyalty/points/{customer}/earn"),
            &app.admin_token(),
            json!({ "points": 1, "source": "bonus", "idempotencyKey": key }),
        )
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    }
    assert_eq!(app.snapshot().await, before);
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn an_old_invitation_does_not_let_an_order_in_transit_qualify(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let admin = app.admin_token();
    let referrer = app.customer("01712100011", None).await;
    let invite = app
        .post(
            "/api/loyalty/me/referral",
            &app.customer_token(referrer),
            json!({ "referredEmail": "someone@example.com" }),
        )
        .await;
    let code = invite.body["referralCode"].as_str().unwrap().to_owned();
    // Later a guest checks out without a code; the order is on its way.
    let guest = app.customer("01712100012", None).await;
    app.put(
        "/api/orders/1201",
        &admin,
        json!({ "customerId": guest, "status": "in_transit" }),
    )
    .await;
    // Then the guest registers with the old invitation.
    let otp = app.signup_code("01712100012", "+8801712100012").await;
    let registered = app
        .sign_up(json!({ "phone": "01712100012", "password": "password 1", "ref": code, "phoneVerificationCode": otp }))
        .await;
    assert_eq!(
        registered.status,
        StatusCode::CREATED,
        "{}",
        registered.body
    );
    let delivered = app.order_status(1201, "delivered").await;
    assert_eq!(delivered.body["completedReferralId"], json!(null));
    assert_eq!(app.balance(referrer).await, Decimal::ZERO);
    assert_eq!(app.events("completion_skipped").await, 1);
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn invitations_are_capped_per_day(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let referrer = app.customer("01712100021", None).await;
    let token = app.customer_token(referrer);
    for i in 0..20 {
        let invite = app
            .post(
                "/api/loyalty/me/referral",
                &token,
                json!({ "referredEmail": format!("f{i}@example.com") }),
            )
            .await;
        assert_eq!(invite.status, StatusCode::CREATED);
    }
    app.post(
        "/api/loyalty/me/referral",
        &token,
        json!({ "referredEmail": "f21@example.com" }),
    )
    .await
    .assert_error(StatusCode::TOO_MANY_REQUESTS, "too_many_invitations");
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn a_refused_order_leaves_no_attribution_behind(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let admin = app.admin_token();
    let referrer = app.customer("01712100031", None).await;
    let owner = app.customer("01712100032", None).await;
    let other = app.customer("01712100033", None).await;
    app.put(
        "/api/orders/1301",
        &admin,
        json!({ "customerId": owner, "status": "pending" }),
    )
    .await;
    let before = app.snapshot().await;
    app.put("/api/orders/1301", &admin, json!({ "customerId": other, "status": "pending", "referralCode": format!("REF{referrer}") }))
        .await
        .assert_error(StatusCode::CONFLICT, "order_customer_conflict");
    assert_eq!(app.snapshot().await, before);
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn a_customer_attached_by_hand_is_attributed_and_can_still_sign_up(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let admin = app.admin_token();
    let referrer = app.customer("01712100041", None).await;
    let invite = app
        .post(
            "/api/loyalty/referral",
            &admin,
            json!({ "referrerCustomerId": referrer, "referredPhone": "01712100042" }),
        )
        .await;
    let guest = app.customer("01712100042", None).await;
    let other = app.customer("01712100043", None).await;
    let path = format!("/api/loyalty/referral/{}/complete", invite.body["id"]);
    let completed = app
        .put(&path, &admin, json!({ "referredCustomerId": guest }))
        .await;
    assert_eq!(completed.status, StatusCode::OK, "{}", completed.body);
    let me = app
        .get("/api/customers/me", &app.customer_token(guest))
        .await;
    assert_eq!(me.body["referredByCustomerId"], referrer);
    // Registering later with someone else's code is not an error; the first touch stays.
    let otp = app.signup_code("01712100042", "+8801712100042").await;
    let registered = app.sign_up(json!({ "phone": "01712100042", "password": "password 1", "ref": format!("REF{other}"), "phoneVerificationCode": otp })).await;
    assert_eq!(
        registered.status,
        StatusCode::CREATED,
        "{}",
        registered.body
    );
    assert_eq!(app.events("attribution_ignored").await, 1);
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn a_returned_order_is_no_first_order_for_referrals_but_is_for_coupons(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let admin = app.admin_token();
    let referrer = app.customer("01712100051", None).await;
    let repeat = app.customer("01712100052", None).await;
    // A first-order coupon the customer holds (as a welcome coupon would be).
    sqlx::query!(
        "insert into coupons (code, customer_id, kind, discount_type, discount_value, first_order_only)
         values ('CPNFIRST1501', $1, 'discount', 'fixed', 50, true)",
        repeat
    )
    .execute(&app.pool)
    .await
    .unwrap();
    app.order(1501, repeat, "delivered").await;
    app.order_status(1501, "returned").await;

    // The coupon's first-order rule still counts an order that was delivered, returned
    // or not (coupon_refusal judges by delivered_at).
    let check = app
        .post(
            "/api/coupons/validate",
            &app.customer_token(repeat),
            json!({ "code": "CPNFIRST1501", "orderAmount": 500 }),
        )
        .await;
    assert_eq!(check.status, StatusCode::OK, "{}", check.body);
    assert_eq!(check.body["valid"], false);
    assert_eq!(check.body["reason"], "not_first_order");

    // For a referral, a returned order is not a successful order: attributed afterwards
    // by a code on a new order, that delivery is the first successful one and qualifies.
    let second = app
        .put("/api/orders/1502", &admin, json!({ "customerId": repeat, "status": "delivered", "referralCode": format!("REF{referrer}") }))
        .await;
    assert!(
        second.body["completedReferralId"].is_number(),
        "{}",
        second.body
    );
    assert_eq!(app.events("completion_skipped").await, 0);
    assert_eq!(app.balance(referrer).await, Decimal::ZERO);
    assert_eq!(app.end_holds().await, 1);
    assert_eq!(app.balance(referrer).await, Decimal::from(100));
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn concurrent_completions_reach_a_milestone_once(pool: PgPool) {
    let app = TestApp::new(pool).await;
    // A coupon campaign: no wallet reward, so nothing but the referrer lock orders them.
    let campaign = app
        .post(
            "/api/loyalty/referral-campaigns",
            &app.admin_token(),
            json!({ "name": "Coupons and a milestone", "reward_type": "coupon", "reward_referrer_amount": 50,
                    "milestones": [{ "referral_count": 3, "reward_amount": 100 }] }),
        )
        .await;
    let id = campaign.body["id"].as_str().unwrap().to_owned();
    app.put(
        &format!("/api/loyalty/referral-campaigns/{id}"),
        &app.admin_token(),
        json!({ "is_default": true }),
    )
    .await;
    let referrer = app.customer("01712100061", None).await;
    let mut orders = Vec::new();
    for i in 0..5 {
        let friend = app
            .customer(&format!("0171210007{i}"), Some(&format!("REF{referrer}")))
            .await;
        app.order(1600 + i, friend, "shipped").await;
        orders.push(1600 + i);
    }
    let deliveries = join_all(orders.into_iter().map(|order| {
        let app = app.clone();
        tokio::spawn(async move { app.order_status(order, "delivered").await })
    }))
    .await;
    for delivery in deliveries {
        let delivery = delivery.unwrap();
        assert_eq!(delivery.status, StatusCode::OK, "{}", delivery.body);
    }
    // Milestones count released referrals: none is reached within the hold.
    assert_eq!(app.balance(referrer).await, Decimal::ZERO);
    assert_eq!(app.events("milestone_reached").await, 0);
    // The holds end and three instances release the five referrals at once.
    app.expire_holds().await;
    let released: u32 = join_all((0..3).map(|_| {
        let pool = app.pool.clone();
        tokio::spawn(async move { bondhu::jobs::release_due(&pool, None).await.unwrap() })
    }))
    .await
    .into_iter()
    .map(|n| n.unwrap())
    .sum();
    assert_eq!(released, 5);
    assert_eq!(app.balance(referrer).await, Decimal::from(100));
    assert_eq!(app.events("milestone_reached").await, 1);
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn bad_campaign_updates_are_4xx(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let admin = app.admin_token();
    let campaign = app
        .post(
            "/api/loyalty/referral-campaigns",
            &admin,
            json!({ "name": "Budgeted", "reward_referrer_amount": 100, "budget_count": 5 }),
        )
        .await;
    let id = campaign.body["id"].as_str().unwrap().to_owned();
    app.put(
        &format!("/api/loyalty/referral-campaigns/{id}"),
        &admin,
        json!({ "is_default": true }),
    )
    .await;
    for n in 0..2 {
        let referrer = app.customer(&format!("0171210008{n}"), None).await;
        let friend = app
            .customer(&format!("0171210009{n}"), Some(&format!("REF{referrer}")))
            .await;
        app.order(1700 + n, friend, "delivered").await;
    }
    let path = format!("/api/loyalty/referral-campaigns/{id}");
    for body in [
        json!({ "name": "" }),
        json!({ "budget_count": 1 }),
        json!({ "reward_referrer_percent": 10 }),
    ] {
        app.put(&path, &admin, body.clone())
            .await
            .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_campaign");
    }
    // A registered referral keeps its terms: a dry run cannot swap its campaign.
    let referrer = app.customer("01712100099", None).await;
    let friend = app
        .customer("01712100098", Some(&format!("REF{referrer}")))
        .await;
    app.post(
        "/api/loyalty/referral-campaigns/dry-run",
        &admin,
        json!({ "referrerCustomerId": referrer, "referredCustomerId": friend, "orderAmount": 10, "campaignId": id }),
    )
    .await
    .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    app.put(
        "/api/orders/2147483647",
        &admin,
        json!({ "status": "pending" }),
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, "invalid_path_parameter");
    app.check_invariants().await;
}
