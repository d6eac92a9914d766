//! Agent referrals (guide 4.8, TrustCart §1.3): what an agent's capture creates, the
//! guards (each with its code), the pending-phone invariant under a race, who sees and
//! works which follow-up task, and the agents' report.

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use futures::future::join_all;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::helpers::{TestApp, dec};

const CAPTURE: &str = "/api/crm/referrals/agent";

/// A staff user with `role` and, optionally, their own phone (E.164); returns the id and
/// a token.
async fn staff(app: &TestApp, role: &str, email: &str, phone: Option<&str>) -> (i32, String) {
    let id = bondhu::db::users::insert(&app.pool, email, Some(email), "$argon2id$unused", role)
        .await
        .unwrap()
        .unwrap();
    if let Some(phone) = phone {
        assert!(
            bondhu::db::users::set_phone(&app.pool, id, phone)
                .await
                .unwrap()
        );
    }
    let token = app
        .keys
        .issue(bondhu::auth::TokenKind::User, id, role, None, None)
        .unwrap();
    (id, token)
}

/// Captures a referral of `phone` for `referrer` as the holder of `token`.
async fn capture(
    app: &TestApp,
    token: &str,
    referrer: i32,
    phone: &str,
) -> crate::helpers::TestResponse {
    app.post(
        CAPTURE,
        token,
        json!({ "referrerCustomerId": referrer, "referredPhone": phone, "notes": "Asked on the order call" }),
    )
    .await
}

fn at(value: &Value) -> DateTime<Utc> {
    value.as_str().unwrap().parse().unwrap()
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn an_agents_referral_is_an_invitation_with_a_follow_up(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let (agent, token) = staff(
        &app,
        "call-agent",
        "rina@staff.test",
        Some("+8801811000001"),
    )
    .await;
    let referrer = app.customer("01711400001", None).await;
    let default_campaign: uuid::Uuid =
        sqlx::query_scalar("select id from referral_campaigns where is_default")
            .fetch_one(&app.pool)
            .await
            .unwrap();

    let created = app
        .post(
            CAPTURE,
            &token,
            json!({ "referrerCustomerId": referrer, "referredPhone": "017 1140-0002",
                    "notes": "  Her sister buys organic rice  ", "somethingElse": 1 }),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let referral = &created.body["referral"];
    assert_eq!(referral["status"], "pending");
    assert_eq!(referral["sourceChannel"], "agent_referral");
    assert_eq!(referral["agentUserId"], agent);
    assert_eq!(referral["referrerCustomerId"], referrer);
    assert_eq!(referral["referredPhone"], "+8801711400002");
    assert_eq!(referral["shareCodeUsed"], format!("REF{referrer:06}"));
    assert_eq!(referral["campaignId"], default_campaign.to_string());
    assert_eq!(dec(&referral["rewardAmount"]), Decimal::from(100));

    let task = &created.body["task"];
    assert_eq!(task["title"], "Referral follow-up: +8801711400002");
    assert_eq!(task["tags"], json!(["referral", "agent_referral"]));
    assert_eq!(task["status"], "open");
    assert_eq!(task["assignedTo"], agent);
    assert_eq!(task["customerId"], referrer);
    assert_eq!(task["referralId"], referral["id"]);
    assert_eq!(task["notes"], "Her sister buys organic rice");
    let due = at(&task["dueAt"]) - at(&task["createdAt"]);
    assert_eq!(due.num_hours(), 24);

    let event = sqlx::query!(
        r#"select referrer_customer_id, share_code_used, source_channel, payload
           from referral_events where event_type = 'invited'"#
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(event.referrer_customer_id, Some(referrer));
    assert_eq!(event.source_channel.as_deref(), Some("agent_referral"));
    assert_eq!(
        event.payload,
        json!({ "agentUserId": agent, "notes": "Her sister buys organic rice" })
    );

    // The agent's list: TrustCart's raw rows, numerics as strings.
    let mine = app.get("/api/crm/referrals/my?limit=5", &token).await;
    assert_eq!(mine.status, StatusCode::OK, "{}", mine.body);
    let rows = mine.body.as_array().unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["agent_user_id"], agent);
    assert_eq!(rows[0]["reward_amount"], "100.00");
    assert_eq!(rows[0]["source_channel"], "agent_referral");

    // The friend joins with the invitation's code and the referral completes as any.
    let code = referral["referralCode"].as_str().unwrap();
    let friend = app.customer("01711400002", Some(code)).await;
    app.order(400, friend, "delivered").await;
    assert_eq!(app.end_holds().await, 1);
    assert_eq!(app.balance(referrer).await, Decimal::from(100));
    let row = &app.get("/api/crm/referrals/my", &token).await.body[0];
    assert_eq!(row["status"], "completed");
    assert_eq!(row["referred_customer_id"], friend);
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn each_guard_has_its_code_and_changes_nothing(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let (_, token) = staff(
        &app,
        "call-agent",
        "rina@staff.test",
        Some("+8801811000001"),
    )
    .await;
    staff(
        &app,
        "support-agent",
        "colleague@staff.test",
        Some("+8801811000002"),
    )
    .await;
    let referrer = app
        .sign_up(json!({ "phone": "01711400011", "email": "referrer@example.com" }))
        .await
        .body["id"]
        .as_i64()
        .unwrap() as i32;
    app.customer("01711400012", None).await;
    // A customer's own invitation is pending for this phone.
    let invite = app
        .post(
            "/api/loyalty/me/referral",
            &app.customer_token(referrer),
            json!({ "referredPhone": "01711400013" }),
        )
        .await;
    assert_eq!(invite.status, StatusCode::CREATED, "{}", invite.body);
    let before = app.snapshot().await;

    let refused = |body: Value| {
        let (app, token) = (&app, &token);
        async move { app.post(CAPTURE, token, body).await }
    };
    let with_phone =
        |phone: &str| json!({ "referrerCustomerId": referrer, "referredPhone": phone });
    let own = refused(with_phone("01811000001")).await;
    own.assert_error(StatusCode::CONFLICT, "agent_own_phone");
    assert!(own.body["fields"]["referredPhone"].is_array());
    refused(with_phone("+880 1811-000002"))
        .await
        .assert_error(StatusCode::CONFLICT, "colleague_phone");
    refused(with_phone("01711400013"))
        .await
        .assert_error(StatusCode::CONFLICT, "referral_pending");
    refused(with_phone("01711400012"))
        .await
        .assert_error(StatusCode::CONFLICT, "already_customer");
    refused(with_phone("01711400011"))
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "self_referral");
    refused(json!({ "referrerCustomerId": referrer, "referredEmail": "Referrer@Example.com" }))
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "self_referral");
    let nobody =
        refused(json!({ "referrerCustomerId": 999_999, "referredPhone": "01711400014" })).await;
    nobody.assert_error(StatusCode::NOT_FOUND, "customer_not_found");
    assert!(nobody.body["fields"]["referrerCustomerId"].is_array());

    // Bad input: each a 422 naming its field.
    for (body, field) in [
        (json!({ "referrerCustomerId": referrer }), "referredEmail"),
        (
            json!({ "referrerCustomerId": referrer, "referredPhone": "12345" }),
            "referredPhone",
        ),
        (
            json!({ "referrerCustomerId": referrer, "referredEmail": "f@example.com", "consent": true }),
            "consent",
        ),
        (
            json!({ "referrerCustomerId": referrer, "referredPhone": "01711400014", "notes": "x".repeat(2001) }),
            "notes",
        ),
        (
            json!({ "referrerCustomerId": referrer, "referredPhone": "01711400014",
                    "campaignId": "00000000-0000-0000-0000-000000000001" }),
            "campaignId",
        ),
    ] {
        let response = refused(body).await;
        response.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert!(
            response.body["fields"][field].is_array(),
            "{}",
            response.body
        );
    }
    refused(
        json!({ "referrerCustomerId": referrer, "referredPhone": "01711400014", "consent": "yes" }),
    )
    .await
    .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body");
    refused(json!({ "referredPhone": "01711400014" }))
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body");
    assert_eq!(
        app.snapshot().await,
        before,
        "a refused capture wrote something"
    );

    // The pending rule holds for customers' own invitations too.
    let second = app
        .post(
            "/api/loyalty/me/referral",
            &app.customer_token(referrer),
            json!({ "referredPhone": "+8801711400013" }),
        )
        .await;
    second.assert_error(StatusCode::CONFLICT, "referral_pending");

    // With consent and a phone the capture goes through.
    let fine = refused(
        json!({ "referrerCustomerId": referrer, "referredPhone": "01711400014", "consent": true }),
    )
    .await;
    assert_eq!(fine.status, StatusCode::CREATED, "{}", fine.body);
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn agents_racing_for_one_phone_create_one_referral(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let mut tokens = Vec::new();
    for n in 0..4 {
        tokens.push(
            staff(&app, "call-agent", &format!("agent{n}@staff.test"), None)
                .await
                .1,
        );
    }
    let referrer = app.customer("01711400021", None).await;
    // Twenty identical requests, from four agents, at once.
    let responses = join_all((0..20).map(|n| {
        let app = app.clone();
        let token = tokens[n % tokens.len()].clone();
        tokio::spawn(async move { capture(&app, &token, referrer, "01711400022").await })
    }))
    .await;
    let mut created = 0;
    for response in responses {
        let response = response.unwrap();
        if response.status == StatusCode::CREATED {
            created += 1;
        } else {
            response.assert_error(StatusCode::CONFLICT, "referral_pending");
        }
    }
    assert_eq!(created, 1);
    let counts = sqlx::query!(
        r#"select (select count(*) from customer_referrals where referred_phone = '+8801711400022') as "referrals!",
                  (select count(*) from crm_call_tasks) as "tasks!",
                  (select count(*) from referral_events where event_type = 'invited') as "events!""#
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!((counts.referrals, counts.tasks, counts.events), (1, 1, 1));
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn agents_work_their_own_tasks_and_managers_everyones(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let (rina, rina_token) = staff(&app, "call-agent", "rina@staff.test", None).await;
    let (_, tuhin_token) = staff(&app, "call-agent", "tuhin@staff.test", None).await;
    let (manager, manager_token) =
        staff(&app, "call-centre-manager", "boss@staff.test", None).await;
    let referrer = app.customer("01711400031", None).await;
    let rinas = capture(&app, &rina_token, referrer, "01711400032")
        .await
        .body["task"]
        .clone();
    let tuhins = capture(&app, &tuhin_token, referrer, "01711400033")
        .await
        .body["task"]
        .clone();
    let (rinas_id, tuhins_id) = (
        rinas["id"].as_i64().unwrap(),
        tuhins["id"].as_i64().unwrap(),
    );

    let ids = |response: &crate::helpers::TestResponse| -> Vec<i64> {
        assert_eq!(response.status, StatusCode::OK, "{}", response.body);
        response
            .body
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_i64().unwrap())
            .collect()
    };
    // An agent sees their own tasks, with or without `assignee=me`.
    assert_eq!(
        ids(&app.get("/api/crm/tasks", &rina_token).await),
        [rinas_id]
    );
    assert_eq!(
        ids(&app.get("/api/crm/tasks?assignee=me", &tuhin_token).await),
        [tuhins_id]
    );
    assert_eq!(
        ids(&app
            .get(&format!("/api/crm/tasks?assignee={rina}"), &rina_token)
            .await),
        [rinas_id]
    );
    // …and may not ask for another's.
    let tuhin_id = tuhins["assignedTo"].as_i64().unwrap();
    app.get(&format!("/api/crm/tasks?assignee={tuhin_id}"), &rina_token)
        .await
        .assert_error(StatusCode::FORBIDDEN, "forbidden");
    // A manager sees all, newest first, and filters by assignee.
    assert_eq!(
        ids(&app.get("/api/crm/tasks", &manager_token).await),
        [tuhins_id, rinas_id]
    );
    assert_eq!(
        ids(&app
            .get(&format!("/api/crm/tasks?assignee={rina}"), &manager_token)
            .await),
        [rinas_id]
    );
    assert_eq!(
        ids(&app.get("/api/crm/tasks?assignee=me", &manager_token).await),
        Vec::<i64>::new()
    );
    assert_eq!(
        ids(&app.get("/api/crm/tasks?limit=1", &manager_token).await),
        [tuhins_id]
    );
    assert_eq!(
        ids(&app
            .get(
                &format!("/api/crm/tasks?beforeId={tuhins_id}"),
                &manager_token
            )
            .await),
        [rinas_id]
    );
    // Due within 24 hours: neither is due in the next hour, both before tomorrow's end.
    let soon = (Utc::now() + chrono::Duration::hours(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let later = (Utc::now() + chrono::Duration::hours(25))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    assert!(
        ids(&app
            .get(&format!("/api/crm/tasks?due_before={soon}"), &manager_token)
            .await)
        .is_empty()
    );
    assert_eq!(
        ids(&app
            .get(
                &format!("/api/crm/tasks?due_before={later}"),
                &manager_token
            )
            .await)
        .len(),
        2
    );

    // Another agent's task is not found: its id tells Tuhin nothing.
    let path = format!("/api/crm/tasks/{rinas_id}");
    app.put(&path, &tuhin_token, json!({ "status": "done" }))
        .await
        .assert_error(StatusCode::NOT_FOUND, "task_not_found");
    app.put(
        "/api/crm/tasks/999999",
        &rina_token,
        json!({ "status": "done" }),
    )
    .await
    .assert_error(StatusCode::NOT_FOUND, "task_not_found");

    // Rina closes hers with a note; the manager reopens it; she cancels it.
    let done = app
        .put(
            &path,
            &rina_token,
            json!({ "status": "done", "note": " Called, she will order " }),
        )
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert_eq!(done.body["status"], "done");
    assert_eq!(done.body["note"], "Called, she will order");
    assert_eq!(done.body["closedBy"], rina);
    assert!(done.body["closedAt"].is_string());
    assert_eq!(
        ids(&app.get("/api/crm/tasks?status=done", &rina_token).await),
        [rinas_id]
    );
    assert!(ids(&app.get("/api/crm/tasks?status=open", &rina_token).await).is_empty());
    // The same status again is a no-op that keeps when and by whom it was closed.
    let again = app
        .put(&path, &manager_token, json!({ "status": "done" }))
        .await;
    assert_eq!(
        (
            again.body["closedBy"].clone(),
            again.body["closedAt"].clone()
        ),
        (json!(rina), done.body["closedAt"].clone())
    );
    app.put(&path, &rina_token, json!({ "status": "cancelled" }))
        .await
        .assert_error(StatusCode::CONFLICT, "invalid_transition");
    let reopened = app
        .put(&path, &manager_token, json!({ "status": "open" }))
        .await;
    assert_eq!(reopened.body["status"], "open");
    assert_eq!(reopened.body["closedAt"], Value::Null);
    assert_eq!(reopened.body["note"], "Called, she will order");
    let cancelled = app
        .put(
            &path,
            &rina_token,
            json!({ "status": "cancelled", "note": "Wrong number" }),
        )
        .await;
    assert_eq!(cancelled.body["status"], "cancelled");
    assert_eq!(cancelled.body["closedBy"], rina);
    let managers = app
        .put(
            &format!("/api/crm/tasks/{tuhins_id}"),
            &manager_token,
            json!({ "note": "Try after Asr" }),
        )
        .await;
    assert_eq!(managers.status, StatusCode::OK, "{}", managers.body);
    assert_eq!(managers.body["status"], "open");
    assert!(manager > 0);

    // Validation: JSON errors, never a 500.
    app.put(&path, &rina_token, json!({ "status": "finished" }))
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body");
    app.put(
        &path,
        &rina_token,
        json!({ "status": "done", "colour": "red" }),
    )
    .await
    .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body");
    app.put(&path, &rina_token, json!({ "note": "   " }))
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    app.put(&path, &rina_token, json!({ "note": "n".repeat(2001) }))
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    for query in [
        "status=finished",
        "assignee=someone",
        "due_before=tomorrow",
        "limit=0",
        "limit=501",
    ] {
        app.get(&format!("/api/crm/tasks?{query}"), &rina_token)
            .await
            .assert_error(StatusCode::BAD_REQUEST, "invalid_query");
    }
    // Customers, other staff and machines have no tasks.
    app.get("/api/crm/tasks", &app.customer_token(referrer))
        .await
        .assert_error(StatusCode::FORBIDDEN, "forbidden");
    app.get("/api/crm/tasks", &app.staff_token("marketing-manager"))
        .await
        .assert_error(StatusCode::FORBIDDEN, "forbidden");
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn the_agents_report_counts_captures_joins_completions_and_cost(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let admin = app.admin_token();
    // The referred side gets a welcome bonus too, so the cost counts both sides.
    let campaign = app
        .post(
            "/api/loyalty/referral-campaigns",
            &admin,
            json!({ "name": "Call centre", "channel": "agent_referral",
                    "reward_referrer_amount": 120, "reward_referred_amount": 30 }),
        )
        .await;
    assert_eq!(campaign.status, StatusCode::CREATED, "{}", campaign.body);
    let (rina, rina_token) = staff(&app, "call-agent", "rina@staff.test", None).await;
    let (tuhin, tuhin_token) = staff(&app, "call-agent", "tuhin@staff.test", None).await;
    let referrer = app.customer("01711400041", None).await;

    // Rina: three captures; two friends join; one first order delivered and released,
    // one delivered and still in its hold.
    let mut codes = Vec::new();
    for phone in ["01711400042", "01711400043", "01711400044"] {
        let created = capture(&app, &rina_token, referrer, phone).await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        assert_eq!(created.body["referral"]["campaignId"], campaign.body["id"]);
        codes.push(
            created.body["referral"]["referralCode"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let first = app.customer("01711400042", Some(&codes[0])).await;
    app.order(410, first, "delivered").await;
    assert_eq!(app.end_holds().await, 1);
    let second = app.customer("01711400043", Some(&codes[1])).await;
    app.order(411, second, "delivered").await;
    // Tuhin: one capture, nobody joined.
    capture(&app, &tuhin_token, referrer, "01711400045").await;

    let manager = app.staff_token("call-centre-manager");
    let report = app.get("/api/crm/referrals/agents/report", &manager).await;
    assert_eq!(report.status, StatusCode::OK, "{}", report.body);
    let agents = report.body["agents"].as_array().unwrap();
    assert_eq!(agents.len(), 2);
    assert_eq!(agents[0]["agentUserId"], rina);
    assert_eq!(agents[0]["email"], "rina@staff.test");
    assert_eq!(
        (
            agents[0]["captured"].clone(),
            agents[0]["registered"].clone(),
            agents[0]["completed"].clone()
        ),
        (json!(3), json!(2), json!(2))
    );
    assert_eq!(dec(&agents[0]["rewardCostReleased"]), Decimal::from(150));
    assert_eq!(dec(&agents[0]["rewardCostPending"]), Decimal::from(150));
    assert_eq!(dec(&agents[0]["rewardCost"]), Decimal::from(300));
    assert_eq!(agents[1]["agentUserId"], tuhin);
    assert_eq!(
        (
            agents[1]["captured"].clone(),
            agents[1]["registered"].clone(),
            agents[1]["completed"].clone()
        ),
        (json!(1), json!(0), json!(0))
    );
    assert_eq!(dec(&agents[1]["rewardCost"]), Decimal::ZERO);

    // A returned first order takes its cost back out.
    app.order_status(411, "returned").await;
    let report = app.get("/api/crm/referrals/agents/report", &admin).await;
    let rina_line = &report.body["agents"][0];
    assert_eq!(rina_line["completed"], 1);
    assert_eq!(dec(&rina_line["rewardCost"]), Decimal::from(150));

    // The window is by capture time.
    let future =
        (Utc::now() + chrono::Duration::days(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let empty = app
        .get(
            &format!("/api/crm/referrals/agents/report?from={future}"),
            &manager,
        )
        .await;
    assert_eq!(empty.body["agents"], json!([]));
    assert!(empty.body["window"]["from"].is_string());
    let past =
        (Utc::now() - chrono::Duration::days(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    app.get(
        &format!("/api/crm/referrals/agents/report?from={future}&to={past}"),
        &manager,
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, "invalid_query");
    // Agents do not read it.
    app.get("/api/crm/referrals/agents/report", &rina_token)
        .await
        .assert_error(StatusCode::FORBIDDEN, "forbidden");
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn a_staff_phone_is_set_by_the_cli_and_unique(pool: PgPool) {
    let app = TestApp::new(pool.clone()).await;
    let output = crate::cli::run_bondhu(
        &pool,
        &[
            "user",
            "create",
            "--role",
            "call-agent",
            "--email",
            "agent@shop.example",
            "--phone",
            "01811 000 009",
        ],
        Some("a long password\n"),
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let phone: Option<String> =
        sqlx::query_scalar("select phone from users where email = 'agent@shop.example'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(phone.as_deref(), Some("+8801811000009"));
    let again = crate::cli::run_bondhu(
        &pool,
        &[
            "user",
            "create",
            "--role",
            "call-agent",
            "--email",
            "other@shop.example",
            "--phone",
            "+8801811000009",
        ],
        Some("a long password\n"),
    );
    assert!(!again.status.success());
    let bad = crate::cli::run_bondhu(
        &pool,
        &[
            "user",
            "create",
            "--role",
            "call-agent",
            "--email",
            "third@shop.example",
            "--phone",
            "12345",
        ],
        Some("a long password\n"),
    );
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--phone"));
    // The second user was not created: the phone and the user are one transaction.
    let users: i64 =
        sqlx::query_scalar("select count(*) from users where email like '%@shop.example'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(users, 1);
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn with_consent_the_friend_gets_the_invitation_with_its_code(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let admin = app.admin_token();
    let campaign = app
        .post(
            "/api/loyalty/referral-campaigns",
            &admin,
            json!({ "name": "Call centre", "channel": "agent_referral",
                    "reward_referrer_amount": 100, "reward_referred_amount": 50 }),
        )
        .await;
    assert_eq!(campaign.status, StatusCode::CREATED, "{}", campaign.body);
    let (_, token) = staff(&app, "call-agent", "rina@staff.test", None).await;
    let referrer = app
        .sign_up(json!({ "name": "Rahim Uddin", "phone": "01711400051" }))
        .await
        .body["id"]
        .as_i64()
        .unwrap() as i32;
    let invitations = |app: &TestApp| {
        let pool = app.pool.clone();
        async move {
            sqlx::query_as::<_, (Option<i32>, Option<String>)>(
                "select referral_id, phone from outbound_messages where kind = 'agent_invitation'",
            )
            .fetch_all(&pool)
            .await
            .unwrap()
        }
    };

    // Without consent, no message.
    let silent = capture(&app, &token, referrer, "01711400052").await;
    assert_eq!(silent.status, StatusCode::CREATED, "{}", silent.body);
    assert!(invitations(&app).await.is_empty());
    // A refused capture queues nothing either: the message is in the referral's
    // transaction.
    app.post(
        CAPTURE,
        &token,
        json!({ "referrerCustomerId": referrer, "referredPhone": "01711400052", "consent": true }),
    )
    .await
    .assert_error(StatusCode::CONFLICT, "referral_pending");
    assert!(invitations(&app).await.is_empty());

    let created = app
        .post(
            CAPTURE,
            &token,
            json!({ "referrerCustomerId": referrer, "referredPhone": "01711400053", "consent": true }),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let referral_id = created.body["referral"]["id"].as_i64().unwrap() as i32;
    assert_eq!(
        invitations(&app).await,
        [(Some(referral_id), Some("+8801711400053".to_owned()))]
    );

    // The dispatcher sends it: the invitation's own code first, the referrer's first
    // name, the friend's offer in Bengali digits, and the landing link of that code.
    assert_eq!(app.dispatch().await.sent, 1);
    let sms = app.sms.to("+8801711400053");
    assert_eq!(sms.len(), 1);
    let code = created.body["referral"]["referralCode"].as_str().unwrap();
    assert!(sms[0].text.starts_with(code), "{}", sms[0].text);
    assert!(sms[0].text.contains("Rahim"), "{}", sms[0].text);
    assert!(sms[0].text.contains("৳৫০"), "{}", sms[0].text);
    assert!(
        sms[0]
            .text
            .contains(&format!("/r/{code}?ch=agent_referral")),
        "{}",
        sms[0].text
    );

    // The friend signs up with the code the message carried: the agent's referral is hers.
    let friend = app.customer("01711400053", Some(code)).await;
    let row = &app.get("/api/crm/referrals/my", &token).await.body[0];
    assert_eq!(row["id"], referral_id);
    assert_eq!(row["status"], "registered");
    assert_eq!(row["referred_customer_id"], friend);
    app.check_invariants().await;
}
