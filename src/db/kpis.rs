//! The KPI queries.

use rust_decimal::Decimal;
use sqlx::PgExecutor;

use crate::domain::kpi::{Dashboard, Kpis};

/// The KPIs and the dashboard's membership counts, in one pass over the base tables.
pub async fn dashboard(db: impl PgExecutor<'_>) -> sqlx::Result<Dashboard> {
    let row = sqlx::query!(
        r#"with
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
           select
               c.n as "total_customers!",
               coalesce(round(100.0 * (select count(*) from delivered where orders >= 2)
                              / nullif((select count(*) from delivered), 0), 2), 0) as "first_to_repeat_percentage!: Decimal",
               coalesce(round(100.0 * (t.silver + t.gold + t.permanent) / nullif(c.n, 0), 2), 0) as "member_conversion_rate!: Decimal",
               coalesce(round((select coalesce(sum(orders), 0) from delivered)::numeric / nullif(c.n, 0), 4), 0) as "avg_orders_per_customer!: Decimal",
               coalesce(round(rc.total::numeric / nullif(c.n, 0), 4), 0) as "avg_referrals_per_customer!: Decimal",
               coalesce(round((select coalesce(sum(value), 0) from delivered) / nullif(c.n, 0), 2), 0) as "avg_customer_lifetime_value!: Decimal",
               rc.completed as "completed_referrals!",
               rc.pending as "pending_referrals!",
               round(p.referrer, 2) as "total_referral_rewards_paid!: Decimal",
               round(p.referred, 2) as "total_referral_welcome_bonuses_paid!: Decimal",
               t.silver as "silver_members!",
               t.gold as "gold_members!",
               t.permanent as "permanent_members!",
               s.active as "active_subscriptions!"
           from customer_count c, referral_counts rc, paid p, tiers t, subscriptions s"#
    )
    .fetch_one(db)
    .await?;
    Ok(Dashboard {
        kpis: Kpis {
            total_customers: row.total_customers,
            first_to_repeat_percentage: row.first_to_repeat_percentage,
            member_conversion_rate: row.member_conversion_rate,
            avg_orders_per_customer: row.avg_orders_per_customer,
            avg_referrals_per_customer: row.avg_referrals_per_customer,
            avg_customer_lifetime_value: row.avg_customer_lifetime_value,
            completed_referrals: row.completed_referrals,
            total_referral_rewards_paid: row.total_referral_rewards_paid,
            total_referral_welcome_bonuses_paid: row.total_referral_welcome_bonuses_paid,
        },
        silver_members: row.silver_members,
        gold_members: row.gold_members,
        permanent_members: row.permanent_members,
        active_subscriptions: row.active_subscriptions,
        pending_referrals: row.pending_referrals,
    })
}
