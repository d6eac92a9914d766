#!/usr/bin/env bash
# Starts Bondhu against the local PostgreSQL (started if it is down). The server creates
# its database and applies the migrations by itself. Extra arguments go to `bondhu`.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/ensure-postgres.sh
export SQLX_OFFLINE=true
exec cargo run --release --locked -- "$@"
