//! Payout batches (issue 11): which commissions a batch takes, concurrent builds and
//! concurrent answers, rejected transfers, the bulk-disbursement file against the layout
//! docs/PAYOUTS.md documents, and bad input.

use axum::http::{Method, StatusCode, header};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::commissions::{commissions, order, partner};
use crate::helpers::{TestApp, dec};

const ALWAYS: (&str, &str) = ("2000-01-01T00:00:00Z", "2100-01-01T00:00:00Z");

fn window(method: &str) -> Value {
    json!({ "from": ALWAYS.0, "to": ALWAYS.1, "method": method })
}

/// A partner paid by `method` to `account`, earning ৳`amount` per delivered order, with
/// one customer; returns (partner id, customer id).
async fn earner(
    app: &TestApp,
    code: &str,
    name: &str,
    method: Option<(&str, &str)>,
    amount: i64,
    phone: &str,
) -> (String, i32) {
    let mut fields = json!({ "code": code, "name": name, "commissionAmount": amount,
                             "commissionScope": "every_order", "commissionDays": 90 });
    if let Some((method, account)) = method {
        fields["payoutMethod"] = json!(method);
        fields["payoutAccount"] = json!(account);
    }
    let id = partner(app, fields).await;
    let customer = app.customer(phone, Some(code)).await;
    (id, customer)
}

/// The ids of every commission in a live item of a batch, and how often each appears.
async fn live_items(app: &TestApp) -> Vec<(i64, i64)> {
    sqlx::query!(
        r#"select commission_id, count(*) as "n!" from payout_batch_items where live
           group by commission_id order by commission_id"#
    )
    .fetch_all(&app.pool)
    .await
    .unwrap()
    .into_iter()
    .map(|r| (r.commission_id, r.n))
    .collect()
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn a_batch_takes_the_released_unpaid_commissions_of_its_method(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let admin = app.admin_token();
    let (bkash, a) = earner(
        &app,
        "PayBkash",
        "Rahim",
        Some(("bkash", "01711600010")),
        40,
        "01711600001",
    )
    .await;
    let (_, b) = earner(
        &app,
        "PayNagad",
        "Karim",
        Some(("nagad", "01711600020")),
        30,
        "01711600002",
    )
    .await;
    let (_, c) = earner(&app, "NoAccount", "Selim", None, 20, "01711600003").await;
    order(&app, 8801, a, "delivered", 1000, json!({})).await;
    order(&app, 8802, a, "delivered", 1000, json!({})).await;
    order(&app, 8803, b, "delivered", 1000, json!({})).await;
    order(&app, 8804, c, "delivered", 1000, json!({})).await;
    // Pending commissions are not payable yet.
    app.post("/api/loyalty/payout-batches", &admin, window("bkash"))
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "payout_batch_empty");
    assert_eq!(app.end_commission_holds().await, 4);
    // Still held: a commission earned after the release.
    order(&app, 8805, a, "delivered", 1000, json!({})).await;
    // A window that ended before the release takes nothing.
    app.post(
        "/api/loyalty/payout-batches",
        &admin,
        json!({ "from": "2000-01-01T00:00:00Z", "to": "2001-01-01T00:00:00Z", "method": "bkash" }),
    )
    .await
    .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "payout_batch_empty");

    let batch = app
        .post("/api/loyalty/payout-batches", &admin, window("bkash"))
        .await;
    assert_eq!(batch.status, StatusCode::CREATED, "{}", batch.body);
    let body = &batch.body;
    assert_eq!(body["method"], "bkash");
    assert_eq!(body["status"], "open");
    assert_eq!(body["partnerCount"], 1);
    assert_eq!(body["commissionCount"], 2);
    assert_eq!(dec(&body["totalAmount"]), Decimal::from(80));
    let line = &body["lines"][0];
    assert_eq!(line["partnerId"], bkash.as_str());
    assert_eq!(line["partnerCode"], "PayBkash");
    assert_eq!(line["account"], "+8801711600010");
    assert_eq!(line["status"], "pending");
    assert_eq!(line["commissionIds"].as_array().unwrap().len(), 2);
    let reference = line["reference"].as_str().unwrap();
    assert!(reference.starts_with("BND") && reference.chars().all(|c| c.is_ascii_alphanumeric()));
    // What one batch took, no other takes.
    app.post("/api/loyalty/payout-batches", &admin, window("bkash"))
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "payout_batch_empty");
    let nagad = app
        .post("/api/loyalty/payout-batches", &admin, window("nagad"))
        .await;
    assert_eq!(nagad.status, StatusCode::CREATED, "{}", nagad.body);
    assert_eq!(dec(&nagad.body["totalAmount"]), Decimal::from(30));
    app.post("/api/loyalty/payout-batches", &admin, window("bank"))
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "payout_batch_empty");

    let id = body["id"].as_i64().unwrap();
    let read = app
        .get(&format!("/api/loyalty/payout-batches/{id}"), &admin)
        .await;
    assert_eq!(read.body, batch.body);
    let list = app.get("/api/loyalty/payout-batches?limit=1", &admin).await;
    assert_eq!(list.body.as_array().unwrap().len(), 1);
    assert_eq!(list.body[0]["id"], nagad.body["id"]);
    assert!(list.body[0].get("lines").is_none());
    let next = app
        .get(
            &format!(
                "/api/loyalty/payout-batches?limit=5&beforeId={}",
                nagad.body["id"]
            ),
            &admin,
        )
        .await;
    let ids: Vec<i64> = next
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [id]);
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn concurrent_builds_never_take_one_commission_twice(pool: PgPool) {
    let app = TestApp::new(pool).await;
    for i in 0..6 {
        let (_, customer) = earner(
            &app,
            &format!("Race{i}"),
            "Racer",
            Some(("bkash", &format!("0171161{i:04}"))),
            10 + i,
            &format!("0171162{i:04}"),
        )
        .await;
        for n in 0..3 {
            order(
                &app,
                8900 + (i as i32) * 10 + n,
                customer,
                "delivered",
                1000,
                json!({}),
            )
            .await;
        }
    }
    assert_eq!(app.end_commission_holds().await, 18);
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            app.post(
                "/api/loyalty/payout-batches",
                &app.admin_token(),
                window("bkash"),
            )
            .await
        }));
    }
    let mut created = Vec::new();
    for task in tasks {
        let response = task.await.unwrap();
        match response.status {
            StatusCode::CREATED => created.push(response.body),
            _ => response.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "payout_batch_empty"),
        }
    }
    assert_eq!(created.len(), 1, "one build takes everything");
    assert_eq!(created[0]["commissionCount"], 18);
    let items = live_items(&app).await;
    assert_eq!(items.len(), 18);
    assert!(items.iter().all(|(_, n)| *n == 1));
    // The database refuses a commission in a second live line, whoever writes.
    let error = sqlx::query(
        "insert into payout_batch_items (line_id, commission_id, amount)
         select l.id, (select min(commission_id) from payout_batch_items), 1
         from payout_batch_lines l order by l.id desc limit 1",
    )
    .execute(&app.pool)
    .await
    .unwrap_err();
    assert_eq!(
        error.as_database_error().and_then(|e| e.code()).as_deref(),
        Some("23505")
    );
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn answers_are_idempotent_and_concurrent_answers_pay_once(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let admin = app.admin_token();
    let (p1, a) = earner(
        &app,
        "Answer1",
        "One",
        Some(("bkash", "01711630010")),
        40,
        "01711630001",
    )
    .await;
    let (p2, b) = earner(
        &app,
        "Answer2",
        "Two",
        Some(("bkash", "01711630020")),
        25,
        "01711630002",
    )
    .await;
    let (p3, c) = earner(
        &app,
        "Answer3",
        "Three",
        Some(("bkash", "01711630030")),
        15,
        "01711630003",
    )
    .await;
    for (id, customer) in [(9001, a), (9002, a), (9003, b), (9004, c)] {
        order(&app, id, customer, "delivered", 1000, json!({})).await;
    }
    app.end_commission_holds().await;
    let batch = app
        .post("/api/loyalty/payout-batches", &admin, window("bkash"))
        .await;
    let id = batch.body["id"].as_i64().unwrap();
    let path = format!("/api/loyalty/payout-batches/{id}/paid");
    let answers = json!([{ "partnerId": p1, "transactionId": "TRX-A1" },
                         { "partnerId": p2, "transactionId": "TRX-B2" }]);

    // The same answers sent ten times at once: each transfer is paid once.
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let app = app.clone();
        let (path, answers) = (path.clone(), answers.clone());
        tasks.push(tokio::spawn(async move {
            app.post(&path, &app.admin_token(), answers).await
        }));
    }
    let mut bodies = Vec::new();
    for task in tasks {
        let response = task.await.unwrap();
        assert_eq!(response.status, StatusCode::OK, "{}", response.body);
        bodies.push(response.body);
    }
    assert!(
        bodies.windows(2).all(|w| w[0] == w[1]),
        "every answer is the same batch"
    );
    assert_eq!(app.events("commission_paid").await, 3);
    let paid: Vec<(String, Option<String>)> = commissions(&app, "Answer1")
        .await
        .into_iter()
        .chain(commissions(&app, "Answer2").await)
        .map(|c| (c.status, c.transaction_id))
        .collect();
    assert_eq!(
        paid,
        [
            ("paid".to_owned(), Some("TRX-A1".to_owned())),
            ("paid".to_owned(), Some("TRX-A1".to_owned())),
            ("paid".to_owned(), Some("TRX-B2".to_owned())),
        ]
    );
    // Marking twice changes nothing, and answers the same.
    let again = app.post(&path, &admin, answers.clone()).await;
    assert_eq!(again.body, bodies[0]);

    // Five different transaction ids for the third transfer at once: one wins.
    let mut tasks = Vec::new();
    for n in 0..5 {
        let app = app.clone();
        let (path, p3) = (path.clone(), p3.clone());
        tasks.push(tokio::spawn(async move {
            app.post(
                &path,
                &app.admin_token(),
                json!([{ "partnerId": p3, "transactionId": format!("TRX-C{n}") }]),
            )
            .await
        }));
    }
    let mut won = 0;
    for task in tasks {
        let response = task.await.unwrap();
        if response.status == StatusCode::OK {
            won += 1;
        } else {
            response.assert_error(StatusCode::CONFLICT, "payout_transaction_mismatch");
        }
    }
    assert_eq!(won, 1);
    assert_eq!(app.events("commission_paid").await, 4);

    // A mismatched id, an unknown partner, a rejection of a paid line, a transaction id
    // that paid another transfer: refused, and nothing changes (all or none).
    let before = app.snapshot().await;
    app.post(
        &path,
        &admin,
        json!([{ "partnerId": p1, "transactionId": "OTHER" }]),
    )
    .await
    .assert_error(StatusCode::CONFLICT, "payout_transaction_mismatch");
    app.post(
        &path,
        &admin,
        json!([{ "partnerId": p1, "transactionId": "TRX-A1" },
               { "partnerId": "00000000-0000-0000-0000-000000000000", "transactionId": "X" }]),
    )
    .await
    .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "partner_not_in_batch");
    app.post(
        &path,
        &admin,
        json!([{ "partnerId": p2, "rejected": true }]),
    )
    .await
    .assert_error(StatusCode::CONFLICT, "invalid_transition");
    app.post(
        "/api/loyalty/payout-batches/999999/paid",
        &admin,
        json!([{ "partnerId": p1, "transactionId": "TRX-A1" }]),
    )
    .await
    .assert_error(StatusCode::NOT_FOUND, "payout_batch_not_found");
    assert_eq!(app.snapshot().await, before);

    let settled = app
        .get(&format!("/api/loyalty/payout-batches/{id}"), &admin)
        .await;
    assert_eq!(settled.body["status"], "settled");
    assert_eq!(dec(&settled.body["paidAmount"]), Decimal::from(120));
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn a_rejected_transfer_goes_back_to_unpaid(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let admin = app.admin_token();
    let (p1, a) = earner(
        &app,
        "Bounce",
        "Bounce",
        Some(("nagad", "01711640010")),
        40,
        "01711640001",
    )
    .await;
    let (p2, b) = earner(
        &app,
        "Lands",
        "Lands",
        Some(("nagad", "01711640020")),
        30,
        "01711640002",
    )
    .await;
    order(&app, 9101, a, "delivered", 1000, json!({})).await;
    order(&app, 9102, b, "delivered", 1000, json!({})).await;
    app.end_commission_holds().await;
    let first = app
        .post("/api/loyalty/payout-batches", &admin, window("nagad"))
        .await;
    let id = first.body["id"].as_i64().unwrap();
    let path = format!("/api/loyalty/payout-batches/{id}/paid");
    let answered = app
        .post(
            &path,
            &admin,
            json!([{ "partnerId": p1, "rejected": true, "reason": "wallet not registered" },
                   { "partnerId": p2, "transactionId": "NGD-77" }]),
        )
        .await;
    assert_eq!(answered.status, StatusCode::OK, "{}", answered.body);
    let lines = answered.body["lines"].as_array().unwrap();
    let rejected = lines
        .iter()
        .find(|l| l["partnerId"] == p1.as_str())
        .unwrap();
    assert_eq!(rejected["status"], "rejected");
    assert_eq!(rejected["rejectionReason"], "wallet not registered");
    assert_eq!(dec(&answered.body["rejectedAmount"]), Decimal::from(40));
    // Rejected again: nothing changes; paid now: refused.
    let again = app
        .post(
            &path,
            &admin,
            json!([{ "partnerId": p1, "rejected": true, "reason": "wallet not registered" }]),
        )
        .await;
    assert_eq!(again.body, answered.body);
    app.post(
        &path,
        &admin,
        json!([{ "partnerId": p1, "transactionId": "LATE" }]),
    )
    .await
    .assert_error(StatusCode::CONFLICT, "invalid_transition");

    let bounced = commissions(&app, "Bounce").await;
    assert_eq!(bounced[0].status, "released");
    // The next batch takes it.
    let second = app
        .post("/api/loyalty/payout-batches", &admin, window("nagad"))
        .await;
    assert_eq!(second.status, StatusCode::CREATED, "{}", second.body);
    assert_eq!(second.body["lines"][0]["partnerId"], p1.as_str());
    assert_eq!(
        second.body["lines"][0]["commissionIds"],
        rejected["commissionIds"]
    );
    // A transaction id that paid another transfer is refused.
    app.post(
        &format!("/api/loyalty/payout-batches/{}/paid", second.body["id"]),
        &admin,
        json!([{ "partnerId": p1, "transactionId": "NGD-77" }]),
    )
    .await
    .assert_error(StatusCode::CONFLICT, "payout_transaction_reused");
    app.check_invariants().await;
}

/// Parses a payout file: its header and rows.
fn parse_csv(bytes: &[u8]) -> (Vec<String>, Vec<Vec<String>>) {
    let mut reader = csv::Reader::from_reader(bytes);
    let header = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    let rows = reader
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect();
    (header, rows)
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn the_file_follows_the_documented_layout(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let admin = app.admin_token();
    let (p1, a) = earner(
        &app,
        "CsvOne",
        "=HYPERLINK(\"http://x\")",
        Some(("bkash", "+880 1711-650010")),
        40,
        "01711650001",
    )
    .await;
    let (_, b) = earner(
        &app,
        "CsvTwo",
        "Rahim, \"Rider\" Uddin",
        Some(("bkash", "01711650020")),
        125,
        "01711650002",
    )
    .await;
    let (_, c) = earner(
        &app,
        "CsvBank",
        "-Bank",
        Some(("bank", "@DBBL, Mirpur 10, 123-456")),
        75,
        "01711650003",
    )
    .await;
    order(&app, 9201, a, "delivered", 1000, json!({})).await;
    order(&app, 9202, b, "delivered", 1000, json!({})).await;
    order(&app, 9203, b, "delivered", 1000, json!({})).await;
    order(&app, 9204, c, "delivered", 1000, json!({})).await;
    app.end_commission_holds().await;
    let batch = app
        .post("/api/loyalty/payout-batches", &admin, window("bkash"))
        .await;
    let id = batch.body["id"].as_i64().unwrap();
    let file = app
        .get(&format!("/api/loyalty/payout-batches/{id}.csv"), &admin)
        .await;
    assert_eq!(file.status, StatusCode::OK);
    assert_eq!(
        file.headers[header::CONTENT_TYPE],
        "text/csv; charset=utf-8"
    );
    assert_eq!(
        file.headers[header::CONTENT_DISPOSITION],
        format!("attachment; filename=\"payout-batch-{id}-bkash.csv\"").as_str()
    );
    let text = std::str::from_utf8(&file.bytes).unwrap();
    // CRLF rows, no BOM, the header first.
    assert!(
        text.starts_with("SL,Wallet Number,Amount,Reference,Name\r\n"),
        "{text}"
    );
    assert!(text.ends_with("\r\n"));
    let (header, rows) = parse_csv(&file.bytes);
    assert_eq!(
        header,
        ["SL", "Wallet Number", "Amount", "Reference", "Name"]
    );
    let lines = batch.body["lines"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    for (n, (row, line)) in rows.iter().zip(lines).enumerate() {
        assert_eq!(row[0], (n + 1).to_string());
        // The national 11 digits; two decimals, no separator; the line's reference.
        assert_eq!(row[1].len(), 11);
        assert!(row[1].starts_with("01") && row[1].bytes().all(|b| b.is_ascii_digit()));
        assert_eq!(format!("+88{}", row[1]), line["account"].as_str().unwrap());
        assert_eq!(row[2], format!("{:.2}", dec(&line["amount"])));
        assert_eq!(row[3], line["reference"].as_str().unwrap());
    }
    let by_name = |name: &str| rows.iter().find(|r| r[4] == name).cloned();
    // A formula becomes text; commas and quotes are quoted, not split.
    let formula = by_name("'=HYPERLINK(\"http://x\")").unwrap();
    assert_eq!(formula[1], "01711650010");
    assert_eq!(formula[2], "40.00");
    let quoted = by_name("Rahim, \"Rider\" Uddin").unwrap();
    assert_eq!(quoted[2], "250.00");
    assert!(text.contains("\"Rahim, \"\"Rider\"\" Uddin\""));

    // The bank file names its account column, and guards its text too.
    let bank = app
        .post("/api/loyalty/payout-batches", &admin, window("bank"))
        .await;
    let bank_file = app
        .get(
            &format!("/api/loyalty/payout-batches/{}.csv", bank.body["id"]),
            &admin,
        )
        .await;
    let (header, rows) = parse_csv(&bank_file.bytes);
    assert_eq!(header, ["SL", "Account", "Amount", "Reference", "Name"]);
    assert_eq!(rows[0][1], "'@DBBL, Mirpur 10, 123-456");
    assert_eq!(rows[0][2], "75.00");
    assert_eq!(rows[0][4], "'-Bank");

    // Once answered, a transfer leaves the file: downloading it again never pays twice.
    app.post(
        &format!("/api/loyalty/payout-batches/{id}/paid"),
        &admin,
        json!([{ "partnerId": p1, "transactionId": "BK-1" }]),
    )
    .await;
    let after = app
        .get(&format!("/api/loyalty/payout-batches/{id}.csv"), &admin)
        .await;
    let (_, rows) = parse_csv(&after.bytes);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0][0], "1");
    assert_eq!(rows[0][4], "Rahim, \"Rider\" Uddin");

    // Errors are JSON.
    app.get("/api/loyalty/payout-batches/999999.csv", &admin)
        .await
        .assert_error(StatusCode::NOT_FOUND, "payout_batch_not_found");
    app.get("/api/loyalty/payout-batches/abc.csv", &admin)
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_path_parameter");
    app.get("/api/loyalty/payout-batches/12.pdf", &admin)
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_path_parameter");
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn bad_input_is_a_json_4xx_and_changes_nothing(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let admin = app.admin_token();
    let (p1, a) = earner(
        &app,
        "Careful",
        "Careful",
        Some(("bkash", "01711660010")),
        40,
        "01711660001",
    )
    .await;
    order(&app, 9301, a, "delivered", 1000, json!({})).await;
    app.end_commission_holds().await;
    let before = app.snapshot().await;
    for (body, code) in [
        (
            json!({ "from": ALWAYS.1, "to": ALWAYS.0, "method": "bkash" }),
            "validation_failed",
        ),
        (
            json!({ "from": ALWAYS.0, "to": ALWAYS.0, "method": "bkash" }),
            "validation_failed",
        ),
        (
            json!({ "from": ALWAYS.0, "to": ALWAYS.1, "method": "rocket" }),
            "invalid_body",
        ),
        (
            json!({ "from": "yesterday", "to": ALWAYS.1, "method": "bkash" }),
            "invalid_body",
        ),
        (json!({ "from": ALWAYS.0, "to": ALWAYS.1 }), "invalid_body"),
        (
            json!({ "from": ALWAYS.0, "to": ALWAYS.1, "method": "bkash", "x": 1 }),
            "invalid_body",
        ),
    ] {
        app.post("/api/loyalty/payout-batches", &admin, body)
            .await
            .assert_error(StatusCode::UNPROCESSABLE_ENTITY, code);
    }
    app.raw(
        Method::POST,
        "/api/loyalty/payout-batches",
        Some(&admin),
        Some("{"),
        Some("application/json"),
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, "malformed_json");
    // Only admins (and holders of manage-payouts) reach the payout routes.
    for role in ["marketing-manager", "support-agent", "order-desk"] {
        app.post(
            "/api/loyalty/payout-batches",
            &app.staff_token(role),
            window("bkash"),
        )
        .await
        .assert_error(StatusCode::FORBIDDEN, "forbidden");
        app.get("/api/loyalty/payout-batches", &app.staff_token(role))
            .await
            .assert_error(StatusCode::FORBIDDEN, "forbidden");
    }
    app.request(Method::GET, "/api/loyalty/payout-batches", None, None)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "unauthenticated");
    app.get("/api/loyalty/payout-batches", &app.customer_token(a))
        .await
        .assert_error(StatusCode::FORBIDDEN, "forbidden");
    app.get("/api/loyalty/payout-batches?limit=0", &admin)
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_query");
    assert_eq!(app.snapshot().await, before);

    let batch = app
        .post("/api/loyalty/payout-batches", &admin, window("bkash"))
        .await;
    let path = format!("/api/loyalty/payout-batches/{}/paid", batch.body["id"]);
    let before = app.snapshot().await;
    for body in [
        json!([]),
        json!([{ "partnerId": p1 }]),
        json!([{ "partnerId": p1, "transactionId": "T1", "rejected": true }]),
        json!([{ "partnerId": p1, "transactionId": "T1" }, { "partnerId": p1, "transactionId": "T1" }]),
        json!([{ "partnerId": p1, "transactionId": "x".repeat(101) }]),
        json!([{ "partnerId": p1, "transactionId": "T1", "reason": "why" }]),
    ] {
        app.post(&path, &admin, body)
            .await
            .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    }
    for body in [
        json!({ "partnerId": p1, "transactionId": "T1" }),
        json!([{ "partnerId": "not-a-uuid", "transactionId": "T1" }]),
        json!([{ "partnerId": p1, "transactionId": "T1", "extra": true }]),
    ] {
        app.post(&path, &admin, body)
            .await
            .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body");
    }
    app.post(
        "/api/loyalty/payout-batches/abc/paid",
        &admin,
        json!([{ "partnerId": p1, "transactionId": "T1" }]),
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, "invalid_path_parameter");
    app.post(
        &path,
        &app.staff_token("marketing-manager"),
        json!([{ "partnerId": p1, "transactionId": "T1" }]),
    )
    .await
    .assert_error(StatusCode::FORBIDDEN, "forbidden");
    assert_eq!(app.snapshot().await, before);
    app.check_invariants().await;
}
