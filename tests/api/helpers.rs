//! The test harness: a router over a test database, typed request helpers, and the ledger
//! invariants checked at the end of every test.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use bondhu::auth::{CUSTOMER_ROLE, JwtKeys, TokenKind};
use bondhu::config::Config;
use bondhu::service::messaging::dispatcher::{Dispatcher, Round};
use http_body_util::BodyExt;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use sqlx::PgPool;
use tower::ServiceExt;

use crate::gateways::{SMS_SID, SMS_TOKEN, SmsGateway};

/// The signing secret of every test app.
pub const TEST_SECRET: &str = "test-secret-test-secret-test-secret";

/// A router over one test database.
#[derive(Clone)]
pub struct TestApp {
    pub router: Router,
    pub pool: PgPool,
    pub keys: std::sync::Arc<JwtKeys>,
    /// A staff user for each seeded role: (role slug, user id).
    pub staff: Vec<(String, i32)>,
    /// The SMS gateway the app's messages go to (a local SSL Wireless).
    pub sms: SmsGateway,
    /// The message dispatcher every instance runs, sending through the real clients.
    pub dispatcher: Arc<Dispatcher>,
}

/// Roles seeded by the migrations, each given one staff user by the harness.
pub const STAFF_ROLES: [&str; 7] = [
    "admin",
    "super-admin",
    "marketing-manager",
    "support-agent",
    "order-desk",
    "call-agent",
    "call-centre-manager",
];

/// A response: status, headers and parsed JSON body (`Null` for the binary bodies of
/// [`BINARY_TYPES`], which are in `bytes`).
#[derive(Debug)]
pub struct TestResponse {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: Value,
    pub bytes: axum::body::Bytes,
}

/// The content types a route may answer with instead of JSON: QR codes, cards and payout
/// files. Any other non-JSON body fails the test, so an error can never slip out as plain
/// text.
pub const BINARY_TYPES: [&str; 4] = [
    "image/svg+xml",
    "image/png",
    "application/pdf",
    "text/csv; charset=utf-8",
];

impl TestResponse {
    /// Asserts the error envelope with `status` and `code`.
    #[track_caller]
    pub fn assert_error(&self, status: StatusCode, code: &str) {
        assert_eq!(self.status, status, "body: {}", self.body);
        assert_eq!(self.body["code"], code, "body: {}", self.body);
        assert_eq!(
            self.body["statusCode"],
            status.as_u16(),
            "body: {}",
            self.body
        );
        assert!(self.body["message"].is_string(), "body: {}", self.body);
    }
}

/// A JSON value as a query parameter's text: strings without their quotes (ids, dates),
/// numbers as written.
pub fn param(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A walk through the pages of one list route, a page at a time, that checks as it goes
/// that no row (by `id`) comes twice and that every page but the last is full. Between two
/// pages a test may change the data, to show that the cursor holds.
pub struct Pager<'a, F> {
    app: &'a TestApp,
    path: String,
    token: String,
    limit: usize,
    /// Where the rows are in the body: a JSON pointer (`""` for a body that is the array).
    rows: &'static str,
    /// The next page's cursor parameters, from the last row of a page
    /// (`beforeId=7`, `afterDate=2026-01-01&afterId=7`).
    cursor: F,
    next: Option<String>,
    seen: std::collections::HashSet<String>,
    done: bool,
}

impl<F: Fn(&Value) -> String> Pager<'_, F> {
    /// The next page's rows, or `None` after the last page.
    pub async fn next_page(&mut self) -> Option<Vec<Value>> {
        if self.done {
            return None;
        }
        let separator = if self.path.contains('?') { '&' } else { '?' };
        let mut uri = format!("{}{separator}limit={}", self.path, self.limit);
        if let Some(cursor) = &self.next {
            uri = format!("{uri}&{cursor}");
        }
        let response = self.app.get(&uri, &self.token).await;
        assert_eq!(response.status, StatusCode::OK, "{uri}: {}", response.body);
        let rows = response
            .body
            .pointer(self.rows)
            .and_then(Value::as_array)
            .unwrap_or_else(|| panic!("{uri}: no rows at {:?}: {}", self.rows, response.body))
            .clone();
        assert!(rows.len() <= self.limit, "{uri}: {} rows", rows.len());
        for row in &rows {
            assert!(
                self.seen.insert(param(&row["id"])),
                "{uri}: row {} came twice",
                row["id"]
            );
        }
        match rows.last() {
            Some(last) if rows.len() == self.limit => self.next = Some((self.cursor)(last)),
            _ => self.done = true,
        }
        Some(rows)
    }

    /// The rows of every page left, in order.
    pub async fn rest(mut self) -> Vec<Value> {
        let mut all = Vec::new();
        while let Some(rows) = self.next_page().await {
            all.extend(rows);
        }
        all
    }
}

/// Exact decimal of a JSON number or numeric string.
#[track_caller]
pub fn dec(value: &Value) -> Decimal {
    let text = match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        other => panic!("not a number: {other}"),
    };
    Decimal::from_str(&text).unwrap_or_else(|_| panic!("not a decimal: {text}"))
}

impl TestApp {
    pub async fn new(pool: PgPool) -> Self {
        Self::with_config(pool, config_with_secret()).await
    }

    pub async fn with_config(pool: PgPool, config: Config) -> Self {
        let sms = SmsGateway::start().await;
        let mut config = config;
        // Unless a test names its own gateway, SMS go to this app's local one.
        if config.sms.is_none() {
            config.sms = Some(bondhu::config::SslWirelessConfig {
                api_url: sms.url.clone(),
                api_token: SMS_TOKEN.to_owned().into(),
                sid: SMS_SID.to_owned(),
            });
        }
        let dispatcher = Arc::new(Dispatcher::new(
            &config,
            bondhu::providers::Providers::from_config(&config).unwrap(),
        ));
        let state = bondhu::startup::app_state(pool.clone(), config)
            .await
            .unwrap();
        let keys = state.jwt.clone();
        let mut staff = Vec::new();
        for role in STAFF_ROLES {
            // Staff in these tests never log in, so the hash is a placeholder.
            let email = format!("{role}@staff.test");
            let id = bondhu::db::users::insert(&pool, &email, Some(role), "$argon2id$unused", role)
                .await
                .unwrap()
                .unwrap();
            staff.push((role.to_owned(), id));
        }
        Self {
            router: bondhu::http::router(state),
            pool,
            keys,
            staff,
            sms,
            dispatcher,
        }
    }

    /// Runs the message dispatcher until nothing is due, as every instance does in the
    /// background; returns what it did.
    pub async fn dispatch(&self) -> Round {
        self.dispatcher.drain(&self.pool, 50).await.unwrap()
    }

    /// Shortens the dispatcher's lease (a crashed dispatcher's messages are reclaimed
    /// after it).
    pub fn set_lease(&mut self, lease: Duration) {
        let mut dispatcher = (*self.dispatcher).clone();
        dispatcher.lease = lease;
        self.dispatcher = Arc::new(dispatcher);
    }

    /// Sends what is queued, then counts the SMS `phone` (E.164) received.
    pub async fn sms_count(&self, phone: &str) -> usize {
        self.dispatch().await;
        self.sms.to(phone).len()
    }

    /// Sends what is queued, then reads the newest verification code `phone` (E.164)
    /// received by SMS: the first six digits of the message.
    pub async fn last_code(&self, phone: &str) -> String {
        self.dispatch().await;
        self.sms
            .to(phone)
            .iter()
            .rev()
            .find_map(|sms| {
                let digits: String = sms.text.chars().take_while(char::is_ascii_digit).collect();
                (digits.len() == 6).then_some(digits)
            })
            .unwrap_or_else(|| panic!("no code was sent to {phone}"))
    }

    /// Sends a request with a raw body and any headers, without a token.
    pub async fn raw_with_headers(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: String,
    ) -> TestResponse {
        let mut builder = Request::builder().method(method).uri(path);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        self.send(builder.body(Body::from(body)).unwrap()).await
    }

    pub fn admin_token(&self) -> String {
        self.staff_token("admin")
    }

    /// A token of the harness's staff user with `role`.
    pub fn staff_token(&self, role: &str) -> String {
        let id = self
            .staff
            .iter()
            .find(|(r, _)| r == role)
            .map(|(_, id)| *id)
            .unwrap();
        self.keys
            .issue(TokenKind::User, id, role, None, None)
            .unwrap()
    }

    pub fn customer_token(&self, id: i32) -> String {
        self.keys
            .issue(TokenKind::Customer, id, CUSTOMER_ROLE, None, None)
            .unwrap()
    }

    /// Sends a request with an optional bearer token and JSON body.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> TestResponse {
        let body = body.map(|b| b.to_string());
        self.raw(
            method,
            path,
            token,
            body.as_deref(),
            Some("application/json"),
        )
        .await
    }

    /// Sends a request with a raw body and content type.
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
        content_type: Option<&str>,
    ) -> TestResponse {
        let mut builder = Request::builder().method(method).uri(path);
        if let Some(token) = token {
            builder = builder.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let request = match body {
            Some(body) => {
                if let Some(content_type) = content_type {
                    builder = builder.header(header::CONTENT_TYPE, content_type);
                }
                builder.body(Body::from(body.to_owned())).unwrap()
            }
            None => builder.body(Body::empty()).unwrap(),
        };
        self.send(request).await
    }

    /// Sends a request authenticated by an API key.
    pub async fn raw_with_api_key(
        &self,
        method: Method,
        path: &str,
        key: &str,
        body: Option<Value>,
    ) -> TestResponse {
        let mut builder = Request::builder()
            .method(method)
            .uri(path)
            .header("x-api-key", key);
        let body = match body {
            Some(body) => {
                builder = builder.header(header::CONTENT_TYPE, "application/json");
                Body::from(body.to_string())
            }
            None => Body::empty(),
        };
        self.send(builder.body(body).unwrap()).await
    }

    /// Sends a prepared request.
    pub async fn send(&self, request: Request<Body>) -> TestResponse {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let binary = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| BINARY_TYPES.contains(&v));
        let body = if bytes.is_empty() || (binary && status.is_success()) {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|_| {
                panic!(
                    "non-JSON body ({status}): {}",
                    String::from_utf8_lossy(&bytes)
                )
            })
        };
        TestResponse {
            status,
            headers,
            body,
            bytes,
        }
    }

    /// A walk through the list at `path` (which may carry filters), `limit` rows a page, each
    /// next page asked for with `cursor` of the previous page's last row; the rows are at
    /// the JSON pointer `rows` of each body (`""`: the body is the array).
    pub fn pages<'a, F: Fn(&Value) -> String>(
        &'a self,
        path: &str,
        token: &str,
        limit: usize,
        rows: &'static str,
        cursor: F,
    ) -> Pager<'a, F> {
        Pager {
            app: self,
            path: path.to_owned(),
            token: token.to_owned(),
            limit,
            rows,
            cursor,
            next: None,
            seen: Default::default(),
            done: false,
        }
    }

    /// Walks every page of the list at `path` (see [`TestApp::pages`]) and asserts that the
    /// pages together are the whole list, as one request with no `limit` answers it (the
    /// route's default page, which must hold it): each row exactly once, in the list's
    /// order. Returns the rows.
    pub async fn assert_paged<F: Fn(&Value) -> String>(
        &self,
        path: &str,
        token: &str,
        limit: usize,
        rows: &'static str,
        cursor: F,
    ) -> Vec<Value> {
        let whole = self.get(path, token).await;
        assert_eq!(whole.status, StatusCode::OK, "{path}: {}", whole.body);
        let whole = whole
            .body
            .pointer(rows)
            .and_then(Value::as_array)
            .unwrap()
            .clone();
        let paged = self.pages(path, token, limit, rows, cursor).rest().await;
        let ids = |rows: &[Value]| rows.iter().map(|r| param(&r["id"])).collect::<Vec<_>>();
        assert_eq!(
            ids(&paged),
            ids(&whole),
            "{path}: the pages and the whole list"
        );
        assert_eq!(paged, whole, "{path}");
        assert!(
            paged.len() > limit,
            "{path}: {} rows fit one page of {limit}: the walk proves nothing",
            paged.len()
        );
        paged
    }

    pub async fn get(&self, path: &str, token: &str) -> TestResponse {
        self.request(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> TestResponse {
        self.request(Method::POST, path, Some(token), Some(body))
            .await
    }

    pub async fn put(&self, path: &str, token: &str, body: Value) -> TestResponse {
        self.request(Method::PUT, path, Some(token), Some(body))
            .await
    }

    /// Signs up through the public route; returns the customer's JSON.
    pub async fn sign_up(&self, body: Value) -> TestResponse {
        self.request(Method::POST, "/api/customers/public", None, Some(body))
            .await
    }

    /// Signs up a customer with phone `01{suffix}` (10 digits after 01 → pass 9 digits) and
    /// an optional code; returns the id.
    pub async fn customer(&self, phone: &str, code: Option<&str>) -> i32 {
        let mut body = json!({ "name": "Test", "phone": phone });
        if let Some(code) = code {
            body["ref"] = json!(code);
        }
        let response = self.sign_up(body).await;
        assert_eq!(response.status, StatusCode::CREATED, "{}", response.body);
        response.body["id"].as_i64().unwrap() as i32
    }

    /// A referrer (`0171` and `n` in seven digits) and a friend (`0181…`) who joined with
    /// the referrer's code; the default campaign pays the referrer ৳100 after a 7-day hold.
    pub async fn referrer_and_friend(&self, n: u32) -> (i32, i32) {
        let referrer = self.customer(&format!("0171{n:07}"), None).await;
        let friend = self
            .customer(&format!("0181{n:07}"), Some(&format!("REF{referrer:06}")))
            .await;
        (referrer, friend)
    }

    /// Records order `order_id` for `customer_id` with `status`.
    pub async fn order(&self, order_id: i32, customer_id: i32, status: &str) -> TestResponse {
        let admin = self.admin_token();
        self.put(
            &format!("/api/orders/{order_id}"),
            &admin,
            json!({ "customerId": customer_id, "status": status, "totalAmount": 1000 }),
        )
        .await
    }

    /// Moves order `order_id` to `status`.
    pub async fn order_status(&self, order_id: i32, status: &str) -> TestResponse {
        let admin = self.admin_token();
        self.post(
            &format!("/api/orders/{order_id}/status"),
            &admin,
            json!({ "status": status }),
        )
        .await
    }

    /// Verifies customer `customer_id`'s phone (E.164 `phone`) through the API.
    pub async fn verify_phone(&self, customer_id: i32, phone: &str) {
        let token = self.customer_token(customer_id);
        let sent = self
            .post("/api/loyalty/me/phone-verification", &token, json!({}))
            .await;
        assert_eq!(sent.status, StatusCode::CREATED, "{}", sent.body);
        let code = self.last_code(phone).await;
        let confirmed = self
            .post(
                "/api/loyalty/me/phone-verification/confirm",
                &token,
                json!({ "code": code }),
            )
            .await;
        assert_eq!(confirmed.status, StatusCode::OK, "{}", confirmed.body);
    }

    /// Proves `phone` (any spelling; `e164` is its E.164 form) for a guest upgrade through
    /// the public route; returns the code to send as `phoneVerificationCode`.
    pub async fn signup_code(&self, phone: &str, e164: &str) -> String {
        let sent = self
            .request(
                Method::POST,
                "/api/auth/phone-verification",
                None,
                Some(json!({ "phone": phone })),
            )
            .await;
        assert_eq!(sent.status, StatusCode::CREATED, "{}", sent.body);
        self.last_code(e164).await
    }

    pub async fn balance(&self, customer_id: i32) -> Decimal {
        sqlx::query_scalar!(
            "select balance from customer_wallets where customer_id = $1",
            customer_id
        )
        .fetch_one(&self.pool)
        .await
        .unwrap()
    }

    pub async fn ledger_rows(&self, customer_id: i32) -> i64 {
        sqlx::query_scalar!(
            r#"select count(*) as "n!" from wallet_transactions where customer_id = $1"#,
            customer_id
        )
        .fetch_one(&self.pool)
        .await
        .unwrap()
    }

    pub async fn events(&self, event_type: &str) -> i64 {
        sqlx::query_scalar!(
            r#"select count(*) as "n!" from referral_events where event_type::text = $1"#,
            event_type
        )
        .fetch_one(&self.pool)
        .await
        .unwrap()
    }

    /// A digest of every table's contents, to show that a request changed nothing.
    pub async fn snapshot(&self) -> String {
        sqlx::query_scalar!(
            r#"select concat_ws('|',
                   (select count(*) || ':' || coalesce(max(updated_at)::text, '') from customers),
                   (select count(*) || ':' || coalesce(sum(balance), 0) || ':' || coalesce(max(updated_at)::text, '') from customer_wallets),
                   (select count(*) from wallet_transactions),
                   (select count(*) || ':' || string_agg(status::text, ',' order by id) from customer_referrals),
                   (select count(*) || ':' || coalesce(string_agg(status::text || updated_at, ',' order by id), '') from sales_orders),
                   (select count(*) from referral_events),
                   (select count(*) from referral_partners),
                   (select count(*) || ':' || string_agg(updated_at::text, ',' order by id) from referral_campaigns),
                   (select count(*) || ':' || coalesce(max(updated_at)::text, '') from wallet_withdrawal_requests),
                   (select count(*) || ':' || coalesce(max(updated_at)::text, '') from partner_commissions),
                   (select count(*) || ':' || coalesce(string_agg(status::text, ',' order by id), '') from payout_batch_lines),
                   (select coalesce(sum(owed_amount), 0) from referral_partners)
               ) as "digest!""#
        )
        .fetch_one(&self.pool)
        .await
        .unwrap()
    }

    /// Changes one fraud rule (`GET` the rules, replace `rule`, `PUT` them back), as an
    /// admin would.
    pub async fn set_fraud_rule(&self, rule: &str, value: Value) {
        let admin = self.admin_token();
        let mut rules = self.get("/api/loyalty/fraud-rules", &admin).await.body["rules"].clone();
        rules[rule] = value;
        let put = self.put("/api/loyalty/fraud-rules", &admin, rules).await;
        assert_eq!(put.status, StatusCode::OK, "{}", put.body);
    }

    /// Lets the holds of every completed referral end now, as if their return window had
    /// passed, and runs the release job once (the job every instance runs). Returns how
    /// many referrals it released.
    pub async fn end_holds(&self) -> u32 {
        self.expire_holds().await;
        bondhu::jobs::release_due(&self.pool, None).await.unwrap()
    }

    /// Lets the holds of every pending partner commission end now and runs the commission
    /// release job once; returns how many it released.
    pub async fn end_commission_holds(&self) -> u32 {
        sqlx::query!(
            "update partner_commissions set release_at = now() - interval '1 second'
             where status = 'pending'"
        )
        .execute(&self.pool)
        .await
        .unwrap();
        bondhu::jobs::release_due_commissions(&self.pool, None)
            .await
            .unwrap()
    }

    /// Lets the holds of every completed referral end now, without releasing them.
    pub async fn expire_holds(&self) {
        sqlx::query!(
            "update customer_referrals set hold_until = now() - interval '1 second'
             where status = 'completed' and released_at is null and hold_until is not null"
        )
        .execute(&self.pool)
        .await
        .unwrap();
    }

    /// The ledger invariants, checked at the end of every test:
    /// - every wallet's balance, total_earned and total_spent equal the sums of its ledger;
    /// - its newest ledger row's balance_after equals its balance;
    /// - every referral credit in the ledger is a released reward and the reverse (so each
    ///   is paid once), every clawback balances, milestones likewise, and nothing is pending
    ///   or released before completion (except the friend's welcome coupon).
    pub async fn check_invariants(&self) {
        assert_invariants(&self.pool).await;
    }
}

/// A configuration for tests: defaults, with a fixed secret, account checks on every
/// request (no cache), and rate limits out of the way (tests that test them set their own).
pub fn config_with_secret() -> Config {
    test_config(&[])
}

/// The test configuration with some variables overridden.
pub fn test_config(overrides: &[(&str, &str)]) -> Config {
    let defaults = [
        ("JWT_SECRET", TEST_SECRET),
        ("AUTH_CACHE_TTL_SECS", "0"),
        ("PUBLIC_RATE_LIMIT_PER_MINUTE", "100000"),
        ("LOGIN_RATE_LIMIT_PER_MINUTE", "100000"),
    ];
    let vars: std::collections::HashMap<String, String> = defaults
        .iter()
        .chain(overrides)
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Config::from_lookup(|name| vars.get(name).cloned()).unwrap()
}

/// The ledger invariants (see [`TestApp::check_invariants`]), for any database.
pub async fn assert_invariants(pool: &PgPool) {
    // The KPI counters equal the full scans of their base tables, whatever the test did.
    let kpi_drift = bondhu::db::kpis::drift(pool).await.unwrap();
    assert!(kpi_drift.is_empty(), "KPI counters drifted: {kpi_drift:?}");
    // Every order carries the partner it counts for (order_partner, the one rule).
    let misstamped = bondhu::db::reconcile::misstamped_orders(pool)
        .await
        .unwrap();
    assert!(
        misstamped.is_empty(),
        "orders whose partner stamp differs from order_partner: {misstamped:?}"
    );
    let drift = sqlx::query!(
        r#"select w.customer_id, w.balance, w.total_earned, w.total_spent,
                  coalesce(sum(t.amount) filter (where t.transaction_type = 'credit'), 0) as "credits!",
                  coalesce(sum(t.amount) filter (where t.transaction_type = 'debit'), 0) as "debits!",
                  (select t2.balance_after from wallet_transactions t2
                   where t2.wallet_id = w.id order by t2.id desc limit 1) as last_balance
           from customer_wallets w
           left join wallet_transactions t on t.wallet_id = w.id
           group by w.id"#
    )
    .fetch_all(pool)
    .await
    .unwrap();
    for wallet in drift {
        assert_eq!(
            wallet.balance,
            wallet.credits - wallet.debits,
            "customer {}",
            wallet.customer_id
        );
        assert_eq!(
            wallet.total_earned, wallet.credits,
            "customer {}",
            wallet.customer_id
        );
        assert_eq!(
            wallet.total_spent, wallet.debits,
            "customer {}",
            wallet.customer_id
        );
        assert_eq!(
            wallet.last_balance.unwrap_or(Decimal::ZERO),
            wallet.balance,
            "customer {}: last balance_after",
            wallet.customer_id
        );
    }
    // Every wallet credit of a referral is a released (or since clawed back) wallet
    // reward, and the reverse; every clawback took back what was paid, less what is owed;
    // every milestone credit is a milestone award, and the reverse; nothing is pending or
    // released for a referral that is not completed.
    let unmatched = sqlx::query!(
        r#"select
             (select count(*) from wallet_transactions t
              where t.transaction_type = 'credit'
                and t.idempotency_key ~ '^referral:\d+:(referrer|referred):wallet(:\d+)?$'
                and not exists (select 1 from referral_rewards rr
                                where rr.wallet_transaction_id = t.id
                                  and rr.status in ('released', 'clawed_back')
                                  and rr.kind = 'wallet' and rr.amount = t.amount)) as "credits_without_reward!",
             (select count(*) from referral_rewards rr
              where rr.kind = 'wallet' and rr.status in ('released', 'clawed_back')
                and not exists (select 1 from wallet_transactions t
                                where t.id = rr.wallet_transaction_id and t.amount = rr.amount
                                  and t.idempotency_key = reward_key(rr.referral_id, rr.completion, rr.side, 'wallet'))) as "rewards_without_credit!",
             (select count(*) from referral_rewards rr
              left join wallet_transactions t on t.id = rr.clawback_transaction_id
              where rr.kind = 'wallet' and rr.status = 'clawed_back'
                and coalesce(t.amount, 0) + coalesce(rr.owed_amount, 0) <> rr.amount) as "clawbacks_unbalanced!",
             (select count(*) from wallet_transactions t
              where t.idempotency_key ~ '^milestone:\d+:referral:\d+:\d+$') as "milestone_credits!",
             (select count(*) from milestone_awards where status in ('released', 'clawed_back')) as "milestone_awards!",
             (select count(*) from referral_rewards rr join customer_referrals r on r.id = rr.referral_id
              where rr.status in ('pending', 'in_review', 'released') and rr.kind <> 'membership'
                and rr.completion = r.completions and r.status <> 'completed'
                and not (rr.side = 'referred' and rr.kind in ('coupon', 'free_product'))) as "issued_before_completion!""#
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(
        unmatched.credits_without_reward, 0,
        "referral credits without a released reward"
    );
    assert_eq!(
        unmatched.rewards_without_credit, 0,
        "released wallet rewards without their credit"
    );
    assert_eq!(
        unmatched.clawbacks_unbalanced, 0,
        "clawbacks that took back more or less than was paid (less what is owed)"
    );
    assert_eq!(
        unmatched.milestone_credits, unmatched.milestone_awards,
        "milestone credits and awards"
    );
    assert_eq!(
        unmatched.issued_before_completion, 0,
        "rewards pending or released for uncompleted referrals"
    );
    // Held money: never more than the balance, and exactly what the open withdrawal
    // requests hold; each paid request was debited once, under its own key, and no other
    // ledger row uses the payouts' keys.
    let holds = sqlx::query!(
        r#"select w.customer_id, w.balance, w.held_amount,
                  coalesce((select sum(r.amount) from wallet_withdrawal_requests r
                            where r.wallet_id = w.id and r.status in ('pending', 'approved')), 0) as "open!"
           from customer_wallets w"#
    )
    .fetch_all(pool)
    .await
    .unwrap();
    for wallet in holds {
        assert!(
            wallet.held_amount <= wallet.balance,
            "customer {}: held more than the balance",
            wallet.customer_id
        );
        assert_eq!(
            wallet.held_amount, wallet.open,
            "customer {}: held amount and open withdrawals",
            wallet.customer_id
        );
    }
    let payouts = sqlx::query!(
        r#"select
             (select count(*) from wallet_withdrawal_requests r
              where r.status = 'paid'
                and (select count(*) from wallet_transactions t
                     where t.wallet_id = r.wallet_id and t.id = r.paid_transaction_id
                       and t.idempotency_key = format('withdrawal:%s:paid', r.id)
                       and t.transaction_type = 'debit' and t.source = 'withdrawal'
                       and t.amount = r.amount) <> 1) as "paid_without_debit!",
             (select count(*) from wallet_transactions t
              where t.idempotency_key like 'withdrawal:%'
                and not exists (select 1 from wallet_withdrawal_requests r
                                where r.paid_transaction_id = t.id and r.status = 'paid')) as "debits_without_paid!""#
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(
        payouts.paid_without_debit, 0,
        "paid withdrawals without their one debit"
    );
    assert_eq!(
        payouts.debits_without_paid, 0,
        "payout debits without a paid withdrawal"
    );
    // Partners: what each owes is what their commissions came to owe, less what the batches
    // that were not rejected netted off; a paid line's live commissions carry its
    // transaction id; a line's gross is what its commissions were when taken.
    let partners = bondhu::db::reconcile::partner_drift(pool).await.unwrap();
    assert!(partners.is_empty(), "partners' owed amounts: {partners:?}");
    let lines = sqlx::query!(
        r#"select
             (select count(*) from payout_batch_lines l
              where l.gross_amount <> (select coalesce(sum(i.amount), 0) from payout_batch_items i
                                       where i.line_id = l.id)) as "gross_mismatch!",
             (select count(*) from payout_batch_items i
              join payout_batch_lines l on l.id = i.line_id
              join partner_commissions c on c.id = i.commission_id
              where l.status = 'paid' and i.live
                and (c.transaction_id is distinct from l.transaction_id
                     or c.status not in ('paid', 'clawed_back'))) as "paid_unmarked!",
             (select count(*) from partner_commissions c
              where c.status = 'paid'
                and not exists (select 1 from payout_batch_items i
                                join payout_batch_lines l on l.id = i.line_id
                                where i.commission_id = c.id and i.live and l.status = 'paid'
                                  and l.transaction_id = c.transaction_id)) as "paid_without_line!",
             (select count(*) from partner_commissions c
              where c.payout_batch_id is not null
                and not exists (select 1 from payout_batch_items i
                                join payout_batch_lines l on l.id = i.line_id
                                where i.commission_id = c.id and i.live
                                  and l.batch_id = c.payout_batch_id)) as "batched_without_item!""#
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(
        lines.gross_mismatch, 0,
        "payout lines whose gross is not their commissions'"
    );
    assert_eq!(
        lines.paid_unmarked, 0,
        "paid lines with commissions not marked paid"
    );
    assert_eq!(
        lines.paid_without_line, 0,
        "paid commissions without their paid line"
    );
    assert_eq!(
        lines.batched_without_item, 0,
        "batched commissions without a live item"
    );
    let customers_without_wallet = sqlx::query_scalar!(
        r#"select count(*) as "n!" from customers c
           where not exists (select 1 from customer_wallets w where w.customer_id = c.id)"#
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(customers_without_wallet, 0, "every customer has a wallet");
}
