//! The main path: signup with a friend's code, first order delivered, friend paid once.

use axum::http::StatusCode;
use rust_decimal::Decimal;
use serde_json::json;
use sqlx::PgPool;

use crate::helpers::{TestApp, dec};

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn signup_with_share_code_then_delivery_pays_the_referrer_once(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let referrer = app.customer("01711000001", None).await;
    let token = app.customer_token(referrer);

    let code = app.get("/api/loyalty/me/referral-code", &token).await;
    assert_eq!(code.status, StatusCode::OK);
    let share_code = code.body["referralCode"].as_str().unwrap().to_owned();
    assert_eq!(share_code, format!("REF{referrer:06}"));

    // The friend types the code in lower case with extra zeros, from WhatsApp.
    let friend = app
        .sign_up(json!({
            "name": "Karim", "phone": "+880 1811-000002", "password": "correct horse",
            "ref": format!("ref000{referrer}"), "referralChannel": "whatsapp"
        }))
        .await;
    assert_eq!(friend.status, StatusCode::CREATED, "{}", friend.body);
    assert_eq!(friend.body["referredByCustomerId"], referrer);
    assert_eq!(friend.body["referredChannel"], "whatsapp");
    assert_eq!(friend.body["isGuest"], false);
    let friend_id = friend.body["id"].as_i64().unwrap() as i32;

    let referrals = app.get("/api/loyalty/me/referrals", &token).await;
    assert_eq!(referrals.body.as_array().unwrap().len(), 1);
    let referral = &referrals.body[0];
    assert_eq!(referral["status"], "registered");
    assert_eq!(dec(&referral["rewardAmount"]), Decimal::from(100));
    assert_eq!(referral["rewardTransactionId"], json!(null));
    assert!(
        referral["referralCode"]
            .as_str()
            .unwrap()
            .starts_with("INV")
    );
    let stats = app.get("/api/loyalty/me/referrals/stats", &token).await;
    assert_eq!(stats.body["pending_referrals"], "1");
    assert_eq!(stats.body["total_rewards_earned"], "0");

    // The order is placed, shipped, delivered; the courier webhook then says it again.
    assert_eq!(
        app.order(9001, friend_id, "pending").await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.order_status(9001, "shipped").await.status,
        StatusCode::OK
    );
    let delivered = app.order_status(9001, "delivered").await;
    assert_eq!(delivered.status, StatusCode::OK, "{}", delivered.body);
    assert_eq!(delivered.body["completedReferralId"], referral["id"]);
    assert_eq!(delivered.body["previousStatus"], "shipped");
    let again = app.order_status(9001, "Delivered").await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.body["completedReferralId"], json!(null));

    // The reward is held for the campaign's return window: nothing is paid yet.
    assert_eq!(app.balance(referrer).await, Decimal::ZERO);
    assert_eq!(app.ledger_rows(referrer).await, 0);
    assert_eq!(app.events("reward_credited").await, 0);
    // The window passes: the release job pays it, once.
    assert_eq!(app.end_holds().await, 1);
    assert_eq!(app.end_holds().await, 0);

    let wallet = app.get("/api/loyalty/me/wallet", &token).await;
    assert_eq!(dec(&wallet.body["balance"]), Decimal::from(100));
    assert_eq!(dec(&wallet.body["totalEarned"]), Decimal::from(100));
    let transactions = app
        .get("/api/loyalty/me/wallet/transactions?limit=20", &token)
        .await;
    assert_eq!(transactions.body.as_array().unwrap().len(), 1);
    let credit = &transactions.body[0];
    assert_eq!(
        credit["idempotencyKey"],
        format!("referral:{}:referrer:wallet", referral["id"])
    );
    assert_eq!(credit["source"], "referral");
    assert_eq!(credit["transactionType"], "credit");
    assert!(credit["createdAt"].as_str().unwrap().ends_with('Z'));

    let referrals = app.get("/api/loyalty/me/referrals", &token).await;
    let referral = &referrals.body[0];
    assert_eq!(referral["status"], "completed");
    assert_eq!(referral["rewardCredited"], true);
    assert_eq!(referral["qualifyingOrderId"], 9001);
    assert_eq!(referral["rewardTransactionId"], credit["id"]);
    let stats = app.get("/api/loyalty/me/referrals/stats", &token).await;
    assert_eq!(
        stats.body,
        json!({
            "total_referrals": "1", "completed_referrals": "1", "pending_referrals": "0",
            "invited_referrals": "0", "registered_referrals": "0", "total_rewards_earned": "100.00",
            "pending_rewards": "0"
        })
    );

    // The friend got nothing (the default campaign pays 0 to the referred side).
    assert_eq!(app.balance(friend_id).await, Decimal::ZERO);
    for (event, count) in [("registered", 1), ("completed", 1), ("reward_credited", 1)] {
        assert_eq!(app.events(event).await, count, "{event}");
    }
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn both_sides_are_paid_when_the_campaign_promises_a_welcome_bonus(pool: PgPool) {
    let app = TestApp::new(pool).await;
    sqlx::query!("update referral_campaigns set reward_referrer_amount = 150.50, reward_referred_amount = 50 where is_default")
        .execute(&app.pool)
        .await
        .unwrap();
    let referrer = app.customer("01711000011", None).await;
    let friend = app
        .customer("01711000012", Some(&format!("REF{referrer:06}")))
        .await;
    // A later campaign change does not touch the promise already made.
    sqlx::query!("update referral_campaigns set reward_referrer_amount = 1, reward_referred_amount = 1 where is_default")
        .execute(&app.pool)
        .await
        .unwrap();
    app.order(1, friend, "delivered").await;
    assert_eq!(app.balance(referrer).await, Decimal::ZERO);
    assert_eq!(app.balance(friend).await, Decimal::ZERO);
    assert_eq!(app.end_holds().await, 1);
    assert_eq!(app.balance(referrer).await, Decimal::new(15050, 2));
    assert_eq!(app.balance(friend).await, Decimal::from(50));
    let keys: Vec<String> =
        sqlx::query_scalar!("select idempotency_key from wallet_transactions order by id")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert!(
        keys[0].ends_with(":referrer:wallet") && keys[1].ends_with(":referred:wallet"),
        "{keys:?}"
    );
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn only_the_first_successful_order_placed_after_the_referral_qualifies(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let admin = app.admin_token();
    let referrer = app.customer("01711000021", None).await;
    let friend = app
        .customer("01711000022", Some(&format!("REF{referrer}")))
        .await;

    // An order placed before the referral (a guest's order already in transit) never counts.
    let early = app
        .put(
            "/api/orders/100",
            &admin,
            json!({ "customerId": friend, "status": "in_transit", "createdAt": "2020-01-01T00:00:00Z" }),
        )
        .await;
    assert_eq!(early.status, StatusCode::OK, "{}", early.body);
    let delivered = app.order_status(100, "delivered").await;
    assert_eq!(delivered.body["completedReferralId"], json!(null));
    assert_eq!(app.events("completion_skipped").await, 1);

    // Now the customer has a successful order, so a later one is not their first.
    app.order(101, friend, "pending").await;
    let second = app.order_status(101, "partial_delivered").await;
    assert_eq!(second.body["completedReferralId"], json!(null));
    assert_eq!(app.balance(referrer).await, Decimal::ZERO);
    let reasons: Vec<serde_json::Value> = sqlx::query_scalar!(
        r#"select payload->'reason' as "reason!" from referral_events where event_type = 'completion_skipped' order by id"#
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        reasons,
        vec![json!("order_before_referral"), json!("not_first_order")]
    );
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn partial_delivery_completes_and_a_return_reverses_the_referral(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let referrer = app.customer("01711000031", None).await;
    let friend = app
        .customer("01711000032", Some(&format!("REF{referrer}")))
        .await;
    app.order(200, friend, "shipped").await;
    let delivered = app.order_status(200, "PARTIAL_DELIVERED").await;
    assert!(
        delivered.body["completedReferralId"].is_number(),
        "{}",
        delivered.body
    );
    let referral_id = delivered.body["completedReferralId"].as_i64().unwrap() as i32;
    let statuses = |completion: i32| {
        let pool = app.pool.clone();
        async move {
            sqlx::query_scalar!(
                r#"select status::text as "status!" from referral_rewards
                   where referral_id = $1 and completion = $2 order by side, kind"#,
                referral_id,
                completion
            )
            .fetch_all(&pool)
            .await
            .unwrap()
        }
    };
    let referral_status = || {
        let pool = app.pool.clone();
        async move {
            sqlx::query_scalar!(
                r#"select status::text as "status!" from customer_referrals where id = $1"#,
                referral_id
            )
            .fetch_one(&pool)
            .await
            .unwrap()
        }
    };
    assert_eq!(statuses(1).await, ["pending"]);

    // Returned within the return window: the reward still in its hold is voided, nothing
    // was paid, and the referral is open again.
    let returned = app.order_status(200, "returned").await;
    assert_eq!(returned.status, StatusCode::OK);
    assert_eq!(app.balance(referrer).await, Decimal::ZERO);
    assert_eq!(app.ledger_rows(referrer).await, 0);
    assert_eq!(app.events("qualifying_order_reversed").await, 1);
    assert_eq!(statuses(1).await, ["voided"]);
    assert_eq!(referral_status().await, "registered");
    assert_eq!(app.end_holds().await, 0);
    assert_eq!(app.balance(referrer).await, Decimal::ZERO);

    // Delivered again after the return: the returned order is no longer a successful
    // order, so this delivery completes the referral a second time, held again, and
    // paid once when its window passes (under the second completion's key).
    let again = app.order_status(200, "delivered").await;
    assert_eq!(again.body["completedReferralId"], referral_id);
    assert_eq!(app.balance(referrer).await, Decimal::ZERO);
    assert_eq!(app.end_holds().await, 1);
    assert_eq!(app.balance(referrer).await, Decimal::from(100));
    assert_eq!(statuses(2).await, ["released"]);
    let keys: Vec<String> = sqlx::query_scalar!(
        "select idempotency_key from wallet_transactions where customer_id = $1 order by id",
        referrer
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(keys, [format!("referral:{referral_id}:referrer:wallet:2")]);

    // Returned after the release: the reward is clawed back by a reversing debit.
    app.order_status(200, "returned").await;
    assert_eq!(app.balance(referrer).await, Decimal::ZERO);
    assert_eq!(statuses(2).await, ["clawed_back"]);
    assert_eq!(referral_status().await, "registered");
    assert_eq!(app.events("qualifying_order_reversed").await, 2);
    let keys: Vec<String> = sqlx::query_scalar!(
        "select idempotency_key from wallet_transactions where customer_id = $1 order by id",
        referrer
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        keys,
        [
            format!("referral:{referral_id}:referrer:wallet:2"),
            format!("referral:{referral_id}:referrer:wallet:2:clawback"),
        ]
    );
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn an_invitation_completes_when_the_friend_joins_with_its_code(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let referrer = app.customer("01711000041", None).await;
    let token = app.customer_token(referrer);
    let invite = app
        .post(
            "/api/loyalty/me/referral",
            &token,
            json!({ "referredEmail": " Friend@Example.com ", "referredPhone": "01711000042" }),
        )
        .await;
    assert_eq!(invite.status, StatusCode::CREATED, "{}", invite.body);
    assert_eq!(invite.body["status"], "pending");
    assert_eq!(invite.body["referredEmail"], "friend@example.com");
    assert_eq!(invite.body["referredPhone"], "+8801711000042");
    let invite_code = invite.body["referralCode"].as_str().unwrap().to_owned();
    let stats = app.get("/api/loyalty/me/referrals/stats", &token).await;
    assert_eq!(stats.body["invited_referrals"], "1");

    let friend = app
        .customer("01711000042", Some(&invite_code.to_lowercase()))
        .await;
    let referral = app.get("/api/loyalty/me/referrals", &token).await.body[0].clone();
    assert_eq!(referral["status"], "registered");
    assert_eq!(referral["referredCustomerId"], friend);

    app.order(300, friend, "delivered").await;
    assert_eq!(app.balance(referrer).await, Decimal::ZERO);
    assert_eq!(app.end_holds().await, 1);
    assert_eq!(app.balance(referrer).await, Decimal::from(100));
    assert_eq!(app.events("invited").await, 1);

    // The code cannot be claimed twice.
    let other = app.customer("01711000043", Some(&invite_code)).await;
    let other_customer = app
        .get(
            &format!("/api/loyalty/referrals/{referrer}"),
            &app.admin_token(),
        )
        .await;
    assert_eq!(other_customer.body.as_array().unwrap().len(), 1);
    assert!(other > friend);
    assert_eq!(app.events("unknown_code").await, 1);
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn invitations_refuse_self_referral_and_existing_customers(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let me = app
        .sign_up(json!({ "phone": "01711000051", "email": "me@example.com" }))
        .await
        .body["id"]
        .as_i64()
        .unwrap() as i32;
    let existing = app.customer("01711000052", None).await;
    let token = app.customer_token(me);
    let before = app.snapshot().await;

    let own_phone = app
        .post(
            "/api/loyalty/me/referral",
            &token,
            json!({ "referredPhone": "+8801711000051" }),
        )
        .await;
    own_phone.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "self_referral");
    let own_email = app
        .post(
            "/api/loyalty/me/referral",
            &token,
            json!({ "referredEmail": "ME@example.com" }),
        )
        .await;
    own_email.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "self_referral");
    let customer = app
        .post(
            "/api/loyalty/me/referral",
            &token,
            json!({ "referredPhone": "01711000052" }),
        )
        .await;
    customer.assert_error(StatusCode::CONFLICT, "already_customer");
    let nobody = app
        .post("/api/loyalty/me/referral", &token, json!({}))
        .await;
    nobody.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let bad_phone = app
        .post(
            "/api/loyalty/me/referral",
            &token,
            json!({ "referredPhone": "12345" }),
        )
        .await;
    bad_phone.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(
        bad_phone.body["fields"]["referredPhone"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    assert_eq!(app.snapshot().await, before);
    assert!(existing > me);
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn admin_creates_and_completes_referrals_by_hand(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let admin = app.admin_token();
    let referrer = app.customer("01711000061", None).await;
    let created = app
        .post(
            "/api/loyalty/referral",
            &admin,
            json!({ "referrerCustomerId": referrer, "referredEmail": "x@example.com" }),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let referral_id = created.body["id"].as_i64().unwrap();

    // Nobody joined through it yet.
    let early = app
        .request(
            axum::http::Method::PUT,
            &format!("/api/loyalty/referral/{referral_id}/complete"),
            Some(&admin),
            None,
        )
        .await;
    early.assert_error(StatusCode::CONFLICT, "referral_not_completable");

    let friend = app.customer("01711000062", None).await;
    app.order(400, friend, "delivered").await;
    let other = app.customer("01711000063", None).await;
    let wrong_order = app
        .put(
            &format!("/api/loyalty/referral/{referral_id}/complete"),
            &admin,
            json!({ "referredCustomerId": other, "orderId": 400 }),
        )
        .await;
    wrong_order.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "order_customer_mismatch");

    let completed = app
        .put(
            &format!("/api/loyalty/referral/{referral_id}/complete"),
            &admin,
            json!({ "referredCustomerId": friend, "orderId": 400 }),
        )
        .await;
    assert_eq!(completed.status, StatusCode::OK, "{}", completed.body);
    assert_eq!(completed.body["status"], "completed");
    // Held for the return window like a delivery's reward: credited on release.
    assert_eq!(completed.body["rewardCredited"], false);
    assert_eq!(completed.body["qualifyingOrderId"], 400);

    // Completing again changes nothing and is not an error.
    let again = app
        .request(
            axum::http::Method::PUT,
            &format!("/api/loyalty/referral/{referral_id}/complete"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(app.balance(referrer).await, Decimal::ZERO);
    assert_eq!(app.end_holds().await, 1);
    assert_eq!(app.balance(referrer).await, Decimal::from(100));
    let listed = app
        .get(&format!("/api/loyalty/referrals/{referrer}"), &admin)
        .await;
    assert_eq!(listed.body[0]["id"], referral_id);
    assert_eq!(listed.body[0]["rewardCredited"], true);
    let mismatch = app
        .put(
            &format!("/api/loyalty/referral/{referral_id}/complete"),
            &admin,
            json!({ "referredCustomerId": other }),
        )
        .await;
    mismatch.assert_error(StatusCode::CONFLICT, "referral_customer_mismatch");
    let missing = app
        .put("/api/loyalty/referral/999999/complete", &admin, json!({}))
        .await;
    missing.assert_error(StatusCode::NOT_FOUND, "referral_not_found");
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn partner_codes_win_and_unknown_codes_are_only_logged(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let referrer = app.customer("01711000071", None).await;
    sqlx::query!("insert into referral_partners (code, name) values ('RupaBeauty', 'Rupa')")
        .execute(&app.pool)
        .await
        .unwrap();

    let partnered = app
        .sign_up(json!({ "phone": "01711000072", "referredByCode": "rupabeauty", "channel": "Influencer" }))
        .await;
    assert_eq!(partnered.status, StatusCode::CREATED);
    assert_eq!(partnered.body["referredByCode"], "RupaBeauty");
    assert!(partnered.body["referredByPartnerId"].is_string());
    assert_eq!(partnered.body["referredChannel"], "influencer");
    assert_eq!(app.events("partner_attributed").await, 1);

    let unknown = app
        .sign_up(json!({ "phone": "01711000073", "ref": "NOSUCHCODE" }))
        .await;
    assert_eq!(unknown.status, StatusCode::CREATED);
    assert_eq!(unknown.body["referredByCode"], json!(null));
    assert_eq!(unknown.body["referredByPartnerId"], json!(null));
    let ghost = app
        .sign_up(json!({ "phone": "01711000074", "ref": "REF999999" }))
        .await;
    assert_eq!(ghost.body["referredByCustomerId"], json!(null));
    assert_eq!(app.events("unknown_code").await, 2);
    assert_eq!(app.events("partner_attributed").await, 1);

    let stats = app
        .get(
            &format!("/api/loyalty/referrals/{referrer}/stats"),
            &app.admin_token(),
        )
        .await;
    assert_eq!(stats.body["total_referrals"], "0");
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn a_paused_campaign_records_the_referral_without_a_promise(pool: PgPool) {
    let app = TestApp::new(pool).await;
    sqlx::query!("update referral_campaigns set is_active = false")
        .execute(&app.pool)
        .await
        .unwrap();
    let referrer = app.customer("01711000081", None).await;
    let friend = app
        .customer("01711000082", Some(&format!("REF{referrer}")))
        .await;
    app.order(500, friend, "delivered").await;
    let referral = app
        .get(
            &format!("/api/loyalty/referrals/{referrer}"),
            &app.admin_token(),
        )
        .await
        .body[0]
        .clone();
    assert_eq!(referral["status"], "completed");
    assert_eq!(referral["campaignId"], json!(null));
    assert_eq!(dec(&referral["rewardAmount"]), Decimal::ZERO);
    assert_eq!(app.balance(referrer).await, Decimal::ZERO);
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn referral_lists_paginate_newest_first(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let referrer = app.customer("01711000091", None).await;
    for i in 0..5 {
        app.customer(&format!("0171100010{i}"), Some(&format!("REF{referrer}")))
            .await;
    }
    let admin = app.admin_token();
    let page = app
        .get(
            &format!("/api/loyalty/referrals/{referrer}?limit=2"),
            &admin,
        )
        .await;
    let ids: Vec<i64> = page
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids.len(), 2);
    assert!(ids[0] > ids[1]);
    let next = app
        .get(
            &format!(
                "/api/loyalty/referrals/{referrer}?limit=10&beforeId={}",
                ids[1]
            ),
            &admin,
        )
        .await;
    assert_eq!(next.body.as_array().unwrap().len(), 3);
    app.get(
        &format!("/api/loyalty/referrals/{referrer}?limit=0"),
        &admin,
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, "invalid_query");
    app.get(
        &format!("/api/loyalty/referrals/{referrer}?limit=501"),
        &admin,
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, "invalid_query");
    app.get("/api/loyalty/referrals/424242", &admin)
        .await
        .assert_error(StatusCode::NOT_FOUND, "customer_not_found");
    app.get("/api/loyalty/referral-code/424242", &admin)
        .await
        .assert_error(StatusCode::NOT_FOUND, "customer_not_found");
    app.get("/api/loyalty/referrals/424242/stats", &admin)
        .await
        .assert_error(StatusCode::NOT_FOUND, "customer_not_found");
    let code = app
        .get(&format!("/api/loyalty/referral-code/{referrer}"), &admin)
        .await;
    assert_eq!(
        code.body,
        json!({ "referralCode": format!("REF{referrer:06}") })
    );
    app.check_invariants().await;
}
