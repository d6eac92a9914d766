//! Community groups with UTM (guide 4.9): a `community` partner's link carries UTM tags
//! through the landing (the click, the redirect), the signup (the referral) and the
//! partner's report (`by_utm`).

use axum::http::{Method, StatusCode, header};
use serde_json::{Map, Value, json};
use sqlx::PgPool;

use crate::helpers::{TestApp, dec};

/// The query of a redirect's `Location`, decoded into a signup body: the register page
/// sends back what the landing passed on.
fn signup_body_from(location: &str, phone: &str) -> Value {
    let (_, query) = location.split_once('?').unwrap();
    let mut body = Map::new();
    for pair in query.split('&') {
        let (name, value) = pair.split_once('=').unwrap();
        body.insert(
            name.to_owned(),
            json!(urlencoding::decode(value).unwrap().into_owned()),
        );
    }
    body.insert("phone".to_owned(), json!(phone));
    Value::Object(body)
}

/// Lands on `path` and returns the redirect's `Location`.
async fn land(app: &TestApp, path: &str) -> String {
    let response = app.request(Method::GET, path, None, None).await;
    assert_eq!(
        response.status,
        StatusCode::FOUND,
        "{path}: {}",
        response.body
    );
    response.headers[header::LOCATION]
        .to_str()
        .unwrap()
        .to_owned()
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn a_community_groups_tags_go_from_click_to_signup_to_report(pool: PgPool) {
    let app = TestApp::with_config(
        pool,
        crate::helpers::test_config(&[("SHOP_URL", "https://shop.example")]),
    )
    .await;
    let admin = app.admin_token();
    let campaign = app
        .post(
            "/api/loyalty/referral-campaigns",
            &admin,
            json!({ "name": "Dhaka Moms", "reward_referrer_amount": 0, "reward_referred_amount": 50 }),
        )
        .await;
    assert_eq!(campaign.status, StatusCode::CREATED, "{}", campaign.body);
    let partner = app
        .post(
            "/api/loyalty/referral-partners",
            &admin,
            json!({ "code": "DhakaMoms", "partnerType": "community", "name": "Dhaka Moms group",
                    "campaignId": campaign.body["id"] }),
        )
        .await;
    assert_eq!(partner.status, StatusCode::CREATED, "{}", partner.body);
    assert_eq!(partner.body["partner_type"], "community");

    // The group's post: tags with a space and Bangla, percent-encoded both ways.
    let location = land(
        &app,
        "/r/dhakamoms?ch=facebook&utm_source=facebook&utm_medium=group&utm_campaign=%E0%A6%88%E0%A6%A6%20offer&utm_content=post-1",
    )
    .await;
    assert_eq!(
        location,
        "https://shop.example/register?ref=DhakaMoms&referralChannel=facebook\
         &utm_source=facebook&utm_medium=group&utm_campaign=%E0%A6%88%E0%A6%A6%20offer&utm_content=post-1"
    );
    let click: Value = sqlx::query_scalar(
        "select payload from referral_events where event_type = 'clicked' and partner_code = 'DhakaMoms'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        click["utm"],
        json!({ "source": "facebook", "medium": "group", "campaign": "ঈদ offer", "content": "post-1" })
    );

    // Signups through three links: the Facebook post, a WhatsApp broadcast (its register
    // page sends camelCase keys), and an untagged link.
    let from_facebook = app
        .sign_up(signup_body_from(&location, "01711500001"))
        .await;
    assert_eq!(
        from_facebook.status,
        StatusCode::CREATED,
        "{}",
        from_facebook.body
    );
    assert_eq!(from_facebook.body["referredChannel"], "facebook");
    let facebook_id = from_facebook.body["id"].as_i64().unwrap() as i32;
    let whatsapp = app
        .sign_up(
            json!({ "phone": "01711500002", "ref": "DHAKAMOMS", "referralChannel": "whatsapp",
                         "utmSource": "whatsapp", "utmCampaign": "ঈদ offer" }),
        )
        .await;
    assert_eq!(whatsapp.status, StatusCode::CREATED, "{}", whatsapp.body);
    let untagged = app
        .sign_up(json!({ "phone": "01711500003", "ref": "DhakaMoms" }))
        .await;
    assert_eq!(untagged.status, StatusCode::CREATED, "{}", untagged.body);

    let referral = sqlx::query!(
        r#"select utm_source, utm_medium, utm_campaign, utm_content, campaign_id, source_channel
           from customer_referrals where referred_customer_id = $1"#,
        facebook_id
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        (
            referral.utm_source.as_deref(),
            referral.utm_medium.as_deref(),
            referral.utm_campaign.as_deref(),
            referral.utm_content.as_deref()
        ),
        (
            Some("facebook"),
            Some("group"),
            Some("ঈদ offer"),
            Some("post-1")
        )
    );
    assert_eq!(
        referral.campaign_id.map(|id| id.to_string()),
        campaign.body["id"].as_str().map(str::to_owned),
        "the community's own campaign"
    );
    let registered: Value = sqlx::query_scalar(
        "select payload from referral_events where event_type = 'registered' and referred_customer_id = $1",
    )
    .bind(facebook_id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(registered["utm"]["source"], "facebook");

    // The Facebook signup's first order is delivered.
    app.order(500, facebook_id, "delivered").await;
    assert_eq!(app.end_holds().await, 1);
    assert_eq!(
        app.balance(facebook_id).await,
        rust_decimal::Decimal::from(50)
    );

    let report = app
        .get("/api/loyalty/referral-partners/dhakamoms/report", &admin)
        .await;
    assert_eq!(report.status, StatusCode::OK, "{}", report.body);
    assert_eq!(
        report.body["by_utm"],
        json!([
            { "utm_source": "facebook", "utm_campaign": "ঈদ offer", "signups": 1, "delivered_first_orders": 1 },
            { "utm_source": "whatsapp", "utm_campaign": "ঈদ offer", "signups": 1, "delivered_first_orders": 0 },
            { "utm_source": null, "utm_campaign": null, "signups": 1, "delivered_first_orders": 0 }
        ])
    );
    assert_eq!(report.body["funnel"]["registered"], 3);
    assert_eq!(report.body["funnel"]["clicked"], 1);
    assert_eq!(
        dec(&report.body["revenue"]["total_revenue"]),
        rust_decimal::Decimal::from(1000)
    );
    // The window applies to the signups.
    let empty = app
        .get(
            "/api/loyalty/referral-partners/DhakaMoms/report?from=2099-01-01T00:00:00Z",
            &admin,
        )
        .await;
    assert_eq!(empty.body["by_utm"], json!([]));
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn bad_tags_are_dropped_never_refused(pool: PgPool) {
    let app = TestApp::with_config(
        pool,
        crate::helpers::test_config(&[("SHOP_URL", "https://shop.example")]),
    )
    .await;
    let admin = app.admin_token();
    let partner = app
        .post(
            "/api/loyalty/referral-partners",
            &admin,
            json!({ "code": "GroupTwo", "partnerType": "community" }),
        )
        .await;
    assert_eq!(partner.status, StatusCode::CREATED, "{}", partner.body);
    let long = "x".repeat(300);

    // A control character (%0A) drops that tag; an overlong one is cut to 100; a blank
    // one is absent; a bidi override drops it.
    let location = land(
        &app,
        &format!("/r/GroupTwo?utm_source=%20fb%0Agroup&utm_medium=%20%20&utm_campaign={long}&utm_content=%E2%80%AEevil"),
    )
    .await;
    assert_eq!(
        location,
        format!(
            "https://shop.example/register?ref=GroupTwo&referralChannel=share_link&utm_campaign={}",
            "x".repeat(100)
        )
    );
    // An unknown code passes only the tags on.
    let unknown = land(&app, "/r/NoSuchGroup?utm_source=fb").await;
    assert_eq!(unknown, "https://shop.example/register?utm_source=fb");

    // At signup, the same cleaning: the customer registers, with the clean tags kept.
    let signup = app
        .sign_up(json!({ "phone": "01711500011", "ref": "GroupTwo",
                         "utm_source": "fb\u{0007}", "utm_medium": " social ", "utm_campaign": long,
                         "utm_content": 5 }))
        .await;
    signup.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body");
    let signup = app
        .sign_up(json!({ "phone": "01711500011", "ref": "GroupTwo",
                         "utm_source": "fb\u{0007}", "utm_medium": " social ", "utm_campaign": long }))
        .await;
    assert_eq!(signup.status, StatusCode::CREATED, "{}", signup.body);
    let row = sqlx::query!(
        "select utm_source, utm_medium, utm_campaign from customer_referrals where partner_id is not null"
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(row.utm_source, None);
    assert_eq!(row.utm_medium.as_deref(), Some("social"));
    assert_eq!(row.utm_campaign.map(|c| c.chars().count()), Some(100));
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn an_invitation_claimed_through_a_tagged_link_keeps_the_tags(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let referrer = app.customer("01711500021", None).await;
    let invite = app
        .post(
            "/api/loyalty/me/referral",
            &app.customer_token(referrer),
            json!({ "referredPhone": "01711500022" }),
        )
        .await;
    let code = invite.body["referralCode"].as_str().unwrap();
    let joined = app
        .sign_up(json!({ "phone": "01711500022", "ref": code, "utm_source": "sms", "utm_campaign": "invite" }))
        .await;
    assert_eq!(joined.status, StatusCode::CREATED, "{}", joined.body);
    let row = sqlx::query!(
        "select status::text as status, utm_source, utm_campaign from customer_referrals where id = $1",
        invite.body["id"].as_i64().unwrap() as i32
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(row.status.as_deref(), Some("registered"));
    assert_eq!(row.utm_source.as_deref(), Some("sms"));
    assert_eq!(row.utm_campaign.as_deref(), Some("invite"));
    app.check_invariants().await;
}
