#!/usr/bin/env bash
# A local streaming standby of a PostgreSQL primary, to try DATABASE_READ_URL against a
# real replica (tests/api/replica.rs starts its standby with it too).
#
#   scripts/replica.sh start PRIMARY_URL DIR PORT   # base backup of PRIMARY into DIR, then
#                                                   # start it as a hot standby on 127.0.0.1:PORT
#   scripts/replica.sh stop DIR                     # stop it (DIR stays; rm -rf it after)
#
# e.g. scripts/replica.sh start postgres://postgres@127.0.0.1:5432 /tmp/bondhu-replica 5433
#      DATABASE_READ_URL=postgres://postgres@127.0.0.1:5433/bondhu cargo run
#
# The primary must accept replication connections from this machine (an initdb'd cluster
# does; a Debian one wants the password: PGPASSWORD=… or ~/.pgpass). The standby keeps
# following the primary until it is stopped; REPLICA_PG_OPTIONS adds server options
# (`-c fsync=off` for a throwaway one). Binaries: $PG_BIN, else the primary's major version
# under /usr/lib/postgresql.
set -euo pipefail

usage() {
  sed -n '5,7p' "$0" | sed 's/^# *//' >&2
  exit 2
}

# initdb, pg_basebackup and postgres refuse to run as root: run them as the postgres user.
as_owner() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u "${PG_OS_USER:-postgres}" -- "$@"
  else
    "$@"
  fi
}

bindir_for() {
  if [ -n "${PG_BIN:-}" ]; then
    echo "$PG_BIN"
    return
  fi
  local version
  version=$(psql "$1" -XAtqc "select current_setting('server_version_num')::int / 10000")
  if [ -x "/usr/lib/postgresql/$version/bin/postgres" ]; then
    echo "/usr/lib/postgresql/$version/bin"
  else
    dirname "$(command -v postgres || command -v pg_ctl)"
  fi
}

command=${1:-}
case "$command" in
  start)
    [ $# -eq 4 ] || usage
    primary=$2 dir=$3 port=$4
    bindir=$(bindir_for "$primary")
    if [ -e "$dir" ] && [ -n "$(ls -A "$dir")" ]; then
      echo "$dir is not empty; stop and remove the old standby first" >&2
      exit 1
    fi
    mkdir -p "$dir"
    chmod 700 "$dir"
    [ "$(id -u)" = 0 ] && chown "${PG_OS_USER:-postgres}" "$dir"
    # A standby refuses to start with fewer of these than its primary has.
    limits=$(psql "$primary" -XAtqc "select string_agg(format('-c %s=%s', name, setting), ' ')
      from pg_settings where name in ('max_connections', 'max_worker_processes',
        'max_wal_senders', 'max_prepared_transactions', 'max_locks_per_transaction')")
    # -R writes standby.signal and primary_conninfo: the copy starts as a standby that
    # streams from the primary. -c fast: no wait for the primary's next checkpoint.
    # --no-sync: a throwaway copy need not wait for the disk (it can take minutes).
    as_owner "$bindir/pg_basebackup" -d "$primary" -D "$dir" -R -X stream -c fast --no-sync
    # TCP on 127.0.0.1 only, no Unix socket (none to collide with another cluster's).
    # hot_standby_feedback keeps the primary from vacuuming away rows a long report on
    # the standby still reads, which would otherwise cancel it.
    as_owner "$bindir/pg_ctl" -D "$dir" -l "$dir/standby.log" -w -s \
      -o "-c port=$port -c listen_addresses=127.0.0.1 -c unix_socket_directories='' \
          -c hot_standby=on -c hot_standby_feedback=on $limits ${REPLICA_PG_OPTIONS:-}" start
    echo "standby of $primary streaming on 127.0.0.1:$port (log: $dir/standby.log)"
    ;;
  stop)
    [ $# -eq 2 ] || usage
    dir=$2
    bindir=${PG_BIN:-/usr/lib/postgresql/$(cat "$dir/PG_VERSION")/bin}
    [ -x "$bindir/pg_ctl" ] || bindir=$(dirname "$(command -v pg_ctl)")
    as_owner "$bindir/pg_ctl" -D "$dir" -m fast -w -s stop
    ;;
  *)
    usage
    ;;
esac
