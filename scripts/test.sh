#!/usr/bin/env bash
# Runs the whole test suite against a local PostgreSQL (started if it is down).
# Each integration test gets its own database, created from TEST_DATABASE_URL's server.
# Extra arguments filter the tests: `scripts/test.sh contract` runs the snapshot module.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/ensure-postgres.sh
scripts/ensure-tools.sh

# sqlx's test harness keeps its bookkeeping in this database and creates one database
# per test next to it.
export DATABASE_URL=${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/bondhu_test}
psql "${DATABASE_URL%/*}/postgres" -qtAc "select 1 from pg_database where datname = 'bondhu_test'" | grep -q 1 \
  || psql "${DATABASE_URL%/*}/postgres" -qc "create database bondhu_test"

# Queries are checked against the committed .sqlx metadata, not a live schema.
export SQLX_OFFLINE=true

# Response snapshots (tests/api/snapshots/) are strict: a missing or changed snapshot fails
# the test and nothing is written. Accept changes on purpose with `cargo insta review`.
export INSTA_UPDATE=no
unset INSTA_FORCE_PASS

# cargo-insta also rejects snapshot files no test uses any more. CI installs it; elsewhere
# it is used when present.
if ! command -v cargo-insta >/dev/null 2>&1 && [ -n "${CI:-}" ]; then
  cargo install --locked cargo-insta --version 1.49.0
fi

if command -v cargo-insta >/dev/null 2>&1; then
  # cargo-insta has no --locked: build with it first, so a stale Cargo.lock still fails.
  cargo test --locked --all-targets --no-run
  # Extra arguments go to the test binaries (a name filter, --nocapture, …). A filtered
  # run (`scripts/test.sh contract`) leaves other snapshots unused on purpose.
  if [ $# -gt 0 ]; then unreferenced=ignore; else unreferenced=reject; fi
  cargo insta test --check --require-full-match --unreferenced="$unreferenced" \
    --test-runner cargo-test --all-targets -- "$@"
else
  echo "cargo-insta is not installed: unreferenced snapshots are not checked" >&2
  cargo test --locked --all-targets "$@"
fi
