//! Fraud verdicts at delivery, end to end: a blocking rule skips the rewards with its
//! reason; a reviewing rule holds them until a staff user approves or rejects, once.

use axum::http::StatusCode;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::helpers::{TestApp, dec};

/// Signs up a customer with `body` (a phone, and any of `ref`, `email`, `deviceId`).
async fn customer(app: &TestApp, body: Value) -> i32 {
    let mut body = body;
    body["name"] = json!("Test");
    let response = app.sign_up(body).await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.body);
    response.body["id"].as_i64().unwrap() as i32
}

/// A referrer and a friend with a throwaway email (disposableEmail reviews by default),
/// the friend's first order delivered; returns (referrer, friend, referral id).
async fn held_for_review(app: &TestApp, n: u32) -> (i32, i32, i32) {
    let referrer = customer(app, json!({ "phone": format!("0171600{n:04}") })).await;
    let friend = customer(
        app,
        json!({ "phone": format!("0181600{n:04}"), "ref": format!("REF{referrer:06}"),
                "email": format!("friend{n}@mailinator.com") }),
    )
    .await;
    let delivered = app.order(7600 + n as i32, friend, "delivered").await;
    assert_eq!(delivered.status, StatusCode::OK, "{}", delivered.body);
    let referral_id = delivered.body["completedReferralId"].as_i64().unwrap() as i32;
    (referrer, friend, referral_id)
}

async fn reward_status(app: &TestApp, referral_id: i32) -> (String, Option<String>) {
    let row = sqlx::query!(
        r#"select status::text as "status!", reason from referral_rewards
           where referral_id = $1 and side = 'referrer' order by completion desc limit 1"#,
        referral_id
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    (row.status, row.reason)
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn a_blocking_rule_skips_the_rewards_with_its_reason(pool: PgPool) {
    let app = TestApp::new(pool).await;
    // The referrer and the "friend" sign up from one phone.
    let referrer = customer(
        &app,
        json!({ "phone": "01716100001", "deviceId": "galaxy-a12" }),
    )
    .await;
    let friend = customer(
        &app,
        json!({ "phone": "01816100001", "ref": format!("REF{referrer:06}"), "deviceId": "galaxy-a12" }),
    )
    .await;
    let delivered = app.order(7650, friend, "delivered").await;
    let referral_id = delivered.body["completedReferralId"].as_i64().unwrap() as i32;
    assert_eq!(
        reward_status(&app, referral_id).await,
        ("skipped".into(), Some("fraud:sameDevice".into()))
    );
    let token = app.customer_token(referrer);
    let referral = &app.get("/api/loyalty/me/referrals", &token).await.body[0];
    assert_eq!(referral["status"], "completed");
    assert_eq!(referral["fraudReasons"], json!(["sameDevice"]));
    assert_eq!(
        referral["holdUntil"],
        json!(null),
        "a blocked referral is never released"
    );
    let wallet = app.get("/api/loyalty/me/wallet", &token).await;
    assert_eq!(dec(&wallet.body["pendingBalance"]), Decimal::ZERO);
    assert_eq!(app.end_holds().await, 0);
    assert_eq!(app.balance(referrer).await, Decimal::ZERO);
    // Nothing went to the review queue: a block is final.
    let queue = app
        .get("/api/loyalty/review-queue", &app.admin_token())
        .await;
    assert_eq!(queue.body, json!([]));

    // The same situation with the rule set to review is held instead.
    app.set_fraud_rule("sameDevice", json!({ "action": "review" }))
        .await;
    let other = customer(
        &app,
        json!({ "phone": "01816100002", "ref": format!("REF{referrer:06}"), "deviceId": "galaxy-a12" }),
    )
    .await;
    let delivered = app.order(7651, other, "delivered").await;
    let referral_id = delivered.body["completedReferralId"].as_i64().unwrap() as i32;
    assert_eq!(
        reward_status(&app, referral_id).await,
        ("in_review".into(), None)
    );
    // And with the rule off, paid after the hold. (A fourth signup from one device in a
    // day is also deviceVelocity's business: off too.)
    app.set_fraud_rule("sameDevice", json!({ "action": "off" }))
        .await;
    app.set_fraud_rule("deviceVelocity", json!({ "action": "off", "perDay": 3 }))
        .await;
    let third = customer(
        &app,
        json!({ "phone": "01816100003", "ref": format!("REF{referrer:06}"), "deviceId": "galaxy-a12" }),
    )
    .await;
    let delivered = app.order(7652, third, "delivered").await;
    let referral_id = delivered.body["completedReferralId"].as_i64().unwrap() as i32;
    assert_eq!(
        reward_status(&app, referral_id).await,
        ("pending".into(), None)
    );
    assert_eq!(
        app.end_holds().await,
        1,
        "only the third: the second is in review"
    );
    assert_eq!(app.balance(referrer).await, Decimal::from(100));
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn a_review_holds_the_rewards_until_approved_once(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let admin = app.admin_token();
    let (referrer, _, referral_id) = held_for_review(&app, 1).await;
    assert_eq!(
        reward_status(&app, referral_id).await,
        ("in_review".into(), None)
    );
    let token = app.customer_token(referrer);
    let wallet = app.get("/api/loyalty/me/wallet", &token).await;
    assert_eq!(dec(&wallet.body["pendingBalance"]), Decimal::from(100));
    assert_eq!(dec(&wallet.body["balance"]), Decimal::ZERO);
    let statement = app.get("/api/loyalty/me/wallet/transactions", &token).await;
    assert_eq!(statement.body[0]["status"], "pending");
    assert_eq!(
        statement.body[0]["releaseAt"],
        json!(null),
        "no release date while in review"
    );

    // However long the hold was, nothing is released while in review.
    assert_eq!(app.end_holds().await, 0);
    assert_eq!(app.balance(referrer).await, Decimal::ZERO);

    let queue = app.get("/api/loyalty/review-queue", &admin).await;
    assert_eq!(queue.status, StatusCode::OK, "{}", queue.body);
    let item = &queue.body[0];
    assert_eq!(item["referralId"], referral_id);
    assert_eq!(item["referrerCustomerId"], referrer);
    assert_eq!(item["reasons"], json!(["disposableEmail"]));
    assert_eq!(item["status"], "open");
    let signals = item["signals"].as_array().unwrap();
    let email = signals.iter().find(|s| s["kind"] == "email").unwrap();
    assert_eq!(email["value"], "f***@mailinator.com", "{email}");
    assert!(
        !queue.body.to_string().contains("friend1@"),
        "signals are masked: {}",
        queue.body
    );

    // Who may decide: staff with manage-mlm-settings, never a customer.
    let path = format!("/api/loyalty/review-queue/{referral_id}/approve");
    app.post(&path, &token, json!({}))
        .await
        .assert_error(StatusCode::FORBIDDEN, "forbidden");
    app.post(&path, &app.staff_token("support-agent"), json!({}))
        .await
        .assert_error(StatusCode::FORBIDDEN, "forbidden");
    app.post(&path, &admin, json!({ "note": "x".repeat(1001) }))
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");

    // The hold has ended meanwhile, so approving releases at once.
    let approved = app
        .post(
            &path,
            &admin,
            json!({ "note": "called the friend: a real customer" }),
        )
        .await;
    assert_eq!(approved.status, StatusCode::OK, "{}", approved.body);
    assert_eq!(approved.body["status"], "approved");
    assert_eq!(approved.body["note"], "called the friend: a real customer");
    assert!(approved.body["decidedBy"].is_number());
    assert_eq!(app.balance(referrer).await, Decimal::from(100));
    assert_eq!(
        reward_status(&app, referral_id).await,
        ("released".into(), None)
    );

    // Deciding twice is a conflict, whichever way.
    app.post(&path, &admin, json!({}))
        .await
        .assert_error(StatusCode::CONFLICT, "review_already_decided");
    app.post(
        &format!("/api/loyalty/review-queue/{referral_id}/reject"),
        &admin,
        json!({ "note": "changed my mind" }),
    )
    .await
    .assert_error(StatusCode::CONFLICT, "review_already_decided");
    assert_eq!(app.balance(referrer).await, Decimal::from(100));
    let open = app
        .get("/api/loyalty/review-queue?status=open", &admin)
        .await;
    assert_eq!(open.body, json!([]));
    let approved = app
        .get("/api/loyalty/review-queue?status=approved", &admin)
        .await;
    assert_eq!(approved.body.as_array().unwrap().len(), 1);
    assert_eq!(app.events("reward_held_for_review").await, 1);
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn approving_inside_the_hold_continues_it_and_rejecting_voids(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let admin = app.admin_token();
    let (first_referrer, _, approved_id) = held_for_review(&app, 2).await;
    let (second_referrer, _, rejected_id) = held_for_review(&app, 3).await;

    // Approved inside the 7-day hold: back to pending, paid when the hold ends.
    let approved = app
        .post(
            &format!("/api/loyalty/review-queue/{approved_id}/approve"),
            &admin,
            json!({ "note": "ok" }),
        )
        .await;
    assert_eq!(approved.status, StatusCode::OK, "{}", approved.body);
    assert_eq!(
        reward_status(&app, approved_id).await,
        ("pending".into(), None)
    );
    assert_eq!(app.balance(first_referrer).await, Decimal::ZERO);

    // Rejected (no body at all is fine): never paid.
    let rejected = app
        .raw(
            axum::http::Method::POST,
            &format!("/api/loyalty/review-queue/{rejected_id}/reject"),
            Some(&admin),
            None,
            None,
        )
        .await;
    assert_eq!(rejected.status, StatusCode::OK, "{}", rejected.body);
    assert_eq!(rejected.body["status"], "rejected");
    assert_eq!(
        reward_status(&app, rejected_id).await,
        ("rejected".into(), None)
    );
    assert_eq!(app.end_holds().await, 1, "the approved one");
    assert_eq!(app.balance(first_referrer).await, Decimal::from(100));
    assert_eq!(app.balance(second_referrer).await, Decimal::ZERO);
    let wallet = app
        .get(
            "/api/loyalty/me/wallet",
            &app.customer_token(second_referrer),
        )
        .await;
    assert_eq!(dec(&wallet.body["pendingBalance"]), Decimal::ZERO);
    assert_eq!(app.events("reward_rejected").await, 1);

    // A referral never held, and one whose order came back while in review.
    app.post(
        "/api/loyalty/review-queue/999999/approve",
        &admin,
        json!({}),
    )
    .await
    .assert_error(StatusCode::NOT_FOUND, "review_not_found");
    let (_, _, withdrawn_id) = held_for_review(&app, 4).await;
    assert_eq!(
        app.order_status(7604, "returned").await.status,
        StatusCode::OK
    );
    assert_eq!(reward_status(&app, withdrawn_id).await.0, "voided");
    app.post(
        &format!("/api/loyalty/review-queue/{withdrawn_id}/approve"),
        &admin,
        json!({}),
    )
    .await
    .assert_error(StatusCode::CONFLICT, "review_already_decided");
    let withdrawn = app
        .get("/api/loyalty/review-queue?status=withdrawn", &admin)
        .await;
    assert_eq!(withdrawn.body[0]["referralId"], withdrawn_id);
    app.get("/api/loyalty/review-queue?status=maybe", &admin)
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_query");
    app.check_invariants().await;
}
