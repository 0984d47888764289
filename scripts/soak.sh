#!/usr/bin/env bash
# Long soak and load run (rewind-cli/tests/reliability/load.rs and friends):
# EVENTS events (default 1,000,000) through the server with subscribers on
# both publish sockets, resident memory sampled along the way; 20,000
# connect/disconnect cycles with the server's file descriptors counted;
# 200 hostile rounds; a 120 s read-only reader process against the writing
# server; 20,000 random native messages and a flood of SUBSCRIBEs past the
# server's limit of 100,000 subscriptions (native_hostile.rs); 200 native
# clients with 1,000 subscriptions and 4 times the writes (native_scale.rs).
#
#   scripts/soak.sh [EVENTS]
set -euo pipefail
cd "$(dirname "$0")/.."
export REWIND_SOAK_EVENTS="${1:-1000000}"
export REWIND_FD_CYCLES="${REWIND_FD_CYCLES:-20000}"
export REWIND_HOSTILE_ROUNDS="${REWIND_HOSTILE_ROUNDS:-200}"
export REWIND_MP_SECONDS="${REWIND_MP_SECONDS:-120}"
export REWIND_NATIVE_HOSTILE_ROUNDS="${REWIND_NATIVE_HOSTILE_ROUNDS:-20000}"
export REWIND_NATIVE_FLOOD="${REWIND_NATIVE_FLOOD:-100500}"
export REWIND_NATIVE_SCALE_APPENDS="${REWIND_NATIVE_SCALE_APPENDS:-320}"
cargo test --release -p rewind-cli --test reliability \
    -- --nocapture --test-threads 1 load:: hostile:: multiprocess:: native_hostile:: native_scale:: 2>&1 |
    grep -E '^\[|^test |test result|panicked'
exit "${PIPESTATUS[0]}"
