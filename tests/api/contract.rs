//! Snapshots of every TrustCart-compatible response body (contract §1.2, §1.3 and §4.5):
//! the status and the exact JSON, so that a changed key, casing, value type or status shows
//! up in review as a diff of `tests/api/snapshots/`.
//!
//! Ids from sequences are kept (every test has a fresh database, so they are
//! deterministic). Volatile strings are redacted wherever they are, by their form, so that
//! a change of form is a diff too:
//! - timestamps (ISO 8601 UTC with milliseconds and `Z`) within an hour of now become
//!   `[now]`, or `[now+30d]` for a whole number of days ahead or behind; a timestamp off by
//!   the six hours of Dhaka's offset stays literal and fails;
//! - UUIDs become `[uuid]`, invite codes `INV[random]`, tokens `[jwt]`.
//!
//! Numbers are snapshotted as a JavaScript client reads them: an integer stays an integer
//! and a decimal becomes an `f64` (`250.00` on the wire is `250.0` here). A number turning
//! into a string, or the reverse, is a diff.
//!
//! Review and accept changes with `cargo insta review` (see README.md).

use axum::http::{Method, StatusCode};
use chrono::{DateTime, Duration, Utc};
use insta::internals::{Content, ContentPath};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::helpers::{TestApp, TestResponse};

/// A response as it is snapshotted: `{"status": 201, "body": …}`.
struct Snapshot<'a> {
    status: StatusCode,
    body: &'a Value,
}

impl Serialize for Snapshot<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry("status", &self.status.as_u16())?;
        map.serialize_entry("body", &Wire(self.body))?;
        map.end()
    }
}

/// A JSON value serialised with plain numbers. The crate's `serde_json` has
/// `arbitrary_precision`, under which a number serialises as a private map that insta
/// would print as such.
pub(crate) struct Wire<'a>(pub(crate) &'a Value);

impl Serialize for Wire<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Null => serializer.serialize_unit(),
            Value::Bool(b) => serializer.serialize_bool(*b),
            Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    serializer.serialize_i64(i)
                } else if let Some(u) = n.as_u64() {
                    serializer.serialize_u64(u)
                } else {
                    let f = n.as_f64().unwrap_or(f64::NAN);
                    serializer.serialize_f64(f)
                }
            }
            Value::String(s) => serializer.serialize_str(s),
            Value::Array(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(&Wire(item))?;
                }
                seq.end()
            }
            Value::Object(object) => {
                let mut map = serializer.serialize_map(Some(object.len()))?;
                for (key, value) in object {
                    map.serialize_entry(key, &Wire(value))?;
                }
                map.end()
            }
        }
    }
}

/// Every volatile string in a body, redacted by its form wherever it is (so a new key with
/// a volatile value needs no new rule); everything else, null included, unchanged.
fn volatile(mut body: Content, _path: ContentPath<'_>) -> Content {
    body.walk(&mut |node| {
        if let Some(redacted) = node.as_str().and_then(redact) {
            *node = Content::from(redacted);
        }
        true
    });
    body
}

/// The redaction of one string, if it is volatile.
fn redact(text: &str) -> Option<String> {
    moment(text)
        .or_else(|| {
            uuid::Uuid::parse_str(text)
                .ok()
                .map(|_| "[uuid]".to_owned())
        })
        .or_else(|| invite_code(text))
        .or_else(|| jwt(text))
}

/// `[now]` / `[now+Nd]` for a well-formed timestamp near now, or near a whole number of
/// days from now. Fixed dates (more than 400 days away) and malformed ones stay literal.
fn moment(text: &str) -> Option<String> {
    let well_formed = text.len() == 24 && text.ends_with('Z') && text.as_bytes()[19] == b'.';
    let at = DateTime::parse_from_rfc3339(text)
        .ok()
        .filter(|_| well_formed)?;
    let delta = at.with_timezone(&Utc) - Utc::now();
    let days = (delta.num_minutes() as f64 / 1440.0).round() as i64;
    let rest = delta - Duration::days(days);
    if days.abs() > 400 || rest.num_minutes().abs() > 60 {
        return None;
    }
    Some(match days {
        0 => "[now]".to_owned(),
        days => format!("[now{days:+}d]"),
    })
}

/// `INV[random]` for an invite code (`INV` and 8 random characters). Share codes are
/// derived from the id and stay literal.
fn invite_code(text: &str) -> Option<String> {
    let random = text.strip_prefix("INV")?;
    (random.len() == 8
        && random
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()))
    .then(|| "INV[random]".to_owned())
}

/// `[jwt]` for a signed token: three base64url parts, the first a JSON header.
fn jwt(text: &str) -> Option<String> {
    (text.starts_with("eyJ") && text.split('.').count() == 3).then(|| "[jwt]".to_owned())
}

/// Snapshots `response` (status and body) as `name`, with the volatile values redacted.
macro_rules! snap {
    ($name:expr, $response:expr) => {{
        let response: &TestResponse = &$response;
        let snapshot = Snapshot {
            status: response.status,
            body: &response.body,
        };
        insta::assert_json_snapshot!($name, snapshot, {
            ".body" => insta::dynamic_redaction(volatile),
        });
    }};
}

/// Fixed campaign dates more than 400 days from any plausible test run, so that they stay
/// literal.
const STARTS_AT: &str = "2020-01-01T00:00:00.000Z";
const ENDS_AT: &str = "2099-12-31T18:00:00.000Z";

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn bodies_of_a_referral_journey(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let admin = app.admin_token();

    // Campaigns: a wallet campaign made the default, and a coupon campaign.
    let campaign = app
        .post(
            "/api/loyalty/referral-campaigns",
            &admin,
            json!({
                "name": "Eid 2026", "is_active": true, "reward_type": "wallet",
                "reward_referrer_amount": 150, "reward_referred_amount": 50,
                "reward_referrer_points": 0, "reward_referred_points": 0,
                "referrer_offer_id": null, "referred_offer_id": null,
                "vip_referrals_threshold": null, "vip_membership_tier": "none",
                "starts_at": STARTS_AT, "ends_at": ENDS_AT
            }),
        )
        .await;
    snap!("campaign_create", campaign);
    let campaign_id = campaign.body["id"].as_str().unwrap().to_owned();
    let updated = app
        .put(
            &format!("/api/loyalty/referral-campaigns/{campaign_id}"),
            &admin,
            json!({ "is_default": true, "reward_referred_amount": 60 }),
        )
        .await;
    snap!("campaign_update", updated);
    let coupons = app
        .post(
            "/api/loyalty/referral-campaigns",
            &admin,
            json!({ "name": "Coupons", "reward_type": "coupon", "is_active": false,
                    "reward_referred_amount": 100, "reward_referrer_percent": 10, "reward_referrer_cap": 200 }),
        )
        .await;
    snap!("campaign_create_coupon", coupons);
    snap!(
        "campaign_list",
        app.get(
            "/api/loyalty/referral-campaigns?includeInactive=true",
            &admin
        )
        .await
    );

    // A partner on the default campaign.
    let partner = app
        .post(
            "/api/loyalty/referral-partners",
            &admin,
            json!({ "code": "RupaBeauty", "partner_type": "influencer", "name": "Rupa", "is_active": true }),
        )
        .await;
    snap!("partner_create", partner);
    let partner_id = partner.body["id"].as_str().unwrap().to_owned();
    snap!(
        "partner_update",
        app.put(
            &format!("/api/loyalty/referral-partners/{partner_id}"),
            &admin,
            json!({ "name": "Rupa Beauty" }),
        )
        .await
    );
    snap!(
        "partner_list",
        app.get(
            "/api/loyalty/referral-partners?includeInactive=true",
            &admin
        )
        .await
    );

    // The referrer registers, logs in and looks at themself.
    let registered = app
        .sign_up(json!({
            "name": "Nasrin", "lastName": "Akter", "email": "nasrin@example.com",
            "phone": "+8801911800001", "password": "shorshe-ilish",
            "customerType": "new", "status": "active"
        }))
        .await;
    snap!("customers_public_register", registered);
    let referrer = registered.body["id"].as_i64().unwrap();
    let login = app
        .request(
            Method::POST,
            "/api/auth/login",
            None,
            Some(json!({ "identifier": "01911800001", "email": "01911800001", "password": "shorshe-ilish" })),
        )
        .await;
    snap!("auth_login_customer", login);
    let mine = login.body["accessToken"].as_str().unwrap().to_owned();
    snap!("auth_me_customer", app.get("/api/auth/me", &mine).await);
    snap!("customers_me", app.get("/api/customers/me", &mine).await);
    snap!(
        "me_referral_code",
        app.get("/api/loyalty/me/referral-code", &mine).await
    );

    // A friend registers with the share code; a shopper checks out as a guest through the
    // partner's code.
    let friend = app
        .sign_up(json!({
            "name": "Rahim", "lastName": "Uddin", "email": null, "phone": "+8801911800002",
            "password": "ilish-bhaja", "customerType": "new", "status": "active",
            "ref": format!("REF{referrer:06}"), "referralChannel": "share_link"
        }))
        .await;
    snap!("customers_public_register_with_ref", friend);
    let friend = friend.body["id"].as_i64().unwrap();
    snap!(
        "customers_lookup_missing",
        app.request(
            Method::GET,
            "/api/customers/lookup?phone=01911800003",
            None,
            None
        )
        .await
    );
    let guest = app
        .sign_up(json!({
            "name": "Karim Sheikh", "email": "karim@example.com", "phone": "01911800003",
            "district": "Dhaka", "address": "House 1, Road 2, Mirpur",
            "ref": "rupabeauty", "referralChannel": "checkout"
        }))
        .await;
    snap!("customers_public_guest_checkout", guest);
    snap!(
        "customers_lookup_found",
        app.request(
            Method::GET,
            "/api/customers/lookup?phone=01911800003&email=karim@example.com",
            None,
            None
        )
        .await
    );

    // Before the first order: a registered referral, nothing credited.
    snap!(
        "me_referrals_registered",
        app.get("/api/loyalty/me/referrals", &mine).await
    );
    snap!(
        "me_referrals_stats_registered",
        app.get("/api/loyalty/me/referrals/stats", &mine).await
    );
    snap!(
        "me_wallet_empty",
        app.get("/api/loyalty/me/wallet", &mine).await
    );

    // The friend's first order is recorded, then delivered: the referral completes.
    snap!(
        "orders_put",
        app.put(
            "/api/orders/9001",
            &admin,
            json!({ "customerId": friend, "status": "shipped", "totalAmount": 1250.50 }),
        )
        .await
    );
    snap!(
        "orders_status_delivered",
        app.post(
            "/api/orders/9001/status",
            &admin,
            json!({ "status": "delivered" }),
        )
        .await
    );
    // The guest's order is delivered at once.
    snap!(
        "orders_put_delivered",
        app.put(
            "/api/orders/9002",
            &admin,
            json!({ "customerId": guest.body["id"], "status": "delivered", "totalAmount": 800 }),
        )
        .await
    );

    // The return window passes: the snapshots below show released rewards.
    assert_eq!(app.end_holds().await, 2);
    // The referrer's self-service pages.
    snap!("me_wallet", app.get("/api/loyalty/me/wallet", &mine).await);
    snap!(
        "me_wallet_transactions",
        app.get("/api/loyalty/me/wallet/transactions?limit=20", &mine)
            .await
    );
    snap!(
        "me_referrals",
        app.get("/api/loyalty/me/referrals", &mine).await
    );
    snap!(
        "me_referrals_stats",
        app.get("/api/loyalty/me/referrals/stats", &mine).await
    );
    snap!(
        "me_referral_create",
        app.post(
            "/api/loyalty/me/referral",
            &mine,
            json!({ "referredEmail": " Friend@Example.com ", "referredPhone": "01911800004" }),
        )
        .await
    );

    // An operator's invitation, completed by hand once the friend ordered.
    let invitation = app
        .post(
            "/api/loyalty/referral",
            &admin,
            json!({ "referrerCustomerId": referrer, "referredEmail": "shapla@example.com" }),
        )
        .await;
    snap!("referral_create", invitation);
    let invitation = invitation.body["id"].as_i64().unwrap();
    let shapla = app.customer("01911800005", None).await;
    app.order(9003, shapla, "delivered").await;
    snap!(
        "referral_complete",
        app.put(
            &format!("/api/loyalty/referral/{invitation}/complete"),
            &admin,
            json!({ "referredCustomerId": shapla, "orderId": 9003 }),
        )
        .await
    );

    assert_eq!(app.end_holds().await, 1);
    // The admin's view of the referrer.
    snap!(
        "referrals_get",
        app.get(&format!("/api/loyalty/referrals/{referrer}"), &admin)
            .await
    );
    snap!(
        "referrals_stats",
        app.get(&format!("/api/loyalty/referrals/{referrer}/stats"), &admin)
            .await
    );
    snap!(
        "wallet_credit",
        app.post(
            &format!("/api/loyalty/wallet/{referrer}/credit"),
            &admin,
            json!({ "amount": 250, "source": "refund", "description": "Order 77 refund", "referenceId": 77, "idempotencyKey": "refund-order-77" }),
        )
        .await
    );
    snap!(
        "wallet_debit",
        app.post(
            &format!("/api/loyalty/wallet/{referrer}/debit"),
            &admin,
            json!({ "amount": 120.5, "source": "purchase", "idempotencyKey": "order-78" }),
        )
        .await
    );
    snap!(
        "wallet_get",
        app.get(&format!("/api/loyalty/wallet/{referrer}"), &admin)
            .await
    );
    snap!(
        "wallet_transactions",
        app.get(
            &format!("/api/loyalty/wallet/{referrer}/transactions?limit=20"),
            &admin
        )
        .await
    );

    // Points.
    snap!(
        "points_earn",
        app.post(
            &format!("/api/loyalty/points/{referrer}/earn"),
            &admin,
            json!({ "points": 30, "source": "bonus", "description": "Eid bonus", "idempotencyKey": "eid-bonus" }),
        )
        .await
    );
    snap!(
        "points_redeem",
        app.post(
            &format!("/api/loyalty/points/{referrer}/redeem"),
            &admin,
            json!({ "points": 10, "source": "purchase", "referenceId": 9001, "idempotencyKey": "redeem-1" }),
        )
        .await
    );
    snap!(
        "points_get",
        app.get(&format!("/api/loyalty/points/{referrer}"), &admin)
            .await
    );
    snap!(
        "points_transactions",
        app.get(
            &format!("/api/loyalty/points/{referrer}/transactions?limit=20"),
            &admin
        )
        .await
    );

    // Membership: the friend as created, the referrer on a tier set by an operator.
    snap!(
        "membership_get_default",
        app.get(&format!("/api/loyalty/membership/{friend}"), &admin)
            .await
    );
    let tier = app
        .put(
            &format!("/api/loyalty/membership/{referrer}/tier"),
            &admin,
            json!({ "tier": "gold" }),
        )
        .await;
    assert_eq!(tier.status, StatusCode::OK, "{}", tier.body);
    snap!(
        "membership_get_gold",
        app.get(&format!("/api/loyalty/membership/{referrer}"), &admin)
            .await
    );
    snap!(
        "memberships_list",
        app.get("/api/loyalty/memberships", &admin).await
    );

    // Reports.
    snap!(
        "partner_report",
        app.get(
            "/api/loyalty/referral-partners/RupaBeauty/report?limit=50",
            &admin
        )
        .await
    );
    snap!("kpis", app.get("/api/loyalty/kpis", &admin).await);
    snap!("dashboard", app.get("/api/loyalty/dashboard", &admin).await);
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn bodies_of_staff_auth_and_errors(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let hash = bondhu::auth::password::hash("orders-desk-pass".into())
        .await
        .unwrap();
    bondhu::db::users::insert(
        &app.pool,
        "desk@trustcart.example",
        Some("Desk"),
        &hash,
        "support-agent",
    )
    .await
    .unwrap()
    .unwrap();
    let login = app
        .request(
            Method::POST,
            "/api/auth/login",
            None,
            Some(json!({ "identifier": "desk@trustcart.example", "email": "desk@trustcart.example", "password": "orders-desk-pass" })),
        )
        .await;
    snap!("auth_login_staff", login);
    let desk = login.body["accessToken"].as_str().unwrap().to_owned();
    snap!("auth_me_staff", app.get("/api/auth/me", &desk).await);

    let admin = app.admin_token();
    let customer = app.customer("01911800011", None).await;
    // 401: no token.
    snap!(
        "error_401_no_token",
        app.request(Method::GET, "/api/loyalty/me/wallet", None, None)
            .await
    );
    // 403: a support agent may read but not write.
    snap!(
        "error_403_missing_permission",
        app.post(
            &format!("/api/loyalty/wallet/{customer}/credit"),
            &desk,
            json!({ "amount": 1, "source": "bonus", "idempotencyKey": "k" }),
        )
        .await
    );
    // 404: an unknown referral.
    snap!(
        "error_404_referral_not_found",
        app.put("/api/loyalty/referral/999999/complete", &admin, json!({}))
            .await
    );
    // 409: a partner code taken, in any case.
    let first = app
        .post(
            "/api/loyalty/referral-partners",
            &admin,
            json!({ "code": "RupaBeauty" }),
        )
        .await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    snap!(
        "error_409_partner_code_taken",
        app.post(
            "/api/loyalty/referral-partners",
            &admin,
            json!({ "code": "rupabeauty" }),
        )
        .await
    );
    // 422 with fields: a signup with neither a phone nor an email that can be read.
    snap!(
        "error_422_validation_fields",
        app.sign_up(json!({ "name": "X", "phone": "12345", "email": "not an email" }))
            .await
    );
    // 422 without fields: a body that does not parse as the route's input.
    snap!(
        "error_422_invalid_body",
        app.post(
            &format!("/api/loyalty/wallet/{customer}/credit"),
            &admin,
            json!({ "amount": 0, "source": "bonus", "idempotencyKey": "k" }),
        )
        .await
    );
    app.check_invariants().await;
}
