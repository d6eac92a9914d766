//! Every list is paginated with a cursor (issue 13): each list route that was unbounded is
//! walked page by page, and the pages together are the whole list, each row once, in
//! order, also when rows arrive between two pages; a bad `limit` or cursor is a 400
//! `invalid_query` envelope.

use axum::http::StatusCode;
use chrono::{Duration, NaiveDate, Utc};
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::helpers::{TestApp, param};

/// The next page's cursor of a newest-first list.
fn before_id(row: &Value) -> String {
    format!("beforeId={}", param(&row["id"]))
}

/// The next page's cursor of an oldest-first list.
fn after_id(row: &Value) -> String {
    format!("afterId={}", param(&row["id"]))
}

/// Today in Dhaka (UTC+6 all year).
fn dhaka_today() -> NaiveDate {
    (Utc::now() + Duration::hours(6)).date_naive()
}

async fn created(app: &TestApp, path: &str, token: &str, body: Value) -> Value {
    let response = app.post(path, token, body).await;
    assert_eq!(
        response.status,
        StatusCode::CREATED,
        "{path}: {}",
        response.body
    );
    response.body
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn campaigns_and_partners_are_paged_newest_first(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let admin = app.admin_token();
    const CAMPAIGNS: &str = "/api/loyalty/referral-campaigns?includeInactive=true";
    const PARTNERS: &str = "/api/loyalty/referral-partners?includeInactive=true";
    for n in 0..4 {
        created(
            &app,
            "/api/loyalty/referral-campaigns",
            &admin,
            json!({ "name": format!("Campaign {n}"), "is_active": n % 2 == 0 }),
        )
        .await;
        created(
            &app,
            "/api/loyalty/referral-partners",
            &admin,
            json!({ "code": format!("Partner{n}"), "is_active": n % 2 == 0 }),
        )
        .await;
    }
    // Rows made in one transaction share `created_at`: the id breaks the tie.
    sqlx::query(
        "insert into referral_campaigns (name, created_at)
         select 'Tied ' || n, timestamptz '2026-01-01 00:00:00Z' from generate_series(1, 3) n",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    sqlx::query(
        "insert into referral_partners (code, created_at)
         select 'Tied' || n, timestamptz '2026-01-01 00:00:00Z' from generate_series(1, 3) n",
    )
    .execute(&app.pool)
    .await
    .unwrap();

    let campaigns = app.assert_paged(CAMPAIGNS, &admin, 2, "", before_id).await;
    assert_eq!(campaigns.len(), 8, "four, three tied and the default");
    let partners = app.assert_paged(PARTNERS, &admin, 3, "", before_id).await;
    assert_eq!(partners.len(), 7);
    for rows in [&campaigns, &partners] {
        let at: Vec<&str> = rows
            .iter()
            .map(|r| r["created_at"].as_str().unwrap())
            .collect();
        assert!(at.windows(2).all(|w| w[0] >= w[1]), "newest first: {at:?}");
    }
    // The active filter pages too.
    let active = app
        .assert_paged("/api/loyalty/referral-campaigns", &admin, 1, "", before_id)
        .await;
    assert!(active.iter().all(|c| c["is_active"] == true));

    // A campaign made between two pages is newer than the cursor: the walk goes on where
    // it was and shows each older campaign once.
    let mut pager = app.pages(CAMPAIGNS, &admin, 3, "", before_id);
    let mut walked = pager.next_page().await.unwrap();
    created(
        &app,
        "/api/loyalty/referral-campaigns",
        &admin,
        json!({ "name": "Late" }),
    )
    .await;
    walked.extend(pager.rest().await);
    assert_eq!(walked, campaigns);

    // A cursor that names no campaign or partner is a 400, not an empty page.
    let nobody = "00000000-0000-4000-8000-000000000000";
    for path in [CAMPAIGNS, PARTNERS] {
        app.get(&format!("{path}&beforeId={nobody}"), &admin)
            .await
            .assert_error(StatusCode::BAD_REQUEST, "invalid_query");
    }
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn an_agents_referrals_are_paged(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let agent = app.staff_token("call-agent");
    let referrer = app.customer("01711700001", None).await;
    for n in 0..5 {
        created(
            &app,
            "/api/crm/referrals/agent",
            &agent,
            json!({ "referrerCustomerId": referrer, "referredPhone": format!("0181170000{n}") }),
        )
        .await;
    }
    let mine = app
        .assert_paged("/api/crm/referrals/my", &agent, 2, "", before_id)
        .await;
    assert_eq!(mine.len(), 5);
    assert!(mine.iter().all(|r| r["referrer_customer_id"] == referrer));
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn price_locks_and_rewards_are_paged(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let admin = app.admin_token();
    let member = app.customer("01711700011", None).await;
    let tier = app
        .put(
            &format!("/api/loyalty/membership/{member}/tier"),
            &admin,
            json!({ "tier": "gold" }),
        )
        .await;
    assert_eq!(tier.status, StatusCode::OK, "{}", tier.body);
    let lock = |product: i32| {
        created(
            &app,
            "/api/loyalty/price-lock",
            &admin,
            json!({ "customerId": member, "productId": product, "lockedPrice": 100 }),
        )
    };
    for product in 1..=5 {
        lock(product).await;
    }
    let path = format!("/api/loyalty/price-locks/{member}");
    let locks = app.assert_paged(&path, &admin, 2, "", before_id).await;
    assert_eq!(locks.len(), 5);
    // A lock made mid-walk is newer than the cursor: not on the later pages.
    let mut pager = app.pages(&path, &admin, 2, "", before_id);
    let mut walked = pager.next_page().await.unwrap();
    lock(6).await;
    walked.extend(pager.rest().await);
    assert_eq!(walked, locks);

    // Coupons: usable ones first, then the rest, each newest first.
    sqlx::query(
        "insert into coupons (code, customer_id, kind, discount_type, discount_value, status,
                              valid_from, valid_until)
         select 'PAGE' || n, $1, 'discount', 'fixed', 50,
                (case when n % 3 = 0 then 'void' else 'active' end)::coupon_status,
                now() - interval '2 days',
                case when n % 4 = 0 then now() - interval '1 day' end
         from generate_series(1, 9) n",
    )
    .bind(member)
    .execute(&app.pool)
    .await
    .unwrap();
    let mine = app.customer_token(member);
    let rewards = app
        .assert_paged("/api/loyalty/me/rewards", &mine, 2, "", before_id)
        .await;
    assert_eq!(rewards.len(), 9);
    let usable: Vec<bool> = rewards
        .iter()
        .map(|c| c["status"] == "active" && c["validUntil"].is_null())
        .collect();
    assert!(
        usable.windows(2).all(|w| w[0] >= w[1]),
        "usable first: {usable:?}"
    );
    let staff_view = app
        .assert_paged(
            &format!("/api/loyalty/rewards/{member}"),
            &admin,
            4,
            "",
            before_id,
        )
        .await;
    assert_eq!(staff_view, rewards);
    // Another customer's coupon is no cursor of this list.
    let other = app.customer("01711700012", None).await;
    app.get(
        &format!("/api/loyalty/rewards/{other}?beforeId={}", rewards[0]["id"]),
        &admin,
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, "invalid_query");
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn grocery_lists_and_items_are_paged_oldest_first(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let admin = app.admin_token();
    let customer = app.customer("01711700021", None).await;
    let mine = app.customer_token(customer);
    for n in 0..5 {
        created(
            &app,
            "/api/loyalty/me/grocery-lists",
            &mine,
            json!({ "listName": format!("List {n}") }),
        )
        .await;
    }
    let lists = app
        .assert_paged("/api/loyalty/me/grocery-lists", &mine, 2, "", after_id)
        .await;
    assert_eq!(lists.len(), 5);
    let staff_view = app
        .assert_paged(
            &format!("/api/loyalty/grocery-lists/{customer}"),
            &admin,
            3,
            "",
            after_id,
        )
        .await;
    assert_eq!(staff_view, lists);

    let list = lists[0]["id"].as_i64().unwrap();
    let items = format!("/api/loyalty/me/grocery-lists/{list}/items");
    let add = |product: i32| {
        created(
            &app,
            &items,
            &mine,
            json!({ "productId": product, "quantity": 1 }),
        )
    };
    for product in 1..=5 {
        add(product).await;
    }
    let walked = app.assert_paged(&items, &mine, 2, "", after_id).await;
    assert_eq!(walked.len(), 5);
    app.assert_paged(
        &format!("/api/loyalty/grocery-list/{list}/items"),
        &admin,
        2,
        "",
        after_id,
    )
    .await;
    // An item added mid-walk comes after the cursor: it is on a later page, once.
    let mut pager = app.pages(&items, &mine, 2, "", after_id);
    let mut seen = pager.next_page().await.unwrap();
    let late = add(6).await;
    seen.extend(pager.rest().await);
    assert_eq!(seen.len(), 6);
    assert_eq!(seen.last().unwrap()["id"], late["id"]);
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn due_subscriptions_are_paged_by_date_then_id(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let admin = app.admin_token();
    let customers = [
        app.customer("01711700031", None).await,
        app.customer("01711700032", None).await,
    ];
    let today = dhaka_today();
    let mut ids = Vec::new();
    for n in 0..7 {
        let list = created(
            &app,
            "/api/loyalty/grocery-list",
            &admin,
            json!({ "customerId": customers[n % 2], "listName": format!("Monthly {n}"),
                    "isSubscription": true, "subscriptionDay": 1 }),
        )
        .await;
        ids.push(list["id"].as_i64().unwrap() as i32);
    }
    // Due dates with ties: 3, 3, 3, 2, 1, 1 days ago, and one not yet due.
    for (id, days) in ids.iter().zip([3, 3, 3, 2, 1, 1, -5]) {
        sqlx::query("update grocery_lists set next_order_date = $2 where id = $1")
            .bind(id)
            .bind(today - Duration::days(days))
            .execute(&app.pool)
            .await
            .unwrap();
    }
    let cursor = |row: &Value| {
        format!(
            "afterDate={}&afterId={}",
            param(&row["nextOrderDate"]),
            row["id"]
        )
    };
    const DUE: &str = "/api/loyalty/subscriptions/due-today";
    let due = app.assert_paged(DUE, &admin, 2, "", cursor).await;
    assert_eq!(
        due.iter()
            .map(|l| l["id"].as_i64().unwrap() as i32)
            .collect::<Vec<_>>(),
        ids[..6],
        "the most overdue first, ties by id"
    );
    // A subscription falling due today mid-walk is after the cursor: it ends the walk.
    let mut pager = app.pages(DUE, &admin, 2, "", cursor);
    let mut walked = pager.next_page().await.unwrap();
    sqlx::query("update grocery_lists set next_order_date = $2 where id = $1")
        .bind(ids[6])
        .bind(today)
        .execute(&app.pool)
        .await
        .unwrap();
    walked.extend(pager.rest().await);
    assert_eq!(walked.len(), 7);
    assert_eq!(walked.last().unwrap()["id"], ids[6]);
    app.check_invariants().await;
}

/// Records delivered order `id` of `customer` with one line of each product, delivered at
/// `delivered` (a timestamp).
async fn delivered_order(app: &TestApp, id: i32, customer: i32, products: &[i32], delivered: &str) {
    let items: Vec<Value> = products
        .iter()
        .map(|p| json!({ "productId": p, "productName": format!("Product {p}"), "quantity": 1, "unitPrice": 100 }))
        .collect();
    let response = app
        .put(
            &format!("/api/orders/{id}"),
            &app.admin_token(),
            json!({ "customerId": customer, "status": "delivered", "totalAmount": 1000, "items": items }),
        )
        .await;
    assert!(response.status.is_success(), "{}", response.body);
    sqlx::query("update sales_orders set delivered_at = $2::text::timestamptz where id = $1")
        .bind(id)
        .bind(delivered)
        .execute(&app.pool)
        .await
        .unwrap();
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn reminders_due_and_profiles_are_paged(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let admin = app.admin_token();
    for product in [101, 102, 103] {
        created(
            &app,
            "/api/loyalty/consumption-profiles",
            &admin,
            json!({ "productId": product, "avgConsumptionDays": 30 }),
        )
        .await;
    }
    for category in [7, 8] {
        created(
            &app,
            "/api/loyalty/consumption-profiles",
            &admin,
            json!({ "categoryId": category, "avgConsumptionDays": 20 }),
        )
        .await;
    }
    let profiles = app
        .assert_paged("/api/loyalty/consumption-profiles", &admin, 2, "", after_id)
        .await;
    assert_eq!(profiles.len(), 5);

    // Three customers, three products each: reminders due on two dates, with ties.
    for (n, delivered) in [
        "2026-01-01 12:00:00+06",
        "2026-01-05 12:00:00+06",
        "2026-01-01 12:00:00+06",
    ]
    .into_iter()
    .enumerate()
    {
        let customer = app.customer(&format!("0171170004{n}"), None).await;
        delivered_order(&app, 9100 + n as i32, customer, &[101, 102, 103], delivered).await;
    }
    let generated = app
        .post(
            "/api/loyalty/reminders/generate?date=2026-03-01",
            &admin,
            Value::Null,
        )
        .await;
    assert_eq!(generated.status, StatusCode::CREATED, "{}", generated.body);
    let cursor = |row: &Value| {
        format!(
            "afterDate={}&afterId={}",
            param(&row["reminder_due_date"]),
            row["id"]
        )
    };
    let due = app
        .assert_paged(
            "/api/loyalty/reminders/due?date=2026-03-01",
            &admin,
            2,
            "/reminders",
            cursor,
        )
        .await;
    assert_eq!(due.len(), 9);
    let keys: Vec<(String, i64)> = due
        .iter()
        .map(|r| (param(&r["reminder_due_date"]), r["id"].as_i64().unwrap()))
        .collect();
    assert!(
        keys.windows(2).all(|w| w[0] < w[1]),
        "earliest due first: {keys:?}"
    );
    // `count` is the page's.
    let page = app
        .get("/api/loyalty/reminders/due?date=2026-03-01&limit=4", &admin)
        .await;
    assert_eq!(page.body["count"], 4);
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn memberships_are_paged_by_spend_then_customer(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let admin = app.admin_token();
    let mut order_id = 9200;
    // Spend this month: 0, 1000, 1000, 2000, 0, 3000, 0 taka.
    for (n, orders) in [0, 1, 1, 2, 0, 3, 0].into_iter().enumerate() {
        let customer = app.customer(&format!("0171170005{n}"), None).await;
        for _ in 0..orders {
            order_id += 1;
            let response = app.order(order_id, customer, "delivered").await;
            assert!(response.status.is_success(), "{}", response.body);
        }
    }
    let cursor = |row: &Value| {
        format!(
            "afterSpend={}&afterCustomerId={}",
            param(&row["currentMonthSpend"]),
            row["customerId"]
        )
    };
    let all = app
        .assert_paged("/api/loyalty/memberships", &admin, 2, "", cursor)
        .await;
    assert_eq!(all.len(), 7);
    let keys: Vec<(rust_decimal::Decimal, i64)> = all
        .iter()
        .map(|m| {
            (
                crate::helpers::dec(&m["currentMonthSpend"]),
                m["customerId"].as_i64().unwrap(),
            )
        })
        .collect();
    assert!(
        keys.windows(2)
            .all(|w| w[0].0 > w[1].0 || (w[0].0 == w[1].0 && w[0].1 < w[1].1)),
        "highest spend first, ties by customer: {keys:?}"
    );
    // With a tier filter the cursor pages the tier.
    app.assert_paged("/api/loyalty/memberships?tier=none", &admin, 3, "", cursor)
        .await;
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn a_bad_limit_or_cursor_is_a_400(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let admin = app.admin_token();
    let customer = app.customer("01711700061", None).await;
    let mine = app.customer_token(customer);
    let agent = app.staff_token("call-agent");
    let list = created(
        &app,
        "/api/loyalty/me/grocery-lists",
        &mine,
        json!({ "listName": "Basics" }),
    )
    .await["id"]
        .clone();
    // (path with `?`, token, largest limit, a cursor of the wrong type, a half cursor).
    let campaigns = "/api/loyalty/referral-campaigns?".to_owned();
    let partners = "/api/loyalty/referral-partners?".to_owned();
    let cases: Vec<(String, &str, i64, &str, Option<&str>)> = vec![
        (campaigns, &admin, 1000, "beforeId=12", None),
        (partners, &admin, 2000, "beforeId=abc", None),
        (
            "/api/crm/referrals/my?".into(),
            &agent,
            2000,
            "beforeId=x",
            None,
        ),
        (
            format!("/api/loyalty/price-locks/{customer}?"),
            &admin,
            1000,
            "beforeId=1.5",
            None,
        ),
        (
            "/api/loyalty/me/rewards?".into(),
            &mine,
            500,
            "beforeId=x",
            None,
        ),
        (
            format!("/api/loyalty/rewards/{customer}?"),
            &admin,
            500,
            "beforeId=999999",
            None,
        ),
        (
            "/api/loyalty/me/grocery-lists?".into(),
            &mine,
            500,
            "afterId=x",
            None,
        ),
        (
            format!("/api/loyalty/grocery-lists/{customer}?"),
            &admin,
            500,
            "afterId=-",
            None,
        ),
        (
            format!("/api/loyalty/me/grocery-lists/{list}/items?"),
            &mine,
            1000,
            "afterId=x",
            None,
        ),
        (
            format!("/api/loyalty/grocery-list/{list}/items?"),
            &admin,
            1000,
            "afterId=99999999999",
            None,
        ),
        (
            "/api/loyalty/subscriptions/due-today?".into(),
            &admin,
            2000,
            "afterDate=2026-13-01&afterId=1",
            Some("afterDate=2026-01-01"),
        ),
        (
            "/api/loyalty/reminders/due?".into(),
            &admin,
            2000,
            "afterDate=yesterday&afterId=1",
            Some("afterId=1"),
        ),
        (
            "/api/loyalty/consumption-profiles?".into(),
            &admin,
            2000,
            "afterId=x",
            None,
        ),
        (
            "/api/loyalty/memberships?".into(),
            &admin,
            1000,
            "afterSpend=lots&afterCustomerId=1",
            Some("afterSpend=10"),
        ),
    ];
    for (path, token, max, bad_cursor, half) in cases {
        let too_many = format!("limit={}", max + 1);
        let mut bad = vec![
            "limit=0".to_owned(),
            "limit=-1".into(),
            "limit=ten".into(),
            too_many,
        ];
        bad.push(bad_cursor.to_owned());
        bad.extend(half.map(str::to_owned));
        for query in bad {
            let uri = format!("{path}{query}");
            let response = app.get(&uri, token).await;
            assert_eq!(
                response.status,
                StatusCode::BAD_REQUEST,
                "{uri}: {}",
                response.body
            );
            response.assert_error(StatusCode::BAD_REQUEST, "invalid_query");
        }
        let ok = app.get(&format!("{path}limit={max}"), token).await;
        assert_eq!(ok.status, StatusCode::OK, "{path}limit={max}: {}", ok.body);
    }
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn the_openapi_document_states_each_pages_bounds(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let doc = app
        .raw(
            axum::http::Method::GET,
            "/api/openapi.json",
            None,
            None,
            None,
        )
        .await
        .body;
    for (path, default, max, cursors) in [
        (
            "/api/loyalty/referral-campaigns",
            200,
            1000,
            &["beforeId"][..],
        ),
        ("/api/loyalty/referral-partners", 500, 2000, &["beforeId"]),
        ("/api/crm/referrals/my", 100, 2000, &["beforeId"]),
        (
            "/api/loyalty/price-locks/{customerId}",
            200,
            1000,
            &["beforeId"],
        ),
        ("/api/loyalty/me/rewards", 200, 500, &["beforeId"]),
        ("/api/loyalty/me/grocery-lists", 100, 500, &["afterId"]),
        (
            "/api/loyalty/grocery-list/{listId}/items",
            500,
            1000,
            &["afterId"],
        ),
        (
            "/api/loyalty/subscriptions/due-today",
            2000,
            2000,
            &["afterDate", "afterId"],
        ),
        (
            "/api/loyalty/reminders/due",
            200,
            2000,
            &["afterDate", "afterId"],
        ),
        ("/api/loyalty/consumption-profiles", 500, 2000, &["afterId"]),
        (
            "/api/loyalty/memberships",
            200,
            1000,
            &["afterSpend", "afterCustomerId"],
        ),
        (
            "/api/loyalty/me/wallet/transactions",
            50,
            200,
            &["beforeId"],
        ),
    ] {
        let params = doc["paths"][path]["get"]["parameters"]
            .as_array()
            .unwrap_or_else(|| panic!("{path}: no parameters"));
        let named = |name: &str| {
            params
                .iter()
                .find(|p| p["name"] == name)
                .unwrap_or_else(|| panic!("{path}: no {name}"))
        };
        let limit = &named("limit")["schema"];
        assert_eq!(limit["minimum"], 1, "{path}");
        assert_eq!(limit["maximum"], max, "{path}");
        assert_eq!(limit["default"], default, "{path}");
        for cursor in cursors {
            assert_eq!(named(cursor)["in"], "query", "{path} {cursor}");
        }
        assert_eq!(
            params.iter().filter(|p| p["name"] == "limit").count(),
            1,
            "{path}: one limit"
        );
    }
}
