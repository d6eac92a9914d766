#!/usr/bin/env bash
# Loads a synthetic data set for the benchmark into a fresh database.
#
#   bench/generate.sh                      # 100,000 customers into bondhu_bench
#   CUSTOMERS=300000 bench/generate.sh
#
# The database is dropped, recreated and migrated by `bondhu migrate` (so the schema is
# exactly the server's), then filled in batches of customers with generate_series.
# Every row is a pure function of its id, so two runs with the same knobs produce the
# same data (timestamps are relative to the moment of generation).
#
# Layout (N customers, R of them referred, M = N - R "originals"):
#   customers 1..M          originals: every 3rd is a guest; 3 in 4 have already-delivered
#                           history orders; every 10th has a 50 taka bonus credit in its
#                           wallet (with its ledger row). 1 in 20 (c mod 20 = 5, "veterans")
#                           were referred by customer c-1 long ago and that referral is
#                           completed: their first order is delivered through the server's
#                           own apply_order_status after the load, so the ledger, rewards and
#                           events of those completions are exactly what the server writes,
#                           and the planner's statistics see completed referrals, as they
#                           would in production.
#   customers M+1..N        referred by original 1 + ((c-M-1)*7919 mod M) (a permutation
#                           when gcd(7919, M) = 1, so each original refers about one friend
#                           and concurrent deliveries rarely queue on the same wallet);
#                           a `registered` referral (id c-M, reward 100 to the referrer,
#                           0 to the friend) created with the customer, and ONE `pending`
#                           first order, id PENDING_BASE + c, placed a day after the referral.
#   Pending orders of customers M+1..M+R/2 are the HTTP pool, the rest the pgbench pool.
#   Every customer has exactly one wallet (wallet id = customer id).
#
# The scale layer (knobs PARTNERS, PARTNER_CUSTOMERS, ORDERS, REFERRALS; all 0 by default,
# so bench/run.sh's data is unchanged) is loaded after the layout above with COPY FROM STDIN,
# fed by bench/scale.awk (its header describes the rows), under session_replication_role =
# replica: historic rows queue no messages, and the foreign keys, consistent by
# construction, are checked once at the end instead of row by row:
#   partners                 PARTNERS referral partners BenchP0001.., ৳30 per delivered order
#   partner customers        PARTNER_CUSTOMERS customers total+1.., each brought by a partner
#                            (partner k's share falls off as 1/sqrt(k)), with its partner
#                            referral (completed when its first order is delivered), its
#                            wallet, CLICKS_PER_SIGNUP clicks and its attribution events
#   extra orders             up to ORDERS orders in all: spread over the originals and the
#                            partner customers (never the referred friends, whose pending
#                            order is the benchmark's first order), in a mix of statuses
#                            (delivered, partial, returned, refused, cancelled, open, refunds),
#                            with the partner commissions of the partner customers' orders
#   invitations              up to REFERRALS referrals in all: pending invitations
#
#   PARTNERS=200 PARTNER_CUSTOMERS=100000 ORDERS=1000000 bench/generate.sh     # issue 11
#   CUSTOMERS=600000 PARTNERS=200 PARTNER_CUSTOMERS=400000 ORDERS=5000000 \
#       REFERRALS=1000000 bench/generate.sh                                     # issue 13
#
# The layout is written to $OUT/dataset.env for bench/run.sh.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH_DIR")

# ---- knobs -------------------------------------------------------------------------
PGHOST=${PGHOST:-127.0.0.1}
PGPORT=${PGPORT:-5432}
PGUSER=${PGUSER:-postgres}
export PGHOST PGPORT PGUSER
BENCH_DB=${BENCH_DB:-bondhu_bench}
CUSTOMERS=${CUSTOMERS:-100000}
# Pending first orders needed in EACH pool (HTTP and pgbench); the referred share grows
# past one half, and the customer count past CUSTOMERS, when this asks for more.
ORDERS_PER_POOL=${ORDERS_PER_POOL:-0}
BATCH=${BATCH:-25000}
# The scale layer (see above): 0 leaves each part out.
PARTNERS=${PARTNERS:-0}
PARTNER_CUSTOMERS=${PARTNER_CUSTOMERS:-0}
ORDERS=${ORDERS:-0}
REFERRALS=${REFERRALS:-0}
CLICKS_PER_SIGNUP=${CLICKS_PER_SIGNUP:-3}
# mawk is faster than gawk; any POSIX awk works.
AWK=${AWK:-$(command -v mawk || command -v awk)}
BONDHU_BIN=${BONDHU_BIN:-$ROOT/target/release/bondhu}
OUT=${OUT:-$BENCH_DIR/out}

PENDING_BASE=100000000   # pending first order of referred customer c: PENDING_BASE + c
HISTORY_BASE=200000000   # history orders of original c: HISTORY_BASE + 2c (+1)

# ---- sizes ---------------------------------------------------------------------------
referred=$(( CUSTOMERS / 2 ))
if (( referred < 2 * ORDERS_PER_POOL )); then referred=$(( 2 * ORDERS_PER_POOL )); fi
total=$(( CUSTOMERS > 2 * referred ? CUSTOMERS : 2 * referred ))
originals=$(( total - referred ))
if (( total >= 50000000 )); then
    echo "generate.sh: at most 49,999,999 customers (order id layout)" >&2
    exit 1
fi
http_lo=$(( PENDING_BASE + originals + 1 ))
http_hi=$(( PENDING_BASE + originals + referred / 2 ))
pgb_lo=$(( http_hi + 1 ))
pgb_hi=$(( PENDING_BASE + total ))

# ---- helpers -------------------------------------------------------------------------
psql_db() { psql -X -q -v ON_ERROR_STOP=1 -d "$BENCH_DB" "$@"; }

# progress BAR: draws "[#####.....]  50%  50,000/100,000 customers" in place.
progress() {
    local done=$1 all=$2 width=40
    local filled=$(( done * width / all ))
    local bar dots
    printf -v bar '%*s' "$filled" ''
    printf -v dots '%*s' "$(( width - filled ))" ''
    # redrawn in place on a terminal, one line per batch in a log file
    local start='\r' end=''
    [[ -t 2 ]] || { start=''; end='\n'; }
    printf "$start"'  [%s%s] %3d%%  %d/%d customers'"$end" "${bar// /#}" "${dots// /.}" \
        $(( done * 100 / all )) "$done" "$all" >&2
}

# An invite code 'INV' + 8 characters of the server's unambiguous alphabet, a bijection
# of the referral id (2654435761 is coprime to 30^8), so codes are unique and look random.
invite_code_sql() {
    local alphabet='23456789ABCDEFGHJKMNPQRSTVWXYZ' expr="'INV'" k
    for k in 7 6 5 4 3 2 1 0; do
        expr+=" || substr('$alphabet', (((\$1 * 2654435761 + 104729) % 656100000000) / (30::bigint ^ $k)::bigint % 30)::int + 1, 1)"
    done
    echo "$expr"
}

started=$SECONDS
echo "generate: $total customers ($referred referred) into database $BENCH_DB"

# ---- fresh, migrated database -----------------------------------------------------------
psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "drop database if exists \"$BENCH_DB\" with (force)"
DATABASE_URL="postgres://$PGUSER@$PGHOST:$PGPORT/$BENCH_DB" RUST_LOG=warn \
    JWT_SECRET=${JWT_SECRET:-bench-secret-0123456789abcdef0123456789} \
    "$BONDHU_BIN" migrate >/dev/null

# A session-local helper for the batches (pg_temp functions vanish with the session).
helper_sql="create function pg_temp.invite_code(bigint) returns text language sql immutable
            return $(invite_code_sql);"

# Referrals made under a campaign snapshot its terms (reward_terms), where the schema has
# them: the batches do what the server's signup does.
has_terms=$(psql_db -At -c "select count(*) from pg_attribute
    where attrelid = 'customer_referrals'::regclass and attname = 'reward_terms' and not attisdropped")
if [[ $has_terms == 1 ]] && [[ $(psql_db -At -c "select to_regprocedure('campaign_terms(uuid,integer)') is not null") == t ]]; then
    has_terms=1
else
    has_terms=0
fi

# ---- batches ----------------------------------------------------------------------------
# One transaction per batch of customer ids [lo, hi]: customers, wallets, bonus credits,
# referrals and orders of those customers (referrers always have smaller ids, so they
# exist already or are in the same batch, inserted first by id order).
progress 0 "$total"
for (( lo = 1; lo <= total; lo += BATCH )); do
    hi=$(( lo + BATCH - 1 < total ? lo + BATCH - 1 : total ))
    psql_db -v lo="$lo" -v hi="$hi" -v m="$originals" -v r="$referred" -v pb="$PENDING_BASE" \
        -v hb="$HISTORY_BASE" -v t0="$(date -u +%FT%TZ)" -v terms="$has_terms" <<SQL
$helper_sql
begin;
create temp table s on commit drop as
select c,
       c > :m as referred,
       c <= :m and c % 20 = 5 as veteran,
       case when c > :m then 1 + ((c - :m - 1)::bigint * 7919) % :m
            when c % 20 = 5 then c - 1 end::int as referrer,
       case when c > :m then c - :m else :r + c end as referral_id,
       c <= :m and c % 3 = 0 and c % 20 <> 5 as guest,
       case when c <= :m and c % 10 = 0 then 50 else 0 end as bonus,
       -- originals joined ~400 days ago, referred friends within the last 60 days
       case when c > :m then :'t0'::timestamptz - interval '60 days'
            else :'t0'::timestamptz - interval '400 days' end
         + ((c::bigint * 37) % 2592000) * interval '1 second' as created
from generate_series(:lo, :hi) c;

insert into customers (id, name, phone, email, password_hash, is_guest, customer_type, district,
                       referred_by_customer_id, referred_by_code, referred_channel, referred_at,
                       referral_campaign_id, created_at, updated_at)
select c, 'Bench Customer ' || c,
       -- +8801[3-9]XXXXXXXX, unique per id
       '+8801' || (3 + c / 100000000 % 7) || lpad((c % 100000000)::text, 8, '0'),
       case when guest then null else 'c' || c || '@bench.example' end,
       case when guest then null else '\$argon2id\$v=19\$m=19456,t=2,p=1\$YmVuY2g\$bench-not-a-real-hash' end,
       guest, 'retail', 'Dhaka', referrer,
       case when referrer is not null then 'REF' || lpad(referrer::text, 6, '0') end,
       case when referrer is not null then 'whatsapp' end,
       case when referrer is not null then created end,
       case when referrer is not null then (select id from referral_campaigns where is_default) end,
       created, created
from s order by c;

insert into customer_wallets (id, customer_id, balance, total_earned, total_spent, created_at, updated_at)
select c, c, bonus, bonus, 0, created, created from s;

insert into wallet_transactions (id, wallet_id, customer_id, idempotency_key, transaction_type, amount,
                                 source, description, balance_after, created_at)
select c / 10, c, c, 'bench:bonus:' || c, 'credit', bonus, 'bonus', 'Welcome bonus', bonus, created
from s where bonus > 0;

\if :terms
  \set terms_column ', reward_terms'
  \set terms_value ', (select campaign_terms(id, null) from referral_campaigns where is_default)'
\else
  \set terms_column ''
  \set terms_value ''
\endif
insert into customer_referrals (id, referrer_customer_id, referred_customer_id, referral_code,
                                share_code_used, source_channel, campaign_id, status, reward_type,
                                reward_amount, referred_reward_amount, created_at :terms_column)
select referral_id, referrer, c, pg_temp.invite_code(referral_id), 'REF' || lpad(referrer::text, 6, '0'),
       'whatsapp', (select id from referral_campaigns where is_default), 'registered', 'wallet',
       100, 0, created :terms_value
from s where referrer is not null;

-- the referred friend's first order, pending, placed a day after the referral
insert into sales_orders (id, sales_order_number, customer_id, status, total_amount, created_at, updated_at)
select :pb + c, 'SO-' || (:pb + c), c, 'pending', 500 + (c % 50) * 10,
       created + interval '1 day', created + interval '1 day'
from s where referred;

-- history: 3 in 4 originals have a delivered order, 1 in 4 a second one; a veteran's
-- orders stay pending until the completion pass below delivers them
insert into sales_orders (id, sales_order_number, customer_id, status, total_amount, delivered_at,
                          created_at, updated_at)
select :hb + 2 * c + k, 'SO-' || (:hb + 2 * c + k), c,
       case when veteran then 'pending' else 'delivered' end::order_status_enum,
       300 + (c % 70) * 10,
       case when not veteran then created + (10 * k + 13) * interval '1 day' end,
       created + (10 * k + 10) * interval '1 day', created + (10 * k + 13) * interval '1 day'
from s cross join generate_series(0, 1) k
where not referred and c % 4 <> 0 and (k = 0 or c % 4 = 1);
commit;
SQL
    progress "$hi" "$total"
done
if [[ -t 2 ]]; then echo >&2; fi
echo "generate: loaded in $(( SECONDS - started )) s"

# ---- identities --------------------------------------------------------------------------------
# Rows were inserted with explicit ids: move each identity past them so the server's own
# inserts (ledger rows, events, new customers) never collide.
move_identities() {
    psql_db -o /dev/null <<'SQL'
select setval(pg_get_serial_sequence('customers', 'id'),
              coalesce((select max(id) from customers), 0) + 1, false);
select setval(pg_get_serial_sequence('customer_wallets', 'id'),
              coalesce((select max(id) from customer_wallets), 0) + 1, false);
select setval(pg_get_serial_sequence('wallet_transactions', 'id'),
              coalesce((select max(id) from wallet_transactions), 0) + 1, false);
select setval(pg_get_serial_sequence('customer_referrals', 'id'),
              coalesce((select max(id) from customer_referrals), 0) + 1, false);
SQL
}
move_identities

# ---- completed referral history ------------------------------------------------------------
# Veterans' first orders are delivered with the server's own statement (apply_order_status
# with upsert false and nulls for the rest, padded to its arity), in chunks; statistics are
# refreshed after each chunk so that later chunks plan with completed referrals in view.
nargs=$(psql_db -At -c "select pronargs from pg_proc where proname = 'apply_order_status'")
[[ $nargs =~ ^[0-9]+$ ]] || { echo "generate.sh: apply_order_status not found (or overloaded)" >&2; exit 1; }
nulls=$(printf ', null%.0s' $(seq $(( nargs - 3 ))))
veterans=$(( (originals + 15) / 20 ))
echo "generate: completing $veterans earlier referrals through apply_order_status"
psql_db -c "analyze customer_referrals, sales_orders, customers, customer_wallets"
chunk=$BATCH
progress 0 "$originals"
for (( lo = 1; lo <= originals; lo += chunk )); do
    hi=$(( lo + chunk - 1 < originals ? lo + chunk - 1 : originals ))
    completed=$(psql_db -At -v lo="$lo" -v hi="$hi" -v hb="$HISTORY_BASE" <<SQL
select count(a.completed_referral_id)
from (select c from generate_series(:lo, :hi) c where c % 20 = 5) v
cross join lateral apply_order_status(:hb + 2 * v.c, 'delivered', false$nulls) a;
-- the veteran's second order, delivered later (no money moves: the referral is done)
update sales_orders set status = 'delivered', delivered_at = created_at + interval '3 days'
where id in (select :hb + 2 * c + 1 from generate_series(:lo, :hi) c where c % 20 = 5);
analyze customer_referrals;
SQL
)
    expected=$(( (hi + 15) / 20 - (lo - 1 + 15) / 20 ))
    if [[ $completed != "$expected" ]]; then
        echo "generate.sh: customers $lo..$hi: $completed referrals completed, expected $expected" >&2
        exit 1
    fi
    progress "$hi" "$originals"
done
if [[ -t 2 ]]; then echo >&2; fi
echo "generate: history completed at $(( SECONDS - started )) s"

# ---- the scale layer ----------------------------------------------------------------------------
if (( PARTNER_CUSTOMERS > 0 && PARTNERS == 0 )); then
    echo "generate.sh: PARTNER_CUSTOMERS needs PARTNERS" >&2
    exit 1
fi
if (( PARTNERS > 0 || ORDERS > 0 || REFERRALS > 0 )); then
    t0=$(date -u +%s)
    layout_orders=$(psql_db -At -c "select count(*) from sales_orders")
    layout_referrals=$(psql_db -At -c "select count(*) from customer_referrals")
    extra=$(( ORDERS > layout_orders ? ORDERS - layout_orders : 0 ))
    invitations=$(( REFERRALS > layout_referrals + PARTNER_CUSTOMERS ? REFERRALS - layout_referrals - PARTNER_CUSTOMERS : 0 ))
    if (( extra > 0 && originals + PARTNER_CUSTOMERS == 0 )); then
        echo "generate.sh: extra orders need customers to belong to" >&2
        exit 1
    fi
    echo "generate: scale layer: $PARTNERS partners, $PARTNER_CUSTOMERS partner customers," \
         "$extra extra orders, $invitations invitations (COPY FROM STDIN, $(basename "$AWK"))"
    psql_db -v n="$PARTNERS" -v t0="$t0" <<'SQL'
insert into referral_partners (id, code, partner_type, name, is_active, commission_amount,
                               commission_scope, commission_days, payout_method, payout_account,
                               created_at)
select md5('bench-partner-' || k)::uuid, 'BenchP' || lpad(k::text, 4, '0'),
       (array['influencer', 'influencer', 'community', 'delivery_rider', 'affiliate'])[1 + k % 5]::partner_type,
       'Bench Partner ' || k, true, 30, 'every_order', 365, 'bkash',
       '+88017' || lpad(k::text, 8, '0'), to_timestamp(:t0) - interval '400 days'
from generate_series(1, :n) k;
SQL
    mkdir -p "$OUT"
    psql_db -At -F $'\t' -c "select id, code from referral_partners where code like 'BenchP%' order by code" \
        >"$OUT/partners.tsv"
    campaign=$(psql_db -At -c "select id from referral_campaigns where is_default")
    tty=0; [[ -t 2 ]] && tty=1
    # scale TABLE AWK-TABLE COLUMNS: one COPY of the awk's rows.
    scale() {
        "$AWK" -f "$BENCH_DIR/scale.awk" -v table="$2" -v t0="$t0" -v total="$total" \
            -v originals="$originals" -v pcust="$PARTNER_CUSTOMERS" -v extra="$extra" \
            -v invitations="$invitations" -v clicks="$CLICKS_PER_SIGNUP" \
            -v partners="$OUT/partners.tsv" -v campaign="$campaign" -v progress=1 -v tty="$tty" |
            PGOPTIONS="-c session_replication_role=replica" psql_db -c "copy $1 ($3) from stdin"
    }
    scale customers customers "id, name, phone, email, password_hash, is_guest, customer_type, district,
        referred_by_code, referred_by_partner_id, referred_channel, referred_at, referral_campaign_id,
        created_at, updated_at"
    scale customer_wallets wallets "id, customer_id, balance, total_earned, total_spent, created_at, updated_at"
    scale sales_orders orders "id, sales_order_number, customer_id, status, total_amount, refunded_amount,
        delivered_at, created_at, updated_at"
    scale customer_referrals referrals "id, referred_customer_id, referral_code, share_code_used,
        source_channel, campaign_id, partner_id, qualifying_order_id, status, reward_type,
        first_order_placed, first_order_date, created_at, completed_at, completions, released_at,
        utm_source, utm_campaign"
    scale customer_referrals invitations "id, referrer_customer_id, referred_phone, referral_code,
        share_code_used, source_channel, campaign_id, status, created_at"
    scale referral_events events "event_type, referral_id, referred_customer_id, order_id,
        share_code_used, partner_code, source_channel, created_at"
    scale partner_commissions commissions "partner_id, order_id, customer_id, referral_id, status,
        base_amount, amount, release_at, released_at, voided_at, reversal_reason, created_at,
        updated_at"
    move_identities
    # The foreign keys the COPYs did not check row by row, checked once (each an anti-join).
    orphans=$(psql_db -At <<'SQL'
select (select count(*) from sales_orders o where o.id >= 300000000
          and not exists (select 1 from customers c where c.id = o.customer_id))
     + (select count(*) from customer_referrals r where r.partner_id is not null
          and not exists (select 1 from customers c where c.id = r.referred_customer_id))
     + (select count(*) from customer_referrals r where r.qualifying_order_id is not null
          and not exists (select 1 from sales_orders o where o.id = r.qualifying_order_id))
     + (select count(*) from partner_commissions pc
          where not exists (select 1 from sales_orders o where o.id = pc.order_id))
     + (select count(*) from customers c
          where not exists (select 1 from customer_wallets w where w.customer_id = c.id));
SQL
)
    if [[ $orphans != 0 ]]; then
        echo "generate.sh: the scale layer left $orphans rows without what they refer to" >&2
        exit 1
    fi
    # The COPYs ran with the triggers off: the KPI counters are recomputed from the tables
    # (the migration's backfill, kpi_rebuild), and the orders of the partner customers are
    # stamped with their partner (the partner-orders migration's backfill).
    psql_db -c "select kpi_rebuild()"
    if [[ $(psql_db -At -c "select count(*) from pg_proc where proname = 'stamp_partner_orders'") != 0 ]]; then
        psql_db -c "analyze customer_referrals, sales_orders" \
                -c "select stamp_partner_orders(array(
            select referred_customer_id from customer_referrals
            where partner_id is not null and referred_customer_id is not null))"
    fi
    echo "generate: scale layer loaded at $(( SECONDS - started )) s"
fi

# ---- the outbox -------------------------------------------------------------------------------
# The history's messages were sent long ago: the deliveries above queued a share nudge per
# delivered order (about 200,000 at the defaults) and a message per veteran completion.
# Left queued, the server's dispatcher sends them during the measured runs, and every
# read is measured beside a backlog being drained (it was, until 2026-12-03).
psql_db -c "delete from outbound_messages" >/dev/null

# ---- statistics, checkpoint ------------------------------------------------------------------
psql_db <<'SQL'
vacuum (analyze) outbound_messages, customers, customer_wallets, wallet_transactions,
                 customer_referrals, sales_orders, referral_events, referral_partners,
                 partner_commissions, customer_order_totals, kpi_deltas, kpi_totals;
checkpoint;
SQL

mkdir -p "$OUT"
cat >"$OUT/dataset.env" <<EOF
# written by bench/generate.sh on $(date -u +%FT%TZ)
BENCH_DB=$BENCH_DB
DATASET_CUSTOMERS=$total
DATASET_REFERRED=$referred
DATASET_ORIGINALS=$originals
PENDING_ORDER_LO=$(( PENDING_BASE + originals + 1 ))
PENDING_ORDER_HI=$(( PENDING_BASE + total ))
HTTP_ORDER_LO=$http_lo
HTTP_ORDER_HI=$http_hi
PGBENCH_ORDER_LO=$pgb_lo
PGBENCH_ORDER_HI=$pgb_hi
DATASET_PARTNERS=$PARTNERS
DATASET_PARTNER_CUSTOMERS=$PARTNER_CUSTOMERS
EOF

psql_db -P footer=off <<'SQL'
select (select count(*) from customers) as customers,
       (select count(*) from customer_wallets) as wallets,
       (select count(*) from customer_referrals where status = 'registered') as registered_referrals,
       (select count(*) from sales_orders where status = 'pending') as pending_orders,
       (select count(*) from sales_orders where status = 'delivered') as delivered_orders,
       (select count(*) from sales_orders) as orders,
       (select count(*) from customer_referrals) as referrals,
       (select count(*) from referral_partners) as partners,
       (select count(*) from wallet_transactions) as ledger_rows,
       pg_size_pretty(pg_database_size(current_database())) as db_size;
SQL
echo "generate: HTTP pool orders $http_lo..$http_hi, pgbench pool orders $pgb_lo..$pgb_hi"
echo "generate: done in $(( SECONDS - started )) s"
