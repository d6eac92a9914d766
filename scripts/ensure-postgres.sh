#!/usr/bin/env bash
# Makes sure a PostgreSQL server answers on 127.0.0.1:5432 (or $PGHOST:$PGPORT), so that
# nothing depends on what someone started by hand:
#   1. if one answers, do nothing;
#   2. if a Debian cluster on that port is installed but stopped, start it;
#   3. otherwise initialise a scratch cluster with trust authentication and start it.
set -euo pipefail

host=${PGHOST:-127.0.0.1}
port=${PGPORT:-5432}
scratch=${BONDHU_PGDATA:-/tmp/bondhu-postgres}

ready() { pg_isready -q -h "$host" -p "$port" 2>/dev/null; }

wait_ready() {
  for _ in $(seq 1 60); do
    ready && return 0
    sleep 0.5
  done
  return 1
}

if ! command -v pg_isready >/dev/null 2>&1; then
  bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -n "$bindir" ]; then
    export PATH="$bindir:$PATH"
  elif [ "$(id -u)" = 0 ]; then
    echo "PostgreSQL is not installed; installing it from Debian's packages" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    bindir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
    export PATH="$bindir:$PATH"
  else
    echo "PostgreSQL is not installed and this user cannot install it" >&2
    exit 1
  fi
fi

ready && exit 0

if command -v pg_lsclusters >/dev/null 2>&1; then
  while read -r version name cluster_port _; do
    if [ "$cluster_port" = "$port" ]; then
      echo "starting PostgreSQL cluster $version/$name" >&2
      pg_ctlcluster --skip-systemctl-redirect "$version" "$name" start || true
    fi
  done < <(pg_lsclusters --no-header)
  wait_ready && exit 0
fi

echo "no PostgreSQL cluster answers on $host:$port; starting a scratch one in $scratch" >&2
bindir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
as_postgres() {
  # initdb and postgres refuse to run as root.
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql postgres
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}
if [ ! -s "$scratch/PG_VERSION" ]; then
  mkdir -p "$scratch"
  [ "$(id -u)" = 0 ] && chown postgres "$scratch"
  as_postgres "$bindir/initdb" -D "$scratch" -U postgres --auth=trust >/dev/null
fi
as_postgres "$bindir/pg_ctl" -D "$scratch" -l "$scratch/server.log" -w \
  -o "-p $port -c listen_addresses=$host -k /tmp -c max_connections=200" start >/dev/null
wait_ready
