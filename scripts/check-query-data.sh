#!/usr/bin/env bash
# Fails when the committed offline query data (.sqlx/) is stale: `cargo sqlx prepare
# --check` compares it with what the queries give against a database migrated from the
# committed migrations. sqlx-cli is pinned to the library's version (installed if missing).
set -euo pipefail
cd "$(dirname "$0")/.."

SQLX_CLI_VERSION=0.9.0
if ! cargo sqlx --version 2>/dev/null | grep -q "$SQLX_CLI_VERSION"; then
  cargo install --locked sqlx-cli --version "$SQLX_CLI_VERSION" \
    --no-default-features --features postgres,rustls
fi

scripts/ensure-postgres.sh
server=${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/bondhu_test}
server=${server%/*}
database=bondhu_query_check
psql "$server/postgres" -qc "drop database if exists $database" -c "create database $database"
export DATABASE_URL="$server/$database"
SQLX_OFFLINE=true cargo run --locked --quiet -- migrate
SQLX_OFFLINE=false cargo sqlx prepare --check -- --all-targets --locked
psql "$server/postgres" -qc "drop database if exists $database"
