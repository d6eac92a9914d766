#!/usr/bin/env bash
# Two phases, each ending with every acknowledged effect there exactly once.
#
# load: several instances, duplicate money operations, killed connections and a crashed
# PostgreSQL (scripts/chaos.py).
# kill: a server built with `--features failpoints` is killed with SIGKILL at each of its
# fail-points (src/failpoint.rs) in turn, KILL_RUNS runs in all: no partial state after the
# kill, exactly one effect after the restart and the retry (scripts/chaos_kill.py, which
# says what is checked).
#
#   scripts/chaos.sh                   # both: 3 instances, 60 pairs, 4 copies; then 200 kills
#   INSTANCES=3 PAIRS=120 scripts/chaos.sh
#   CHAOS_PHASES=kill KILL_RUNS=50 scripts/chaos.sh    # only the kill phase
#
# Both binaries are built in the default target dir (debug profile) and hard-linked as
# target/chaos/bondhu and target/chaos/bondhu-failpoints, so a later build does not swap
# them under a running phase. The failpoints build is a second build of this crate only.
#
# Loopback only, bounded in time (CHAOS_SECONDS for the load phase, default 300;
# KILL_SECONDS for the kill phase, default 480). It runs on a scratch
# PostgreSQL cluster of its own (port CHAOS_PGPORT, default 5440), never the shared one,
# because it crashes it (`pg_ctl stop -m immediate`) and kills its connections
# (`pg_terminate_backend`) while the instances are under load. The driver is
# scripts/chaos.py (standard library only); the end check also runs `bondhu reconcile`,
# the server's own check of balances against ledgers, holds and reversals.
set -euo pipefail
cd "$(dirname "$0")/.."

INSTANCES=${INSTANCES:-3}
PAIRS=${PAIRS:-60}
COPIES=${COPIES:-4}
CHAOS_SECONDS=${CHAOS_SECONDS:-300}
CHAOS_PHASES=${CHAOS_PHASES:-load kill}
KILL_RUNS=${KILL_RUNS:-200}
KILL_SECONDS=${KILL_SECONDS:-480}
PGPORT=${CHAOS_PGPORT:-5440}
PGDATA_DIR=${CHAOS_PGDATA:-/tmp/bondhu-chaos-postgres}
export PGPORT
BONDHU_PGDATA=$PGDATA_DIR scripts/ensure-postgres.sh

server="postgres://postgres@127.0.0.1:$PGPORT"
export DATABASE_URL="$server/bondhu_chaos"
psql "$server/postgres" -qc "drop database if exists bondhu_chaos" -c "create database bondhu_chaos"

mkdir -p target/chaos
if [[ " $CHAOS_PHASES " == *" kill "* ]]; then
  SQLX_OFFLINE=true cargo build --locked --quiet --features failpoints
  ln -f target/debug/bondhu target/chaos/bondhu-failpoints
fi
# Last, so that target/debug/bondhu is the ordinary build again.
SQLX_OFFLINE=true cargo build --locked --quiet
ln -f target/debug/bondhu target/chaos/bondhu
bin=target/chaos/bondhu

export JWT_SECRET=chaos-only-secret-that-is-long-enough-0123456789
export JOBS_INTERVAL_SECS=1 PUBLIC_RATE_LIMIT_PER_MINUTE=0 LOGIN_RATE_LIMIT_PER_MINUTE=0
export TRUST_PROXY_HEADERS=true WITHDRAWAL_MIN_AMOUNT=1 DATABASE_MAX_CONNECTIONS=8 DATABASE_ACQUIRE_TIMEOUT_SECS=3
export LOG_FORMAT=json RUST_LOG=${RUST_LOG:-bondhu=warn}

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  pids=()
}
trap cleanup EXIT

# The load phase: several instances under duplicate operations and database faults.
load_phase() {
  "$bin" migrate >/dev/null
  logs=$(mktemp -d /tmp/bondhu-chaos.XXXXXX)

  urls=()
  for n in $(seq 1 "$INSTANCES"); do
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    PORT=$port "$bin" serve >"$logs/instance-$n.log" 2>&1 &
    pids+=($!)
    urls+=("http://127.0.0.1:$port")
  done
  for url in "${urls[@]}"; do
    for _ in $(seq 1 100); do
      curl -fs "$url/healthz" >/dev/null && break
      sleep 0.2
    done
  done

  email="chaos-$(date +%s)@ops.test"
  user_id=$(echo "chaos-password-123" | "$bin" user create --role admin --email "$email" | sed -n 's/^created user \([0-9]*\).*/\1/p')
  token=$("$bin" token --role admin --id "$user_id")

  # Crashing PostgreSQL the way a power cut does, then starting it again at once.
  bindir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  if [ "$(id -u)" = 0 ]; then as_postgres="runuser -u postgres --"; else as_postgres=""; fi
  restart="$as_postgres $bindir/pg_ctl -D $PGDATA_DIR -m immediate stop >/dev/null 2>&1;
    $as_postgres $bindir/pg_ctl -D $PGDATA_DIR -l $PGDATA_DIR/server.log -w \
    -o '-p $PGPORT -c listen_addresses=127.0.0.1 -k /tmp -c max_connections=200' start >/dev/null 2>&1"
  if [ ! -s "$PGDATA_DIR/PG_VERSION" ]; then
    echo "PostgreSQL on port $PGPORT is not the scratch cluster: connections are killed, never crashed" >&2
    restart=""
  fi

  python3 scripts/chaos.py --servers "$(IFS=,; echo "${urls[*]}")" --token "$token" \
    --database-url "$DATABASE_URL" --pairs "$PAIRS" --copies "$COPIES" \
    --seconds "$CHAOS_SECONDS" ${restart:+--restart-cmd "$restart"} || status=$?

  echo "reconciliation (the server's own invariant check):"
  if ! "$bin" reconcile >"$logs/reconcile.json" 2>&1; then
    cat "$logs/reconcile.json"
    status=1
  else
    echo "  clean"
  fi
  errors=$(cat "$logs"/instance-*.log | grep -c '"level":"ERROR"' || true)
  echo "instances' error log lines: $errors (logs in $logs)"
  cleanup
}

status=0
if [[ " $CHAOS_PHASES " == *" load "* ]]; then
  load_phase
fi

if [[ " $CHAOS_PHASES " == *" kill "* ]]; then
  psql "$server/postgres" -qc "drop database if exists bondhu_chaos_kill" -c "create database bondhu_chaos_kill"
  python3 scripts/chaos_kill.py --binary target/chaos/bondhu-failpoints \
    --database-url "$server/bondhu_chaos_kill" --runs "$KILL_RUNS" --seconds "$KILL_SECONDS" || status=$?
fi
echo "chaos.sh: phases ($CHAOS_PHASES) took ${SECONDS}s in all, build included; exit $status"
exit $status
