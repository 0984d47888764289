#!/usr/bin/env bash
# Runs one cargo-fuzz target of fuzz/ for SECONDS seconds (default 300).
#
#   scripts/fuzz.sh TARGET [SECONDS]
#
# Targets: parse_request (both protocols' request parsing against a
# reference parser), store_ops (the in-memory store against a model),
# store_lmdb (the LMDB store, with reopening, against a model),
# native_request (the native protocol's request, reply and body decoders:
# no panic, round trips, refusals as docs/native-protocol.md says).
#
# Installs cargo-fuzz when missing. Uses a nightly toolchain when one is
# installed, otherwise the stable one with RUSTC_BOOTSTRAP=1 (cargo-fuzz
# needs -Z flags). A crash leaves its input in fuzz/artifacts/TARGET/;
# replay it with `scripts/fuzz.sh TARGET 0 fuzz/artifacts/TARGET/crash-...`
# and turn it into a regression test in rewind-core/tests/properties/*.rs
# (native_request's: a case of `regressions` in native.rs).
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
target="${1:?usage: scripts/fuzz.sh TARGET [SECONDS] [INPUT]}"
seconds="${2:-300}"
input="${3:-}"
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi
toolchain=()
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    toolchain=(+nightly)
else
    export RUSTC_BOOTSTRAP=1
fi
if [ -n "$input" ]; then
    exec cargo "${toolchain[@]}" fuzz run -O "$target" "$input"
fi
mkdir -p "corpus/$target"
cargo "${toolchain[@]}" fuzz run -O "$target" "corpus/$target" -- \
    -max_total_time="$seconds" -rss_limit_mb=4096 -print_final_stats=1
