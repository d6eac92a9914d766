//! Reconciliation: states broken on purpose, behind the server's back, are found and
//! repaired through the live paths; balances are reported, never "fixed".

use axum::http::StatusCode;
use rust_decimal::Decimal;
use serde_json::Value;
use sqlx::PgPool;

use crate::cli::run_bondhu;
use crate::helpers::{TestApp, dec};

/// Runs `bondhu reconcile [--repair]`; returns the report and whether it exited 0.
fn reconcile(pool: &PgPool, repair: bool) -> (Value, bool) {
    let args: &[&str] = if repair {
        &["reconcile", "--repair"]
    } else {
        &["reconcile"]
    };
    let output = run_bondhu(pool, args, None);
    let report = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stderr)));
    (report, output.status.success())
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn broken_states_are_found_and_repaired_through_the_live_paths(pool: PgPool) {
    let app = TestApp::new(pool.clone()).await;
    let admin = app.admin_token();
    app.get("/api/loyalty/reconciliation/last", &admin)
        .await
        .assert_error(StatusCode::NOT_FOUND, "report_not_found");

    let referrer = app.customer("01712000001", None).await;
    let code = format!("REF{referrer:06}");
    // 1. A delivered first order written behind the server's back.
    let behind = app.customer("01812000001", Some(&code)).await;
    sqlx::query!(
        "insert into sales_orders (id, sales_order_number, customer_id, status, total_amount, delivered_at)
         values (8001, 'SO-8001', $1, 'delivered', 1000, now())",
        behind
    )
    .execute(&pool)
    .await
    .unwrap();
    // 2. A hold that ended, with no job running.
    let overdue = app.customer("01812000002", Some(&code)).await;
    assert_eq!(
        app.order(8002, overdue, "delivered").await.status,
        StatusCode::OK
    );
    sqlx::query!(
        "update customer_referrals set hold_until = now() - interval '1 hour' where referred_customer_id = $1",
        overdue
    )
    .execute(&pool)
    .await
    .unwrap();
    // 3. A return written behind the server's back.
    let returned = app.customer("01812000003", Some(&code)).await;
    assert_eq!(
        app.order(8003, returned, "delivered").await.status,
        StatusCode::OK
    );
    sqlx::query!("update sales_orders set status = 'returned' where id = 8003")
        .execute(&pool)
        .await
        .unwrap();
    // 4. A balance edited by hand.
    let edited = app.customer("01712000009", None).await;
    sqlx::query!(
        "update customer_wallets set balance = balance + 5, total_earned = total_earned + 5
         where customer_id = $1",
        edited
    )
    .execute(&pool)
    .await
    .unwrap();

    // Without --repair: found, nothing changed, and the exit status says so.
    let before = app.snapshot().await;
    let (report, clean) = reconcile(&pool, false);
    assert!(!clean);
    assert_eq!(report["repair"], false);
    assert_eq!(report["unfinishedCompletions"]["found"], 1, "{report}");
    assert_eq!(report["unfinishedCompletions"]["items"][0]["orderId"], 8001);
    assert_eq!(report["overdueHolds"]["found"], 1);
    assert_eq!(report["unreversedCompletions"]["found"], 1);
    assert_eq!(
        report["unreversedCompletions"]["items"][0]["reason"],
        "returned"
    );
    let drift = &report["balanceDrift"];
    assert_eq!(drift.as_array().unwrap().len(), 1, "{drift}");
    assert_eq!(drift[0]["customerId"], edited);
    assert_eq!(drift[0]["ledger"], "wallet");
    assert_eq!(dec(&drift[0]["balance"]), Decimal::from(5));
    assert_eq!(dec(&drift[0]["ledgerSum"]), Decimal::ZERO);
    assert_eq!(
        before,
        app.snapshot().await,
        "a report-only run changes nothing"
    );

    // With --repair: the three are fixed through the live functions; the balance is not.
    let (report, clean) = reconcile(&pool, true);
    assert!(!clean, "the edited balance is still reported");
    for check in [
        "unfinishedCompletions",
        "overdueHolds",
        "unreversedCompletions",
    ] {
        assert_eq!(report[check]["found"], 1, "{check}: {report}");
        assert_eq!(report[check]["repaired"], 1, "{check}: {report}");
    }
    assert_eq!(report["balanceDrift"].as_array().unwrap().len(), 1);
    let statuses = sqlx::query!(
        r#"select r.referred_customer_id as "customer!", r.status::text as "referral!",
                  rr.status::text as "reward!"
           from customer_referrals r join referral_rewards rr on rr.referral_id = r.id
           order by r.referred_customer_id"#
    )
    .fetch_all(&pool)
    .await
    .unwrap()
    .into_iter()
    .map(|r| (r.customer, r.referral, r.reward))
    .collect::<Vec<_>>();
    assert_eq!(
        statuses,
        [
            (behind, "completed".into(), "pending".into()),
            (overdue, "completed".into(), "released".into()),
            (returned, "registered".into(), "voided".into()),
        ]
    );
    assert_eq!(app.balance(referrer).await, Decimal::from(100));

    // Idempotent: a second repair finds only the balance.
    let (again, _) = reconcile(&pool, true);
    for check in [
        "unfinishedCompletions",
        "overdueHolds",
        "unreversedCompletions",
    ] {
        assert_eq!(again[check]["found"], 0, "{check}: {again}");
    }
    let last = app.get("/api/loyalty/reconciliation/last", &admin).await;
    assert_eq!(last.status, StatusCode::OK, "{}", last.body);
    assert_eq!(last.body["id"], again["id"]);
    assert_eq!(last.body["triggeredBy"], "cli");
    app.get(
        "/api/loyalty/reconciliation/last",
        &app.customer_token(referrer),
    )
    .await
    .assert_error(StatusCode::FORBIDDEN, "forbidden");

    // Put the hand-edited balance back before the invariants are checked.
    sqlx::query!(
        "update customer_wallets set balance = balance - 5, total_earned = total_earned - 5
         where customer_id = $1",
        edited
    )
    .execute(&pool)
    .await
    .unwrap();
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn one_instance_reconciles_at_a_time_and_the_schedule_is_shared(pool: PgPool) {
    let app = TestApp::new(pool.clone()).await;
    // Another instance holds the lock.
    let mut other = pool.acquire().await.unwrap();
    assert!(bondhu::db::reconcile::try_lock(&mut other).await.unwrap());
    let skipped = bondhu::service::reconcile::run(&pool, true, "job", &|_, _| {})
        .await
        .unwrap();
    assert!(skipped.is_none());
    let output = run_bondhu(&pool, &["reconcile"], None);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("another instance"));
    bondhu::db::reconcile::unlock(&mut other).await.unwrap();

    // The schedule: the first instance runs; one that wakes up just after does not.
    let every = std::time::Duration::from_secs(3600);
    let first = bondhu::service::reconcile::scheduled(&pool, every)
        .await
        .unwrap();
    assert!(first.as_ref().is_some_and(|r| r.is_clean() && r.repair));
    let second = bondhu::service::reconcile::scheduled(&pool, every)
        .await
        .unwrap();
    assert!(second.is_none());
    app.check_invariants().await;
}

/// A full refund reverses the referral (released reward clawed back) and leaves it
/// registered beside its delivered order, where the live path leaves it. Reconciliation
/// used to take that for a delivery that never completed, and its repair paid the reward
/// again (found by the kill phase of scripts/chaos.sh).
#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn a_referral_reversed_by_a_full_refund_is_not_completed_again(pool: PgPool) {
    let app = TestApp::new(pool.clone()).await;
    let admin = app.admin_token();
    let (referrer, friend) = app.referrer_and_friend(1).await;
    // A second pair refunded in part only: still a completion, untouched.
    let (_, kept) = app.referrer_and_friend(2).await;
    for (order, customer) in [(8101, friend), (8102, kept)] {
        assert_eq!(
            app.order(order, customer, "delivered").await.status,
            StatusCode::OK
        );
    }
    assert_eq!(app.end_holds().await, 2);
    assert_eq!(app.balance(referrer).await, Decimal::from(100));
    for (order, amount) in [(8101, 1000), (8102, 100)] {
        let refund = app
            .post(
                &format!("/api/orders/{order}/refund"),
                &admin,
                serde_json::json!({ "amount": amount, "reason": "refunded", "idempotencyKey": format!("r-{order}") }),
            )
            .await;
        assert_eq!(refund.status, StatusCode::CREATED, "{}", refund.body);
    }
    assert_eq!(app.balance(referrer).await, Decimal::ZERO);

    let (report, clean) = reconcile(&pool, false);
    assert!(clean, "{report}");
    let before = app.snapshot().await;
    let (report, clean) = reconcile(&pool, true);
    assert!(clean, "{report}");
    assert_eq!(report["unfinishedCompletions"]["found"], 0, "{report}");
    assert_eq!(before, app.snapshot().await, "the repair changed nothing");
    // And were the check to name it, the repair itself refuses.
    let referral = sqlx::query_scalar!(
        "select id from customer_referrals where referred_customer_id = $1",
        friend
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(
        !bondhu::db::reconcile::repair_completion(&pool, referral, 8101)
            .await
            .unwrap()
    );
    let (status, completions) = sqlx::query!(
        r#"select status::text as "status!", completions from customer_referrals where id = $1"#,
        referral
    )
    .fetch_one(&pool)
    .await
    .map(|r| (r.status, r.completions))
    .unwrap();
    assert_eq!((status.as_str(), completions), ("registered", 1));
    assert_eq!(app.balance(referrer).await, Decimal::ZERO);
    app.check_invariants().await;
}

/// A partner's debt edited by hand is reported, and the run is not clean; repairing never
/// touches it.
#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn a_partner_debt_edited_by_hand_is_reported_never_repaired(pool: PgPool) {
    let app = TestApp::new(pool.clone()).await;
    let created = app
        .post(
            "/api/loyalty/referral-partners",
            &app.admin_token(),
            serde_json::json!({ "code": "DebtP", "partnerType": "influencer", "name": "DebtP" }),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let (report, clean) = reconcile(&pool, false);
    assert!(clean, "{report}");
    assert_eq!(report["partnerDrift"], serde_json::json!([]));

    sqlx::query("update referral_partners set owed_amount = 25 where code = 'DebtP'")
        .execute(&pool)
        .await
        .unwrap();
    let (report, clean) = reconcile(&pool, true);
    assert!(!clean, "{report}");
    let drift = report["partnerDrift"].as_array().unwrap();
    assert_eq!(drift.len(), 1, "{report}");
    assert_eq!(drift[0]["partnerId"], created.body["id"]);
    assert_eq!(drift[0]["code"], "DebtP");
    assert_eq!(dec(&drift[0]["owed"]), Decimal::from(25));
    assert_eq!(dec(&drift[0]["expected"]), Decimal::ZERO);
    let owed: Decimal =
        sqlx::query_scalar("select owed_amount from referral_partners where code = 'DebtP'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(owed, Decimal::from(25), "a repair run never moves a debt");
}
