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
