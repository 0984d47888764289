#!/usr/bin/env bash
# Long crash-durability run: SIGKILL the rewind binary CYCLES times (default
# 500) at random moments under load from v1 and v2 publishers, restarting it
# on the same LMDB directory each time, and check every acknowledged event
# after every restart (rewind-cli/tests/reliability/crash.rs); and SIGKILL
# as many times a process that embeds the store and appends to several
# streams at once, checking after every kill that each append is all or
# nothing (crash_multi.rs); and SIGKILL the binary CYCLES / 2 times under
# native clients appending to one and several streams with expected
# versions and native subscriptions following the log, checking every
# acknowledged append and every subscriber after the last (native_crash.rs).
#
#   scripts/crash-cycles.sh [CYCLES]
#
# Environment: REWIND_SEED=N replays a run; REWIND_CRASH_MAX_RUN_MS (default
# 300) bounds how long the server runs between kills.
set -euo pipefail
cd "$(dirname "$0")/.."
cycles="${1:-500}"
export REWIND_CRASH_CYCLES="$cycles"
export REWIND_CREATE_KILLS="${REWIND_CREATE_KILLS:-200}"
export REWIND_CRASH_MULTI_KILLS="${REWIND_CRASH_MULTI_KILLS:-$cycles}"
export REWIND_NATIVE_CRASH_KILLS="${REWIND_NATIVE_CRASH_KILLS:-$((cycles / 2))}"
cargo test --release -p rewind-cli --test reliability \
    -- --nocapture --test-threads 1 crash::acknowledged_events_survive_sigkill_cycles \
    storage::store_killed_while_being_created_opens_on_restart \
    crash_multi::multi_stream_appends_are_all_or_nothing_across_sigkills \
    native_crash::native_clients_and_subscribers_come_through_sigkill_cycles 2>&1 |
    grep -E '^\[crash\] (restart (0|[0-9]*00)|final|after|[0-9]+ SIGKILLs)|^\[crash-multi\]|^\[native-crash\] ([0-9]|the|an|restart [0-9]*00 )|seed|^test |test result|panicked|LOST|assert' 
exit "${PIPESTATUS[0]}"
