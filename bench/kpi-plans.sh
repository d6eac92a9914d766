#!/usr/bin/env bash
# The KPI read at scale (issue 13: "the KPI and dashboard endpoints under 100 ms at 1
# million customers"), in one command:
#
#   BENCH_DB=bondhu_scale bench/kpi-plans.sh
#
# Prints EXPLAIN (ANALYZE, BUFFERS) and the timings (best and median of RUNS, default 10)
# of:
#   1. the dashboard's read: the kept counters (`kpi_counted`: kpi_totals and the unfolded
#      kpi_deltas) through `kpi_figures`, the statement the server prepares (.sqlx);
#   2. the reference: the dashboard's original full-scan query (the definition
#      reconciliation checks the counters against, `kpi_reference`);
#   3. the delivered path with its KPI triggers: one apply_order_status of a pending order,
#      RUNS of them in one warm session, each rolled back (nothing changes), then the same
#      without the KPI triggers (disabled in a transaction also rolled back).
# The figures go to stdout and to bench/kpi-plans.txt (PLANS=...).
#
# BENCH_DB defaults to bondhu_scale if it exists, else bondhu_bench (bench/generate.sh:
#   CUSTOMERS=600000 PARTNERS=200 PARTNER_CUSTOMERS=400000 ORDERS=5000000 \
#       REFERRALS=1000000 BENCH_DB=bondhu_scale bench/generate.sh
# is issue 13's 1 million customers). Read-only but for the rolled-back delivery. Needs psql.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PGHOST=${PGHOST:-127.0.0.1}
PGPORT=${PGPORT:-5432}
PGUSER=${PGUSER:-postgres}
export PGHOST PGPORT PGUSER
RUNS=${RUNS:-10}
PLANS=${PLANS:-$BENCH_DIR/kpi-plans.txt}
if [[ -z ${BENCH_DB:-} ]]; then
    if psql -X -At -d postgres -c "select 1 from pg_database where datname = 'bondhu_scale'" | grep -q 1; then
        BENCH_DB=bondhu_scale
    else
        BENCH_DB=bondhu_bench
    fi
fi
psql_db() { psql -X -q -v ON_ERROR_STOP=1 -d "$BENCH_DB" "$@"; }

READ=$(cat <<'SQL'
select f.* from (select coalesce(array_agg(metric), '{}') as metrics,
                        coalesce(array_agg(value), '{}') as values
                 from kpi_counted()) c,
                kpi_figures(c.metrics, c.values) f
SQL
)
# The original query of src/db/kpis.rs (before the counters), verbatim.
REFERENCE=$(cat <<'SQL'
with
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
   select c.n,
       coalesce(round(100.0 * (select count(*) from delivered where orders >= 2)
                      / nullif((select count(*) from delivered), 0), 2), 0),
       coalesce(round(100.0 * (t.silver + t.gold + t.permanent) / nullif(c.n, 0), 2), 0),
       coalesce(round((select coalesce(sum(orders), 0) from delivered)::numeric / nullif(c.n, 0), 4), 0),
       coalesce(round(rc.total::numeric / nullif(c.n, 0), 4), 0),
       coalesce(round((select coalesce(sum(value), 0) from delivered) / nullif(c.n, 0), 2), 0),
       rc.completed, rc.pending, round(p.referrer, 2), round(p.referred, 2),
       t.silver, t.gold, t.permanent, s.active
   from customer_count c, referral_counts rc, paid p, tiers t, subscriptions s
SQL
)

# Best and median wall time of $RUNS runs of a statement, in ms (psql's \timing).
timings() {
    local sql=$1
    for _ in $(seq "$RUNS"); do
        printf '\\timing on\n%s;\n' "$sql" | psql_db -o /dev/null 2>&1 | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p'
    done | sort -n | awk '{ t[NR] = $1 } END { printf "best %.2f ms, median %.2f ms (%d runs)\n", t[1], t[int((NR + 1) / 2)], NR }'
}

{
    echo "# bench/kpi-plans.sh on $BENCH_DB, $(date -u +%FT%TZ)"
    psql_db -At -c "select format('customers %s, sales_orders %s, customer_referrals %s, wallet_transactions %s, unfolded kpi_deltas %s',
                      (select count(*) from customers), (select count(*) from sales_orders),
                      (select count(*) from customer_referrals), (select count(*) from wallet_transactions),
                      (select count(*) from kpi_deltas))"
    echo
    echo "## 1. the read: kpi_counted() through kpi_figures"
    psql_db -c "explain (analyze, buffers) $READ"
    echo "read: $(timings "$READ")"
    echo
    echo "## 2. the reference: the original full-scan query"
    psql_db -c "explain (analyze, buffers) $REFERENCE"
    echo "reference: $(timings "$REFERENCE")"
    echo
    echo "## 3. one delivery with the KPI triggers (rolled back)"
    orders=$(psql_db -At -c "select id from sales_orders where status = 'pending' and customer_id is not null order by id desc limit $RUNS")
    if [[ -n $orders ]]; then
        # One warm session: each delivery in a savepoint rolled back, first with the KPI
        # triggers, then without them (disabled in the transaction, itself rolled back).
        deliveries() {
            for o in $orders; do
                printf 'savepoint d;\nselect * from apply_order_status(%s, %s, false, null, null, null, null, null, null);\nrollback to savepoint d;\n' "$o" "'delivered'"
            done
        }
        per_delivery() {
            sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | awk 'NR % 3 == 2 { print }' | sort -n |
                awk '{ t[NR] = $1 } END { printf "best %.2f ms, median %.2f ms (%d deliveries)\n", t[1], t[int((NR + 1) / 2)], NR }'
        }
        {
            echo 'begin;'
            echo "select * from apply_order_status(${orders%%$'\n'*}, 'delivered', false, null, null, null, null, null, null);"
            echo 'rollback; begin;'
            echo '\timing on'
            deliveries
            echo '\timing off'
            echo 'rollback;'
        } | psql_db -o /dev/null 2>&1 | echo "with the KPI triggers: $(per_delivery)"
        {
            echo 'begin;'
            echo 'alter table sales_orders disable trigger sales_orders_kpi_update;'
            echo 'alter table customer_referrals disable trigger customer_referrals_kpi_update;'
            echo 'alter table wallet_transactions disable trigger wallet_transactions_kpi_insert;'
            echo 'alter table customer_memberships disable trigger customer_memberships_kpi_insert;'
            echo 'alter table customer_memberships disable trigger customer_memberships_kpi_update;'
            echo '\timing on'
            deliveries
            echo '\timing off'
            echo 'rollback;'
        } | psql_db -o /dev/null 2>&1 | echo "without them:          $(per_delivery)"
    else
        echo "no pending order to deliver"
    fi
} 2>&1 | tee "$PLANS"
