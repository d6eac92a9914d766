#!/usr/bin/env bash
# The partner report at scale (issue 11: "under 100 ms with 1 million orders and 200
# partners; show the plan"), in one command:
#
#   PGPORT=5434 bench/partner-report.sh
#
# 1. builds the release binary (SKIP_BUILD=1 reuses it);
# 2. loads a scratch database with bench/generate.sh: by default 100,000 base customers,
#    200 partners, 100,000 partner customers and 1,000,000 orders in all (SKIP_GENERATE=1
#    reuses the database);
# 3. prints EXPLAIN (ANALYZE, BUFFERS) of every statement of the report, taken from the
#    committed query data (.sqlx, the very text the server prepares), for the partner with
#    the most customers, unwindowed (the worst case) and over the last 30 days, under both
#    the custom and the generic plan (a pooled connection switches to the generic plan
#    after five executions), into bench/partner-report-plans.txt;
# 4. starts `bondhu serve` on that database and measures the report route's latency through
#    HTTP with curl on one kept-alive connection: every partner once in turn (REQUESTS,
#    default 400), the biggest partner alone, and a 30-day window, after a warm-up pass;
#    prints p50 / p95 / p99 / max and appends the summary to bench/partner-report-plans.txt.
#
# Loopback only; bounded: REQUESTS requests per series. Needs psql, curl, jq, awk.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH_DIR")
PGHOST=${PGHOST:-127.0.0.1}
PGPORT=${PGPORT:-5432}
PGUSER=${PGUSER:-postgres}
export PGHOST PGPORT PGUSER
BENCH_DB=${BENCH_DB:-bondhu_partner_bench}
CUSTOMERS=${CUSTOMERS:-100000}
PARTNERS=${PARTNERS:-200}
PARTNER_CUSTOMERS=${PARTNER_CUSTOMERS:-100000}
ORDERS=${ORDERS:-1000000}
REQUESTS=${REQUESTS:-400}
TARGET_MS=${TARGET_MS:-100}
SKIP_BUILD=${SKIP_BUILD:-0}
SKIP_GENERATE=${SKIP_GENERATE:-0}
BIN=${BONDHU_BIN:-$ROOT/target/release/bondhu}
OUT=${OUT:-$BENCH_DIR/out/partner-report}
PLANS=${PLANS:-$BENCH_DIR/partner-report-plans.txt}
export DATABASE_URL="postgres://$PGUSER@$PGHOST:$PGPORT/$BENCH_DB"

die() { echo "partner-report.sh: $*" >&2; exit 1; }
log() { echo "partner-report: $*" >&2; }
psql_db() { psql -X -q -v ON_ERROR_STOP=1 -d "$BENCH_DB" "$@"; }
mkdir -p "$OUT"
for tool in psql curl jq; do command -v "$tool" >/dev/null || die "$tool is needed"; done

if [[ $SKIP_BUILD != 1 ]]; then
    log "building the release binary"
    (cd "$ROOT" && SQLX_OFFLINE=true cargo build --release --quiet)
fi
if [[ $SKIP_GENERATE != 1 ]]; then
    log "loading $ORDERS orders, $PARTNERS partners into $BENCH_DB"
    BENCH_DB=$BENCH_DB CUSTOMERS=$CUSTOMERS PARTNERS=$PARTNERS PARTNER_CUSTOMERS=$PARTNER_CUSTOMERS \
        ORDERS=$ORDERS OUT=$OUT BONDHU_BIN=$BIN "$BENCH_DIR/generate.sh" 2>&1 | tee "$OUT/generate.log" >&2
fi
# The history's share nudges (queued by its delivered orders) would keep the dispatcher busy
# during the measurement: this is a scratch database, so they go.
psql_db -c "delete from outbound_messages where status = 'queued'"

# ---- the data ------------------------------------------------------------------------------
read -r orders partners_n events referrals <<<"$(psql_db -At -F ' ' -c "
    select (select count(*) from sales_orders), (select count(*) from referral_partners),
           (select count(*) from referral_events), (select count(*) from customer_referrals)")"
read -r top_id top_code top_customers top_orders <<<"$(psql_db -At -F ' ' -c "
    select p.id, p.code, count(*),
           (select count(*) from sales_orders o where o.partner_id = p.id)
    from referral_partners p
    join customer_referrals r on r.partner_id = p.id
    group by p.id, p.code order by count(*) desc limit 1")"
month_ago=$(date -u -d '30 days ago' +%FT%TZ)
log "$orders orders, $partners_n partners, $referrals referrals, $events events;" \
    "the biggest partner $top_code: $top_customers customers, $top_orders orders"

# ---- the plans -----------------------------------------------------------------------------
# The statements, as the server prepares them: from the query data of src/db/partner_reports.rs
# and the partner lookup of src/db/partners.rs.
query_of() {
    local marker=$1 file
    file=$(grep -l -F -- "$marker" "$ROOT"/.sqlx/query-*.json | head -n 1)
    [[ -n $file ]] || die "no query data holds '$marker' (run cargo sqlx prepare)"
    jq -r .query "$file"
}
funnel_sql=$(query_of 'with refs as materialized')
order_numbers_sql=$(query_of 'with orders as (')
orders_sql=$(query_of 'where o.id = any($1)')
utm_sql=$(query_of 'group by r.utm_source, r.utm_campaign')
# db::partners::find_by_code: the one lookup by code that ends there (not `and is_active`).
lookup_sql=$(jq -r 'select(.query | test("from referral_partners where lower\\(code\\) = lower\\(\\$1\\)\\s*$")) | .query' \
    "$ROOT"/.sqlx/query-*.json | head -c 100000)
[[ -n $lookup_sql ]] || die "no query data of db::partners::find_by_code (run cargo sqlx prepare)"
ids=$(psql_db -At -c "
    select coalesce(string_agg(id::text, ','), '') from (
        select o.id from sales_orders o where o.partner_id = '$top_id'
        order by o.created_at desc, o.id desc limit 50) t")

# Without parallel workers, as the server plans them (db::partner_reports::plan_for_report:
# it reads the report's two halves at once on two connections).
explain() { # title, prepared statement, its parameter types, its arguments
    local title=$1 sql=$2 types=$3 args=$4 mode
    for mode in force_custom_plan force_generic_plan; do
        echo "---- $title ($mode)"
        psql_db -At <<SQL
set plan_cache_mode = $mode;
set max_parallel_workers_per_gather = 0;
prepare q ($types) as $sql;
explain (analyze, buffers, costs off, timing on) execute q ($args);
SQL
        echo
    done
}
{
    echo "# Partner report plans: $(date -u +%FT%TZ), commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
    echo "# $orders orders, $partners_n partners, $referrals referrals, $events events; the biggest"
    echo "# partner $top_code ($top_customers customers, $top_orders orders since their signups)."
    echo "# PostgreSQL $(psql_db -At -c 'show server_version'), shared_buffers $(psql_db -At -c 'show shared_buffers')."
    echo "# Generated by bench/partner-report.sh; each plan once warm, custom and generic."
    echo
    explain "partner lookup by code" "$lookup_sql" "text" "'${top_code,,}'"
    explain "funnel numbers, $top_code, no window" "$funnel_sql" "uuid, text, timestamptz, timestamptz" \
        "'$top_id', '$top_code', null, null"
    explain "funnel numbers, $top_code, last 30 days" "$funnel_sql" "uuid, text, timestamptz, timestamptz" \
        "'$top_id', '$top_code', '$month_ago', null"
    explain "order numbers, $top_code, no window" "$order_numbers_sql" "uuid, timestamptz, timestamptz, int8" \
        "'$top_id', null, null, 50"
    explain "order numbers, $top_code, last 30 days" "$order_numbers_sql" "uuid, timestamptz, timestamptz, int8" \
        "'$top_id', '$month_ago', null, 50"
    explain "orders by id (the 50 newest of $top_code)" "$orders_sql" "int4[]" "'{$ids}'"
    explain "by_utm, $top_code, no window" "$utm_sql" "uuid, timestamptz, timestamptz, int8" \
        "'$top_id', null, null, 100"
} >"$OUT/plans.txt" 2>&1
# Seq scans, by table, with the table's size: the planner reads a table of a few pages
# (the partners) whole rather than through its index; anything bigger is a defect.
seq_tables=$( { grep -o 'Seq Scan on [a-z_]*' "$OUT/plans.txt" || true; } | awk '{ print $4 }' | sort -u)
seq_scans="no seq scan"
if [[ -n $seq_tables ]]; then
    seq_scans="seq scans on:"
    for table in $seq_tables; do
        seq_scans+=" $table ($(psql_db -At -c "select reltuples::bigint || ' rows, ' || relpages || ' pages'
            from pg_class where relname = '$table'"))"
    done
fi
log "plans: $seq_scans"

# ---- the server ----------------------------------------------------------------------------
free_port() {
    local port
    for port in $(shuf -i 20000-60000 -n 50); do
        if [[ -z $(ss -Htln "sport = :$port") ]]; then echo "$port"; return; fi
    done
    die "no free port found"
}
PORT=$(free_port)
BASE_URL="http://127.0.0.1:$PORT"
server_pid=""
cleanup() {
    if [[ -n $server_pid ]]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
}
trap cleanup EXIT
HOST=127.0.0.1 PORT=$PORT RUST_LOG=warn LOG_FORMAT=pretty "$BIN" serve >"$OUT/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 100); do
    curl -fsS "$BASE_URL/healthz" >/dev/null 2>&1 && break
    kill -0 "$server_pid" 2>/dev/null || die "the server exited; see $OUT/server.log"
    sleep 0.1
done
curl -fsS "$BASE_URL/healthz" >/dev/null || die "the server did not become healthy"
admin_id=$(psql_db -At -c "select id from users where email = 'bench-report@bench.example'")
if [[ -z $admin_id ]]; then
    created=$(head -c 24 /dev/urandom | base64 |
        "$BIN" user create --role admin --email bench-report@bench.example --name 'Report bench')
    admin_id=$(sed -n 's/^created user \([0-9]*\) .*/\1/p' <<<"$created")
fi
TOKEN=$("$BIN" token --role admin --id "$admin_id")
PARTNER_TOKEN=$("$BIN" token --role partner --id "$top_code")
mapfile -t codes < <(psql_db -At -c "select code from referral_partners order by code")

# series NAME TOKEN URL...: every URL once, on one kept-alive connection; prints
# "NAME n p50 p95 p99 max" in milliseconds (curl's time_total per request).
series() {
    local name=$1 token=$2
    shift 2
    local config=$OUT/$name.curl
    : >"$config"
    local url
    for url in "$@"; do printf 'url = "%s"\noutput = "/dev/null"\n' "$url" >>"$config"; done
    curl -s -H "Authorization: Bearer $token" -w '%{http_code} %{time_total}\n' -K "$config" \
        >"$OUT/$name.times"
    if grep -qv '^200 ' "$OUT/$name.times"; then
        die "$name: a request failed: $(grep -v '^200 ' "$OUT/$name.times" | head -n 3)"
    fi
    awk '{ print $2 * 1000 }' "$OUT/$name.times" | sort -n | awk -v name="$name" '
        { v[NR] = $1 }
        function at(p,   i) { i = int(p * NR + 0.999999); if (i < 1) i = 1; return v[i] }
        END { printf "%-22s %5d  %7.2f %7.2f %7.2f %7.2f\n", name, NR, at(0.5), at(0.95), at(0.99), v[NR] }'
}
urls_every() { # the report of every partner in turn, REQUESTS requests, with QUERY
    local query=$1 i
    for (( i = 0; i < REQUESTS; i++ )); do
        echo "$BASE_URL/api/loyalty/referral-partners/${codes[i % ${#codes[@]}]}/report$query"
    done
}
log "warming up (every partner once)"
mapfile -t warm < <(REQUESTS=${#codes[@]} urls_every "")
series warmup "$TOKEN" "${warm[@]}" >/dev/null
mapfile -t every < <(urls_every "")
mapfile -t every_month < <(urls_every "?from=$month_ago")
mapfile -t top < <(for (( i = 0; i < REQUESTS / 4; i++ )); do
    echo "$BASE_URL/api/loyalty/referral-partners/$top_code/report"; done)
mapfile -t mine < <(for (( i = 0; i < REQUESTS / 4; i++ )); do
    echo "$BASE_URL/api/partners/me/report"; done)
{
    echo "series                     n   p50 ms  p95 ms  p99 ms  max ms"
    series every_partner "$TOKEN" "${every[@]}"
    series every_partner_30d "$TOKEN" "${every_month[@]}"
    series biggest_partner "$TOKEN" "${top[@]}"
    series partner_self_service "$PARTNER_TOKEN" "${mine[@]}"
} | tee "$OUT/latency.txt"
p95=$(awk '$1 == "every_partner" { print $4 }' "$OUT/latency.txt")
verdict=$(awk -v p="$p95" -v t="$TARGET_MS" 'BEGIN { print (p < t) ? "ok" : "ABOVE" }')
{
    cat "$OUT/plans.txt"
    echo "# Latency through HTTP (bondhu serve, curl on one connection, after a warm-up pass):"
    sed 's/^/# /' "$OUT/latency.txt"
    echo "# every_partner p95 $p95 ms (target < $TARGET_MS ms: $verdict); plans: $seq_scans"
} >"$PLANS"
log "every partner p95 $p95 ms (target < $TARGET_MS ms: $verdict); plans: $seq_scans; written to $PLANS"
