//! Authentication and authorisation: every loyalty route needs a token, and a customer
//! reaches only their own data.

use axum::http::{Method, StatusCode};
use bondhu::auth::{JwtKeys, TokenKind};
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::helpers::TestApp;

/// Every `/api/loyalty` and `/api/orders` route of this issue, with a valid body.
fn protected_routes(customer: i32, referral: i64) -> Vec<(Method, String, Option<Value>)> {
    let credit = json!({ "amount": 1, "source": "bonus", "idempotencyKey": "matrix" });
    vec![
        (
            Method::GET,
            format!("/api/loyalty/referral-code/{customer}"),
            None,
        ),
        (
            Method::GET,
            format!("/api/loyalty/referrals/{customer}"),
            None,
        ),
        (
            Method::GET,
            format!("/api/loyalty/referrals/{customer}/stats"),
            None,
        ),
        (
            Method::POST,
            "/api/loyalty/referral".into(),
            Some(json!({ "referrerCustomerId": customer, "referredEmail": "m@example.com" })),
        ),
        (
            Method::PUT,
            format!("/api/loyalty/referral/{referral}/complete"),
            Some(json!({})),
        ),
        (Method::GET, format!("/api/loyalty/wallet/{customer}"), None),
        (
            Method::GET,
            format!("/api/loyalty/wallet/{customer}/transactions"),
            None,
        ),
        (
            Method::POST,
            format!("/api/loyalty/wallet/{customer}/credit"),
            Some(credit.clone()),
        ),
        (
            Method::POST,
            format!("/api/loyalty/wallet/{customer}/debit"),
            Some(credit),
        ),
        (Method::GET, "/api/loyalty/kpis".into(), None),
        (Method::GET, "/api/loyalty/dashboard".into(), None),
        (
            Method::PUT,
            "/api/orders/1".into(),
            Some(json!({ "status": "pending" })),
        ),
        (
            Method::POST,
            "/api/orders/1/status".into(),
            Some(json!({ "status": "pending" })),
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
    ]
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

    let owner_token = app.customer_token(owner);
    let other_token = app.customer_token(other);
    let clerk = app.staff_token("support-agent");
    let admin = app.admin_token();
    let super_admin = app.staff_token("super-admin");

    for (method, path, body) in protected_routes(owner, referral) {
        let before = app.snapshot().await;
        let anonymous = app.request(method.clone(), &path, None, body.clone()).await;
        anonymous.assert_error(StatusCode::UNAUTHORIZED, "unauthenticated");
        // A customer, even the one the route names, gets no admin route.
        for token in [&owner_token, &other_token] {
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
        let response = app
            .request(method.clone(), &path, Some(&clerk), body.clone())
            .await;
        response.assert_error(StatusCode::FORBIDDEN, "forbidden");
        assert_eq!(
            app.snapshot().await,
            before,
            "{method} {path} changed data without permission"
        );

        for token in [&admin, &super_admin] {
            let response = app
                .request(method.clone(), &path, Some(token), body.clone())
                .await;
            assert!(
                response.status.is_success() || response.status == StatusCode::CONFLICT,
                "{method} {path}: {} {}",
                response.status,
                response.body
            );
        }
    }

    for (method, path, body) in self_service_routes() {
        let anonymous = app.request(method.clone(), path, None, body.clone()).await;
        anonymous.assert_error(StatusCode::UNAUTHORIZED, "unauthenticated");
        // Staff have no customer account behind /me.
        let staff = app
            .request(method.clone(), path, Some(&admin), body.clone())
            .await;
        staff.assert_error(StatusCode::FORBIDDEN, "forbidden");
        let mine = app
            .request(method.clone(), path, Some(&owner_token), body.clone())
            .await;
        assert!(mine.status.is_success(), "{method} {path}: {}", mine.body);
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

    // A deleted customer's token no longer reaches their wallet.
    sqlx::query!(
        "update customers set is_deleted = true where id = $1",
        customer
    )
    .execute(&app.pool)
    .await
    .unwrap();
    app.get("/api/loyalty/me/wallet", &app.customer_token(customer))
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "customer_not_found");
    app.check_invariants().await;
}
