//! Authentication and authorisation: every loyalty route needs a token, and a customer
//! reaches only their own data.

use axum::http::{Method, StatusCode};
use bondhu::auth::{JwtKeys, TokenKind};
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::helpers::{STAFF_ROLES, TestApp};

/// The permission a staff route needs.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Needs {
    Reports,
    Settings,
    Orders,
    /// `capture-referrals`: call agents (and their managers).
    Agent,
    /// `manage-crm-tasks`: call-centre managers.
    Manager,
    /// `manage-payouts`: only admins hold it.
    Payouts,
}

/// The rows the staff routes of the matrix name.
#[derive(Clone, Copy)]
struct Named<'a> {
    customer: i32,
    referral: i64,
    list: i64,
    item: i64,
    reminder: i32,
    task: i64,
    rider: &'a str,
    message: i64,
}

/// Every staff route, with a valid body and the permission it needs.
fn staff_routes(named: Named<'_>) -> Vec<(Method, String, Option<Value>, Needs)> {
    let Named {
        customer,
        referral,
        list,
        item,
        reminder,
        task,
        rider,
        message,
    } = named;
    let credit = json!({ "amount": 1, "source": "bonus", "idempotencyKey": "matrix" });
    vec![
        (
            Method::GET,
            format!("/api/loyalty/grocery-lists/{customer}"),
            None,
            Needs::Reports,
        ),
        (
            Method::POST,
            "/api/loyalty/grocery-list".into(),
            Some(json!({ "customerId": customer, "listName": "Matrix" })),
            Needs::Settings,
        ),
        (
            Method::GET,
            format!("/api/loyalty/grocery-list/{list}/items"),
            None,
            Needs::Reports,
        ),
        (
            Method::POST,
            format!("/api/loyalty/grocery-list/{list}/item"),
            Some(json!({ "productId": 99, "quantity": 1 })),
            Needs::Settings,
        ),
        (
            Method::PUT,
            format!("/api/loyalty/grocery-list/item/{item}"),
            Some(json!({ "quantity": 2 })),
            Needs::Settings,
        ),
        (
            Method::PUT,
            format!("/api/loyalty/grocery-list/{list}/subscription"),
            Some(json!({ "isSubscription": true, "subscriptionDay": 7 })),
            Needs::Settings,
        ),
        (
            Method::GET,
            "/api/loyalty/subscriptions/due-today".into(),
            None,
            Needs::Reports,
        ),
        (
            Method::DELETE,
            format!("/api/loyalty/grocery-list/item/{item}"),
            None,
            Needs::Settings,
        ),
        (
            Method::GET,
            format!("/api/loyalty/benefits/{customer}"),
            None,
            Needs::Reports,
        ),
        (
            Method::POST,
            "/api/loyalty/price-lock".into(),
            Some(json!({ "customerId": customer, "productId": 5, "lockedPrice": 10 })),
            Needs::Settings,
        ),
        (
            Method::GET,
            format!("/api/loyalty/price-locks/{customer}"),
            None,
            Needs::Reports,
        ),
        (
            Method::GET,
            format!("/api/loyalty/price-locks/{customer}/savings"),
            None,
            Needs::Reports,
        ),
        (
            Method::GET,
            format!("/api/loyalty/referral-code/{customer}"),
            None,
            Needs::Reports,
        ),
        (
            Method::GET,
            format!("/api/loyalty/referrals/{customer}"),
            None,
            Needs::Reports,
        ),
        (
            Method::GET,
            format!("/api/loyalty/referrals/{customer}/stats"),
            None,
            Needs::Reports,
        ),
        (
            Method::GET,
            format!("/api/loyalty/wallet/{customer}"),
            None,
            Needs::Reports,
        ),
        (
            Method::GET,
            format!("/api/loyalty/wallet/{customer}/transactions"),
            None,
            Needs::Reports,
        ),
        (
            Method::GET,
            "/api/loyalty/kpis".into(),
            None,
            Needs::Reports,
        ),
        (
            Method::GET,
            "/api/loyalty/dashboard".into(),
            None,
            Needs::Reports,
        ),
        (
            Method::POST,
            "/api/loyalty/referral".into(),
            Some(json!({ "referrerCustomerId": customer, "referredEmail": "m@example.com" })),
            Needs::Settings,
        ),
        (
            Method::PUT,
            format!("/api/loyalty/referral/{referral}/complete"),
            Some(json!({})),
            Needs::Settings,
        ),
        (
            Method::POST,
            format!("/api/loyalty/wallet/{customer}/credit"),
            Some(credit.clone()),
            Needs::Settings,
        ),
        (
            Method::POST,
            format!("/api/loyalty/wallet/{customer}/debit"),
            Some(credit),
            Needs::Settings,
        ),
        (
            Method::GET,
            "/api/loyalty/fraud-rules".into(),
            None,
            Needs::Settings,
        ),
        (
            Method::GET,
            "/api/loyalty/blocklist".into(),
            None,
            Needs::Settings,
        ),
        (
            Method::POST,
            "/api/loyalty/blocklist".into(),
            Some(json!({ "kind": "device", "value": "matrix-device" })),
            Needs::Settings,
        ),
        (
            Method::GET,
            "/api/loyalty/consumption-profiles".into(),
            None,
            Needs::Reports,
        ),
        (
            Method::POST,
            "/api/loyalty/consumption-profiles".into(),
            Some(json!({ "productId": 9001, "avgConsumptionDays": 30 })),
            Needs::Settings,
        ),
        (
            Method::DELETE,
            "/api/loyalty/consumption-profiles/999999".into(),
            None,
            Needs::Settings,
        ),
        (
            Method::POST,
            "/api/loyalty/reminders/generate?date=2026-01-01".into(),
            None,
            Needs::Settings,
        ),
        (
            Method::GET,
            "/api/loyalty/reminders/due?limit=20".into(),
            None,
            Needs::Reports,
        ),
        (
            Method::PUT,
            format!("/api/loyalty/reminders/{reminder}/sent"),
            Some(json!({ "channel": "sms" })),
            Needs::Settings,
        ),
        (
            Method::POST,
            "/api/crm/referrals/agent".into(),
            Some(json!({ "referrerCustomerId": customer, "referredPhone": "01711300099" })),
            Needs::Agent,
        ),
        (
            Method::GET,
            "/api/crm/referrals/my?limit=10".into(),
            None,
            Needs::Agent,
        ),
        (Method::GET, "/api/crm/tasks".into(), None, Needs::Agent),
        (
            Method::PUT,
            format!("/api/crm/tasks/{task}"),
            Some(json!({ "note": "matrix" })),
            Needs::Agent,
        ),
        (
            Method::GET,
            "/api/crm/referrals/agents/report".into(),
            None,
            Needs::Manager,
        ),
        (
            Method::GET,
            format!("/api/loyalty/rider-cards.pdf?partnerId={rider}&count=1"),
            None,
            Needs::Settings,
        ),
        // The customer's delivered order of `reminder_of`.
        (
            Method::GET,
            "/api/orders/9900/referral-card.pdf".into(),
            None,
            Needs::Orders,
        ),
        (
            Method::GET,
            "/api/messages?limit=5".into(),
            None,
            Needs::Reports,
        ),
        (
            Method::POST,
            format!("/api/messages/{message}/retry"),
            None,
            Needs::Settings,
        ),
        (
            Method::GET,
            "/api/message-templates".into(),
            None,
            Needs::Reports,
        ),
        (
            Method::GET,
            "/api/loyalty/payout-batches".into(),
            None,
            Needs::Payouts,
        ),
        (
            Method::PUT,
            "/api/message-templates/reward_released".into(),
            Some(json!({ "bn": "{code}: {amount}", "en": "{code}: {amount}" })),
            Needs::Settings,
        ),
        (
            Method::POST,
            "/api/loyalty/review-shared".into(),
            Some(json!({ "customerId": customer, "reviewId": 1 })),
            Needs::Orders,
        ),
        (
            Method::PUT,
            "/api/orders/1".into(),
            Some(json!({ "status": "pending" })),
            Needs::Orders,
        ),
        (
            Method::POST,
            "/api/orders/1/status".into(),
            Some(json!({ "status": "pending" })),
            Needs::Orders,
        ),
        (
            Method::GET,
            "/api/webhooks/couriers/unmatched".into(),
            None,
            Needs::Orders,
        ),
    ]
}

fn self_service_routes() -> Vec<(Method, &'static str, Option<Value>)> {
    vec![
        (Method::GET, "/api/loyalty/me/referral-code", None),
        (Method::GET, "/api/loyalty/me/referrals", None),
        (Method::GET, "/api/loyalty/me/referrals/stats", None),
        (
            Method::POST,
            "/api/loyalty/me/referral",
            Some(json!({ "referredEmail": "friend@example.com" })),
        ),
        (Method::GET, "/api/loyalty/me/wallet", None),
        (Method::GET, "/api/loyalty/me/wallet/transactions", None),
        (Method::GET, "/api/customers/me", None),
        (Method::GET, "/api/loyalty/me/grocery-lists", None),
        (
            Method::POST,
            "/api/loyalty/me/grocery-lists",
            Some(json!({ "listName": "Mine" })),
        ),
        (
            Method::POST,
            "/api/loyalty/me/messaging",
            Some(json!({ "language": "bn" })),
        ),
        (Method::GET, "/api/loyalty/me/qr.svg", None),
        (Method::GET, "/api/loyalty/me/qr.png", None),
        (Method::GET, "/api/loyalty/me/share", None),
    ]
}

/// Routes that name a customer and answer the customer themselves as well as staff with
/// `view-mlm-reports`.
fn own_or_staff_routes(customer: i32) -> Vec<String> {
    vec![
        format!("/api/loyalty/referral-code/{customer}/qr.svg"),
        format!("/api/loyalty/referral-code/{customer}/qr.png"),
    ]
}

/// Which seeded role holds which permission (see the identity migration).
fn role_passes(role: &str, needs: Needs) -> bool {
    match role {
        "admin" | "super-admin" => true,
        "marketing-manager" => matches!(needs, Needs::Reports | Needs::Settings),
        "support-agent" => needs == Needs::Reports,
        "order-desk" => needs == Needs::Orders,
        "call-agent" => needs == Needs::Agent,
        "call-centre-manager" => matches!(needs, Needs::Agent | Needs::Manager),
        _ => false,
    }
}

/// A repeat-purchase reminder of `customer` (for the reminder routes of the matrix).
async fn reminder_of(app: &TestApp, customer: i32) -> i32 {
    let admin = app.admin_token();
    let items =
        json!([{ "productId": 9002, "productName": "Rice", "quantity": 1, "unitPrice": 100 }]);
    let order = app
        .put(
            "/api/orders/9900",
            &admin,
            json!({ "customerId": customer, "status": "delivered", "totalAmount": 100, "items": items }),
        )
        .await;
    assert!(order.status.is_success(), "{}", order.body);
    sqlx::query(
        "insert into consumption_profiles (product_id, avg_consumption_days) values (9002, 30)",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    sqlx::query("select generate_reminders(null)")
        .execute(&app.pool)
        .await
        .unwrap();
    sqlx::query_scalar("select id from customer_product_reminders")
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn the_authorisation_matrix(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let owner = app.customer("01711300001", None).await;
    let other = app
        .customer("01711300002", Some(&format!("REF{owner}")))
        .await;
    let referral: i64 = sqlx::query_scalar!("select id::bigint as \"id!\" from customer_referrals")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let reminder = reminder_of(&app, owner).await;
    let rider = app
        .post(
            "/api/loyalty/referral-partners",
            &app.admin_token(),
            json!({ "code": "MatrixRider", "partnerType": "delivery_rider" }),
        )
        .await;
    assert_eq!(rider.status, StatusCode::CREATED, "{}", rider.body);
    let rider = rider.body["id"].as_str().unwrap().to_owned();
    // A partner's token passes no permission: it is refused wherever a customer is.
    let partner_token = app.keys.issue_partner(rider.parse().unwrap()).unwrap();
    let owner_token = app.customer_token(owner);
    let other_token = app.customer_token(other);
    let key = bondhu::auth::api_key::generate();
    bondhu::db::api_keys::insert(
        &app.pool,
        "courier",
        &key.prefix,
        &key.hash,
        &["edit-sales-orders".to_owned()],
    )
    .await
    .unwrap();

    // A gold member (price locks), with a list holding one item.
    sqlx::query(
        "update customer_memberships set membership_tier = 'gold', price_lock_enabled = true
         where customer_id = $1",
    )
    .bind(owner)
    .execute(&app.pool)
    .await
    .unwrap();
    let list = app
        .post(
            "/api/loyalty/grocery-list",
            &app.admin_token(),
            json!({ "customerId": owner, "listName": "Matrix list" }),
        )
        .await;
    let list_id = list.body["id"].as_i64().unwrap();
    let item = app
        .post(
            &format!("/api/loyalty/grocery-list/{list_id}/item"),
            &app.admin_token(),
            json!({ "productId": 1, "quantity": 1 }),
        )
        .await;
    let item_id = item.body["id"].as_i64().unwrap();

    // A follow-up task of the harness's call agent (every role that passes reaches it:
    // the agent as its assignee, the others as managers).
    let captured = app
        .post(
            "/api/crm/referrals/agent",
            &app.staff_token("call-agent"),
            json!({ "referrerCustomerId": owner, "referredPhone": "01711300098" }),
        )
        .await;
    assert_eq!(captured.status, StatusCode::CREATED, "{}", captured.body);
    let task = captured.body["task"]["id"].as_i64().unwrap();

    let mut results = Vec::new();
    // A dead message, for the retry route (retried by the first role, 409 for the next).
    let message: i64 = sqlx::query_scalar(
        "insert into outbound_messages (kind, customer_id, status, attempts, last_error)
         values ('share_nudge', $1, 'dead', 8, 'matrix') returning id",
    )
    .bind(owner)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    let routes = staff_routes(Named {
        customer: owner,
        referral,
        list: list_id,
        item: item_id,
        reminder,
        task,
        rider: &rider,
        message,
    });
    for (method, path, body, needs) in routes {
        let before = app.snapshot().await;
        let anonymous = app.request(method.clone(), &path, None, body.clone()).await;
        anonymous.assert_error(StatusCode::UNAUTHORIZED, "unauthenticated");
        // A customer, even the one the route names, gets no staff route; nor a partner.
        for token in [&owner_token, &other_token, &partner_token] {
            let response = app
                .request(method.clone(), &path, Some(token), body.clone())
                .await;
            response.assert_error(StatusCode::FORBIDDEN, "forbidden");
            assert!(
                response.body["message"]
                    .as_str()
                    .unwrap()
                    .starts_with("Missing required permission: ")
            );
        }
        for role in STAFF_ROLES.iter().filter(|role| !role_passes(role, needs)) {
            let response = app
                .request(
                    method.clone(),
                    &path,
                    Some(&app.staff_token(role)),
                    body.clone(),
                )
                .await;
            response.assert_error(StatusCode::FORBIDDEN, "forbidden");
        }
        let with_key = app
            .raw_with_api_key(method.clone(), &path, &key.key, body.clone())
            .await;
        if needs != Needs::Orders {
            with_key.assert_error(StatusCode::FORBIDDEN, "forbidden");
        }
        if needs != Needs::Orders {
            assert_eq!(
                app.snapshot().await,
                before,
                "{method} {path} changed data without permission"
            );
        } else {
            assert!(
                with_key.status.is_success(),
                "{method} {path} with the API key: {}",
                with_key.body
            );
        }

        for role in STAFF_ROLES.iter().filter(|role| role_passes(role, needs)) {
            let response = app
                .request(
                    method.clone(),
                    &path,
                    Some(&app.staff_token(role)),
                    body.clone(),
                )
                .await;
            // A second delete of the same item finds nothing: the first role deleted it.
            let deleted_before =
                method == Method::DELETE && response.body["code"] == "grocery_list_item_not_found";
            assert!(
                response.status.is_success()
                    || response.status == StatusCode::CONFLICT
                    || deleted_before,
                "{role}: {method} {path}: {} {}",
                response.status,
                response.body
            );
            results.push(format!("{role} {method} {path}"));
        }
    }
    assert!(results.len() > 20);

    for (method, path, body) in self_service_routes() {
        let anonymous = app.request(method.clone(), path, None, body.clone()).await;
        anonymous.assert_error(StatusCode::UNAUTHORIZED, "unauthenticated");
        // Staff and machines have no customer account behind /me.
        let staff = app
            .request(method.clone(), path, Some(&app.admin_token()), body.clone())
            .await;
        staff.assert_error(StatusCode::FORBIDDEN, "forbidden");
        let machine = app
            .raw_with_api_key(method.clone(), path, &key.key, body.clone())
            .await;
        machine.assert_error(StatusCode::FORBIDDEN, "forbidden");
        app.request(method.clone(), path, Some(&partner_token), body.clone())
            .await
            .assert_error(StatusCode::FORBIDDEN, "forbidden");
        let mine = app
            .request(method.clone(), path, Some(&owner_token), body.clone())
            .await;
        assert!(mine.status.is_success(), "{method} {path}: {}", mine.body);
    }

    for path in own_or_staff_routes(owner) {
        app.request(Method::GET, &path, None, None)
            .await
            .assert_error(StatusCode::UNAUTHORIZED, "unauthenticated");
        let mine = app.get(&path, &owner_token).await;
        assert!(mine.status.is_success(), "{path}: {}", mine.body);
        for token in [&other_token, &partner_token] {
            app.get(&path, token)
                .await
                .assert_error(StatusCode::FORBIDDEN, "forbidden");
        }
        for role in STAFF_ROLES {
            let response = app.get(&path, &app.staff_token(role)).await;
            if role_passes(role, Needs::Reports) {
                assert!(
                    response.status.is_success(),
                    "{role} {path}: {}",
                    response.body
                );
            } else {
                response.assert_error(StatusCode::FORBIDDEN, "forbidden");
            }
        }
        app.raw_with_api_key(Method::GET, &path, &key.key, None)
            .await
            .assert_error(StatusCode::FORBIDDEN, "forbidden");
    }

    // /me routes use the token's id, so each customer sees only their own data.
    let mine = app.get("/api/loyalty/me/referrals", &owner_token).await;
    assert!(
        mine.body
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["referrerCustomerId"] == owner)
    );
    let theirs = app.get("/api/loyalty/me/referrals", &other_token).await;
    assert!(
        theirs
            .body
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["referrerCustomerId"] == other)
    );
    let their_wallet = app.get("/api/loyalty/me/wallet", &other_token).await;
    assert_eq!(their_wallet.body["customerId"], other);
    let their_profile = app.get("/api/customers/me", &other_token).await;
    assert_eq!(their_profile.body["id"], other);
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn bad_tokens_are_401_json(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let customer = app.customer("01711300011", None).await;
    let forged = JwtKeys::new(&"some-other-secret-some-other-secret".to_owned().into())
        .issue(TokenKind::User, 1, "admin", None, None)
        .unwrap();
    let unsigned = {
        let header = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0";
        let payload = "eyJpZCI6MSwicm9sZVNsdWciOiJhZG1pbiIsInR5cGUiOiJ1c2VyIiwiaWF0IjoxLCJleHAiOjQxMDI0NDQ4MDB9";
        format!("{header}.{payload}.")
    };
    for token in [forged.as_str(), unsigned.as_str(), "garbage", "a.b.c"] {
        app.get("/api/loyalty/kpis", token)
            .await
            .assert_error(StatusCode::UNAUTHORIZED, "invalid_token");
    }

    let expired = {
        use jsonwebtoken::{EncodingKey, Header, encode};
        let claims = json!({ "id": 1, "roleSlug": "admin", "type": "user", "iat": 1, "exp": 1000 });
        encode(
            &Header::default(),
            &claims,
            &EncodingKey::from_secret(crate::helpers::TEST_SECRET.as_bytes()),
        )
        .unwrap()
    };
    app.get("/api/loyalty/kpis", &expired)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "token_expired");

    let basic = app
        .raw(Method::GET, "/api/loyalty/kpis", None, None, None)
        .await;
    basic.assert_error(StatusCode::UNAUTHORIZED, "unauthenticated");

    // A deleted customer's token, and an inactive staff user's, stop working.
    let token = app.customer_token(customer);
    assert_eq!(
        app.get("/api/loyalty/me/wallet", &token).await.status,
        StatusCode::OK
    );
    sqlx::query!(
        "update customers set is_deleted = true where id = $1",
        customer
    )
    .execute(&app.pool)
    .await
    .unwrap();
    app.get("/api/loyalty/me/wallet", &token)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "account_unavailable");
    let support = app.staff_token("support-agent");
    assert_eq!(
        app.get("/api/loyalty/kpis", &support).await.status,
        StatusCode::OK
    );
    sqlx::query!("update users set status = 'inactive' where email = 'support-agent@staff.test'")
        .execute(&app.pool)
        .await
        .unwrap();
    app.get("/api/loyalty/kpis", &support)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "account_unavailable");
    // A token naming a staff user that never existed is refused too.
    let ghost = app
        .keys
        .issue(TokenKind::User, 999, "admin", None, None)
        .unwrap();
    app.get("/api/loyalty/kpis", &ghost)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "account_unavailable");
    app.check_invariants().await;
}
