#!/usr/bin/env bash
# The Bondhu benchmark, in one command:
#
#   bench/run.sh
#
# builds the release binary, regenerates the bench database (bench/generate.sh), starts
# the server on a free loopback port, and measures, at each concurrency in CONCURRENCIES:
#   (a) POST /api/orders/{id}/status delivered (wrk, one distinct pending order per request)
#       against pgbench running the server's statement on other pending orders;
#   (b) GET /api/loyalty/me/wallet (wrk, random among TOKENS customer tokens) against
#       pgbench running the server's statement for the same customers;
#   (c) GET /api/loyalty/me/referrals/stats the same way, also against (b).
# It samples the server's RSS, checks the money invariants afterwards, and writes the
# summary to bench/out/summary.txt (bench/out/ is git-ignored). See bench/README.md.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH_DIR")

# ---- knobs -------------------------------------------------------------------------------
DURATION=${DURATION:-10}                 # seconds per measured run
CONCURRENCIES=${CONCURRENCIES:-"16 64"}  # HTTP connections = pgbench clients
PATHS=${PATHS:-"deliver wallet stats"}   # which of the measured paths to run
WRK_THREADS=${WRK_THREADS:-2}
PGBENCH_JOBS=${PGBENCH_JOBS:-2}
TOKENS=${TOKENS:-256}                    # customer tokens for the wallet read
CUSTOMERS=${CUSTOMERS:-100000}           # at least; grown to fit the order pools
MAX_DELIVERY_RPS=${MAX_DELIVERY_RPS:-5000}  # order pools are sized for this rate
SERVER_DB_CONNECTIONS=${SERVER_DB_CONNECTIONS:-16}  # the server's DATABASE_MAX_CONNECTIONS
BENCH_DB=${BENCH_DB:-bondhu_bench}
SKIP_BUILD=${SKIP_BUILD:-0}              # 1: use the existing target/release/bondhu
SKIP_GENERATE=${SKIP_GENERATE:-0}        # 1: reuse the database (only if its pools are unused)
WAIT_IDLE=${WAIT_IDLE:-60}               # wait up to this many seconds for a quiet CPU
READ_ROUNDS=${READ_ROUNDS:-3}            # interleaved rounds of the two reads (medians reported)
PGHOST=${PGHOST:-127.0.0.1}
PGPORT=${PGPORT:-5432}
PGUSER=${PGUSER:-postgres}
export PGHOST PGPORT PGUSER BENCH_DB

# Targets: server throughput as a share of pgbench's, and peak memory.
TARGET_DELIVER=0.75
TARGET_WALLET=0.5
# The referral stats read, as a share of the wallet read's throughput.
TARGET_STATS_OF_WALLET=0.8
TARGET_RSS_MIB=100

OUT=$BENCH_DIR/out
RUN_DIR=$OUT/last-run                    # raw outputs of this run
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/bondhu
export JWT_SECRET=${JWT_SECRET:-bench-secret-0123456789abcdef0123456789}
DATABASE_URL="postgres://$PGUSER@$PGHOST:$PGPORT/$BENCH_DB"
export DATABASE_URL

read -r -a concurrencies <<<"$CONCURRENCIES"
read -r -a paths <<<"$PATHS"
# measures PATH: whether PATHS names it
measures() { [[ " ${paths[*]} " == *" $1 "* ]]; }
nruns=${#concurrencies[@]}

log() { printf '\n== %s  %s\n' "$(date +%T)" "$*"; }
die() { echo "run.sh: $*" >&2; exit 1; }
psql_db() { psql -X -q -v ON_ERROR_STOP=1 -d "$BENCH_DB" "$@"; }
# value KEY FILE: the value of KEY=... on the WRK_RESULT line of FILE
value() { grep -o "WRK_RESULT.*" "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
# fmt_ms MICROSECONDS: as milliseconds with 2 decimals
fmt_ms() { awk -v us="$1" 'BEGIN { printf "%.2f", us / 1000 }'; }

# ---- tools ---------------------------------------------------------------------------------
if ! command -v wrk >/dev/null; then
    log "installing wrk (Debian package)"
    apt-get update -qq && apt-get install -y -qq wrk >/dev/null
fi
for tool in wrk pgbench psql curl jq ss; do
    command -v "$tool" >/dev/null || die "$tool is required"
done

# One run at a time: runs share the bench database, bench/out and the CPU.
mkdir -p "$OUT"
exec 9>"$OUT/.lock"
flock -n 9 || die "another bench/run.sh is running (it holds $OUT/.lock)"

started=$SECONDS
rm -rf "$RUN_DIR"
mkdir -p "$RUN_DIR"

# ---- build and data ------------------------------------------------------------------------
if [[ $SKIP_BUILD != 1 ]]; then
    log "cargo build --release"
    # (waits for cargo's lock on target/ while someone else's cargo build or test runs)
    # Without the bench's DATABASE_URL: sqlx's macros check queries against the database it
    # names (or .sqlx/), which must be the developers' database, not the bench one.
    (cd "$ROOT" && env -u DATABASE_URL cargo build --release --quiet)
fi
build_seconds=$(( SECONDS - started ))
[[ -x $BIN ]] || die "$BIN is missing"

# Each pool (HTTP, pgbench) must hold a distinct order for every delivery of every run.
orders_per_pool=$(( MAX_DELIVERY_RPS * DURATION * nruns ))
if [[ $SKIP_GENERATE != 1 ]]; then
    log "generating data"
    CUSTOMERS=$CUSTOMERS ORDERS_PER_POOL=$orders_per_pool BONDHU_BIN=$BIN OUT=$OUT \
        "$BENCH_DIR/generate.sh"
fi
generate_seconds=$(( SECONDS - started - build_seconds ))
# shellcheck source=/dev/null
source "$OUT/dataset.env"

# ---- server --------------------------------------------------------------------------------
free_port() {
    local port
    for port in $(shuf -i 20000-60000 -n 50); do
        if [[ -z $(ss -Htln "sport = :$port") ]]; then
            echo "$port"
            return
        fi
    done
    die "no free port found"
}
PORT=$(free_port)
BASE_URL="http://127.0.0.1:$PORT"

server_pid=""
sampler_pid=""
cleanup() {
    if [[ -n $sampler_pid ]]; then kill "$sampler_pid" 2>/dev/null || true; fi
    if [[ -n $server_pid ]]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
}
trap cleanup EXIT

log "starting the server on 127.0.0.1:$PORT (DATABASE_MAX_CONNECTIONS=$SERVER_DB_CONNECTIONS)"
HOST=127.0.0.1 PORT=$PORT RUST_LOG=warn LOG_FORMAT=pretty \
    DATABASE_MAX_CONNECTIONS=$SERVER_DB_CONNECTIONS \
    "$BIN" serve >"$RUN_DIR/server.log" 2>&1 9>&- &
server_pid=$!
for _ in $(seq 100); do
    curl -fsS "$BASE_URL/healthz" >/dev/null 2>&1 && break
    kill -0 "$server_pid" 2>/dev/null || die "the server exited; see $RUN_DIR/server.log"
    sleep 0.1
done
curl -fsS "$BASE_URL/healthz" >/dev/null || die "the server did not become healthy"

# RSS sampler: the largest VmRSS seen while the server runs (kB), every 100 ms.
rss_file=$RUN_DIR/rss_max_kb
echo 0 >"$rss_file"
(
    max=0
    while kill -0 "$server_pid" 2>/dev/null; do
        rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$server_pid/status" 2>/dev/null || echo 0)
        if (( ${rss:-0} > max )); then max=$rss; echo "$max" >"$rss_file"; fi
        sleep 0.1
    done
) &
sampler_pid=$!

# ---- tokens --------------------------------------------------------------------------------
log "tokens: 1 admin, $TOKENS customers"
# A server that checks the staff account behind every token (it has `bondhu user`) needs a
# real admin user; an older one accepts any staff id.
admin_id=1
# A reused database (SKIP_GENERATE=1) already has it.
existing=$(psql_db -tAc "select id from users where email = 'bench-admin@bench.example'" 2>/dev/null || true)
if [[ -n $existing ]]; then
    admin_id=$existing
elif "$BIN" user --help >/dev/null 2>&1; then
    created=$(head -c 24 /dev/urandom | base64 |
        "$BIN" user create --role admin --email bench-admin@bench.example --name 'Bench admin')
    admin_id=$(sed -n 's/^created user \([0-9]*\) .*/\1/p' <<<"$created")
    [[ -n $admin_id ]] || die "could not create the admin user: $created"
fi
ADMIN_TOKEN=$("$BIN" token --role admin --id "$admin_id")
export ADMIN_TOKEN
# Customers 1, 1 + stride, ... spread over originals and referred friends alike.
stride=$(( DATASET_CUSTOMERS / TOKENS ))
(( stride >= 1 )) || die "TOKENS must not exceed the number of customers"
TOKENS_FILE=$RUN_DIR/customer_tokens.txt
export TOKENS_FILE
seq 0 $(( TOKENS - 1 )) | awk -v s="$stride" '{ print 1 + $1 * s }' |
    xargs -P 2 -I{} "$BIN" token --role customer --id {} >"$TOKENS_FILE"
[[ $(wc -l <"$TOKENS_FILE") -eq $TOKENS ]] || die "could not make $TOKENS customer tokens"

# ---- smoke test: one delivery and one wallet read, checked by hand ---------------------------
# Delivers the first order of the HTTP pool; the measured HTTP runs start after it.
smoke_order=$HTTP_ORDER_LO
# A reused database (SKIP_GENERATE=1) measured without the delivered path may have
# delivered it already: then only the read is checked.
smoke_pending=$(psql_db -tAc "select count(*) from sales_orders where id = $smoke_order and status = 'pending'")
if [[ $smoke_pending == 1 ]] || measures deliver; then
    status=$(curl -sS -o "$RUN_DIR/smoke_deliver.json" -w '%{http_code}' -X POST \
        -H "Authorization: Bearer $ADMIN_TOKEN" -H 'Content-Type: application/json' \
        -d '{"status":"delivered"}' "$BASE_URL/api/orders/$smoke_order/status")
    [[ $status == 200 ]] || die "smoke delivery of order $smoke_order: HTTP $status $(cat "$RUN_DIR/smoke_deliver.json")"
    [[ $(jq -r '.completedReferralId' "$RUN_DIR/smoke_deliver.json") != null ]] ||
        die "smoke delivery completed no referral: $(cat "$RUN_DIR/smoke_deliver.json")"
else
    echo "smoke delivery skipped: order $smoke_order was delivered by an earlier run"
fi
status=$(curl -sS -o "$RUN_DIR/smoke_wallet.json" -w '%{http_code}' \
    -H "Authorization: Bearer $(head -n 1 "$TOKENS_FILE")" "$BASE_URL/api/loyalty/me/wallet")
[[ $status == 200 ]] || die "smoke wallet read: HTTP $status $(cat "$RUN_DIR/smoke_wallet.json")"
echo "smoke test ok: wallet read 200"

# ---- measurement helpers ---------------------------------------------------------------------
# Each run's order range: pool i of nruns equal slices (the HTTP pool minus the smoke order).
http_lo=$(( HTTP_ORDER_LO + 1 ))
http_slice=$(( (HTTP_ORDER_HI - http_lo + 1) / nruns ))
pgb_slice=$(( (PGBENCH_ORDER_HI - PGBENCH_ORDER_LO + 1) / nruns ))

# pgbench_stats PREFIX: "p50_us p99_us" from pgbench's per-transaction logs (3rd field).
pgbench_stats() {
    cat "$1".* | awk '{ print $3 }' | sort -n | awk '
        { v[NR] = $1 }
        END {
            if (NR == 0) { print "0 0"; exit }
            i50 = int(NR * 0.50); if (i50 < NR * 0.50) i50++
            i99 = int(NR * 0.99); if (i99 < NR * 0.99) i99++
            print v[i50], v[i99]
        }'
}

# check_deliveries NAME LO HI COUNT: every delivered order in [LO, HI] completed its
# referral, and at least COUNT (the tool's completed requests) orders were delivered, all
# distinct. Prints "delivered completed" and fails the run when they disagree.
check_deliveries() {
    local name=$1 lo=$2 hi=$3 count=$4 delivered completed
    read -r delivered completed < <(psql_db -At -F ' ' -c "
        select count(*),
               count(*) filter (where r.status = 'completed' and r.qualifying_order_id = o.id)
        from sales_orders o
        left join customer_referrals r on r.referred_customer_id = o.customer_id  -- unique
        where o.id between $lo and $hi and o.status = 'delivered'")
    echo "$name: $count completed requests, $delivered orders delivered, $completed referrals completed"
    (( delivered == completed )) || die "$name: delivered orders without a completed referral"
    (( delivered >= count )) || die "$name: fewer orders delivered than transactions (orders reused?)"
    (( delivered < hi - lo + 1 )) || die "$name: the order pool ran out; raise MAX_DELIVERY_RPS"
}

# results[] lines: "path conc tool throughput p50_us p99_us mean_us cpu_us_per_request"
results=()

# server_cpu_ticks: user + system CPU time the server has used, in clock ticks
server_cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$server_pid/stat"; }
CLK_TCK=$(getconf CLK_TCK)

run_wrk() {  # NAME CONC LUA [ENV...]
    local name=$1 conc=$2 lua=$3 cpu_before
    shift 3
    psql_db -c checkpoint
    cpu_before=$(server_cpu_ticks)
    env "$@" WRK_THREADS="$WRK_THREADS" wrk -t "$WRK_THREADS" -c "$conc" -d "${DURATION}s" \
        --timeout 10s -s "$lua" "$BASE_URL" >"$RUN_DIR/$name.txt" 2>&1 ||
        die "wrk failed: $(cat "$RUN_DIR/$name.txt")"
    echo "SERVER_CPU_TICKS=$(( $(server_cpu_ticks) - cpu_before ))" >>"$RUN_DIR/$name.txt"
    grep -q WRK_RESULT "$RUN_DIR/$name.txt" || die "no wrk result in $RUN_DIR/$name.txt"
    local errors
    errors=$(( $(value status_errors "$RUN_DIR/$name.txt") + $(value socket_errors "$RUN_DIR/$name.txt") \
        + $(value timeouts "$RUN_DIR/$name.txt") ))
    if (( errors > 0 )); then
        die "$name: $errors failed requests (non-2xx, socket errors or timeouts); see $RUN_DIR/$name.txt and server.log"
    fi
    note_idle
}

run_pgbench() {  # NAME CONC SCRIPT [-D ...]
    local name=$1 conc=$2 script=$3
    shift 3
    psql_db -c checkpoint
    pgbench -n -M prepared -c "$conc" -j "$PGBENCH_JOBS" -T "$DURATION" -f "$script" \
        -l --log-prefix="$RUN_DIR/$name.log" "$@" "$BENCH_DB" >"$RUN_DIR/$name.txt" 2>&1 ||
        die "pgbench failed: $(cat "$RUN_DIR/$name.txt")"
    local failed
    failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$RUN_DIR/$name.txt")
    (( ${failed:-0} == 0 )) || die "$name: $failed failed transactions"
    note_idle
}

wrk_result() {  # PATH CONC NAME: append the wrk run's line to results[]
    local f=$RUN_DIR/$3.txt requests duration ticks
    requests=$(value requests "$f")
    duration=$(value duration_us "$f")
    ticks=$(sed -n 's/^SERVER_CPU_TICKS=//p' "$f")
    results+=("$1 $2 server $(awk -v r="$requests" -v d="$duration" 'BEGIN { printf "%.0f", r / (d / 1e6) }') $(value p50_us "$f") $(value p99_us "$f") $(value mean_us "$f") $(awk -v t="$ticks" -v hz="$CLK_TCK" -v r="$requests" 'BEGIN { printf "%.0f", t / hz * 1e6 / r }')")
}

pgbench_result() {  # PATH CONC NAME
    local f=$RUN_DIR/$3.txt tps stats mean_ms
    tps=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time)/\1/p' "$f")
    stats=$(pgbench_stats "$RUN_DIR/$3.log")
    mean_ms=$(sed -n 's/^latency average = \([0-9.]*\) ms/\1/p' "$f")
    results+=("$1 $2 pgbench $(printf '%.0f' "$tps") $stats $(awk -v m="$mean_ms" 'BEGIN { printf "%.0f", m * 1000 }') -")
}

pgbench_count() {  # NAME: transactions processed
    sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$RUN_DIR/$1.txt"
}

# cpu_idle_percent [SECONDS]: how idle both CPUs are over the next SECONDS (default 2)
cpu_idle_percent() {
    local a b total=0 i
    read -r -a a < <(grep '^cpu ' /proc/stat)
    sleep "${1:-2}"
    read -r -a b < <(grep '^cpu ' /proc/stat)
    for i in 1 2 3 4 5 6 7 8; do total=$(( total + b[i] - a[i] )); done
    echo $(( 100 * (b[4] + b[5] - a[4] - a[5]) / total ))
}
# Between runs the machine should be idle: the lowest idle share seen then tells whether
# something else ran during the measurements (checked for 1 s after every run).
idle_between=100
note_idle() {
    local idle
    idle=$(cpu_idle_percent 1)
    (( idle < idle_between )) && idle_between=$idle
    return 0
}

# ---- is the machine quiet? -------------------------------------------------------------------
# Other work on these 2 cores (a test suite, a build) skews every number: wait (a while)
# for the CPUs to be idle before the runs, and say in the summary how idle they were.
idle_before=$(cpu_idle_percent)
waited=0
while (( idle_before < 90 && waited < WAIT_IDLE )); do
    (( waited > 0 )) ||
        echo "CPU only $idle_before% idle (something else is running): waiting up to ${WAIT_IDLE}s"
    idle_before=$(cpu_idle_percent)
    waited=$(( waited + 2 ))
done
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
echo "CPU idle before the runs: $idle_before%"
if (( idle_before < 90 )); then
    echo "WARNING: something else is using the CPU ($(( 100 - idle_before ))%): results will be low and noisy" >&2
fi
bench_started=$SECONDS

# The pgbench script calls apply_order_status with the server's arguments: order id,
# 'delivered', upsert false, and null for the rest. Should the function gain parameters
# (the server passes null for them on this path too), pad the call to its arity.
DELIVER_PGBENCH=$BENCH_DIR/deliver.pgbench
nargs=$(psql_db -At -c "select pronargs from pg_proc where proname = 'apply_order_status'")
[[ $nargs =~ ^[0-9]+$ ]] || die "apply_order_status: expected one function, found: $nargs"
if (( nargs != 7 )); then
    nulls=$(printf ', null%.0s' $(seq $(( nargs - 3 ))))
    DELIVER_PGBENCH=$RUN_DIR/deliver.pgbench
    sed "s/false, null, null, null, null)/false$nulls)/" "$BENCH_DIR/deliver.pgbench" >"$DELIVER_PGBENCH"
    echo "apply_order_status takes $nargs arguments: pgbench runs $(grep apply_order_status "$DELIVER_PGBENCH")"
fi

# ---- (a) the delivered path ------------------------------------------------------------------
if measures deliver; then
    for i in "${!concurrencies[@]}"; do
        c=${concurrencies[$i]}
        lo=$(( http_lo + i * http_slice )); hi=$(( lo + http_slice - 1 ))
        log "deliver c=$c: wrk on orders $lo..$hi (${DURATION}s)"
        run_wrk "deliver_http_c$c" "$c" "$BENCH_DIR/deliver.lua" ORDER_LO="$lo" ORDER_HI="$hi"
        check_deliveries "deliver_http_c$c" "$lo" "$hi" "$(value requests "$RUN_DIR/deliver_http_c$c.txt")"
        wrk_result deliver "$c" "deliver_http_c$c"

        lo=$(( PGBENCH_ORDER_LO + i * pgb_slice )); hi=$(( lo + pgb_slice - 1 ))
        log "deliver c=$c: pgbench on orders $lo..$hi (${DURATION}s)"
        run_pgbench "deliver_pgbench_c$c" "$c" "$DELIVER_PGBENCH" -D n=0 -D lo="$lo" -D nclients="$c"
        check_deliveries "deliver_pgbench_c$c" "$lo" "$hi" "$(pgbench_count "deliver_pgbench_c$c")"
        pgbench_result deliver "$c" "deliver_pgbench_c$c"
    done
fi

# ---- (b) the wallet read and (c) the referral stats read ---------------------------------------
# GET /api/loyalty/me/wallet and GET /api/loyalty/me/referrals/stats over the same customer
# tokens, each against pgbench running its statement for the same customers; stats is also
# measured against the wallet read (target: within 20 % of its throughput). The two reads
# run interleaved, READ_ROUNDS rounds at each concurrency (wallet HTTP, stats HTTP, wallet
# pgbench, stats pgbench), so that the machine's drift over the minutes of the runs touches
# both alike: each figure is the median of its rounds, and stats / wallet the median of the
# rounds' ratios (each the ratio of two neighbouring runs).
read_paths=()
for path in wallet stats; do measures "$path" && read_paths+=("$path"); done
read_route() { [[ $1 == wallet ]] && echo /api/loyalty/me/wallet || echo /api/loyalty/me/referrals/stats; }
# last_throughput: the throughput of the run wrk_result or pgbench_result just added
last_throughput() { awk '{ print $4 }' <<<"${results[-1]}"; }
stats_of_wallet=()   # "conc ratio" per round
if (( ${#read_paths[@]} > 0 )); then
    log "read warm-up (2s, not measured)"
    DURATION=2 run_wrk read_warmup "${concurrencies[0]}" "$BENCH_DIR/wallet.lua"
    for c in "${concurrencies[@]}"; do
        for (( round = 1; round <= READ_ROUNDS; round++ )); do
            declare -A server_reads=()
            for path in "${read_paths[@]}"; do
                name="${path}_http_c${c}_r$round"
                log "$path c=$c round $round/$READ_ROUNDS: wrk over $TOKENS customer tokens (${DURATION}s)"
                run_wrk "$name" "$c" "$BENCH_DIR/wallet.lua" READ_PATH="$(read_route "$path")"
                wrk_result "$path" "$c" "$name"
                server_reads[$path]=$(last_throughput)
            done
            for path in "${read_paths[@]}"; do
                name="${path}_pgbench_c${c}_r$round"
                log "$path c=$c round $round/$READ_ROUNDS: pgbench over the same $TOKENS customers (${DURATION}s)"
                run_pgbench "$name" "$c" "$BENCH_DIR/$path.pgbench" \
                    -D first=1 -D stride="$stride" -D ntokens="$TOKENS"
                pgbench_result "$path" "$c" "$name"
            done
            if (( ${#read_paths[@]} == 2 )); then
                stats_of_wallet+=("$c $(awk -v s="${server_reads[stats]}" -v w="${server_reads[wallet]}" \
                    'BEGIN { printf "%.2f", s / w }')")
            fi
        done
    done
fi

# ---- the HTTP floor (informational) -------------------------------------------------------------
# GET /healthz touches no database: its CPU per request is what routing, middleware and
# HTTP cost, the part of the server's per-request CPU that no SQL change can remove.
log "healthz c=${concurrencies[0]} (5s, informational: no database)"
DURATION=5 run_wrk "healthz_c${concurrencies[0]}" "${concurrencies[0]}" "$BENCH_DIR/healthz.lua"
wrk_result healthz "${concurrencies[0]}" "healthz_c${concurrencies[0]}"

# ---- memory ------------------------------------------------------------------------------------
hwm_kb=$(awk '/^VmHWM:/ { print $2 }' "/proc/$server_pid/status")
rss_kb=$(cat "$rss_file")
peak_kb=$(( hwm_kb > rss_kb ? hwm_kb : rss_kb ))
peak_mib=$(awk -v k="$peak_kb" 'BEGIN { printf "%.1f", k / 1024 }')
grep -v '^\s*$' "$RUN_DIR/server.log" >"$RUN_DIR/server_log_nonempty.txt" || true
server_log_lines=$(wc -l <"$RUN_DIR/server_log_nonempty.txt")
cleanup
server_pid=""
sampler_pid=""

# ---- release -----------------------------------------------------------------------------------
# Deliveries hold their rewards for the campaign's return window (7 days). Let every hold
# end now and release them the way production does when a job falls behind: one referral
# per transaction through release_referral, here by `bondhu reconcile --repair` (the
# repair of overdue holds). Informational: referrals released per second.
log "release: every hold ends; bondhu reconcile --repair releases them"
due=$(psql_db -At -c "update customer_referrals set hold_until = now() - interval '1 second'
                      where status = 'completed' and released_at is null and hold_until is not null
                      returning 1" | wc -l)
release_start=$(date +%s.%N)
"$BIN" reconcile --repair >"$RUN_DIR/reconcile.json" 2>"$RUN_DIR/reconcile.err" ||
    die "reconcile --repair did not come out clean: $(tail -n 3 "$RUN_DIR/reconcile.err")"
release_end=$(date +%s.%N)
released=$(jq -r '.overdueHolds.repaired' "$RUN_DIR/reconcile.json")
(( released == due )) || die "released $released of $due due referrals"
release_rate=$(awk -v n="$released" -v a="$release_start" -v b="$release_end" 'BEGIN { printf "%.0f", n / (b - a) }')
echo "released $released referrals in $(awk -v a="$release_start" -v b="$release_end" 'BEGIN { printf "%.1f", b - a }') s ($release_rate/s)"

# ---- invariants --------------------------------------------------------------------------------
log "invariants"
invariants=$(psql_db -At -F '|' -v pending_lo="$PENDING_ORDER_LO" -v pending_hi="$PENDING_ORDER_HI" <<'SQL'
-- 1. every wallet's balance (and totals) equal its posted ledger
select 'wallets whose balance <> credits - debits', count(*)
from customer_wallets w
left join lateral (
    select coalesce(sum(t.amount) filter (where t.transaction_type = 'credit'), 0) as credits,
           coalesce(sum(t.amount) filter (where t.transaction_type = 'debit'), 0) as debits
    from wallet_transactions t where t.wallet_id = w.id and t.status = 'posted') l on true
where w.balance <> l.credits - l.debits or w.total_earned <> l.credits or w.total_spent <> l.debits;
-- 2. one referral credit per completed customer referral, once its hold ended (the
--    referred side's reward is 0 here, the bench configures no milestone, whose credits
--    would also carry source 'referral', and the scale layer's partner referrals earn the
--    partner a commission, not a wallet credit)
select 'completed referrals', count(*) from customer_referrals
where status = 'completed' and referrer_customer_id is not null;
select 'referral wallet credits', count(*) from wallet_transactions
where source = 'referral' and transaction_type = 'credit';
select 'completed referrals minus referral credits',
       (select count(*) from customer_referrals where status = 'completed' and referrer_customer_id is not null)
     - (select count(*) from wallet_transactions where source = 'referral' and transaction_type = 'credit');
-- 3. no referral credited twice (to the same wallet)
select 'referrals credited more than once', count(*) from (
    select reference_id, wallet_id from wallet_transactions
    where source = 'referral' and transaction_type = 'credit'
    group by reference_id, wallet_id having count(*) > 1) d;
select 'delivered first orders without a completed referral', count(*)
from sales_orders o join customer_referrals r on r.referred_customer_id = o.customer_id
where o.id between :pending_lo and :pending_hi and o.status = 'delivered' and r.status <> 'completed';
SQL
)
echo "$invariants" | awk -F'|' '{ printf "  %-55s %s\n", $1, $2 }'
invariants_ok=yes
while IFS='|' read -r name count; do
    case $name in
        "completed referrals"|"referral wallet credits") ;;
        *) (( count == 0 )) || invariants_ok=NO ;;
    esac
done <<<"$invariants"

# ---- summary -----------------------------------------------------------------------------------
# field PATH CONC TOOL N: the Nth field of results[] for that run, the median of its rounds
field() {
    printf '%s\n' "${results[@]}" | awk -v p="$1" -v c="$2" -v t="$3" -v f="$4" '$1 == p && $2 == c && $3 == t { print $f }' |
        median
}
# median: the middle one of the numbers on stdin (the upper middle of an even count); a
# single non-number (pgbench's cpu field, "-") passes through
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR) print v[int(NR / 2) + 1] }'; }
summary=$OUT/summary.txt
{
    echo "Bondhu benchmark  $(date -u +%FT%TZ)"
    echo "commit $(git -C "$ROOT" rev-parse --short HEAD)$( [[ -n $(git -C "$ROOT" status --porcelain -- src migrations Cargo.toml) ]] && echo ' (+ uncommitted changes)')," \
         "$(nproc) cores ($(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n 1)), PostgreSQL $(psql -X -At -d "$BENCH_DB" -c 'show server_version' | cut -d' ' -f1)"
    echo "data: $DATASET_CUSTOMERS customers, $DATASET_REFERRED referred; runs of ${DURATION}s;" \
         "wrk -t $WRK_THREADS, pgbench -j $PGBENCH_JOBS -M prepared; server pool $SERVER_DB_CONNECTIONS connections"
    echo "wallet and stats reads: $TOKENS customers (one token each), picked at random per request;" \
         "each read figure is the median of $READ_ROUNDS interleaved rounds (its ratio: of the medians)"
    echo
    printf '%-7s %5s | %9s %7s %7s %7s %7s | %9s %7s %7s %7s | %5s %6s %s\n' \
        path conns 'server/s' 'p50 ms' 'p99 ms' 'mean ms' 'cpu us' 'pgbench/s' 'p50 ms' 'p99 ms' 'mean ms' ratio target ''
    for path in "${paths[@]}"; do
        target=$TARGET_DELIVER
        [[ $path == wallet || $path == stats ]] && target=$TARGET_WALLET
        for c in "${concurrencies[@]}"; do
            s=$(field "$path" "$c" server 4); p=$(field "$path" "$c" pgbench 4)
            ratio=$(awk -v s="$s" -v p="$p" 'BEGIN { printf "%.2f", s / p }')
            verdict=$(awk -v r="$ratio" -v t="$target" 'BEGIN { print (r >= t) ? "ok" : "BELOW" }')
            printf '%-7s %5s | %9s %7s %7s %7s %7s | %9s %7s %7s %7s | %5s %6s %s\n' "$path" "$c" \
                "$s" "$(fmt_ms "$(field "$path" "$c" server 5)")" "$(fmt_ms "$(field "$path" "$c" server 6)")" \
                "$(fmt_ms "$(field "$path" "$c" server 7)")" "$(field "$path" "$c" server 8)" \
                "$p" "$(fmt_ms "$(field "$path" "$c" pgbench 5)")" "$(fmt_ms "$(field "$path" "$c" pgbench 6)")" \
                "$(fmt_ms "$(field "$path" "$c" pgbench 7)")" "$ratio" "$target" "$verdict"
        done
    done
    for c in "${concurrencies[@]}"; do
        (( ${#stats_of_wallet[@]} > 0 )) || break
        rounds=$(printf '%s\n' "${stats_of_wallet[@]}" | awk -v c="$c" '$1 == c { print $2 }')
        ratio=$(median <<<"$rounds")
        echo "stats / wallet at $c connections (server): $ratio, median of rounds $(echo $rounds | sed 's/ /, /g')" \
             "(target >= $TARGET_STATS_OF_WALLET:" \
             "$(awk -v r="$ratio" -v t="$TARGET_STATS_OF_WALLET" 'BEGIN { print (r >= t) ? "ok" : "BELOW" }'))"
    done
    c=${concurrencies[0]}
    printf '%-7s %5s | %9s %7s %7s %7s %7s | (no database: the HTTP floor)\n' healthz "$c" \
        "$(field healthz "$c" server 4)" "$(fmt_ms "$(field healthz "$c" server 5)")" \
        "$(fmt_ms "$(field healthz "$c" server 6)")" "$(fmt_ms "$(field healthz "$c" server 7)")" \
        "$(field healthz "$c" server 8)"
    echo "(cpu us = server CPU time per request; pgbench mean = its 'latency average' = clients / tps)"
    echo
    echo "server peak RSS: $peak_mib MiB (target < $TARGET_RSS_MIB MiB:" \
         "$(awk -v m="$peak_mib" -v t="$TARGET_RSS_MIB" 'BEGIN { print (m < t) ? "ok" : "ABOVE" }'))"
    echo "release after the hold (bondhu reconcile --repair, one referral per transaction):" \
         "$released referrals, $release_rate/s"
    echo "invariants: $invariants_ok"
    echo "$invariants" | awk -F'|' '{ printf "  %-55s %s\n", $1, $2 }'
    echo "server log lines at RUST_LOG=warn: $server_log_lines (see bench/out/last-run/server.log)"
    echo "CPU idle just before the runs: $idle_before% (load average $load_before);" \
         "lowest idle in the 1 s after each run: $idle_between%"
    if (( idle_before < 90 || idle_between < 80 )); then
        echo "WARNING: other processes used the CPU around the runs: the numbers are disturbed;" \
             "run again on a quiet machine"
    fi
    echo "time: build $build_seconds s, data $generate_seconds s, measurements $(( SECONDS - bench_started )) s," \
         "total $(( SECONDS - started )) s"
} | tee "$summary.tmp"
mv "$summary.tmp" "$summary"
cp "$summary" "$OUT/summary-$(date -u +%Y%m%dT%H%M%SZ).txt"
[[ $invariants_ok == yes ]] || die "invariants violated"
