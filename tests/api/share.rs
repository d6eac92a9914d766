//! Share links and review to referral (issue 10): every share URL decodes back to the
//! exact message and link, each with its own channel; a review is logged once.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::helpers::{TestApp, test_config};

const PUBLIC_URL: &str = "https://bondhu.example";

async fn app(pool: PgPool) -> TestApp {
    TestApp::with_config(
        pool,
        test_config(&[("PUBLIC_URL", PUBLIC_URL), ("SHOP_NAME", "Dhaka Bazar")]),
    )
    .await
}

/// The text the `share_message` template gives `customer` for `link`: the lead's
/// renderer is the oracle of what each URL must carry.
async fn expected(app: &TestApp, customer: i32, code: &str, link: &str) -> String {
    bondhu::service::messaging::share_message(&app.pool, customer, code, link)
        .await
        .unwrap()
        .0
}

/// `url` without `prefix`, percent-decoded; refuses raw spaces, `+` or a second `?`,
/// which a badly encoded URL would have.
#[track_caller]
fn decoded(url: &str, prefix: &str) -> String {
    let encoded = url
        .strip_prefix(prefix)
        .unwrap_or_else(|| panic!("{url} does not start with {prefix}"));
    assert!(
        !encoded.contains([' ', '+', '?', '&', '#']),
        "not fully encoded: {encoded}"
    );
    urlencoding::decode(encoded).unwrap().into_owned()
}

/// Checks a share page: `link` has `channel`, and every button's URL decodes to its own
/// channel's link and the exact text rendered for it.
async fn assert_page(app: &TestApp, page: &Value, customer: i32, channel: &str) {
    let code = page["code"].as_str().unwrap();
    let landing = |ch: &str| format!("{PUBLIC_URL}/r/{code}?ch={ch}");
    assert_eq!(page["link"], landing(channel));
    let message = page["message"].as_str().unwrap();
    assert_eq!(
        message,
        expected(app, customer, code, &landing(channel)).await
    );
    assert!(message.starts_with(code), "the code comes first: {message}");

    let whatsapp = decoded(
        page["whatsappUrl"].as_str().unwrap(),
        "https://wa.me/?text=",
    );
    assert_eq!(
        whatsapp,
        expected(app, customer, code, &landing("whatsapp")).await
    );
    assert!(whatsapp.contains(&landing("whatsapp")));

    let facebook = decoded(
        page["facebookUrl"].as_str().unwrap(),
        "https://www.facebook.com/sharer/sharer.php?u=",
    );
    assert_eq!(facebook, landing("facebook"), "Facebook takes only the URL");

    let sms = decoded(page["smsUrl"].as_str().unwrap(), "sms:?&body=");
    assert_eq!(sms, expected(app, customer, code, &landing("sms")).await);

    let email = page["emailUrl"].as_str().unwrap();
    let (subject, body) = email
        .strip_prefix("mailto:?subject=")
        .and_then(|rest| rest.split_once("&body="))
        .unwrap_or_else(|| panic!("{email}"));
    assert_eq!(decoded(subject, ""), format!("Dhaka Bazar: {code}"));
    let body = decoded(body, "").replace("\r\n", "\n");
    assert_eq!(body, expected(app, customer, code, &landing("email")).await);
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn share_urls_decode_to_the_exact_message_and_link(pool: PgPool) {
    let app = app(pool).await;
    let customer = app.customer("01711500001", None).await;
    let token = app.customer_token(customer);
    let page = app.get("/api/loyalty/me/share", &token).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_eq!(page.body["code"], format!("REF{customer:06}"));
    assert_eq!(page.body["language"], "bn");
    assert_page(&app, &page.body, customer, "share_link").await;
    // Bangla travels percent-encoded as UTF-8.
    assert!(
        page.body["whatsappUrl"]
            .as_str()
            .unwrap()
            .contains("%E0%A6")
    );

    // In English for a customer who chose English.
    sqlx::query("update customers set language = 'en' where id = $1")
        .bind(customer)
        .execute(&app.pool)
        .await
        .unwrap();
    let english = app.get("/api/loyalty/me/share", &token).await;
    assert_eq!(english.body["language"], "en");
    assert_ne!(english.body["message"], page.body["message"]);
    assert_page(&app, &english.body, customer, "share_link").await;

    // A click on the WhatsApp link lands as a WhatsApp click.
    let clicked = app
        .request(
            Method::GET,
            &format!("/r/REF{customer:06}?ch=whatsapp"),
            None,
            None,
        )
        .await;
    assert_eq!(clicked.status, StatusCode::FOUND);

    // Only a customer has a share page.
    app.request(Method::GET, "/api/loyalty/me/share", None, None)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "unauthenticated");
    app.get("/api/loyalty/me/share", &app.admin_token())
        .await
        .assert_error(StatusCode::FORBIDDEN, "forbidden");
}

async fn review_events(app: &TestApp) -> Vec<Value> {
    sqlx::query_scalar!(
        r#"select jsonb_build_object('referrer', referrer_customer_id, 'channel', source_channel,
                  'code', share_code_used, 'payload', payload) as "event!"
           from referral_events where event_type = 'review_created' order by id"#
    )
    .fetch_all(&app.pool)
    .await
    .unwrap()
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn a_shared_review_is_logged_once_and_answers_the_same_links(pool: PgPool) {
    let app = app(pool).await;
    let customer = app.customer("01711500011", None).await;
    let other = app.customer("01711500012", None).await;
    let key = bondhu::auth::api_key::generate();
    bondhu::db::api_keys::insert(
        &app.pool,
        "shop",
        &key.prefix,
        &key.hash,
        &["edit-sales-orders".to_owned()],
    )
    .await
    .unwrap();
    let body = json!({ "customerId": customer, "reviewId": 501, "productId": 77 });

    let first = app
        .raw_with_api_key(
            Method::POST,
            "/api/loyalty/review-shared",
            &key.key,
            Some(body.clone()),
        )
        .await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    assert_eq!(first.headers["idempotent-replayed"], "false");
    assert_page(&app, &first.body, customer, "review_share").await;
    assert_eq!(
        review_events(&app).await,
        vec![json!({
            "referrer": customer, "channel": "review_share", "code": format!("REF{customer:06}"),
            "payload": { "reviewId": 501, "productId": 77 }
        })]
    );

    // A repeat (a retry, a second click): the same answer, no second event.
    let again = app
        .raw_with_api_key(
            Method::POST,
            "/api/loyalty/review-shared",
            &key.key,
            Some(body.clone()),
        )
        .await;
    assert_eq!(again.status, StatusCode::CREATED);
    assert_eq!(again.headers["idempotent-replayed"], "true");
    assert_eq!(again.body, first.body);
    // Staff with edit-sales-orders may report it too; still one event.
    let desk = app
        .post(
            "/api/loyalty/review-shared",
            &app.staff_token("order-desk"),
            body.clone(),
        )
        .await;
    assert_eq!(desk.body, first.body);
    assert_eq!(review_events(&app).await.len(), 1);

    // Racing reports of a new review log it once.
    let racing = json!({ "customerId": customer, "reviewId": 502 });
    let (a, b) = futures::join!(
        app.raw_with_api_key(
            Method::POST,
            "/api/loyalty/review-shared",
            &key.key,
            Some(racing.clone())
        ),
        app.raw_with_api_key(
            Method::POST,
            "/api/loyalty/review-shared",
            &key.key,
            Some(racing.clone())
        ),
    );
    assert_eq!(
        (a.status, b.status),
        (StatusCode::CREATED, StatusCode::CREATED)
    );
    let replayed = [&a, &b].map(|r| {
        r.headers["idempotent-replayed"]
            .to_str()
            .unwrap()
            .to_owned()
    });
    assert!(replayed.contains(&"true".to_owned()) && replayed.contains(&"false".to_owned()));
    // Another customer's review with the same id is their own.
    let theirs = app
        .raw_with_api_key(
            Method::POST,
            "/api/loyalty/review-shared",
            &key.key,
            Some(json!({ "customerId": other, "reviewId": 501 })),
        )
        .await;
    assert_eq!(theirs.headers["idempotent-replayed"], "false");
    assert_eq!(theirs.body["code"], format!("REF{other:06}"));
    let events = review_events(&app).await;
    assert_eq!(events.len(), 3, "{events:?}");
    assert_eq!(
        events[1]["payload"],
        json!({ "reviewId": 502, "productId": null })
    );

    // Refusals, none of which logs anything.
    let post = |body: Value| {
        app.raw_with_api_key(
            Method::POST,
            "/api/loyalty/review-shared",
            &key.key,
            Some(body),
        )
    };
    post(json!({ "customerId": 999999, "reviewId": 1 }))
        .await
        .assert_error(StatusCode::NOT_FOUND, "customer_not_found");
    let bad = post(json!({ "customerId": customer, "reviewId": 0, "productId": -1 })).await;
    bad.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert!(
        bad.body["fields"]["reviewId"].is_array() && bad.body["fields"]["productId"].is_array()
    );
    post(json!({ "customerId": customer }))
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body");
    post(json!({ "customerId": customer, "reviewId": 9, "rating": 5 }))
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body");
    // TrustCart's route was open to anyone (contract §887): not here.
    for token in [
        app.customer_token(customer),
        app.staff_token("support-agent"),
    ] {
        app.post("/api/loyalty/review-shared", &token, body.clone())
            .await
            .assert_error(StatusCode::FORBIDDEN, "forbidden");
    }
    app.request(Method::POST, "/api/loyalty/review-shared", None, Some(body))
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "unauthenticated");
    assert_eq!(review_events(&app).await.len(), 3);
}
