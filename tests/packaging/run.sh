#!/usr/bin/env bash
# The packaging test: makes every installable artifact with
# scripts/package.sh (into dist/), then installs and uses each one the way
# its user would:
#
# - the wheel: `auditwheel show` and `auditwheel repair` accept it; it
#   installs into a fresh virtual environment with
#   `pip install --only-binary :all:`; the package imports and embeds a
#   store, and its `rewind` command serves a client until the exit codeword;
# - the sdist: it holds the workspace crates it needs and
#   `pip install rewind-VERSION.tar.gz` builds it from source in another
#   fresh environment (reusing this target directory's compiled crates);
# - the binary tarball: `bin/rewind --help`, and a server that a client talks
#   to until the exit codeword;
# - the librewind tarball: unpacked to a prefix, a C program and a C++
#   program build with `pkg-config --cflags --libs rewind` (shared: the
#   SONAME found through an rpath, or LD_LIBRARY_PATH) and `rewind-static`,
#   and run under valgrind with no suppression file; librewind.a defines no
#   global symbol but rewind_*.
# Every binary artifact is checked to carry no debug info.
#
# Needs what scripts/package.sh needs, plus valgrind and pkg-config (both
# installed with apt-get when missing and running as root). pip installs come
# from PyPI. The last line is "N passed, M failed".
set -u -o pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
HERE=$ROOT/tests/packaging
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
DIST=$ROOT/dist
python=${PYTHON:-python3}
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -1)
arch=$(uname -m)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/rewind-packaging-XXXXXX")
server_pid=""
cleanup() {
  if [[ -n $server_pid ]]; then kill "$server_pid" 2>/dev/null; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
started=$(date +%s)

passed=0
failed=0
failures=()
ok() {
  passed=$((passed + 1))
  echo "ok - $1"
}
fail() {
  failed=$((failed + 1))
  failures+=("$1")
  echo "FAILED - $1"
}
# check NAME COMMAND...: runs the command, its output in $WORK/NAME.log.
check() {
  local name=$1 log
  shift
  log=$WORK/$(tr -c 'A-Za-z0-9_.-' '_' <<<"$name").log
  if "$@" >"$log" 2>&1; then
    ok "$name"
  else
    cat "$log"
    fail "$name"
  fi
}
finish() {
  echo
  echo "packaging test: $(($(date +%s) - started)) s"
  if [[ ${#failures[@]} -gt 0 ]]; then printf 'failed: %s\n' "${failures[@]}"; fi
  echo "$passed passed, $failed failed"
  [[ $failed -eq 0 ]]
  exit
}

for tool in pkg-config valgrind; do
  if ! command -v "$tool" >/dev/null; then
    if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
      apt-get update -qq && apt-get install -y -qq "$tool" >/dev/null
    fi
    command -v "$tool" >/dev/null || { fail "$tool is needed"; finish; }
  fi
done

echo "=== scripts/package.sh"
if ! bash scripts/package.sh "$DIST"; then
  fail "scripts/package.sh"
  finish
fi
wheel=$(ls "$DIST"/rewind-"$version"-cp39-abi3-manylinux_*_"$arch".whl 2>/dev/null | head -1)
sdist=$DIST/rewind-$version.tar.gz
bin_tar=$DIST/rewind-$version-$arch-linux.tar.gz
lib_tar=$DIST/librewind-$version-$arch-linux.tar.gz
for f in "$wheel" "$sdist" "$bin_tar" "$lib_tar" "$DIST/SHA256SUMS"; do
  if [[ -z $f || ! -f $f ]]; then
    fail "an artifact is missing: ${f:-the abi3 manylinux wheel}"
    finish
  fi
done
ok "package.sh made the wheel, the sdist and both tarballs"
check "SHA256SUMS matches" bash -c "cd '$DIST' && sha256sum -c SHA256SUMS"

mkdir -p "$WORK/bin" "$WORK/lib"
tar xzf "$bin_tar" -C "$WORK/bin"
tar xzf "$lib_tar" -C "$WORK/lib"
BIN=$WORK/bin/rewind-$version-$arch-linux
PREFIX=$WORK/lib/librewind-$version-$arch-linux
(mkdir -p "$WORK/wheel-files" && cd "$WORK/wheel-files" && "$python" -m zipfile -e "$wheel" .)

admin_reads_a_store() { # BINDIR: rewind serves a store, then rewind-admin reads it
  local store=$WORK/admin-store log=$WORK/admin-server.log pid
  "$1/rewind" --data-dir "$store" --query-bind-endpoint 'tcp://127.0.0.1:*' \
    --streaming-bind-endpoint '' --command-bind-endpoint '' --publish-bind-endpoint '' \
    --exit-codeword STOP-NOW 2>"$log" &
  pid=$!
  if ! (cd "$WORK" && timeout 120 "$venv/bin/python" "$HERE/client.py" "$log" STOP-NOW); then
    kill "$pid" 2>/dev/null
    wait "$pid"
    cat "$log"
    return 1
  fi
  wait "$pid" || return 1
  "$1/rewind-admin" --help | grep -q stats || return 1
  # client.py published two events.
  "$1/rewind-admin" stats "$store" --json |
    "$venv/bin/python" -c 'import json, sys; n = json.load(sys.stdin)["events"]; sys.exit(n != 2)'
}
no_debug_info() { # FILE...: no .debug_* section in any of them
  local f
  for f in "$@"; do
    if readelf -SW "$f" | grep -q '\.debug_'; then
      echo "$f has debug info"
      return 1
    fi
  done
}
check "no artifact carries debug info" no_debug_info "$BIN/bin/rewind" \
  "$PREFIX/lib/librewind.so.$version" "$PREFIX/lib/librewind.a" \
  "$WORK/wheel-files/rewind/_native.abi3.so"

echo "=== the wheel"
tools=$TARGET_DIR/package-venv/bin
check "auditwheel show accepts the wheel" "$tools/auditwheel" show "$wheel"
check "auditwheel repair accepts the wheel" \
  env PATH="$tools:$PATH" "$tools/auditwheel" repair --wheel-dir "$WORK/wheelhouse" "$wheel"

venv=$WORK/venv-wheel
"$python" -m venv "$venv"
check "pip install --only-binary :all: the wheel into a fresh venv" \
  "$venv/bin/pip" install --disable-pip-version-check --only-binary :all: "$wheel"

embed_test() { # PYTHON: the installed package embeds a store
  (cd "$WORK" && "$1" - <<'EOF'
import os, sys, tempfile
import rewind
from rewind import ExpectedVersion

assert os.path.dirname(rewind.__file__).startswith(sys.prefix), rewind.__file__
with tempfile.TemporaryDirectory() as d:
    with rewind.Store(os.path.join(d, "data")) as store:
        store.append(b"s", [b"one", b"two"], ExpectedVersion.NO_STREAM)
        assert [e.data for e in store.iter_stream(b"s")] == [b"one", b"two"]
        try:
            store.append(b"s", [b"x"], ExpectedVersion.NO_STREAM)
            raise SystemExit("no conflict")
        except rewind.WrongExpectedVersionError:
            pass
import rewind.server.main, rewind.server.eventstores, rewind.client  # the 0.3.1 modules
print("ok", rewind.__file__)
EOF
  )
}
check "the wheel's package imports and embeds a store" embed_test "$venv/bin/python"

# serve NAME COMMAND...: starts a server on a wildcard port with the exit
# codeword STOP-NOW, lets the client talk to it, and expects exit status 0.
serve() {
  local name=$1 log status
  shift
  log=$WORK/$name-server.log
  "$@" --in-memory --query-bind-endpoint 'tcp://127.0.0.1:*' \
    --streaming-bind-endpoint '' --command-bind-endpoint '' --publish-bind-endpoint '' \
    --exit-codeword STOP-NOW 2>"$log" &
  server_pid=$!
  if ! (cd "$WORK" && timeout 120 "$venv/bin/python" "$HERE/client.py" "$log" STOP-NOW); then
    kill "$server_pid" 2>/dev/null
    wait "$server_pid"
    server_pid=""
    cat "$log"
    return 1
  fi
  timeout 60 tail --pid="$server_pid" -f /dev/null
  wait "$server_pid"
  status=$?
  server_pid=""
  if [[ $status -ne 0 ]]; then
    cat "$log"
    echo "the server exited with status $status"
    return 1
  fi
}
check "the wheel's rewind command serves until the exit codeword" serve wheel "$venv/bin/rewind"

echo "=== the sdist"
sdist_has_workspace_crates() {
  local list
  list=$(tar tzf "$sdist")
  for f in Cargo.toml Cargo.lock pyproject.toml rewind-core/Cargo.toml rewind-core/src/lib.rs \
    rewind-python/Cargo.toml rewind-python/src/lib.rs python/rewind/__init__.py; do
    grep -qx "rewind-$version/$f" <<<"$list" || { echo "the sdist lacks $f"; return 1; }
  done
}
check "the sdist holds the workspace crates it builds from" sdist_has_workspace_crates
svenv=$WORK/venv-sdist
"$python" -m venv "$svenv"
# The build compiles Rust; the crates compiled for the wheel are reused.
check "pip install the sdist builds it from source in a fresh venv" \
  env CARGO_TARGET_DIR="$TARGET_DIR" "$svenv/bin/pip" install --disable-pip-version-check \
  --no-binary rewind "$sdist"
check "the sdist's package imports and embeds a store" embed_test "$svenv/bin/python"

echo "=== the binary tarball"
check "the binary tarball holds bin/rewind, the licenses and the README" \
  test -x "$BIN/bin/rewind" -a -f "$BIN/LICENSE-MIT" -a -f "$BIN/LICENSE-APACHE" -a -f "$BIN/README.md"
check "bin/rewind --help" bash -c "'$BIN/bin/rewind' --help | grep -q '^Usage: rewind'"
check "bin/rewind --version" bash -c "'$BIN/bin/rewind' --version | grep -q '$version'"
check "bin/rewind serves until the exit codeword" serve binary "$BIN/bin/rewind"
check "bin/rewind-admin is there, without debug info" no_debug_info "$BIN/bin/rewind-admin"
check "bin/rewind-admin reads the store bin/rewind wrote" admin_reads_a_store "$BIN/bin"

echo "=== the librewind tarball"
check "the library tarball holds the SONAME links, both libraries, the headers, pkg-config" \
  test -L "$PREFIX/lib/librewind.so" -a -L "$PREFIX/lib/librewind.so.0" \
  -a "$(readlink "$PREFIX/lib/librewind.so")" = librewind.so.0 \
  -a "$(readlink "$PREFIX/lib/librewind.so.0")" = "librewind.so.$version" \
  -a -f "$PREFIX/lib/librewind.a" -a -f "$PREFIX/include/rewind.h" \
  -a -f "$PREFIX/include/rewind.hpp" -a -f "$PREFIX/lib/pkgconfig/rewind.pc"
check "librewind.so.$version has the SONAME librewind.so.0" \
  bash -c "readelf -d '$PREFIX/lib/librewind.so.$version' | grep -q 'SONAME.*\[librewind.so.0\]'"
only_rewind_symbols() { # the archive's and the library's defined globals
  local extra
  extra=$(nm -g --defined-only --format=posix "$PREFIX/lib/librewind.a" |
    awk 'NF >= 2 && $1 !~ /:$/ && $1 !~ /^rewind_/ && $2 != "u"')
  [[ -z $extra ]] || { echo "librewind.a defines: $extra" | head -20; return 1; }
  extra=$(nm -D --defined-only "$PREFIX/lib/librewind.so.$version" | awk '$3 !~ /^rewind_/')
  [[ -z $extra ]] || { echo "librewind.so defines: $extra" | head -20; return 1; }
  nm -g --defined-only "$PREFIX/lib/librewind.a" | grep -q ' T rewind_server_endpoints$'
}
check "both libraries define no global symbol but rewind_*" only_rewind_symbols

export PKG_CONFIG_PATH=$PREFIX/lib/pkgconfig
check "pkg-config finds rewind $version in the unpacked tree" \
  bash -c "[[ \$(pkg-config --modversion rewind) == '$version' && \
    \$(pkg-config --variable=libdir rewind) -ef '$PREFIX/lib' ]]"
check "pkg-config --static --libs rewind lists the system libraries" \
  bash -c "pkg-config --static --libs rewind | grep -q -- '-lstdc++'"

vg() { valgrind -q --error-exitcode=99 --leak-check=full "$@"; }
cflags="-std=c99 -Wall -Wextra -Wpedantic -Werror -DREWIND_TEST_VERSION=\"$version\""
# shellcheck disable=SC2046,SC2086
build_and_run() { # NAME LINKAGE(shared|static) COMPILER FLAGS SOURCE
  local name=$1 linkage=$2 cc=$3 flags=$4 src=$5 exe=$WORK/$1 libs out found
  if [[ $linkage == shared ]]; then
    libs="$(pkg-config --libs rewind) -Wl,-rpath,$(pkg-config --variable=libdir rewind)"
  else
    libs=$(pkg-config --libs rewind-static)
  fi
  $cc $flags $(pkg-config --cflags rewind) "$src" $libs -o "$exe" || return 1
  if [[ $linkage == shared ]]; then
    readelf -d "$exe" | grep -q 'NEEDED.*\[librewind.so.0\]' || { echo "no NEEDED librewind.so.0"; return 1; }
    found=$(ldd "$exe" | awk '$1 == "librewind.so.0" { print $3 }')
    [[ -n $found && $found -ef $PREFIX/lib/librewind.so.0 ]] || { ldd "$exe"; return 1; }
  else
    ! readelf -d "$exe" | grep -q 'NEEDED.*librewind' || { echo "needs a shared librewind"; return 1; }
  fi
  out=$(vg "$exe") || { echo "$out"; return 1; }
  echo "$out"
  grep -q '^ok tcp://127.0.0.1:[0-9]' <<<"$out"
}
check "a C program links librewind.so via pkg-config and runs under valgrind" \
  build_and_run app-shared shared gcc "$cflags" "$HERE/app.c"
check "a C program links librewind.a via pkg-config and runs under valgrind" \
  build_and_run app-static static gcc "$cflags" "$HERE/app.c"
check "a C++ program with rewind.hpp, shared" \
  build_and_run app-cpp-shared shared g++ "-std=c++17 -Wall -Wextra -Werror" "$HERE/app.cpp"
check "a C++ program with rewind.hpp, static" \
  build_and_run app-cpp-static static g++ "-std=c++17 -Wall -Wextra -Werror" "$HERE/app.cpp"
# Without an rpath, LD_LIBRARY_PATH finds the SONAME.
ld_library_path_run() {
  # shellcheck disable=SC2046
  gcc $cflags $(pkg-config --cflags rewind) "$HERE/app.c" $(pkg-config --libs rewind) \
    -o "$WORK/app-no-rpath" || return 1
  ! "$WORK/app-no-rpath" 2>/dev/null || { echo "ran without finding librewind.so.0?"; return 1; }
  LD_LIBRARY_PATH=$PREFIX/lib "$WORK/app-no-rpath" | grep -q '^ok '
}
check "without an rpath, LD_LIBRARY_PATH finds librewind.so.0" ld_library_path_run
# The example from the repository, as its comment says to build it.
example_run() {
  # shellcheck disable=SC2046
  gcc -std=c99 -Wall "$ROOT/examples/c/example.c" $(pkg-config --cflags --libs rewind-static) \
    -o "$WORK/example" || return 1
  vg "$WORK/example" "$WORK/example-data" | grep -q "conflict, as expected"
}
check "examples/c/example.c builds against the tarball and runs" example_run

finish
