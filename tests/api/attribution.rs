//! Every way a code comes in: signup, checkout, the order itself, the landing page, and
//! the public code check.

use axum::http::{Method, StatusCode, header};
use rust_decimal::Decimal;
use serde_json::json;
use sqlx::PgPool;

use crate::helpers::{TestApp, dec};

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn a_code_typed_on_the_order_attributes_and_completes(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let admin = app.admin_token();
    let referrer = app.customer("01511900001", None).await;
    // An existing guest without attribution places an order with the friend's code.
    let friend = app.customer("01511900002", None).await;
    let order = app
        .put(
            "/api/orders/600",
            &admin,
            json!({ "customerId": friend, "status": "delivered", "totalAmount": 700, "referralCode": format!("ref{referrer}"), "createdAt": "2026-11-20T10:00:00Z" }),
        )
        .await;
    assert_eq!(order.status, StatusCode::OK, "{}", order.body);
    assert!(
        order.body["completedReferralId"].is_number(),
        "{}",
        order.body
    );
    assert_eq!(app.balance(referrer).await, Decimal::ZERO);
    assert_eq!(app.end_holds().await, 1);
    assert_eq!(app.balance(referrer).await, Decimal::from(100));
    let customer = app
        .get(&format!("/api/loyalty/referrals/{referrer}"), &admin)
        .await
        .body[0]
        .clone();
    assert_eq!(customer["sourceChannel"], "checkout");
    let stored: Option<String> =
        sqlx::query_scalar!("select referral_code from sales_orders where id = 600")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(stored.as_deref(), Some(format!("ref{referrer}").as_str()));

    // A customer who already has attribution is never re-attributed by a later order.
    let other = app.customer("01511900003", None).await;
    let again = app
        .put("/api/orders/601", &admin, json!({ "customerId": friend, "status": "pending", "referralCode": format!("REF{other}") }))
        .await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(app.events("attribution_ignored").await, 1);
    let stats = app
        .get(&format!("/api/loyalty/referrals/{other}/stats"), &admin)
        .await;
    assert_eq!(stats.body["total_referrals"], "0");
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn self_referral_is_refused_and_logged(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let admin = app.admin_token();
    let guest = app.customer("01511900011", None).await;
    // The guest types their own share code at checkout.
    let order = app
        .put("/api/orders/610", &admin, json!({ "customerId": guest, "status": "delivered", "referralCode": format!("REF{guest:06}") }))
        .await;
    assert_eq!(order.status, StatusCode::OK);
    assert_eq!(order.body["completedReferralId"], json!(null));
    assert_eq!(app.events("self_referral_blocked").await, 1);
    let me = app
        .get("/api/customers/me", &app.customer_token(guest))
        .await;
    assert_eq!(me.body["referredByCustomerId"], json!(null));
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn look_alike_codes_match_nothing(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let referrer = app.customer("01511900021", None).await;
    sqlx::query!("insert into referral_partners (code, name) values ('RupaBeauty', 'Rupa')")
        .execute(&app.pool)
        .await
        .unwrap();
    // Cyrillic Е, full-width digits, a zero-width space, Bangla digits.
    for (i, code) in [
        "RЕF000001",
        "REF０００００１",
        "REF\u{200B}000001",
        "REF০০০০০১",
        "RupaВeauty",
    ]
    .iter()
    .enumerate()
    {
        let signup = app
            .sign_up(json!({ "phone": format!("0151190003{i}"), "ref": code }))
            .await;
        assert_eq!(signup.status, StatusCode::CREATED);
        assert_eq!(signup.body["referredByCustomerId"], json!(null), "{code}");
        assert_eq!(signup.body["referredByPartnerId"], json!(null), "{code}");
        let check = app
            .request(
                Method::GET,
                &format!("/api/referral-codes/{}", urlencode(code)),
                None,
                None,
            )
            .await;
        assert_eq!(check.body["valid"], false, "{code}");
    }
    assert_eq!(app.events("unknown_code").await, 5);
    assert!(referrer > 0);
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn the_code_check_says_what_a_friend_gets(pool: PgPool) {
    let app = TestApp::new(pool).await;
    sqlx::query!(
        "update referral_campaigns set reward_referred_amount = 100, reward_referrer_amount = 150"
    )
    .execute(&app.pool)
    .await
    .unwrap();
    let referrer = app.customer("01511900041", None).await;
    sqlx::query!("insert into referral_partners (code, name, is_active) values ('DhakaFoodies', 'DF', true), ('OldPromo', 'x', false)")
        .execute(&app.pool)
        .await
        .unwrap();
    let before = app.snapshot().await;

    let share = app
        .request(
            Method::GET,
            &format!("/api/referral-codes/ref{referrer}"),
            None,
            None,
        )
        .await;
    assert_eq!(share.status, StatusCode::OK);
    assert_eq!(share.body["valid"], true);
    assert_eq!(share.body["kind"], "share");
    assert_eq!(share.body["code"], format!("REF{referrer:06}"));
    assert_eq!(share.body["rewardType"], "wallet");
    assert_eq!(dec(&share.body["referredReward"]), Decimal::from(100));
    assert_eq!(dec(&share.body["referrerReward"]), Decimal::from(150));

    let partner = app
        .request(Method::GET, "/api/referral-codes/dhakafoodies", None, None)
        .await;
    assert_eq!(partner.body["kind"], "partner");
    assert_eq!(partner.body["code"], "DhakaFoodies");
    let inactive = app
        .request(Method::GET, "/api/referral-codes/OldPromo", None, None)
        .await;
    assert_eq!(inactive.body["valid"], false);
    let ghost = app
        .request(Method::GET, "/api/referral-codes/REF999999", None, None)
        .await;
    assert_eq!(ghost.body["valid"], false);
    assert_eq!(ghost.body["kind"], json!(null));
    assert_eq!(ghost.body["rewardType"], json!(null));

    let invite = app
        .post(
            "/api/loyalty/me/referral",
            &app.customer_token(referrer),
            json!({ "referredPhone": "01511900042" }),
        )
        .await;
    let invite_code = invite.body["referralCode"].as_str().unwrap().to_owned();
    let checked = app
        .request(
            Method::GET,
            &format!("/api/referral-codes/{}", invite_code.to_lowercase()),
            None,
            None,
        )
        .await;
    assert_eq!(checked.body["kind"], "invite");
    assert_eq!(dec(&checked.body["referredReward"]), Decimal::from(100));
    // The check writes nothing (the invitation itself is the only change above).
    assert_ne!(app.snapshot().await, before);
    let after_invite = app.snapshot().await;
    app.request(Method::GET, "/api/referral-codes/anything", None, None)
        .await;
    assert_eq!(app.snapshot().await, after_invite);
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn the_landing_page_records_the_click_and_keeps_the_channel(pool: PgPool) {
    let app = TestApp::with_config(
        pool,
        crate::helpers::test_config(&[("SHOP_URL", "https://trustcart.example/")]),
    )
    .await;
    let referrer = app.customer("01511900051", None).await;

    let qr = app
        .request(Method::GET, &format!("/r/ref{referrer}?ch=qr"), None, None)
        .await;
    assert_eq!(qr.status, StatusCode::FOUND);
    assert_eq!(
        qr.headers[header::LOCATION],
        format!("https://trustcart.example/register?ref=REF{referrer:06}&referralChannel=qr")
            .as_str()
    );
    let whatsapp = app
        .request(
            Method::GET,
            &format!("/r/REF{referrer:06}?ch=WhatsApp"),
            None,
            None,
        )
        .await;
    assert!(
        whatsapp.headers[header::LOCATION]
            .to_str()
            .unwrap()
            .ends_with("referralChannel=whatsapp")
    );
    let plain = app
        .request(Method::GET, &format!("/r/REF{referrer:06}"), None, None)
        .await;
    assert!(
        plain.headers[header::LOCATION]
            .to_str()
            .unwrap()
            .ends_with("referralChannel=share_link")
    );
    let unknown = app.request(Method::GET, "/r/NOPE?ch=qr", None, None).await;
    assert_eq!(
        unknown.headers[header::LOCATION],
        "https://trustcart.example/register"
    );

    let channels: Vec<Option<String>> = sqlx::query_scalar!(
        "select source_channel from referral_events where event_type = 'clicked' order by id"
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        channels,
        [
            Some("qr".to_owned()),
            Some("whatsapp".to_owned()),
            Some("share_link".to_owned())
        ]
    );
    // Unknown codes on the public landing page are not logged (anyone could fill the log).
    assert_eq!(app.events("unknown_code").await, 0);

    // The rider's QR card brings a signup through the same code and channel.
    let signup = app
        .sign_up(json!({ "phone": "01511900052", "ref": format!("REF{referrer:06}"), "referralChannel": "qr" }))
        .await;
    assert_eq!(signup.body["referredChannel"], "qr");
    app.check_invariants().await;
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
