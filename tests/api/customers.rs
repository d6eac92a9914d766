//! `POST /api/customers/public`: validation, duplicates, no mass assignment.

use axum::http::StatusCode;
use serde_json::json;
use sqlx::PgPool;

use crate::helpers::TestApp;

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn the_frontends_register_and_checkout_bodies_work(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let referrer = app.customer("01711400001", None).await;

    // customer/register.tsx
    let registered = app
        .sign_up(json!({
            "name": "Ayesha", "lastName": "Rahman", "email": "Ayesha@Example.COM", "phone": "+8801711400002",
            "password": "s3cret-pass", "customerType": "new", "status": "active",
            "ref": format!("REF{referrer:06}"), "referralChannel": "share_link"
        }))
        .await;
    assert_eq!(
        registered.status,
        StatusCode::CREATED,
        "{}",
        registered.body
    );
    assert_eq!(registered.body["email"], "ayesha@example.com");
    assert_eq!(registered.body["lastName"], "Rahman");
    assert_eq!(registered.body["isGuest"], false);
    assert_eq!(registered.body["referredChannel"], "share_link");
    assert!(
        registered.body.get("password").is_none() && registered.body.get("passwordHash").is_none()
    );

    // checkout.tsx, a guest without a password.
    let guest = app
        .sign_up(json!({
            "name": "Rafiq Islam", "email": null, "phone": "01811400003", "district": "Dhaka",
            "address": "House 12, Road 5, Dhanmondi", "ref": format!("REF{referrer:06}"), "referralChannel": "checkout"
        }))
        .await;
    assert_eq!(guest.status, StatusCode::CREATED, "{}", guest.body);
    assert_eq!(guest.body["isGuest"], true);
    assert_eq!(guest.body["district"], "Dhaka");
    assert_eq!(guest.body["referredChannel"], "checkout");

    let stored: Option<String> = sqlx::query_scalar!(
        "select password_hash from customers where id = $1",
        registered.body["id"].as_i64().unwrap() as i32
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert!(stored.unwrap().starts_with("$argon2id$"));
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn extra_fields_are_never_written(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let victim = app.customer("01711400011", None).await;
    let attacker = app
        .sign_up(json!({
            "id": victim, "phone": "01711400012", "isDeleted": true, "is_deleted": true,
            "referredByCustomerId": victim, "isGuest": false, "passwordHash": "x", "uuid": "00000000-0000-0000-0000-000000000000"
        }))
        .await;
    assert_eq!(attacker.status, StatusCode::CREATED, "{}", attacker.body);
    assert_ne!(attacker.body["id"], victim);
    assert_eq!(attacker.body["referredByCustomerId"], json!(null));
    assert_eq!(attacker.body["isGuest"], true);
    assert_ne!(
        attacker.body["uuid"],
        "00000000-0000-0000-0000-000000000000"
    );
    let victim_phone: String =
        sqlx::query_scalar!("select phone from customers where id = $1", victim)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(victim_phone, "+8801711400011");
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn phones_and_emails_are_validated_and_unique(pool: PgPool) {
    let app = TestApp::new(pool).await;
    app.sign_up(json!({ "phone": "01711400021", "email": "taken@example.com" }))
        .await;
    let before = app.snapshot().await;

    let cases = [
        (
            json!({ "name": "No phone" }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            json!({ "phone": "" }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            json!({ "phone": "12345" }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            json!({ "phone": "01211400022" }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            json!({ "phone": "01711400022", "email": "not-an-email" }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            json!({ "phone": "01711400022", "password": "short" }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            json!({ "phone": "01711400022", "name": "n".repeat(101) }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            json!({ "phone": 1711400022 }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (
            json!({ "phone": "01711400021" }),
            StatusCode::CONFLICT,
            "phone_taken",
        ),
        (
            json!({ "phone": "+880-1711-400021" }),
            StatusCode::CONFLICT,
            "phone_taken",
        ),
        (
            json!({ "phone": "01711400022", "email": " TAKEN@example.com" }),
            StatusCode::CONFLICT,
            "email_taken",
        ),
    ];
    for (body, status, code) in cases {
        let response = app.sign_up(body.clone()).await;
        assert_eq!(response.status, status, "{body}: {}", response.body);
        assert_eq!(response.body["code"], code, "{body}: {}", response.body);
    }
    let missing = app.sign_up(json!({})).await;
    assert_eq!(missing.body["message"], "phone: Phone number is required");
    assert_eq!(
        missing.body["fields"]["phone"][0],
        "Phone number is required"
    );
    assert_eq!(app.snapshot().await, before);
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn non_ascii_and_sql_looking_text_is_stored_verbatim(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let created = app
        .sign_up(json!({
            "name": "রহিম উদ্দিন", "lastName": "'; drop table customers; --", "phone": "০১৭১১৪০০০৩১",
            "address": "বাড়ি ১২, ধানমন্ডি", "ref": "' OR 1=1 --", "referralChannel": "ফেসবুক"
        }))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.body["name"], "রহিম উদ্দিন");
    assert_eq!(created.body["lastName"], "'; drop table customers; --");
    assert_eq!(created.body["phone"], "+8801711400031");
    assert_eq!(created.body["referredByCode"], json!(null));
    let raw_channel: serde_json::Value = sqlx::query_scalar!(
        r#"select payload as "payload!" from referral_events where event_type = 'unknown_code'"#
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(raw_channel["rawChannel"], "ফেসবুক");
    app.check_invariants().await;
}
