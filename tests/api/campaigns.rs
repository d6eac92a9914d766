//! The campaign engine: definitions, every reward type end to end, the snapshot rule,
//! budgets and limits under concurrency, A/B variants, partners, channels and the dry run.

use axum::http::{Method, StatusCode};
use futures::future::join_all;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::helpers::{TestApp, dec};

const CAMPAIGNS: &str = "/api/loyalty/referral-campaigns";

async fn create_campaign(app: &TestApp, body: Value) -> Value {
    let response = app.post(CAMPAIGNS, &app.admin_token(), body).await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.body);
    response.body
}

/// Makes campaign `id` the default, so share-code signups get it.
async fn make_default(app: &TestApp, id: &Value) {
    let path = format!("{CAMPAIGNS}/{}", id.as_str().unwrap());
    let response = app
        .put(&path, &app.admin_token(), json!({ "is_default": true }))
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
}

/// A referrer and a friend who signed up with the referrer's code.
async fn pair(app: &TestApp, n: u32) -> (i32, i32) {
    let referrer = app.customer(&format!("0131{n:07}"), None).await;
    let friend = app
        .customer(&format!("0141{n:07}"), Some(&format!("REF{referrer}")))
        .await;
    (referrer, friend)
}

async fn rewards_of(app: &TestApp, referred: i32) -> Vec<(String, String, String, Option<String>)> {
    sqlx::query!(
        r#"select rr.side::text as "side!", rr.kind::text as "kind!", rr.status::text as "status!", rr.reason
           from referral_rewards rr
           join customer_referrals r on r.id = rr.referral_id
           where r.referred_customer_id = $1 order by rr.side, rr.kind"#,
        referred
    )
    .fetch_all(&app.pool)
    .await
    .unwrap()
    .into_iter()
    .map(|r| (r.side, r.kind, r.status, r.reason))
    .collect()
}

async fn points_of(app: &TestApp, customer: i32) -> i64 {
    let points = app
        .get(
            &format!("/api/loyalty/points/{customer}"),
            &app.admin_token(),
        )
        .await;
    assert_eq!(points.status, StatusCode::OK, "{}", points.body);
    points.body["activePoints"].as_i64().unwrap()
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn campaigns_are_defined_listed_updated_and_validated(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let admin = app.admin_token();
    // TrustCart's admin form, snake_case, amounts as strings.
    let created = create_campaign(
        &app,
        json!({
            "name": "Eid 2026", "is_active": true, "reward_type": "wallet",
            "reward_referrer_amount": "150", "reward_referred_amount": 50,
            "reward_referrer_points": 0, "reward_referred_points": 0,
            "referrer_offer_id": null, "referred_offer_id": null,
            "vip_referrals_threshold": null, "vip_membership_tier": "none",
            "starts_at": "2026-01-01T00:00:00Z", "ends_at": null
        }),
    )
    .await;
    assert_eq!(created["reward_referrer_amount"], "150.00");
    assert_eq!(created["reward_referred_amount"], "50.00");
    assert_eq!(created["vip_membership_tier"], json!(null));
    assert_eq!(created["is_default"], false);
    assert_eq!(created["starts_at"], "2026-01-01T00:00:00.000Z");
    let id = created["id"].as_str().unwrap().to_owned();

    // Partial update: absent keys kept, null clears, camelCase accepted.
    let updated = app
        .put(
            &format!("{CAMPAIGNS}/{id}"),
            &admin,
            json!({ "rewardReferredAmount": 75.5, "starts_at": null, "budget_count": 100 }),
        )
        .await;
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.body);
    assert_eq!(updated.body["reward_referred_amount"], "75.50");
    assert_eq!(updated.body["reward_referrer_amount"], "150.00");
    assert_eq!(updated.body["starts_at"], json!(null));
    assert_eq!(updated.body["budget_count"], 100);

    // Exactly one default: taking the flag clears it elsewhere; dropping it is refused.
    make_default(&app, &created["id"]).await;
    let list = app
        .get(&format!("{CAMPAIGNS}?includeInactive=true"), &admin)
        .await;
    let defaults: Vec<&Value> = list
        .body
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["is_default"] == true)
        .collect();
    assert_eq!(defaults.len(), 1);
    assert_eq!(defaults[0]["id"], created["id"]);
    app.put(
        &format!("{CAMPAIGNS}/{id}"),
        &admin,
        json!({ "is_default": false }),
    )
    .await
    .assert_error(
        StatusCode::UNPROCESSABLE_ENTITY,
        "default_campaign_required",
    );

    let inactive = create_campaign(&app, json!({ "name": "Paused", "is_active": false })).await;
    let active_only = app.get(CAMPAIGNS, &admin).await;
    assert!(
        active_only
            .body
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["id"] != inactive["id"])
    );

    let before = app.snapshot().await;
    let bad = [
        json!({ "reward_type": "wallet" }),
        json!({ "name": "x", "reward_referrer_amount": -5 }),
        json!({ "name": "x", "reward_referrer_amount": "abc" }),
        json!({ "name": "x", "reward_type": "lottery" }),
        json!({ "name": "x", "starts_at": "2026-06-01T00:00:00Z", "ends_at": "2026-05-01T00:00:00Z" }),
        json!({ "name": "x", "reward_referrer_percent": 150 }),
        json!({ "name": "x", "reward_type": "membership" }),
        json!({ "name": "x", "reward_type": "free_product" }),
        json!({ "name": "x", "vip_membership_tier": "diamond", "vip_referrals_threshold": 3 }),
        json!({ "name": "x", "budget_amount": 0 }),
        json!({ "name": "x", "channel": "carrier_pigeon" }),
        json!({ "name": "x", "variants": [{ "name": "A", "weight": 0, "reward_referrer_amount": 1, "reward_referred_amount": 0 }] }),
        json!({ "name": "x", "milestones": [{ "referral_count": 3, "reward_amount": 100 }, { "referral_count": 3, "reward_amount": 50 }] }),
    ];
    for body in bad {
        let response = app.post(CAMPAIGNS, &admin, body.clone()).await;
        assert_eq!(
            response.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {}",
            response.body
        );
        assert!(
            matches!(
                response.body["code"].as_str(),
                Some("invalid_campaign" | "invalid_body")
            ),
            "{body}: {}",
            response.body
        );
    }
    let fields = app
        .post(
            CAMPAIGNS,
            &admin,
            json!({ "name": "", "reward_referrer_amount": -1 }),
        )
        .await;
    assert!(
        fields.body["fields"]["name"].is_array()
            && fields.body["fields"]["reward_referrer_amount"].is_array()
    );
    app.put(
        &format!("{CAMPAIGNS}/{}", uuid::Uuid::new_v4()),
        &admin,
        json!({ "name": "ghost" }),
    )
    .await
    .assert_error(StatusCode::NOT_FOUND, "campaign_not_found");
    assert_eq!(app.snapshot().await, before);
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn a_promise_is_kept_whatever_the_campaign_becomes(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let campaign = create_campaign(
        &app,
        json!({ "name": "Launch", "reward_referrer_amount": 120, "reward_referred_amount": 30 }),
    )
    .await;
    make_default(&app, &campaign["id"]).await;
    let (referrer, friend) = pair(&app, 1).await;
    // The campaign is cut, its hold dropped, and then switched off after the friend joined.
    let path = format!("{CAMPAIGNS}/{}", campaign["id"].as_str().unwrap());
    let cut = app
        .put(
            &path,
            &app.admin_token(),
            json!({ "reward_referrer_amount": 1, "reward_referred_amount": 0, "reward_hold": "0", "is_active": false }),
        )
        .await;
    assert_eq!(cut.status, StatusCode::OK, "{}", cut.body);
    app.order(1, friend, "delivered").await;
    // The hold promised with the terms (7 days) is kept too.
    assert_eq!(app.balance(referrer).await, Decimal::ZERO);
    assert_eq!(app.balance(friend).await, Decimal::ZERO);
    assert_eq!(app.end_holds().await, 1);
    assert_eq!(app.balance(referrer).await, Decimal::from(120));
    assert_eq!(app.balance(friend).await, Decimal::from(30));
    let referral = app
        .get(
            &format!("/api/loyalty/referrals/{referrer}"),
            &app.admin_token(),
        )
        .await
        .body[0]
        .clone();
    assert_eq!(
        referral["rewardTerms"]["reward_referrer_amount"].to_string(),
        "120.00"
    );
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn percentages_caps_and_minimum_orders(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let campaign = create_campaign(
        &app,
        json!({ "name": "10%", "reward_referrer_percent": 10, "reward_referrer_cap": 80, "reward_referred_amount": 0, "min_order_amount": 500 }),
    )
    .await;
    make_default(&app, &campaign["id"]).await;

    let (small_referrer, small_friend) = pair(&app, 11).await;
    let admin = app.admin_token();
    app.put(
        "/api/orders/11",
        &admin,
        json!({ "customerId": small_friend, "status": "delivered", "totalAmount": 499.99 }),
    )
    .await;
    assert_eq!(app.balance(small_referrer).await, Decimal::ZERO);
    assert_eq!(
        rewards_of(&app, small_friend).await,
        [(
            "referrer".into(),
            "wallet".into(),
            "skipped".into(),
            Some("below_minimum".into())
        )]
    );

    let (referrer, friend) = pair(&app, 12).await;
    app.put(
        "/api/orders/12",
        &admin,
        json!({ "customerId": friend, "status": "delivered", "totalAmount": 650.5 }),
    )
    .await;
    assert_eq!(
        rewards_of(&app, friend).await,
        [("referrer".into(), "wallet".into(), "pending".into(), None)]
    );
    assert_eq!(app.balance(referrer).await, Decimal::ZERO);
    // The referral below the minimum ends its hold too, with nothing to pay.
    assert_eq!(app.end_holds().await, 2);
    assert_eq!(app.balance(small_referrer).await, Decimal::ZERO);
    assert_eq!(app.balance(referrer).await, Decimal::new(6505, 2));

    let (capped_referrer, capped_friend) = pair(&app, 13).await;
    app.put(
        "/api/orders/13",
        &admin,
        json!({ "customerId": capped_friend, "status": "delivered", "totalAmount": 5000 }),
    )
    .await;
    assert_eq!(app.balance(capped_referrer).await, Decimal::ZERO);
    assert_eq!(app.end_holds().await, 1);
    assert_eq!(app.balance(capped_referrer).await, Decimal::from(80));
    let referral = app
        .get(&format!("/api/loyalty/referrals/{capped_referrer}"), &admin)
        .await
        .body[0]
        .clone();
    assert_eq!(dec(&referral["rewardAmount"]), Decimal::from(80));
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn points_rewards_and_the_points_ledger(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let admin = app.admin_token();
    let campaign = create_campaign(&app, json!({ "name": "Points", "reward_type": "points", "reward_referrer_points": 200, "reward_referred_points": 50 })).await;
    make_default(&app, &campaign["id"]).await;
    let (referrer, friend) = pair(&app, 21).await;
    app.order(21, friend, "delivered").await;
    app.order_status(21, "delivered").await;
    assert_eq!(points_of(&app, referrer).await, 0);
    assert_eq!(points_of(&app, friend).await, 0);
    assert_eq!(app.end_holds().await, 1);
    assert_eq!(points_of(&app, referrer).await, 200);
    assert_eq!(points_of(&app, friend).await, 50);
    assert_eq!(
        app.balance(referrer).await,
        Decimal::ZERO,
        "a points campaign pays no taka"
    );

    let ledger = app
        .get(
            &format!("/api/loyalty/points/{referrer}/transactions"),
            &admin,
        )
        .await;
    let keys: Vec<&str> = ledger
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["idempotencyKey"].as_str().unwrap())
        .collect();
    assert!(
        keys[0].starts_with("referral:") && keys[0].ends_with(":referrer:points"),
        "{keys:?}"
    );

    // The admin points routes: earn and redeem, idempotent, never below zero.
    let earn = json!({ "points": 30, "source": "bonus", "idempotencyKey": "eid-bonus" });
    let first = app
        .post(
            &format!("/api/loyalty/points/{referrer}/earn"),
            &admin,
            earn.clone(),
        )
        .await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    let replay = app
        .post(
            &format!("/api/loyalty/points/{referrer}/earn"),
            &admin,
            earn,
        )
        .await;
    assert_eq!(replay.body["id"], first.body["id"]);
    assert_eq!(points_of(&app, referrer).await, 230);
    app.post(
        &format!("/api/loyalty/points/{referrer}/redeem"),
        &admin,
        json!({ "points": 231, "source": "purchase", "idempotencyKey": "r1" }),
    )
    .await
    .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "insufficient_points");
    let redeemed = app
        .post(
            &format!("/api/loyalty/points/{referrer}/redeem"),
            &admin,
            json!({ "points": 230, "source": "purchase", "idempotencyKey": "r2" }),
        )
        .await;
    assert_eq!(redeemed.body["balanceAfter"], 0);
    app.post(
        &format!("/api/loyalty/points/{referrer}/earn"),
        &admin,
        json!({ "points": 1.5, "source": "bonus", "idempotencyKey": "x" }),
    )
    .await
    .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body");
    app.post(
        &format!("/api/loyalty/points/{referrer}/earn"),
        &admin,
        json!({ "points": 0, "source": "bonus", "idempotencyKey": "x" }),
    )
    .await
    .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let mine = app
        .get("/api/loyalty/me/points", &app.customer_token(friend))
        .await;
    assert_eq!(mine.body["activePoints"], 50);
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn two_sided_coupons_are_issued_validated_and_redeemed_once(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let admin = app.admin_token();
    let campaign = create_campaign(
        &app,
        json!({ "name": "Coupons", "reward_type": "coupon", "reward_referred_amount": 100, "reward_referrer_percent": 10, "reward_referrer_cap": 200 }),
    )
    .await;
    make_default(&app, &campaign["id"]).await;
    let (referrer, friend) = pair(&app, 31).await;

    // The friend's welcome coupon exists as soon as they join.
    let friend_token = app.customer_token(friend);
    let rewards = app.get("/api/loyalty/me/rewards", &friend_token).await;
    let welcome = rewards.body[0].clone();
    assert_eq!(welcome["kind"], "discount");
    assert_eq!(welcome["firstOrderOnly"], true);
    let code = welcome["code"].as_str().unwrap().to_owned();

    let check = app
        .post(
            "/api/coupons/validate",
            &friend_token,
            json!({ "code": code.to_lowercase(), "orderAmount": 60 }),
        )
        .await;
    assert_eq!(check.body["valid"], true, "{}", check.body);
    assert_eq!(
        dec(&check.body["discount"]),
        Decimal::from(60),
        "a fixed coupon never exceeds the order"
    );
    let theirs = app
        .post(
            "/api/coupons/validate",
            &app.customer_token(referrer),
            json!({ "code": code, "orderAmount": 500 }),
        )
        .await;
    assert_eq!(theirs.body["reason"], "not_yours");
    app.post(
        "/api/coupons/validate",
        &friend_token,
        json!({ "code": code, "customerId": referrer, "orderAmount": 5 }),
    )
    .await
    .assert_error(StatusCode::FORBIDDEN, "forbidden");

    // Two orders carry the coupon and are delivered at once: it is redeemed by one only.
    for order in [31, 32] {
        app.put(&format!("/api/orders/{order}"), &admin, json!({ "customerId": friend, "status": "shipped", "totalAmount": 900, "couponCode": code }))
            .await;
    }
    let deliveries = join_all([31, 32].map(|order| {
        let app = app.clone();
        tokio::spawn(async move { app.order_status(order, "delivered").await })
    }))
    .await;
    for delivery in deliveries {
        assert_eq!(delivery.unwrap().status, StatusCode::OK);
    }
    let redeemed: Vec<Option<i32>> = sqlx::query_scalar!(
        "select redeemed_order_id from coupons where code = $1",
        code
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(redeemed.len(), 1);
    assert!(redeemed[0].is_some());
    assert_eq!(app.events("coupon_redeemed").await, 1);
    assert_eq!(app.events("coupon_not_redeemed").await, 1);
    let again = app
        .post(
            "/api/coupons/validate",
            &admin,
            json!({ "code": code, "customerId": friend, "orderAmount": 60 }),
        )
        .await;
    assert_eq!(again.body["reason"], "already_redeemed");

    // The referrer's coupon is held with the completion and issued when the hold ends:
    // 10 % off, at most ৳200.
    let held = app
        .get(&format!("/api/loyalty/rewards/{referrer}"), &admin)
        .await;
    assert_eq!(held.status, StatusCode::OK, "{}", held.body);
    assert_eq!(held.body, json!([]));
    let kinds = rewards_of(&app, friend).await;
    assert!(
        kinds.contains(&("referrer".into(), "coupon".into(), "pending".into(), None)),
        "{kinds:?}"
    );
    assert_eq!(app.end_holds().await, 1);
    let referrer_rewards = app
        .get(&format!("/api/loyalty/rewards/{referrer}"), &admin)
        .await;
    let coupon = referrer_rewards.body[0].clone();
    assert_eq!(coupon["discountType"], "percent");
    assert_eq!(coupon["firstOrderOnly"], false);
    let check = app
        .post(
            "/api/coupons/validate",
            &admin,
            json!({ "code": coupon["code"], "customerId": referrer, "orderAmount": 5000 }),
        )
        .await;
    assert_eq!(dec(&check.body["discount"]), Decimal::from(200));
    let kinds = rewards_of(&app, friend).await;
    assert!(
        kinds.contains(&("referred".into(), "coupon".into(), "released".into(), None)),
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&("referrer".into(), "coupon".into(), "released".into(), None)),
        "{kinds:?}"
    );
    assert_eq!(app.balance(referrer).await, Decimal::ZERO);
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn a_free_product_is_listed_and_claimed_by_one_order(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let campaign = create_campaign(
        &app,
        json!({ "name": "Free oil", "reward_type": "free_product", "referrer_free_product_id": 77, "referrer_free_product_name": "Mustard oil 1L" }),
    )
    .await;
    make_default(&app, &campaign["id"]).await;
    let (referrer, friend) = pair(&app, 41).await;
    app.order(41, friend, "delivered").await;
    let token = app.customer_token(referrer);
    // Issued when the hold ends, not at the delivery.
    let held = app.get("/api/loyalty/me/rewards", &token).await;
    assert_eq!(held.body, json!([]));
    assert_eq!(app.end_holds().await, 1);
    let listed = app.get("/api/loyalty/me/rewards", &token).await;
    let free = listed.body[0].clone();
    assert_eq!(free["kind"], "free_product");
    assert_eq!(free["productName"], "Mustard oil 1L");
    let check = app
        .post(
            "/api/coupons/validate",
            &token,
            json!({ "code": free["code"], "orderAmount": 300 }),
        )
        .await;
    assert_eq!(check.body["valid"], true);
    assert_eq!(check.body["productId"], 77);

    let admin = app.admin_token();
    app.put(
        "/api/orders/42",
        &admin,
        json!({ "customerId": referrer, "status": "delivered", "couponCode": free["code"] }),
    )
    .await;
    app.put(
        "/api/orders/43",
        &admin,
        json!({ "customerId": referrer, "status": "delivered", "couponCode": free["code"] }),
    )
    .await;
    let claimed: Option<i32> = sqlx::query_scalar!(
        "select redeemed_order_id from coupons where id = $1",
        free["id"].as_i64().unwrap() as i32
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(claimed, Some(42));
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn vip_tiers_and_milestones(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let admin = app.admin_token();
    let campaign = create_campaign(
        &app,
        json!({
            "name": "VIP", "reward_type": "membership", "vip_referrals_threshold": 2, "vip_membership_tier": "gold",
            "milestones": [{ "referral_count": 3, "reward_amount": 100 }]
        }),
    )
    .await;
    make_default(&app, &campaign["id"]).await;
    let referrer = app.customer("01315000001", None).await;
    for i in 0..3 {
        let friend = app
            .customer(&format!("0141500000{i}"), Some(&format!("REF{referrer}")))
            .await;
        app.order(500 + i, friend, "delivered").await;
        // Tiers count released referrals: the one in its hold does not count yet.
        let held = app
            .get(&format!("/api/loyalty/membership/{referrer}"), &admin)
            .await;
        let before = if i <= 1 { "none" } else { "gold" };
        assert_eq!(
            held.body["membershipTier"],
            before,
            "{} completions, {i} released",
            i + 1
        );
        assert_eq!(app.end_holds().await, 1);
        let membership = app
            .get(&format!("/api/loyalty/membership/{referrer}"), &admin)
            .await;
        let expected = if i == 0 { "none" } else { "gold" };
        assert_eq!(
            membership.body["membershipTier"],
            expected,
            "after {} completions",
            i + 1
        );
    }
    let membership = app
        .get(&format!("/api/loyalty/membership/{referrer}"), &admin)
        .await;
    assert_eq!(membership.body["tierSource"], "referral");
    assert_eq!(
        dec(&membership.body["discountPercentage"]),
        Decimal::from(10)
    );
    assert_eq!(membership.body["priceLockEnabled"], true);
    assert_eq!(app.events("vip_tier_upgraded").await, 1);
    // The membership campaign pays no referral money; the milestone pays ৳100 once.
    assert_eq!(app.balance(referrer).await, Decimal::from(100));
    assert_eq!(app.events("milestone_reached").await, 1);

    // An evaluation by orders never lowers the referral-earned tier (TrustCart D10).
    let evaluated = app
        .request(
            Method::POST,
            &format!("/api/loyalty/membership/{referrer}/evaluate"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(evaluated.status, StatusCode::CREATED, "{}", evaluated.body);
    assert_eq!(evaluated.body["tier"], "gold");
    let permanent = app
        .put(
            &format!("/api/loyalty/membership/{referrer}/tier"),
            &admin,
            json!({ "tier": "permanent" }),
        )
        .await;
    assert!(
        permanent.body["permanentCardNumber"]
            .as_str()
            .unwrap()
            .starts_with(&format!("PERM-{referrer}-"))
    );
    let golds = app
        .get("/api/loyalty/memberships?tier=permanent", &admin)
        .await;
    assert_eq!(golds.body.as_array().unwrap().len(), 1);
    app.put(
        &format!("/api/loyalty/membership/{referrer}/tier"),
        &admin,
        json!({ "tier": "diamond" }),
    )
    .await
    .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn fifty_completions_against_a_budget_of_ten(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let campaign = create_campaign(
        &app,
        json!({ "name": "Budget", "reward_referrer_amount": 100, "budget_count": 10 }),
    )
    .await;
    make_default(&app, &campaign["id"]).await;
    let mut friends = Vec::new();
    for referrer_n in 0..5u32 {
        let referrer = app.customer(&format!("0132{referrer_n:07}"), None).await;
        for friend_n in 0..10u32 {
            let friend = app
                .customer(
                    &format!("0142{:07}", referrer_n * 100 + friend_n),
                    Some(&format!("REF{referrer}")),
                )
                .await;
            let order = friends.len() as i32 + 1000;
            app.order(order, friend, "shipped").await;
            friends.push((friend, order));
        }
    }
    let deliveries = join_all(friends.iter().map(|&(_, order)| {
        let app = app.clone();
        tokio::spawn(async move { app.order_status(order, "delivered").await })
    }))
    .await;
    for delivery in deliveries {
        assert_eq!(delivery.unwrap().status, StatusCode::OK);
    }
    let counts = sqlx::query!(
        r#"select count(*) filter (where status = 'pending') as "issued!",
                  count(*) filter (where status = 'skipped' and reason = 'budget_exhausted') as "skipped!"
           from referral_rewards"#
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!((counts.issued, counts.skipped), (10, 40));
    let paid = || async {
        sqlx::query_scalar!(r#"select coalesce(sum(amount), 0) as "sum!" from wallet_transactions"#)
            .fetch_one(&app.pool)
            .await
            .unwrap()
    };
    assert_eq!(
        paid().await,
        Decimal::ZERO,
        "nothing is paid within the hold"
    );
    assert_eq!(app.end_holds().await, 50);
    let released: i64 = sqlx::query_scalar!(
        r#"select count(*) as "n!" from referral_rewards where status = 'released'"#
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(released, 10);
    assert_eq!(paid().await, Decimal::from(1000));
    let completed: i64 = sqlx::query_scalar!(
        r#"select count(*) as "n!" from customer_referrals where status = 'completed'"#
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        completed, 50,
        "every referral completes; only the rewards are limited"
    );
    let report = app
        .get(
            &format!("{CAMPAIGNS}/{}/report", campaign["id"].as_str().unwrap()),
            &app.admin_token(),
        )
        .await;
    assert_eq!(report.body["campaign"]["spent_count"], 10);
    assert_eq!(report.body["variants"][0]["rewards_skipped"], 40);
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn per_referrer_limits_hold_under_concurrency(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let campaign = create_campaign(
        &app,
        json!({ "name": "Limited", "reward_referrer_amount": 100, "referrer_daily_limit": 3 }),
    )
    .await;
    make_default(&app, &campaign["id"]).await;
    let referrer = app.customer("01316000001", None).await;
    let mut orders = Vec::new();
    for i in 0..8 {
        let friend = app
            .customer(&format!("0141600000{i}"), Some(&format!("REF{referrer}")))
            .await;
        app.order(600 + i, friend, "shipped").await;
        orders.push(600 + i);
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
    assert_eq!(app.balance(referrer).await, Decimal::ZERO);
    assert_eq!(app.end_holds().await, 8);
    assert_eq!(app.balance(referrer).await, Decimal::from(300));
    assert_eq!(app.ledger_rows(referrer).await, 3);
    let skipped: i64 = sqlx::query_scalar!(
        r#"select count(*) as "n!" from referral_rewards where reason = 'referrer_limit_reached'"#
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(skipped, 5);
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn ab_variants_are_sticky_per_referrer_and_reported(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let campaign = create_campaign(
        &app,
        json!({
            "name": "A/B", "reward_referrer_amount": 100,
            "variants": [
                { "name": "A", "weight": 1, "reward_referrer_amount": 100, "reward_referred_amount": 0 },
                { "name": "B", "weight": 1, "reward_referrer_amount": 200, "reward_referred_amount": 0 }
            ]
        }),
    )
    .await;
    make_default(&app, &campaign["id"]).await;
    let admin = app.admin_token();
    let mut seen = std::collections::BTreeSet::new();
    for r in 0..8u32 {
        let referrer = app.customer(&format!("0133{r:07}"), None).await;
        let mut variants = std::collections::BTreeSet::new();
        for f in 0..3u32 {
            let friend = app
                .customer(
                    &format!("0143{:07}", r * 10 + f),
                    Some(&format!("REF{referrer}")),
                )
                .await;
            app.order((700 + r * 10 + f) as i32, friend, "delivered")
                .await;
        }
        assert_eq!(app.balance(referrer).await, Decimal::ZERO);
        assert_eq!(app.end_holds().await, 3);
        for referral in app
            .get(&format!("/api/loyalty/referrals/{referrer}"), &admin)
            .await
            .body
            .as_array()
            .unwrap()
        {
            variants.insert(referral["variantId"].as_i64().unwrap());
        }
        assert_eq!(
            variants.len(),
            1,
            "referrer {referrer} must stay in one variant"
        );
        let variant = *variants.iter().next().unwrap();
        seen.insert(variant);
        let expected = if campaign["variants"][0]["id"].as_i64() == Some(variant) {
            300
        } else {
            600
        };
        assert_eq!(app.balance(referrer).await, Decimal::from(expected));
    }
    assert_eq!(seen.len(), 2, "eight referrers split over both variants");
    let report = app
        .get(
            &format!("{CAMPAIGNS}/{}/report", campaign["id"].as_str().unwrap()),
            &admin,
        )
        .await;
    let lines = report.body["variants"].as_array().unwrap();
    assert_eq!(lines.len(), 2);
    assert_eq!(
        lines
            .iter()
            .map(|l| l["referrals"].as_i64().unwrap())
            .sum::<i64>(),
        24
    );
    // A variant in use cannot be removed.
    app.put(
        &format!("{CAMPAIGNS}/{}", campaign["id"].as_str().unwrap()),
        &admin,
        json!({ "variants": [] }),
    )
    .await
    .assert_error(StatusCode::CONFLICT, "variants_in_use");
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn partner_and_channel_campaigns(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let admin = app.admin_token();
    let influencer = create_campaign(
        &app,
        json!({ "name": "Influencer welcome", "reward_referred_amount": 50 }),
    )
    .await;
    let qr = create_campaign(
        &app,
        json!({ "name": "Rider QR", "channel": "qr", "reward_referrer_amount": 70 }),
    )
    .await;

    let partner = app
        .post("/api/loyalty/referral-partners", &admin, json!({ "code": "RupaBeauty", "partnerType": "influencer", "name": "Rupa", "campaign_id": influencer["id"] }))
        .await;
    assert_eq!(partner.status, StatusCode::CREATED, "{}", partner.body);
    app.post(
        "/api/loyalty/referral-partners",
        &admin,
        json!({ "code": "rupabeauty" }),
    )
    .await
    .assert_error(StatusCode::CONFLICT, "partner_code_taken");
    app.post(
        "/api/loyalty/referral-partners",
        &admin,
        json!({ "code": "REF123" }),
    )
    .await
    .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_partner_code");

    let fan = app.customer("01317000001", Some("rupabeauty")).await;
    app.order(800, fan, "delivered").await;
    assert_eq!(app.balance(fan).await, Decimal::ZERO);
    let held = app
        .get("/api/loyalty/referral-partners/RUPABEAUTY/report", &admin)
        .await;
    assert_eq!(held.body["funnel"]["completed"], 1);
    assert_eq!(held.body["funnel"]["reward_credited"], 0);
    assert_eq!(app.end_holds().await, 1);
    assert_eq!(app.balance(fan).await, Decimal::from(50));
    let report = app
        .get("/api/loyalty/referral-partners/RUPABEAUTY/report", &admin)
        .await;
    assert_eq!(report.status, StatusCode::OK, "{}", report.body);
    assert_eq!(report.body["funnel"]["registered"], 1);
    assert_eq!(report.body["funnel"]["completed"], 1);
    assert_eq!(report.body["funnel"]["reward_credited"], 1);
    assert_eq!(report.body["revenue"]["order_count"], 1);
    assert_eq!(report.body["orders"][0]["id"], 800);

    let updated = app
        .put(
            &format!(
                "/api/loyalty/referral-partners/{}",
                partner.body["id"].as_str().unwrap()
            ),
            &admin,
            json!({ "is_active": false }),
        )
        .await;
    assert_eq!(updated.body["is_active"], false);
    assert_eq!(updated.body["campaign_id"], influencer["id"]);

    // A rider's QR card: the channel's campaign, not the default.
    let referrer = app.customer("01317000002", None).await;
    let scanned = app.sign_up(json!({ "phone": "01417000003", "ref": format!("REF{referrer}"), "referralChannel": "qr" })).await;
    assert_eq!(scanned.body["referralCampaignId"], qr["id"]);
    app.order(
        801,
        scanned.body["id"].as_i64().unwrap() as i32,
        "delivered",
    )
    .await;
    assert_eq!(app.balance(referrer).await, Decimal::ZERO);
    assert_eq!(app.end_holds().await, 1);
    assert_eq!(app.balance(referrer).await, Decimal::from(70));
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn the_dry_run_says_what_would_be_issued_and_why_not(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let admin = app.admin_token();
    let campaign = create_campaign(
        &app,
        json!({ "name": "Dry", "reward_referrer_amount": 100, "reward_referred_amount": 25, "min_order_amount": 300, "budget_count": 1 }),
    )
    .await;
    make_default(&app, &campaign["id"]).await;
    let referrer = app.customer("01318000001", None).await;
    let newcomer = app.customer("01418000001", None).await;
    let before = app.snapshot().await;
    let dry = |body: Value| {
        let app = app.clone();
        let admin = admin.clone();
        async move {
            app.post(&format!("{CAMPAIGNS}/dry-run"), &admin, body)
                .await
        }
    };

    let good = dry(json!({ "referrerCustomerId": referrer, "referredCustomerId": newcomer, "orderAmount": 1000 })).await;
    assert_eq!(good.status, StatusCode::OK, "{}", good.body);
    assert_eq!(good.body["eligible"], true);
    assert_eq!(good.body["campaignId"], campaign["id"]);
    let rewards = good.body["rewards"].as_array().unwrap();
    assert_eq!(rewards.len(), 2);
    // What a delivery would decide: both rewards earned, pending for the hold.
    assert!(
        rewards.iter().all(|r| r["status"] == "pending"),
        "{rewards:?}"
    );
    assert_eq!(app.snapshot().await, before, "a dry run writes nothing");

    let small = dry(json!({ "referrerCustomerId": referrer, "referredCustomerId": newcomer, "orderAmount": 299 })).await;
    assert_eq!(small.body["reasons"], json!(["below_minimum"]));
    let own = dry(json!({ "referrerCustomerId": referrer, "referredCustomerId": referrer, "orderAmount": 999 })).await;
    assert_eq!(own.body["reasons"], json!(["self_referral"]));

    // Use up the budget for real, then ask again.
    let (_, friend) = {
        let friend = app
            .customer("01418000002", Some(&format!("REF{referrer}")))
            .await;
        app.order(900, friend, "delivered").await;
        (referrer, friend)
    };
    let exhausted = dry(json!({ "referrerCustomerId": referrer, "referredCustomerId": newcomer, "orderAmount": 1000 })).await;
    assert_eq!(exhausted.body["eligible"], false);
    assert_eq!(exhausted.body["reasons"], json!(["budget_exhausted"]));
    let again = dry(json!({ "referrerCustomerId": referrer, "referredCustomerId": friend, "orderAmount": 1000 })).await;
    assert_eq!(again.body["reasons"], json!(["already_completed"]));
    let other = app.customer("01318000003", None).await;
    let taken = dry(
        json!({ "referrerCustomerId": other, "referredCustomerId": friend, "orderAmount": 1000 }),
    )
    .await;
    // The same code as the 409 of an actual second attribution.
    assert_eq!(taken.body["reasons"], json!(["customer_already_referred"]));

    let repeat = app.customer("01418000004", None).await;
    app.order(901, repeat, "delivered").await;
    let not_first = dry(json!({ "referrerCustomerId": referrer, "referredCustomerId": repeat, "orderAmount": 1000 })).await;
    assert!(
        not_first.body["reasons"]
            .as_array()
            .unwrap()
            .contains(&json!("not_first_order")),
        "{}",
        not_first.body
    );

    let paused = create_campaign(
        &app,
        json!({ "name": "Paused", "is_active": false, "reward_referrer_amount": 5 }),
    )
    .await;
    let inactive = dry(json!({ "referrerCustomerId": referrer, "referredCustomerId": newcomer, "orderAmount": 1000, "campaignId": paused["id"] })).await;
    assert!(
        inactive.body["reasons"]
            .as_array()
            .unwrap()
            .contains(&json!("campaign_inactive")),
        "{}",
        inactive.body
    );
    dry(json!({ "referrerCustomerId": 999999, "referredCustomerId": newcomer, "orderAmount": 1 }))
        .await
        .assert_error(StatusCode::NOT_FOUND, "customer_not_found");
    dry(json!({ "referrerCustomerId": referrer, "referredCustomerId": newcomer, "orderAmount": -1 }))
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn campaign_dates_and_money_budgets_are_enforced(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let admin = app.admin_token();
    // A default campaign that has ended promises nothing to new referrals.
    let ended = create_campaign(
        &app,
        json!({ "name": "Ended", "reward_referrer_amount": 100, "starts_at": "2020-01-01T00:00:00Z", "ends_at": "2020-02-01T00:00:00Z" }),
    )
    .await;
    make_default(&app, &ended["id"]).await;
    let (_, late) = pair(&app, 51).await;
    let customer = app
        .get("/api/customers/me", &app.customer_token(late))
        .await;
    assert_eq!(customer.body["referralCampaignId"], json!(null));

    // A budget in taka: ৳250 pays two ৳100 referrals, not a third.
    let budgeted = create_campaign(
        &app,
        json!({ "name": "Money budget", "reward_referrer_amount": 100, "budget_amount": 250 }),
    )
    .await;
    make_default(&app, &budgeted["id"]).await;
    let mut paid = Decimal::ZERO;
    for n in 52..55 {
        let (referrer, friend) = pair(&app, n).await;
        app.order(n as i32, friend, "delivered").await;
        assert_eq!(app.balance(referrer).await, Decimal::ZERO);
        assert_eq!(app.end_holds().await, 1);
        paid += app.balance(referrer).await;
    }
    assert_eq!(paid, Decimal::from(200));
    let campaign = app
        .get(&format!("{CAMPAIGNS}?includeInactive=true"), &admin)
        .await;
    let row = campaign
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == budgeted["id"])
        .unwrap()
        .clone();
    assert_eq!(row["spent_amount"], "200.00");
    assert_eq!(row["spent_count"], 2);
    app.check_invariants().await;
}
