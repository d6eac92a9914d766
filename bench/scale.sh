#!/usr/bin/env bash
# The delivered path's cost per event on a small database and on a large one, in one
# command (issue 13: "stays within 1.3x of its cost at 10,000 rows"):
#
#   bench/scale.sh                 # SKIP_BUILD=1 reuses target/release/bondhu
#   SKIP_LARGE_GENERATE=1 bench/scale.sh   # reuse bondhu_scale (only while its pools are unused)
#
# Runs bench/run.sh twice with PATHS=deliver, each on its own database:
#   small  bondhu_scale_small: 20,000 referred customers and their pending first orders
#          (40,000 customers in all), nothing else;
#   large  bondhu_scale: 1,000,000 customers, 1,000,000 referrals, 5,000,000 orders and
#          200 partners (bench/generate.sh's scale layer, COPY with a progress bar).
# and prints, per concurrency, each side's throughput, mean latency and server CPU per
# delivery, and large / small. The full summaries go to bench/out/scale-{small,large}.txt.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH_DIR")
OUT=$BENCH_DIR/out
CONCURRENCIES=${CONCURRENCIES:-16}
DURATION=${DURATION:-10}
SKIP_BUILD=${SKIP_BUILD:-0}
SKIP_LARGE_GENERATE=${SKIP_LARGE_GENERATE:-0}
TARGET=1.3
export CONCURRENCIES DURATION PATHS=deliver
mkdir -p "$OUT"

if [[ $SKIP_BUILD != 1 ]]; then
    (cd "$ROOT" && env -u DATABASE_URL cargo build --release --quiet)
fi

started=$SECONDS
# The small side: pools of 2 × 1,000/s × DURATION × runs pending orders = 20,000 referred
# at the defaults (a pool sized for 250/s ran out: the server delivers faster than that on a
# small database).
BENCH_DB=bondhu_scale_small CUSTOMERS=10000 MAX_DELIVERY_RPS=1000 SKIP_BUILD=1 \
    "$BENCH_DIR/run.sh"
cp "$OUT/summary.txt" "$OUT/scale-small.txt"

large_env=(BENCH_DB=bondhu_scale CUSTOMERS=600000 PARTNERS=200 PARTNER_CUSTOMERS=400000
           ORDERS=5000000 REFERRALS=1000000 MAX_DELIVERY_RPS=5000 SKIP_BUILD=1)
if [[ $SKIP_LARGE_GENERATE == 1 ]]; then
    # run.sh reads the layout from bench/out/dataset.env: keep the large one's aside.
    [[ -f $OUT/scale-large.env ]] || { echo "scale.sh: no $OUT/scale-large.env to reuse" >&2; exit 1; }
    cp "$OUT/scale-large.env" "$OUT/dataset.env"
    large_env+=(SKIP_GENERATE=1)
fi
env "${large_env[@]}" "$BENCH_DIR/run.sh"
cp "$OUT/summary.txt" "$OUT/scale-large.txt"
cp "$OUT/dataset.env" "$OUT/scale-large.env"

# deliver rows of a summary: conns server/s mean_ms cpu_us pgbench/s pgbench_mean_ms
rows() { awk -F'|' '$1 ~ /^deliver/ { split($1, a, " "); split($2, s, " "); split($3, p, " ");
                                     print a[2], s[1], s[4], s[5], p[1], p[4] }' "$1"; }
{
    echo "Delivered path, small vs large database  $(date -u +%FT%TZ)"
    grep '^data:' "$OUT/scale-small.txt" | sed 's/^/small /'
    grep '^data:' "$OUT/scale-large.txt" | sed 's/^/large /'
    echo
    printf '%5s | %-27s | %-27s | %-23s\n' conns 'server/s  mean ms  cpu us' 'small: same' 'large / small'
    printf '%5s | %-27s | %-27s | %-23s\n' '' '(small)' '(large)' 'ms/event  cpu  pgbench'
    join <(rows "$OUT/scale-small.txt") <(rows "$OUT/scale-large.txt") |
    while read -r c s1 m1 u1 p1 pm1 s2 m2 u2 p2 pm2; do
        # Cost per event: the server's mean latency, its CPU per delivery, and pgbench's
        # mean latency for the same statement.
        printf '%5s | %8s %8s %8s | %8s %8s %8s | %8s %5s %8s\n' "$c" "$s1" "$m1" "$u1" "$s2" "$m2" "$u2" \
            "$(awk -v a="$m2" -v b="$m1" 'BEGIN { printf "%.2f", a / b }')" \
            "$(awk -v a="$u2" -v b="$u1" 'BEGIN { printf "%.2f", a / b }')" \
            "$(awk -v a="$pm2" -v b="$pm1" 'BEGIN { printf "%.2f", a / b }')"
    done
    echo "target: large / small <= $TARGET for the cost per event"
    grep -h 'WARNING' "$OUT/scale-small.txt" "$OUT/scale-large.txt" | sort -u || true
    echo "time: $(( SECONDS - started )) s"
} | tee "$OUT/scale-summary.txt"
