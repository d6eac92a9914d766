//! Withdrawals: the hold, every transition, the payout debit (once), limits, accounts,
//! and who sees what.

use axum::http::StatusCode;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::helpers::{TestApp, dec, test_config};

const PHONE: &str = "01712000001";
const E164: &str = "+8801712000001";

/// A customer with `amount` taka and, if `verified`, a verified phone `phone`.
async fn customer_with(app: &TestApp, phone: &str, amount: i64, verified: bool) -> i32 {
    let id = app.customer(phone, None).await;
    if amount > 0 {
        let credit = app
            .post(
                &format!("/api/loyalty/wallet/{id}/credit"),
                &app.admin_token(),
                json!({ "amount": amount, "source": "bonus", "idempotencyKey": format!("fund-{id}") }),
            )
            .await;
        assert_eq!(credit.status, StatusCode::CREATED, "{}", credit.body);
    }
    if verified {
        let e164 = format!("+880{}", &phone[1..]);
        app.verify_phone(id, &e164).await;
    }
    id
}

async fn wallet(app: &TestApp, id: i32) -> Value {
    let wallet = app
        .get("/api/loyalty/me/wallet", &app.customer_token(id))
        .await;
    assert_eq!(wallet.status, StatusCode::OK, "{}", wallet.body);
    wallet.body
}

async fn withdraw(app: &TestApp, id: i32, amount: i64) -> crate::helpers::TestResponse {
    app.post(
        "/api/loyalty/me/withdrawals",
        &app.customer_token(id),
        json!({ "amount": amount, "method": "bkash", "account": PHONE }),
    )
    .await
}

async fn set_status(app: &TestApp, request: &Value, body: Value) -> crate::helpers::TestResponse {
    let id = request["id"].as_str().unwrap();
    app.put(
        &format!("/api/loyalty/wallet/withdrawals/{id}/status"),
        &app.admin_token(),
        body,
    )
    .await
}

fn admin_actor(app: &TestApp) -> String {
    let id = app.staff.iter().find(|(r, _)| r == "admin").unwrap().1;
    format!("user:{id}")
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn pending_approved_paid_holds_then_debits_once(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let id = customer_with(&app, PHONE, 1000, true).await;

    let created = withdraw(&app, id, 300).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let request = created.body.clone();
    assert!(request["id"].is_string(), "TrustCart's ids are strings");
    assert_eq!(request["status"], "pending");
    assert_eq!(request["account"], E164);
    assert_eq!(request["accountIsVerifiedPhone"], true);
    assert_eq!(request["createdBy"], format!("customer:{id}"));
    let held = wallet(&app, id).await;
    assert_eq!(dec(&held["balance"]), Decimal::from(1000));
    assert_eq!(dec(&held["heldBalance"]), Decimal::from(300));

    // Held money is spendable by nothing: an operator's debit may take only the rest.
    let debit = |amount: i64, key: String| {
        let app = app.clone();
        async move {
            app.post(
                &format!("/api/loyalty/wallet/{id}/debit"),
                &app.admin_token(),
                json!({ "amount": amount, "source": "purchase", "idempotencyKey": key }),
            )
            .await
        }
    };
    debit(701, "d1".into())
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "insufficient_balance");
    assert_eq!(debit(100, "d2".into()).await.status, StatusCode::CREATED);

    // pending → paid skips approval.
    set_status(
        &app,
        &request,
        json!({ "status": "paid", "payoutReference": "BK1" }),
    )
    .await
    .assert_error(StatusCode::CONFLICT, "invalid_transition");
    let approved = set_status(&app, &request, json!({ "status": "approved" })).await;
    assert_eq!(approved.status, StatusCode::OK, "{}", approved.body);
    assert_eq!(approved.body["status"], "approved");
    assert_eq!(approved.body["approvedBy"], admin_actor(&app));
    assert!(approved.body["approvedAt"].is_string());
    set_status(&app, &request, json!({ "status": "approved" }))
        .await
        .assert_error(StatusCode::CONFLICT, "invalid_transition");

    // Paid needs the payout's reference.
    set_status(&app, &request, json!({ "status": "paid" }))
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let rows_before = app.ledger_rows(id).await;
    let paid = set_status(
        &app,
        &request,
        json!({ "status": "paid", "payoutReference": "BKX9A7", "notes": "sent" }),
    )
    .await;
    assert_eq!(paid.status, StatusCode::OK, "{}", paid.body);
    assert_eq!(paid.body["status"], "paid");
    assert_eq!(paid.body["payoutReference"], "BKX9A7");
    assert_eq!(paid.body["paidBy"], admin_actor(&app));
    assert_eq!(paid.body["notes"], "sent");
    assert_eq!(app.ledger_rows(id).await, rows_before + 1);
    let after = wallet(&app, id).await;
    assert_eq!(dec(&after["balance"]), Decimal::from(600));
    assert_eq!(dec(&after["heldBalance"]), Decimal::ZERO);
    assert_eq!(dec(&after["totalSpent"]), Decimal::from(400));

    let debit_row = sqlx::query!(
        r#"select idempotency_key, source::text as "source!", amount, reference_id
           from wallet_transactions where id = $1"#,
        paid.body["paidTransactionId"].as_i64().unwrap() as i32
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    let request_id: i64 = request["id"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        debit_row.idempotency_key,
        format!("withdrawal:{request_id}:paid")
    );
    assert_eq!(debit_row.source, "withdrawal");
    assert_eq!(debit_row.amount, Decimal::from(300));
    assert_eq!(debit_row.reference_id, Some(request_id as i32));

    // Paying again, or any move out of paid, changes nothing.
    for body in [
        json!({ "status": "paid", "payoutReference": "BKX9A7" }),
        json!({ "status": "rejected" }),
        json!({ "status": "approved" }),
        json!({ "status": "pending" }),
    ] {
        set_status(&app, &request, body)
            .await
            .assert_error(StatusCode::CONFLICT, "invalid_transition");
    }
    assert_eq!(app.ledger_rows(id).await, rows_before + 1);
    assert_eq!(app.balance(id).await, Decimal::from(600));

    // The engine's payout keys are not for operators.
    debit(1, format!("withdrawal:{request_id}:paid"))
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn rejecting_releases_the_hold_from_pending_or_approved(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let id = customer_with(&app, PHONE, 500, true).await;
    let first = withdraw(&app, id, 200).await.body;
    let second = withdraw(&app, id, 300).await.body;
    assert_eq!(
        dec(&wallet(&app, id).await["heldBalance"]),
        Decimal::from(500)
    );
    // Everything is held: a third request gets nothing.
    withdraw(&app, id, 100)
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "insufficient_balance");

    let rejected = set_status(
        &app,
        &first,
        json!({ "status": "rejected", "notes": "wrong name" }),
    )
    .await;
    assert_eq!(rejected.status, StatusCode::OK, "{}", rejected.body);
    assert_eq!(rejected.body["rejectedBy"], admin_actor(&app));
    assert_eq!(rejected.body["notes"], "wrong name");
    assert_eq!(
        dec(&wallet(&app, id).await["heldBalance"]),
        Decimal::from(300)
    );

    assert_eq!(
        set_status(&app, &second, json!({ "status": "approved" }))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        set_status(&app, &second, json!({ "status": "rejected" }))
            .await
            .status,
        StatusCode::OK
    );
    let after = wallet(&app, id).await;
    assert_eq!(dec(&after["heldBalance"]), Decimal::ZERO);
    assert_eq!(dec(&after["balance"]), Decimal::from(500));
    assert_eq!(app.ledger_rows(id).await, 1, "no money moved");

    for request in [&first, &second] {
        for status in ["approved", "paid", "rejected", "pending"] {
            set_status(
                &app,
                request,
                json!({ "status": status, "payoutReference": "X" }),
            )
            .await
            .assert_error(StatusCode::CONFLICT, "invalid_transition");
        }
    }
    app.put(
        "/api/loyalty/wallet/withdrawals/999999/status",
        &app.admin_token(),
        json!({ "status": "approved" }),
    )
    .await
    .assert_error(StatusCode::NOT_FOUND, "withdrawal_not_found");
    app.put(
        "/api/loyalty/wallet/withdrawals/1/status",
        &app.admin_token(),
        json!({ "status": "sent" }),
    )
    .await
    .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body");
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn twenty_concurrent_requests_hold_exactly_the_balance(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let id = customer_with(&app, PHONE, 500, true).await;
    let attempts = (0..20).map(|_| {
        let app = app.clone();
        tokio::spawn(async move { withdraw(&app, id, 100).await })
    });
    let responses = futures::future::join_all(attempts).await;
    let mut created = 0;
    let mut refused = 0;
    for response in responses {
        let response = response.unwrap();
        match response.status {
            StatusCode::CREATED => created += 1,
            _ => {
                response.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "insufficient_balance");
                refused += 1;
            }
        }
    }
    assert_eq!((created, refused), (5, 15));
    let after = wallet(&app, id).await;
    assert_eq!(dec(&after["balance"]), Decimal::from(500));
    assert_eq!(dec(&after["heldBalance"]), Decimal::from(500));
    let open = sqlx::query_scalar!(
        r#"select count(*) as "n!" from wallet_withdrawal_requests where customer_id = $1 and status = 'pending'"#,
        id
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(open, 5);
    assert_eq!(app.ledger_rows(id).await, 1, "holding moves no ledger row");
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn concurrent_payouts_of_one_request_debit_once(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let id = customer_with(&app, PHONE, 500, true).await;
    let request = withdraw(&app, id, 250).await.body;
    assert_eq!(
        set_status(&app, &request, json!({ "status": "approved" }))
            .await
            .status,
        StatusCode::OK
    );
    let attempts = (0..6).map(|i| {
        let app = app.clone();
        let request = request.clone();
        // Half pay, half reject, at once: exactly one decision wins.
        let body = if i % 2 == 0 {
            json!({ "status": "paid", "payoutReference": format!("BK{i}") })
        } else {
            json!({ "status": "rejected" })
        };
        tokio::spawn(async move { set_status(&app, &request, body).await })
    });
    let responses = futures::future::join_all(attempts).await;
    let won: Vec<_> = responses
        .into_iter()
        .map(|r| r.unwrap())
        .filter(|r| {
            if r.status != StatusCode::OK {
                r.assert_error(StatusCode::CONFLICT, "invalid_transition");
            }
            r.status == StatusCode::OK
        })
        .collect();
    assert_eq!(won.len(), 1);
    let expected = if won[0].body["status"] == "paid" {
        250
    } else {
        500
    };
    assert_eq!(app.balance(id).await, Decimal::from(expected));
    assert_eq!(dec(&wallet(&app, id).await["heldBalance"]), Decimal::ZERO);
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn the_phone_must_be_verified_and_mobile_money_goes_to_it(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let id = customer_with(&app, PHONE, 1000, false).await;
    let token = app.customer_token(id);
    let before = app.snapshot().await;
    withdraw(&app, id, 100)
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "phone_not_verified");
    app.post(
        &format!("/api/loyalty/wallet/{id}/withdrawals"),
        &app.admin_token(),
        json!({ "amount": 100, "account": PHONE }),
    )
    .await
    .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "phone_not_verified");
    assert_eq!(app.snapshot().await, before);

    app.verify_phone(id, E164).await;
    for method in ["bkash", "nagad", "rocket"] {
        let other = app
            .post(
                "/api/loyalty/me/withdrawals",
                &token,
                json!({ "amount": 100, "method": method, "account": "01812345678" }),
            )
            .await;
        other.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert!(other.body["fields"]["account"].is_array(), "{}", other.body);
    }
    app.post(
        "/api/loyalty/me/withdrawals",
        &token,
        json!({ "amount": 100, "method": "bkash", "account": "not a phone" }),
    )
    .await
    .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    // The same number in another spelling is the verified phone.
    let nagad = app
        .post(
            "/api/loyalty/me/withdrawals",
            &token,
            json!({ "amount": 100, "method": "nagad", "account": "+880 1712-000001" }),
        )
        .await;
    assert_eq!(nagad.status, StatusCode::CREATED, "{}", nagad.body);
    assert_eq!(nagad.body["account"], E164);
    let bank = app
        .post(
            "/api/loyalty/me/withdrawals",
            &token,
            json!({ "amount": 100, "method": "bank", "account": "DBBL Gulshan 123.456.789" }),
        )
        .await;
    assert_eq!(bank.status, StatusCode::CREATED, "{}", bank.body);
    assert_eq!(bank.body["accountIsVerifiedPhone"], false);
    // Unknown fields and methods are refused on our own route.
    app.post(
        "/api/loyalty/me/withdrawals",
        &token,
        json!({ "amount": 100, "method": "paypal", "account": PHONE }),
    )
    .await
    .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body");
    app.post(
        "/api/loyalty/me/withdrawals",
        &token,
        json!({ "amount": 100, "method": "bkash", "account": PHONE, "customerId": 1 }),
    )
    .await
    .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body");
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn staff_may_enter_another_account_and_it_is_recorded(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let id = customer_with(&app, PHONE, 1000, true).await;
    let path = format!("/api/loyalty/wallet/{id}/withdrawals");
    // TrustCart's body: method defaults to bkash; unknown fields are ignored.
    let created = app
        .post(
            &path,
            &app.admin_token(),
            json!({ "amount": 150, "account": "01812345678", "notes": "asked by phone", "extra": true }),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.body["method"], "bkash");
    assert_eq!(created.body["account"], "+8801812345678");
    assert_eq!(created.body["accountIsVerifiedPhone"], false);
    assert_eq!(created.body["createdBy"], admin_actor(&app));
    assert_eq!(created.body["notes"], "asked by phone");
    let stored = sqlx::query!(
        "select created_by, account_is_verified_phone from wallet_withdrawal_requests where customer_id = $1",
        id
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(stored.created_by, admin_actor(&app));
    assert!(!stored.account_is_verified_phone);

    // Route 16 needs manage-mlm-settings; 17 view-mlm-reports; 18 manage-mlm-settings.
    let support = app.staff_token("support-agent");
    app.post(&path, &support, json!({ "amount": 150, "account": PHONE }))
        .await
        .assert_error(StatusCode::FORBIDDEN, "forbidden");
    app.post(
        &path,
        &app.customer_token(id),
        json!({ "amount": 150, "account": PHONE }),
    )
    .await
    .assert_error(StatusCode::FORBIDDEN, "forbidden");
    let listed = app.get(&path, &support).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    assert_eq!(listed.body.as_array().unwrap().len(), 1);
    let request_id = created.body["id"].as_str().unwrap();
    app.put(
        &format!("/api/loyalty/wallet/withdrawals/{request_id}/status"),
        &support,
        json!({ "status": "approved" }),
    )
    .await
    .assert_error(StatusCode::FORBIDDEN, "forbidden");
    let manager = app.staff_token("marketing-manager");
    let approved = app
        .put(
            &format!("/api/loyalty/wallet/withdrawals/{request_id}/status"),
            &manager,
            json!({ "status": "approved" }),
        )
        .await;
    assert_eq!(approved.status, StatusCode::OK, "{}", approved.body);
    app.post(
        "/api/loyalty/wallet/999999/withdrawals",
        &app.admin_token(),
        json!({ "amount": 150, "account": PHONE }),
    )
    .await
    .assert_error(StatusCode::NOT_FOUND, "customer_not_found");
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn the_minimum_and_the_daily_maximum_are_kept(pool: PgPool) {
    let app = TestApp::with_config(
        pool,
        test_config(&[
            ("WITHDRAWAL_MIN_AMOUNT", "200"),
            ("WITHDRAWAL_MAX_PER_DAY", "1000"),
        ]),
    )
    .await;
    let id = customer_with(&app, PHONE, 5000, true).await;
    let below = withdraw(&app, id, 150).await;
    below.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert!(below.body["fields"]["amount"].is_array());
    let first = withdraw(&app, id, 600).await;
    assert_eq!(first.status, StatusCode::CREATED);
    withdraw(&app, id, 500).await.assert_error(
        StatusCode::UNPROCESSABLE_ENTITY,
        "withdrawal_limit_exceeded",
    );
    // A rejected request does not count; paid ones do.
    set_status(&app, &first.body, json!({ "status": "rejected" })).await;
    let second = withdraw(&app, id, 500).await;
    assert_eq!(second.status, StatusCode::CREATED);
    set_status(&app, &second.body, json!({ "status": "approved" })).await;
    set_status(
        &app,
        &second.body,
        json!({ "status": "paid", "payoutReference": "N1" }),
    )
    .await;
    assert_eq!(withdraw(&app, id, 500).await.status, StatusCode::CREATED);
    withdraw(&app, id, 200).await.assert_error(
        StatusCode::UNPROCESSABLE_ENTITY,
        "withdrawal_limit_exceeded",
    );
    // Requests older than 24 hours leave the window.
    sqlx::query!(
        "update wallet_withdrawal_requests set created_at = now() - interval '25 hours' where customer_id = $1",
        id
    )
    .execute(&app.pool)
    .await
    .unwrap();
    assert_eq!(withdraw(&app, id, 1000).await.status, StatusCode::CREATED);
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn a_customer_sees_only_their_own_withdrawals(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let a = customer_with(&app, PHONE, 1000, true).await;
    let b = customer_with(&app, "01912000002", 1000, true).await;
    let first = withdraw(&app, a, 100).await.body;
    let second = withdraw(&app, a, 200).await.body;
    set_status(&app, &first, json!({ "status": "rejected" })).await;

    let mine = app
        .get("/api/loyalty/me/withdrawals", &app.customer_token(a))
        .await;
    assert_eq!(mine.status, StatusCode::OK);
    let ids: Vec<_> = mine
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].clone())
        .collect();
    assert_eq!(
        ids,
        vec![second["id"].clone(), first["id"].clone()],
        "newest first"
    );
    let theirs = app
        .get("/api/loyalty/me/withdrawals", &app.customer_token(b))
        .await;
    assert_eq!(theirs.body, json!([]));
    // Staff routes are not for customers, whoever's id is in the path.
    app.get(
        &format!("/api/loyalty/wallet/{a}/withdrawals"),
        &app.customer_token(b),
    )
    .await
    .assert_error(StatusCode::FORBIDDEN, "forbidden");
    app.put(
        &format!(
            "/api/loyalty/wallet/withdrawals/{}/status",
            second["id"].as_str().unwrap()
        ),
        &app.customer_token(a),
        json!({ "status": "approved" }),
    )
    .await
    .assert_error(StatusCode::FORBIDDEN, "forbidden");

    // The status filter and the pages.
    let admin = app.admin_token();
    let pending = app
        .get(
            &format!("/api/loyalty/wallet/{a}/withdrawals?status=pending"),
            &admin,
        )
        .await;
    assert_eq!(pending.body.as_array().unwrap().len(), 1);
    assert_eq!(pending.body[0]["id"], second["id"]);
    let page = app
        .get(
            "/api/loyalty/me/withdrawals?limit=1",
            &app.customer_token(a),
        )
        .await;
    assert_eq!(page.body.as_array().unwrap().len(), 1);
    let next = app
        .get(
            &format!(
                "/api/loyalty/me/withdrawals?limit=1&beforeId={}",
                second["id"].as_str().unwrap()
            ),
            &app.customer_token(a),
        )
        .await;
    assert_eq!(next.body[0]["id"], first["id"]);
    app.get(
        "/api/loyalty/me/withdrawals?limit=0",
        &app.customer_token(a),
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, "invalid_query");
    app.get(
        &format!("/api/loyalty/wallet/{a}/withdrawals?status=sent"),
        &admin,
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, "invalid_query");
    app.get("/api/loyalty/wallet/999999/withdrawals", &admin)
        .await
        .assert_error(StatusCode::NOT_FOUND, "customer_not_found");
    app.get("/api/loyalty/me/withdrawals", &admin)
        .await
        .assert_error(StatusCode::FORBIDDEN, "forbidden");
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn an_idempotency_key_holds_once(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let id = customer_with(&app, PHONE, 1000, true).await;
    let token = app.customer_token(id);
    let body =
        json!({ "amount": 300, "method": "bkash", "account": PHONE, "idempotencyKey": "w-1" });
    let first = app
        .post("/api/loyalty/me/withdrawals", &token, body.clone())
        .await;
    assert_eq!(first.status, StatusCode::CREATED);
    assert_eq!(first.headers["idempotent-replayed"], "false");
    let again = app.post("/api/loyalty/me/withdrawals", &token, body).await;
    assert_eq!(again.status, StatusCode::CREATED);
    assert_eq!(again.headers["idempotent-replayed"], "true");
    assert_eq!(again.body["id"], first.body["id"]);
    assert_eq!(
        dec(&wallet(&app, id).await["heldBalance"]),
        Decimal::from(300)
    );
    app.post(
        "/api/loyalty/me/withdrawals",
        &token,
        json!({ "amount": 400, "method": "bkash", "account": PHONE, "idempotencyKey": "w-1" }),
    )
    .await
    .assert_error(StatusCode::CONFLICT, "idempotency_key_reused");
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn a_deleted_customer_is_not_paid_but_can_be_rejected(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let id = customer_with(&app, PHONE, 500, true).await;
    let request = withdraw(&app, id, 200).await.body;
    set_status(&app, &request, json!({ "status": "approved" })).await;
    sqlx::query!("update customers set is_deleted = true where id = $1", id)
        .execute(&app.pool)
        .await
        .unwrap();
    set_status(
        &app,
        &request,
        json!({ "status": "paid", "payoutReference": "BK1" }),
    )
    .await
    .assert_error(StatusCode::NOT_FOUND, "customer_not_found");
    let rejected = set_status(&app, &request, json!({ "status": "rejected" })).await;
    assert_eq!(rejected.status, StatusCode::OK, "{}", rejected.body);
    assert_eq!(app.ledger_rows(id).await, 1);
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn a_clawback_never_takes_money_held_for_a_withdrawal(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let referrer = app.customer(PHONE, None).await;
    let friend = app
        .customer("01812000009", Some(&format!("REF{referrer:06}")))
        .await;
    assert_eq!(
        app.order(7101, friend, "delivered").await.status,
        StatusCode::OK
    );
    assert_eq!(app.end_holds().await, 1);
    // ৳100 reward plus ৳50 bonus; ৳100 of it is held for a withdrawal.
    let bonus = app
        .post(
            &format!("/api/loyalty/wallet/{referrer}/credit"),
            &app.admin_token(),
            json!({ "amount": 50, "source": "bonus", "idempotencyKey": "bonus-1" }),
        )
        .await;
    assert_eq!(bonus.status, StatusCode::CREATED, "{}", bonus.body);
    app.verify_phone(referrer, E164).await;
    let request = withdraw(&app, referrer, 100).await;
    assert_eq!(request.status, StatusCode::CREATED, "{}", request.body);

    // The parcel comes back: the clawback takes the ৳50 that is free; the rest is owed.
    assert_eq!(
        app.order_status(7101, "returned").await.status,
        StatusCode::OK
    );
    let after = wallet(&app, referrer).await;
    assert_eq!(dec(&after["balance"]), Decimal::from(100));
    assert_eq!(dec(&after["heldBalance"]), Decimal::from(100));
    let owed = sqlx::query_scalar!(
        "select owed_amount from customer_wallets where customer_id = $1",
        referrer
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(owed, Decimal::from(50));

    // The held money still pays out.
    set_status(&app, &request.body, json!({ "status": "approved" })).await;
    let paid = set_status(
        &app,
        &request.body,
        json!({ "status": "paid", "payoutReference": "BK7" }),
    )
    .await;
    assert_eq!(paid.status, StatusCode::OK, "{}", paid.body);
    assert_eq!(app.balance(referrer).await, Decimal::ZERO);
    app.check_invariants().await;
}
