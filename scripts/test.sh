#!/usr/bin/env bash
# Runs the whole test suite against a local PostgreSQL (started if it is down).
# Each integration test gets its own database, created from TEST_DATABASE_URL's server.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/ensure-postgres.sh

# sqlx's test harness keeps its bookkeeping in this database and creates one database
# per test next to it.
export DATABASE_URL=${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/bondhu_test}
psql "${DATABASE_URL%/*}/postgres" -qtAc "select 1 from pg_database where datname = 'bondhu_test'" | grep -q 1 \
  || psql "${DATABASE_URL%/*}/postgres" -qc "create database bondhu_test"

# Queries are checked against the committed .sqlx metadata, not a live schema.
export SQLX_OFFLINE=true
cargo test --locked --all-targets "$@"
