#!/usr/bin/env bash
# Rewind beside UmaDB (a Rust event store served over gRPC) on this machine,
# in one run: builds Rewind's server and benchmark (release), builds the
# UmaDB side (rewind-bench/peers/umadb: the harness on UmaDB's own client
# and the upstream umadb server, pinned by that project's Cargo.lock, into
# target/peers/umadb), then starts both servers on loopback on new data
# directories under DIR for every repetition, runs the figures interleaved,
# stops the servers and prints a markdown table.
#
#   scripts/bench-peers.sh --dir DIR [--reps N] [--window SECS] [--events N] [--payload BYTES] [--only 1,6]
#
# DIR must be on disk (not tmpfs): both stores fsync every commit.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"

dir=""
args=()
while [ $# -gt 0 ]; do
    case "$1" in
        --dir) dir="${2:?--dir needs a directory}"; shift 2 ;;
        --dir=*) dir="${1#--dir=}"; shift ;;
        -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) args+=("$1"); shift ;;
    esac
done
if [ -z "$dir" ]; then
    echo "bench-peers: --dir DIR is required (a directory on disk, not tmpfs)" >&2
    exit 2
fi
mkdir -p "$dir"
if [ "$(stat -f -c %T "$dir")" = tmpfs ]; then
    echo "bench-peers: $dir is on tmpfs; give a directory on disk" >&2
    exit 2
fi

echo "== building Rewind (release)" >&2
cargo build --release -p rewind-cli --bin rewind -p rewind-bench --bin rewind-bench-peers >&2

peer="$root/rewind-bench/peers/umadb"
peer_target="$root/target/peers/umadb"
echo "== building the UmaDB side (release, into $peer_target)" >&2
# UmaDB's protocol crate runs protoc at build time: use the one shipped in
# the protoc-bin-vendored crate (a dependency of the harness) unless PROTOC
# is set.
if [ -z "${PROTOC:-}" ]; then
    cargo fetch --locked --manifest-path "$peer/Cargo.toml" >&2
    protoc_dir="$(cargo metadata --locked --format-version 1 --manifest-path "$peer/Cargo.toml" |
        python3 -c '
import json, os, platform, sys
arch = {"x86_64": "linux-x86_64", "aarch64": "linux-aarch_64"}.get(platform.machine(), "")
if platform.system() == "Darwin":
    arch = "macos-aarch_64" if platform.machine() == "arm64" else "macos-x86_64"
for p in json.load(sys.stdin)["packages"]:
    if p["name"] == "protoc-bin-vendored-" + arch:
        print(os.path.dirname(p["manifest_path"]))
')"
    if [ -z "$protoc_dir" ]; then
        echo "bench-peers: no vendored protoc for this platform; install protoc and set PROTOC" >&2
        exit 1
    fi
    export PROTOC="$protoc_dir/bin/protoc"
fi
cargo build --locked --release --manifest-path "$peer/Cargo.toml" --target-dir "$peer_target" \
    -p umadb-peer --bin umadb-peer -p umadb --bin umadb >&2

exec "$root/target/release/rewind-bench-peers" --dir "$dir" \
    --rewind-server "$root/target/release/rewind" \
    --umadb-server "$peer_target/release/umadb" \
    --umadb-harness "$peer_target/release/umadb-peer" \
    "${args[@]}"
