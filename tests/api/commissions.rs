//! Partner commissions (issue 11): the partner's fields, and what a partner's customer's
//! orders earn through their whole life — pending through the hold, released by the job,
//! voided, clawed back or shrunk when the order is returned or refunded — with the scope,
//! the window, self-dealing, and duplicate or concurrent deliveries.

use axum::http::StatusCode;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::helpers::{TestApp, dec};

/// Creates a partner with `fields` (code and more); returns its id.
pub async fn partner(app: &TestApp, fields: Value) -> String {
    let created = app
        .post("/api/loyalty/referral-partners", &app.admin_token(), fields)
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    created.body["id"].as_str().unwrap().to_owned()
}

/// A commission as the ledger holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct Commission {
    pub id: i64,
    pub order_id: i32,
    pub status: String,
    pub skip_reason: Option<String>,
    pub amount: Decimal,
    pub owed_amount: Decimal,
    pub transaction_id: Option<String>,
}

/// Every commission of the partner with `code`, by order.
pub async fn commissions(app: &TestApp, code: &str) -> Vec<Commission> {
    sqlx::query_as!(
        Commission,
        r#"select c.id, c.order_id, c.status::text as "status!", c.skip_reason::text as skip_reason,
                  c.amount, c.owed_amount, c.transaction_id
           from partner_commissions c join referral_partners p on p.id = c.partner_id
           where p.code = $1 order by c.order_id, c.id"#,
        code
    )
    .fetch_all(&app.pool)
    .await
    .unwrap()
}

/// What the partner with `code` owes.
pub async fn owed(app: &TestApp, code: &str) -> Decimal {
    sqlx::query_scalar!(
        "select owed_amount from referral_partners where code = $1",
        code
    )
    .fetch_one(&app.pool)
    .await
    .unwrap()
}

/// Records order `id` of `customer` with `status` and `total` (and more `extra` keys).
pub async fn order(app: &TestApp, id: i32, customer: i32, status: &str, total: i64, extra: Value) {
    let mut body = json!({ "customerId": customer, "status": status, "totalAmount": total });
    if let Value::Object(extra) = extra {
        body.as_object_mut().unwrap().extend(extra);
    }
    let response = app
        .put(&format!("/api/orders/{id}"), &app.admin_token(), body)
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
}

/// Refunds `amount` of order `id`.
pub async fn refund(app: &TestApp, id: i32, amount: i64, key: &str) {
    let response = app
        .post(
            &format!("/api/orders/{id}/refund"),
            &app.admin_token(),
            json!({ "amount": amount, "reason": "damaged", "idempotencyKey": key }),
        )
        .await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.body);
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn partner_fields_are_kept_validated_and_merged(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let admin = app.admin_token();
    let rider_account = app.customer("01711500001", None).await;
    let created = app
        .post(
            "/api/loyalty/referral-partners",
            &admin,
            json!({ "code": "RiderKarim", "partnerType": "Delivery_Rider", "name": "Karim",
                    "contactPhone": "০১৭১১৫০০০০২", "payoutMethod": "bkash", "payoutAccount": "01711500002",
                    "commissionAmount": "40", "commission_scope": "every_order", "commissionDays": 30,
                    "customerId": rider_account }),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let body = &created.body;
    assert_eq!(body["partner_type"], "delivery_rider");
    assert_eq!(body["contact_phone"], "+8801711500002");
    assert_eq!(body["payout_method"], "bkash");
    assert_eq!(body["payout_account"], "+8801711500002");
    assert_eq!(dec(&body["commission_amount"]), Decimal::from(40));
    assert_eq!(body["commission_percent"], Value::Null);
    assert_eq!(body["commission_scope"], "every_order");
    assert_eq!(body["commission_days"], 30);
    assert_eq!(body["customer_id"], rider_account);
    assert_eq!(dec(&body["owed_amount"]), Decimal::ZERO);
    let id = body["id"].as_str().unwrap().to_owned();
    let path = format!("/api/loyalty/referral-partners/{id}");

    // A percentage replaces the fixed amount; absent keys are kept.
    let updated = app
        .put(
            &path,
            &admin,
            json!({ "commission_percent": 7.5, "commission_cap": 120 }),
        )
        .await;
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.body);
    assert_eq!(updated.body["commission_amount"], Value::Null);
    assert_eq!(
        dec(&updated.body["commission_percent"]),
        Decimal::new(75, 1)
    );
    assert_eq!(dec(&updated.body["commission_cap"]), Decimal::from(120));
    assert_eq!(updated.body["payout_account"], "+8801711500002");
    // A bank account is text; clearing the method clears the account.
    let bank = app
        .put(
            &path,
            &admin,
            json!({ "payoutMethod": "bank", "payoutAccount": " DBBL Mirpur 123-456-789 " }),
        )
        .await;
    assert_eq!(
        bank.body["payout_account"], "DBBL Mirpur 123-456-789",
        "{}",
        bank.body
    );
    let cleared = app
        .put(&path, &admin, json!({ "payout_method": null }))
        .await;
    assert_eq!(
        cleared.body["payout_method"],
        Value::Null,
        "{}",
        cleared.body
    );
    assert_eq!(cleared.body["payout_account"], Value::Null);

    // Every rule is a 422 naming its field, and nothing is written.
    let before = app.snapshot().await;
    for (body, field) in [
        (
            json!({ "code": "BadType1", "partnerType": "shop" }),
            "partner_type",
        ),
        (
            json!({ "code": "BadPhone1", "contactPhone": "12345" }),
            "contact_phone",
        ),
        (
            json!({ "code": "BadPay1", "payoutMethod": "bkash" }),
            "payout_account",
        ),
        (
            json!({ "code": "BadPay2", "payoutAccount": "01711500003" }),
            "payout_method",
        ),
        (
            json!({ "code": "BadPay3", "payoutMethod": "nagad", "payoutAccount": "not a phone" }),
            "payout_account",
        ),
        (
            json!({ "code": "BadPay4", "payoutMethod": "rocket", "payoutAccount": "01711500003" }),
            "payout_method",
        ),
        (
            json!({ "code": "BadRule1", "commissionAmount": 10, "commissionPercent": 5 }),
            "commission_amount",
        ),
        (
            json!({ "code": "BadRule2", "commissionAmount": 10, "commissionCap": 5 }),
            "commission_cap",
        ),
        (
            json!({ "code": "BadScope1", "commissionScope": "every_order" }),
            "commission_days",
        ),
        (
            json!({ "code": "BadScope2", "commissionScope": "sometimes" }),
            "commission_scope",
        ),
        (
            json!({ "code": "BadDays1", "commissionDays": 0 }),
            "commission_days",
        ),
    ] {
        let response = app
            .post("/api/loyalty/referral-partners", &admin, body.clone())
            .await;
        response.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert!(
            response.body["fields"][field].is_array(),
            "{body}: {}",
            response.body
        );
    }
    // Amounts are bounded by their types (a percentage is at most 100).
    app.post(
        "/api/loyalty/referral-partners",
        &admin,
        json!({ "code": "BadRule3", "commissionPercent": 150 }),
    )
    .await
    .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body");
    app.post(
        "/api/loyalty/referral-partners",
        &admin,
        json!({ "code": "BadCustomer", "customerId": 999999 }),
    )
    .await
    .assert_error(StatusCode::NOT_FOUND, "customer_not_found");
    assert_eq!(app.snapshot().await, before);

    // The database says the same again, whoever writes.
    for statement in [
        "update referral_partners set commission_percent = 101 where code = 'RiderKarim'",
        "update referral_partners set commission_cap = 0 where code = 'RiderKarim'",
        "update referral_partners set commission_days = -1 where code = 'RiderKarim'",
        "update referral_partners set payout_method = 'bkash', payout_account = null where code = 'RiderKarim'",
        "update referral_partners set payout_method = 'bkash', payout_account = '017' where code = 'RiderKarim'",
        "update referral_partners set contact_phone = '01711500002' where code = 'RiderKarim'",
        "update referral_partners set commission_amount = 5 where code = 'RiderKarim'",
        "update referral_partners set owed_amount = -1 where code = 'RiderKarim'",
    ] {
        let error = sqlx::query(statement).execute(&app.pool).await.unwrap_err();
        assert_eq!(
            error.as_database_error().and_then(|e| e.code()).as_deref(),
            Some("23514"),
            "{statement}"
        );
    }
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn a_commission_lives_pending_released_paid(pool: PgPool) {
    let app = TestApp::new(pool).await;
    partner(
        &app,
        json!({ "code": "RupaBeauty", "commissionAmount": 50, "payoutMethod": "bkash",
                "payoutAccount": "01711510000" }),
    )
    .await;
    let customer = app.customer("01711510001", Some("rupabeauty")).await;
    order(&app, 8101, customer, "pending", 1000, json!({})).await;
    assert!(commissions(&app, "RupaBeauty").await.is_empty());

    order(&app, 8101, customer, "delivered", 1000, json!({})).await;
    let earned = commissions(&app, "RupaBeauty").await;
    assert_eq!(earned.len(), 1);
    assert_eq!(earned[0].status, "pending");
    assert_eq!(earned[0].amount, Decimal::from(50));
    // Held for the default campaign's hold (7 days), like its rewards.
    let hold: f64 = sqlx::query_scalar!(
        r#"select extract(epoch from release_at - created_at)::float8 as "s!" from partner_commissions"#
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert!((hold - 7.0 * 86400.0).abs() < 5.0, "{hold}");
    // The job releases nothing before the hold ends.
    assert_eq!(
        bondhu::jobs::release_due_commissions(&app.pool, None)
            .await
            .unwrap(),
        0
    );

    assert_eq!(app.end_commission_holds().await, 1);
    assert_eq!(app.end_commission_holds().await, 0);
    assert_eq!(commissions(&app, "RupaBeauty").await[0].status, "released");

    let admin = app.admin_token();
    let batch = app
        .post(
            "/api/loyalty/payout-batches",
            &admin,
            json!({ "from": "2000-01-01T00:00:00Z", "to": "2100-01-01T00:00:00Z", "method": "bkash" }),
        )
        .await;
    assert_eq!(batch.status, StatusCode::CREATED, "{}", batch.body);
    let id = batch.body["id"].as_i64().unwrap();
    let line = &batch.body["lines"][0];
    assert_eq!(dec(&line["amount"]), Decimal::from(50));
    let paid = app
        .post(
            &format!("/api/loyalty/payout-batches/{id}/paid"),
            &admin,
            json!([{ "partnerId": line["partnerId"], "transactionId": "BKX123" }]),
        )
        .await;
    assert_eq!(paid.status, StatusCode::OK, "{}", paid.body);
    let ledger = commissions(&app, "RupaBeauty").await;
    assert_eq!(ledger[0].status, "paid");
    assert_eq!(ledger[0].transaction_id.as_deref(), Some("BKX123"));
    for event in [
        "commission_pending",
        "commission_released",
        "commission_paid",
    ] {
        assert_eq!(app.events(event).await, 1, "{event}");
    }
    // The outbox's one `partner.commission_earned`, from the delivery; the release and the
    // payout add none.
    let earned = sqlx::query!(
        r#"select payload from outbox_events where type = 'partner.commission_earned'"#
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(earned.len(), 1);
    assert_eq!(earned[0].payload["orderId"], 8101);
    assert_eq!(earned[0].payload["amount"], "50.00");
    assert_eq!(earned[0].payload["status"], "pending");
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn reversals_void_claw_back_and_shrink(pool: PgPool) {
    let app = TestApp::new(pool).await;
    partner(
        &app,
        json!({ "code": "Percent10", "commissionPercent": 10, "commissionScope": "every_order",
                "commissionDays": 30, "payoutMethod": "nagad", "payoutAccount": "01711520000" }),
    )
    .await;
    let customer = app.customer("01711520001", Some("Percent10")).await;

    // Returned while pending: voided.
    order(&app, 8201, customer, "delivered", 1000, json!({})).await;
    app.order_status(8201, "returned").await;
    // Released, then refunded in full: clawed back, nothing owed (nothing was paid).
    order(&app, 8202, customer, "delivered", 2000, json!({})).await;
    // Pending, partly refunded: the percentage follows what the order kept.
    order(&app, 8203, customer, "delivered", 1000, json!({})).await;
    refund(&app, 8203, 400, "r-8203").await;
    // Released, then partly refunded: it shrinks too (it is in no payout file yet).
    order(&app, 8204, customer, "delivered", 1000, json!({})).await;
    app.end_commission_holds().await;
    refund(&app, 8202, 2000, "r-8202").await;
    refund(&app, 8204, 250, "r-8204").await;

    let ledger = commissions(&app, "Percent10").await;
    let summary: Vec<(i32, &str, Decimal)> = ledger
        .iter()
        .map(|c| (c.order_id, c.status.as_str(), c.amount))
        .collect();
    assert_eq!(
        summary,
        [
            (8201, "voided", Decimal::from(100)),
            (8202, "clawed_back", Decimal::from(200)),
            (8203, "released", Decimal::from(60)),
            (8204, "released", Decimal::from(75)),
        ]
    );
    assert!(ledger.iter().all(|c| c.owed_amount.is_zero()));
    assert_eq!(owed(&app, "Percent10").await, Decimal::ZERO);
    assert_eq!(app.events("commission_voided").await, 1);
    assert_eq!(app.events("commission_clawed_back").await, 1);
    assert_eq!(app.events("commission_adjusted").await, 2);
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn a_paid_commission_reversed_is_owed_and_netted_from_the_next_batch(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let admin = app.admin_token();
    let partner_id = partner(
        &app,
        json!({ "code": "NetMe", "commissionPercent": 10, "commissionScope": "every_order",
                "commissionDays": 30, "payoutMethod": "bkash", "payoutAccount": "01711530000" }),
    )
    .await;
    let customer = app.customer("01711530001", Some("NetMe")).await;
    let window =
        json!({ "from": "2000-01-01T00:00:00Z", "to": "2100-01-01T00:00:00Z", "method": "bkash" });
    let pay = |batch: i64, txn: &'static str| {
        let app = app.clone();
        let admin = admin.clone();
        let partner_id = partner_id.clone();
        async move {
            let paid = app
                .post(
                    &format!("/api/loyalty/payout-batches/{batch}/paid"),
                    &admin,
                    json!([{ "partnerId": partner_id, "transactionId": txn }]),
                )
                .await;
            assert_eq!(paid.status, StatusCode::OK, "{}", paid.body);
        }
    };

    order(&app, 8301, customer, "delivered", 1500, json!({})).await;
    order(&app, 8302, customer, "delivered", 1000, json!({})).await;
    app.end_commission_holds().await;
    let first = app
        .post("/api/loyalty/payout-batches", &admin, window.clone())
        .await;
    assert_eq!(
        dec(&first.body["totalAmount"]),
        Decimal::from(250),
        "{}",
        first.body
    );
    pay(first.body["id"].as_i64().unwrap(), "TRX-1").await;

    // Returned after it was paid: ৳150 is owed; a partial refund of the other owes the
    // part of its commission the order no longer earns (৳100 → ৳60).
    app.order_status(8301, "returned").await;
    refund(&app, 8302, 400, "r-8302").await;
    let ledger = commissions(&app, "NetMe").await;
    assert_eq!(
        (ledger[0].status.as_str(), ledger[0].owed_amount),
        ("clawed_back", Decimal::from(150))
    );
    assert_eq!(
        (
            ledger[1].status.as_str(),
            ledger[1].amount,
            ledger[1].owed_amount
        ),
        ("paid", Decimal::from(100), Decimal::from(40))
    );
    assert_eq!(owed(&app, "NetMe").await, Decimal::from(190));

    // A debt covering everything released leaves the partner out: nothing to pay.
    order(&app, 8303, customer, "delivered", 1000, json!({})).await;
    app.end_commission_holds().await;
    app.post("/api/loyalty/payout-batches", &admin, window.clone())
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "payout_batch_empty");
    // The next earnings exceed it: the batch pays the difference.
    order(&app, 8304, customer, "delivered", 2000, json!({})).await;
    app.end_commission_holds().await;
    let second = app
        .post("/api/loyalty/payout-batches", &admin, window.clone())
        .await;
    assert_eq!(second.status, StatusCode::CREATED, "{}", second.body);
    assert_eq!(dec(&second.body["grossAmount"]), Decimal::from(300));
    assert_eq!(dec(&second.body["nettedAmount"]), Decimal::from(190));
    assert_eq!(dec(&second.body["totalAmount"]), Decimal::from(110));
    assert_eq!(owed(&app, "NetMe").await, Decimal::ZERO);
    app.check_invariants().await;

    // Rejected: the debt netted is owed again, and the commissions wait for a later batch.
    let rejected = app
        .post(
            &format!("/api/loyalty/payout-batches/{}/paid", second.body["id"]),
            &admin,
            json!([{ "partnerId": partner_id, "rejected": true, "reason": "wallet closed" }]),
        )
        .await;
    assert_eq!(rejected.status, StatusCode::OK, "{}", rejected.body);
    assert_eq!(rejected.body["lines"][0]["status"], "rejected");
    assert_eq!(owed(&app, "NetMe").await, Decimal::from(190));
    let third = app
        .post("/api/loyalty/payout-batches", &admin, window)
        .await;
    assert_eq!(
        dec(&third.body["totalAmount"]),
        Decimal::from(110),
        "{}",
        third.body
    );
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn percent_with_cap_and_the_scope_and_window(pool: PgPool) {
    let app = TestApp::new(pool).await;
    partner(
        &app,
        json!({ "code": "Capped", "commissionPercent": 10, "commissionCap": 150,
                "commissionScope": "every_order", "commissionDays": 30 }),
    )
    .await;
    partner(&app, json!({ "code": "FirstOnly", "commissionAmount": 60 })).await;
    let every = app.customer("01711540001", Some("Capped")).await;
    let first = app.customer("01711540002", Some("FirstOnly")).await;

    order(&app, 8401, every, "delivered", 1000, json!({})).await;
    order(&app, 8402, every, "delivered", 3000, json!({})).await;
    order(&app, 8403, first, "delivered", 1000, json!({})).await;
    order(&app, 8404, first, "delivered", 1000, json!({})).await;
    let capped: Vec<(i32, Decimal)> = commissions(&app, "Capped")
        .await
        .iter()
        .map(|c| (c.order_id, c.amount))
        .collect();
    assert_eq!(
        capped,
        [(8401, Decimal::from(100)), (8402, Decimal::from(150))]
    );
    let only: Vec<i32> = commissions(&app, "FirstOnly")
        .await
        .iter()
        .map(|c| c.order_id)
        .collect();
    assert_eq!(only, [8403]);

    // A first order returned: the customer's next delivered order is their first
    // successful one, and earns.
    let again = app.customer("01711540004", Some("FirstOnly")).await;
    order(&app, 8408, again, "delivered", 1000, json!({})).await;
    app.order_status(8408, "returned").await;
    order(&app, 8409, again, "delivered", 1000, json!({})).await;
    let only: Vec<(i32, String)> = commissions(&app, "FirstOnly")
        .await
        .into_iter()
        .map(|c| (c.order_id, c.status))
        .collect();
    assert_eq!(
        only,
        [
            (8403, "pending".to_owned()),
            (8408, "voided".to_owned()),
            (8409, "pending".to_owned())
        ]
    );

    // Past the window (attributed 31 days ago), an order earns nothing; nor does an order
    // placed before the attribution.
    sqlx::query!(
        "update customer_referrals set created_at = now() - interval '31 days'
         where referred_customer_id = $1",
        every
    )
    .execute(&app.pool)
    .await
    .unwrap();
    order(&app, 8406, every, "delivered", 1000, json!({})).await;
    let late = app.customer("01711540003", Some("Capped")).await;
    order(
        &app,
        8407,
        late,
        "delivered",
        1000,
        json!({ "createdAt": "2020-01-01T00:00:00Z" }),
    )
    .await;
    let capped: Vec<i32> = commissions(&app, "Capped")
        .await
        .iter()
        .map(|c| c.order_id)
        .collect();
    assert_eq!(capped, [8401, 8402]);
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn a_rider_never_earns_from_their_own_phone_device_address_or_account(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let admin = app.admin_token();
    let rider_id = partner(
        &app,
        json!({ "code": "RiderSelf", "partnerType": "delivery_rider", "commissionAmount": 30,
                "commissionScope": "every_order", "commissionDays": 60, "contactPhone": "01711550009" }),
    )
    .await;
    // The rider's own customer account, with its device and address.
    let own = app
        .sign_up(
            json!({ "name": "Rider", "phone": "01711550001", "ref": "RiderSelf",
                         "deviceId": "rider-phone-1", "address": "House 5, Road 3, Mirpur" }),
        )
        .await;
    assert_eq!(own.status, StatusCode::CREATED, "{}", own.body);
    let own = own.body["id"].as_i64().unwrap() as i32;
    let updated = app
        .put(
            &format!("/api/loyalty/referral-partners/{rider_id}"),
            &admin,
            json!({ "customerId": own }),
        )
        .await;
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.body);

    let by_phone = app.customer("01711550009", Some("RiderSelf")).await;
    let by_device = app
        .sign_up(
            json!({ "name": "B", "phone": "01711550002", "ref": "RiderSelf",
                         "deviceId": "rider-phone-1" }),
        )
        .await
        .body["id"]
        .as_i64()
        .unwrap() as i32;
    let by_address = app.customer("01711550003", Some("RiderSelf")).await;
    let honest = app.customer("01711550004", Some("RiderSelf")).await;

    order(&app, 8501, own, "delivered", 1000, json!({})).await;
    order(&app, 8502, by_phone, "delivered", 1000, json!({})).await;
    order(&app, 8503, by_device, "delivered", 1000, json!({})).await;
    order(
        &app,
        8504,
        by_address,
        "delivered",
        1000,
        json!({ "deliveryAddress": "house 5, rd 3, mirpur" }),
    )
    .await;
    order(
        &app,
        8505,
        honest,
        "delivered",
        1000,
        json!({ "deliveryAddress": "House 9, Road 1, Uttara" }),
    )
    .await;
    let ledger: Vec<(i32, String, Option<String>)> = commissions(&app, "RiderSelf")
        .await
        .into_iter()
        .map(|c| (c.order_id, c.status, c.skip_reason))
        .collect();
    let skipped = |order: i32, reason: &str| (order, "skipped".to_owned(), Some(reason.to_owned()));
    assert_eq!(
        ledger,
        [
            skipped(8501, "own_account"),
            skipped(8502, "own_phone"),
            skipped(8503, "own_device"),
            skipped(8504, "own_address"),
            (8505, "pending".to_owned(), None),
        ]
    );
    assert_eq!(app.events("commission_skipped").await, 4);
    // Self-dealing earned nothing, so no webhook says it did: only the honest order's.
    let announced = sqlx::query_scalar!(
        r#"select (payload ->> 'orderId')::int as "order!" from outbox_events
           where type = 'partner.commission_earned'"#
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(announced, [8505]);
    // Skipped decisions are never released nor paid.
    assert_eq!(app.end_commission_holds().await, 1);
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn duplicate_and_concurrent_deliveries_earn_once(pool: PgPool) {
    let app = TestApp::new(pool).await;
    partner(&app, json!({ "code": "OnceOnly", "commissionAmount": 25 })).await;
    partner(
        &app,
        json!({ "code": "EveryTime", "commissionAmount": 25, "commissionScope": "every_order",
                "commissionDays": 10 }),
    )
    .await;
    let a = app.customer("01711560001", Some("OnceOnly")).await;
    let b = app.customer("01711560002", Some("OnceOnly")).await;
    let c = app.customer("01711560003", Some("EveryTime")).await;

    // The same delivery reported again and again, in both routes.
    order(&app, 8601, a, "delivered", 1000, json!({})).await;
    order(&app, 8601, a, "delivered", 1000, json!({})).await;
    app.order_status(8601, "completed").await;
    // Twelve reports of one order at once; and two orders of one customer (first order
    // scope) delivered at once: one of them is the first.
    let mut tasks = Vec::new();
    for i in 0..12 {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            let id = match i % 3 {
                0 => 8602,
                1 => 8603,
                _ => 8604,
            };
            let customer = if id == 8604 { c } else { b };
            order(&app, id, customer, "delivered", 1000, json!({})).await;
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(
        commissions(&app, "OnceOnly").await.len(),
        2,
        "one for a, one for b"
    );
    let b_orders: Vec<i32> = commissions(&app, "OnceOnly")
        .await
        .iter()
        .map(|c| c.order_id)
        .filter(|id| *id != 8601)
        .collect();
    assert!(b_orders == [8602] || b_orders == [8603], "{b_orders:?}");
    assert_eq!(commissions(&app, "EveryTime").await.len(), 1);
    assert_eq!(app.events("commission_pending").await, 3);
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn an_inactive_partner_or_a_customer_nobody_brought_earns_nothing(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let id = partner(&app, json!({ "code": "Retired", "commissionAmount": 25 })).await;
    let brought = app.customer("01711570001", Some("Retired")).await;
    let nobody = app.customer("01711570002", None).await;
    let put = app
        .put(
            &format!("/api/loyalty/referral-partners/{id}"),
            &app.admin_token(),
            json!({ "isActive": false }),
        )
        .await;
    assert_eq!(put.status, StatusCode::OK);
    order(&app, 8701, brought, "delivered", 1000, json!({})).await;
    order(&app, 8702, nobody, "delivered", 1000, json!({})).await;
    let ledger = commissions(&app, "Retired").await;
    assert_eq!(ledger.len(), 1);
    assert_eq!(ledger[0].skip_reason.as_deref(), Some("partner_inactive"));
    let all: i64 = sqlx::query_scalar!(r#"select count(*) as "n!" from partner_commissions"#)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(all, 1);
    app.check_invariants().await;
}
