#!/usr/bin/env bash
# Long soak and load run (rewind-cli/tests/reliability/load.rs and friends):
# EVENTS events (default 1,000,000) through the server with subscribers on
# both publish sockets, resident memory sampled along the way; 20,000
# connect/disconnect cycles with the server's file descriptors counted;
# 200 hostile rounds; a 120 s read-only reader process against the writing
# server.
#
#   scripts/soak.sh [EVENTS]
set -euo pipefail
cd "$(dirname "$0")/.."
export REWIND_SOAK_EVENTS="${1:-1000000}"
export REWIND_FD_CYCLES="${REWIND_FD_CYCLES:-20000}"
export REWIND_HOSTILE_ROUNDS="${REWIND_HOSTILE_ROUNDS:-200}"
export REWIND_MP_SECONDS="${REWIND_MP_SECONDS:-120}"
cargo test --release -p rewind-cli --test reliability \
    -- --nocapture --test-threads 1 load:: hostile:: multiprocess:: 2>&1 |
    grep -E '^\[|^test |test result|panicked'
exit "${PIPESTATUS[0]}"
