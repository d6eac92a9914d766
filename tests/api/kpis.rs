//! The admin dashboard's numbers.

use axum::http::StatusCode;
use rust_decimal::Decimal;
use serde_json::json;
use sqlx::PgPool;

use crate::helpers::{TestApp, dec};

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn kpis_are_json_numbers_computed_from_the_data(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let admin = app.admin_token();
    let empty = app.get("/api/loyalty/kpis", &admin).await;
    assert_eq!(empty.status, StatusCode::OK);
    assert_eq!(empty.body["total_customers"], 0);
    assert_eq!(dec(&empty.body["avg_orders_per_customer"]), Decimal::ZERO);

    sqlx::query!("update referral_campaigns set reward_referred_amount = 20")
        .execute(&app.pool)
        .await
        .unwrap();
    let a = app.customer("01711500001", None).await;
    let b = app.customer("01711500002", Some(&format!("REF{a}"))).await;
    let c = app.customer("01711500003", Some(&format!("REF{a}"))).await;
    let _d = app.customer("01711500004", None).await;
    app.order(1, b, "delivered").await;
    app.order(2, b, "delivered").await;
    app.order(3, c, "pending").await;
    app.order(4, a, "completed").await;
    sqlx::query!(
        "update customer_memberships set membership_tier = 'gold' where customer_id = $1",
        a
    )
    .execute(&app.pool)
    .await
    .unwrap();

    // Within the return window the referral is completed but nothing is paid yet.
    let held = app.get("/api/loyalty/dashboard", &admin).await;
    assert_eq!(held.body["completed_referrals"], 1);
    assert_eq!(
        dec(&held.body["total_referral_rewards_paid"]),
        Decimal::ZERO
    );
    assert_eq!(
        dec(&held.body["total_referral_welcome_bonuses_paid"]),
        Decimal::ZERO
    );
    assert_eq!(app.end_holds().await, 1);

    let dashboard = app.get("/api/loyalty/dashboard", &admin).await;
    let body = &dashboard.body;
    for key in [
        "total_customers",
        "first_to_repeat_percentage",
        "member_conversion_rate",
        "avg_orders_per_customer",
        "avg_referrals_per_customer",
        "avg_customer_lifetime_value",
        "completed_referrals",
        "total_referral_rewards_paid",
        "silver_members",
        "gold_members",
        "permanent_members",
        "active_subscriptions",
        "pending_referrals",
    ] {
        assert!(body[key].is_number(), "{key} must be a JSON number: {body}");
    }
    assert_eq!(body["total_customers"], 4);
    // a and b have delivered orders; b has two.
    assert_eq!(dec(&body["first_to_repeat_percentage"]), Decimal::from(50));
    assert_eq!(dec(&body["member_conversion_rate"]), Decimal::from(25));
    assert_eq!(dec(&body["avg_orders_per_customer"]), Decimal::new(75, 2));
    assert_eq!(dec(&body["avg_referrals_per_customer"]), Decimal::new(5, 1));
    assert_eq!(
        dec(&body["avg_customer_lifetime_value"]),
        Decimal::from(750)
    );
    assert_eq!(body["completed_referrals"], 1);
    assert_eq!(body["pending_referrals"], 1);
    assert_eq!(
        dec(&body["total_referral_rewards_paid"]),
        Decimal::from(100)
    );
    assert_eq!(
        dec(&body["total_referral_welcome_bonuses_paid"]),
        Decimal::from(20)
    );
    assert_eq!(body["gold_members"], 1);
    let kpis = app.get("/api/loyalty/kpis", &admin).await;
    assert_eq!(kpis.body["total_customers"], json!(4));
    assert!(kpis.body.get("gold_members").is_none());
    app.check_invariants().await;
}

/// The dashboard's original query, verbatim (before the counters): the figures must stay
/// exactly what it returns, scale included. Each figure as text.
const ORIGINAL_QUERY: &str = r#"with
   customer_count as (select count(*) as n from customers),
   delivered as (
       select customer_id, count(*) as orders, sum(total_amount) as value
       from sales_orders
       where customer_id is not null and order_status_is_success(status)
       group by customer_id
   ),
   referral_counts as (
       select count(*) as total,
              count(*) filter (where status = 'completed') as completed,
              count(*) filter (where status in ('pending', 'registered')) as pending
       from customer_referrals
   ),
   paid as (
       select coalesce(sum(t.amount) filter (where t.customer_id = r.referrer_customer_id), 0) as referrer,
              coalesce(sum(t.amount) filter (where t.customer_id = r.referred_customer_id), 0) as referred
       from wallet_transactions t
       join customer_referrals r on r.id = t.reference_id
       where t.source = 'referral' and t.transaction_type = 'credit' and t.status = 'posted'
   ),
   tiers as (
       select count(*) filter (where membership_tier = 'silver') as silver,
              count(*) filter (where membership_tier = 'gold') as gold,
              count(*) filter (where membership_tier = 'permanent') as permanent
       from customer_memberships
   ),
   subscriptions as (
       select count(*) as active from grocery_lists l
       join customers c on c.id = l.customer_id and not c.is_deleted
       where l.is_subscription and l.is_active
   )
   select jsonb_build_object(
       'total_customers', c.n::text,
       'first_to_repeat_percentage', coalesce(round(100.0 * (select count(*) from delivered where orders >= 2)
                      / nullif((select count(*) from delivered), 0), 2), 0)::text,
       'member_conversion_rate', coalesce(round(100.0 * (t.silver + t.gold + t.permanent) / nullif(c.n, 0), 2), 0)::text,
       'avg_orders_per_customer', coalesce(round((select coalesce(sum(orders), 0) from delivered)::numeric / nullif(c.n, 0), 4), 0)::text,
       'avg_referrals_per_customer', coalesce(round(rc.total::numeric / nullif(c.n, 0), 4), 0)::text,
       'avg_customer_lifetime_value', coalesce(round((select coalesce(sum(value), 0) from delivered) / nullif(c.n, 0), 2), 0)::text,
       'completed_referrals', rc.completed::text,
       'pending_referrals', rc.pending::text,
       'total_referral_rewards_paid', round(p.referrer, 2)::text,
       'total_referral_welcome_bonuses_paid', round(p.referred, 2)::text,
       'silver_members', t.silver::text,
       'gold_members', t.gold::text,
       'permanent_members', t.permanent::text,
       'active_subscriptions', s.active::text)
   from customer_count c, referral_counts rc, paid p, tiers t, subscriptions s"#;

/// `kpi_figures` of the kept counters (`kpi_counted`) or of the full scans
/// (`kpi_reference`), each figure as PostgreSQL's text of it (its scale included: the
/// decoding into `Decimal` drops the scale of a zero).
async fn figures_as_text(pool: &PgPool, source: &'static str) -> serde_json::Value {
    // `source` is one of the two functions' names, never input.
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "select jsonb_object_agg(key, value #>> '{{}}')
         from (select array_agg(metric) as metrics, array_agg(value) as values from {source}()) c,
              kpi_figures(coalesce(c.metrics, '{{}}'), coalesce(c.values, '{{}}')) f,
              jsonb_each(to_jsonb(f))"
    )))
    .fetch_one(pool)
    .await
    .unwrap()
}

/// The counters' read equals the original full-scan query (value and scale), the
/// reference (`kpi_reference`) and the route's body; reconciliation finds no drift.
async fn assert_counters_exact(app: &TestApp, when: &str) {
    let original: serde_json::Value = sqlx::query_scalar(ORIGINAL_QUERY)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(
        figures_as_text(&app.pool, "kpi_counted").await,
        original,
        "{when}: counters vs the original query"
    );
    assert_eq!(
        figures_as_text(&app.pool, "kpi_reference").await,
        original,
        "{when}: reference vs the original query"
    );
    let counted = bondhu::db::kpis::dashboard(&app.pool).await.unwrap();
    let reference = bondhu::db::kpis::reference_dashboard(&app.pool)
        .await
        .unwrap();
    assert_eq!(
        serde_json::to_value(&counted).unwrap(),
        serde_json::to_value(&reference).unwrap(),
        "{when}: the read vs the reference"
    );
    let route = app.get("/api/loyalty/dashboard", &app.admin_token()).await;
    assert_eq!(route.status, StatusCode::OK);
    assert_eq!(
        route.body,
        serde_json::to_value(&counted).unwrap(),
        "{when}: route"
    );
    let drift = bondhu::db::kpis::drift(&app.pool).await.unwrap();
    assert!(drift.is_empty(), "{when}: {drift:?}");
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn the_counters_equal_the_full_scans_through_every_kind_of_change(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let admin = app.admin_token();
    assert_counters_exact(&app, "empty").await;

    sqlx::query!("update referral_campaigns set reward_referred_amount = 20")
        .execute(&app.pool)
        .await
        .unwrap();
    let mut customers = Vec::new();
    for n in 1..=4 {
        customers.push(app.referrer_and_friend(n).await);
    }
    let _guest = app.customer("01911500009", None).await;
    let (a, fa) = customers[0];
    let (b, fb) = customers[1];
    let (c, fc) = customers[2];
    let (_d, fd) = customers[3];
    // Deliveries: friends' first orders complete their referrals; repeat orders.
    app.order(101, fa, "delivered").await;
    app.order(102, fa, "delivered").await;
    app.order(103, fb, "pending").await;
    app.order(104, fc, "delivered").await;
    app.order(105, a, "completed").await;
    app.order(106, fd, "partial_delivered").await;
    app.order_status(103, "delivered").await;
    assert_counters_exact(&app, "delivered").await;
    assert!(
        bondhu::service::kpis::fold(&app.pool).await.unwrap() > 0,
        "something to fold"
    );
    assert_counters_exact(&app, "folded").await;

    // Holds end: the rewards are paid.
    assert!(app.end_holds().await > 0);
    // A return within the hold of a completed referral, and a refund.
    app.order_status(104, "returned").await;
    let refund = app
        .post(
            "/api/orders/102/refund",
            &admin,
            json!({ "amount": 400, "reason": "damaged", "idempotencyKey": "kpi-refund-1" }),
        )
        .await;
    assert!(refund.status.is_success(), "{}", refund.body);
    app.order_status(101, "returned").await;
    assert_counters_exact(&app, "returned and refunded").await;

    // Tiers, subscriptions, a deleted customer, an order moved to another customer.
    sqlx::query!(
        "update customer_memberships set membership_tier = 'silver' where customer_id in ($1, $2)",
        b,
        c
    )
    .execute(&app.pool)
    .await
    .unwrap();
    sqlx::query!(
        "update customer_memberships set membership_tier = 'permanent' where customer_id = $1",
        b
    )
    .execute(&app.pool)
    .await
    .unwrap();
    for (customer, name) in [(fb, "Monthly"), (fc, "Weekly"), (fc, "Other")] {
        let list = app
            .post(
                "/api/loyalty/grocery-list",
                &admin,
                json!({ "customerId": customer, "listName": name, "isSubscription": true, "subscriptionDay": 5 }),
            )
            .await;
        assert_eq!(list.status, StatusCode::CREATED, "{}", list.body);
    }
    let last_list = sqlx::query_scalar!("select max(id) as \"id!\" from grocery_lists")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let stopped = app
        .put(
            &format!("/api/loyalty/grocery-list/{last_list}/subscription"),
            &admin,
            json!({ "isSubscription": false }),
        )
        .await;
    assert_eq!(stopped.status, StatusCode::OK, "{}", stopped.body);
    sqlx::query!("update customers set is_deleted = true where id = $1", fb)
        .execute(&app.pool)
        .await
        .unwrap();
    sqlx::query!("update sales_orders set customer_id = $1 where id = 106", b)
        .execute(&app.pool)
        .await
        .unwrap();
    app.order(107, fb, "delivered").await;
    assert_counters_exact(&app, "tiers, subscriptions, deletion").await;
    bondhu::service::kpis::fold(&app.pool).await.unwrap();
    assert_counters_exact(&app, "folded again").await;
    sqlx::query!("update customers set is_deleted = false where id = $1", fb)
        .execute(&app.pool)
        .await
        .unwrap();
    sqlx::query!("delete from sales_orders where id = 107")
        .execute(&app.pool)
        .await
        .unwrap();
    assert_counters_exact(&app, "restored, deleted order").await;
    app.check_invariants().await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn parallel_deliveries_are_counted_exactly(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let mut friends = Vec::new();
    for n in 1..=16 {
        friends.push(app.referrer_and_friend(n).await.1);
    }
    for (i, friend) in friends.iter().enumerate() {
        for k in 0..2 {
            let id = 1000 + (i as i32) * 2 + k;
            app.order(id, *friend, "pending").await;
        }
    }
    // 32 deliveries at once: two per customer, so each customer's pair crosses one and two
    // orders concurrently, beside a fold.
    let mut tasks = Vec::new();
    for id in 1000..1032 {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            let response = app.order_status(id, "delivered").await;
            assert!(response.status.is_success(), "{}", response.body);
        }));
    }
    let folder = {
        let pool = app.pool.clone();
        tokio::spawn(async move {
            for _ in 0..5 {
                bondhu::service::kpis::fold(&pool).await.unwrap();
            }
        })
    };
    for task in tasks {
        task.await.unwrap();
    }
    folder.await.unwrap();
    let body = app
        .get("/api/loyalty/dashboard", &app.admin_token())
        .await
        .body;
    assert_eq!(body["total_customers"], 32);
    assert_eq!(body["completed_referrals"], 16);
    assert_eq!(dec(&body["first_to_repeat_percentage"]), Decimal::from(100));
    assert_eq!(dec(&body["avg_orders_per_customer"]), Decimal::from(1));
    assert_eq!(
        dec(&body["avg_customer_lifetime_value"]),
        Decimal::from(1000)
    );
    assert_counters_exact(&app, "after the parallel deliveries").await;
    bondhu::service::kpis::fold(&app.pool).await.unwrap();
    assert_counters_exact(&app, "folded").await;
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn a_tampered_counter_is_reported_by_reconciliation(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let (_, friend) = app.referrer_and_friend(1).await;
    app.order(1, friend, "delivered").await;
    bondhu::service::kpis::fold(&app.pool).await.unwrap();
    let clean = bondhu::service::reconcile::run(&app.pool, false, "cli", &|_, _| {})
        .await
        .unwrap()
        .unwrap();
    assert!(clean.kpi_drift.is_empty(), "{:?}", clean.kpi_drift);
    sqlx::query!("update kpi_totals set value = value + 1 where metric = 'delivered_orders'")
        .execute(&app.pool)
        .await
        .unwrap();
    let report = bondhu::service::reconcile::run(&app.pool, false, "cli", &|_, _| {})
        .await
        .unwrap()
        .unwrap();
    assert!(!report.is_clean());
    assert_eq!(report.kpi_drift.len(), 1, "{:?}", report.kpi_drift);
    assert_eq!(report.kpi_drift[0].metric, "delivered_orders");
    assert_eq!(report.kpi_drift[0].counted, Decimal::from(2));
    assert_eq!(report.kpi_drift[0].expected, Decimal::from(1));
    // The stored report says so too.
    let stored = bondhu::service::reconcile::last(&app.pool)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.kpi_drift, report.kpi_drift);
}
