#!/usr/bin/env bash
# The C ABI's test command: builds librewind (debug), checks that
# include/rewind.h is what the pinned cbindgen generates, installs the
# library into a tree of its own with scripts/install-librewind.sh (the
# SONAME links, a librewind.a whose only global symbols are rewind_*), then
# compiles the C tests, the C++ wrapper test and the C example with gcc/g++
# (-Wall -Wextra -Wpedantic -Werror) against both librewind.so and
# librewind.a from that tree, and runs each under valgrind (no leaks, no
# invalid accesses), with no suppression file.
#
# Needs only gcc, g++, valgrind and the Rust toolchain. Exits non-zero on any
# failure; the last line is "N passed, M failed" (test cases).
# Environment: REWIND_NO_VALGRIND=1 runs the programs directly.
set -u -o pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
CARGO_OUT=$TARGET_DIR/debug
OUT=$TARGET_DIR/c-tests
# The install tree the programs build against.
PREFIX=$OUT/prefix
LIB_DIR=$PREFIX/lib
mkdir -p "$OUT"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/rewind-c-run-XXXXXX")
trap 'rm -rf "$WORK"' EXIT

CFLAGS="-std=c99 -Wall -Wextra -Wpedantic -Werror -g -I$PREFIX/include -Itests/c"
CXXFLAGS="-std=c++17 -Wall -Wextra -Wpedantic -Werror -g -I$PREFIX/include"

passed=0
failed=0
failures=()

fail() {
  failed=$((failed + 1))
  failures+=("$1")
  echo "FAILED: $1"
}

# Adds the counts of a program's "cases: N passed, M failed" line; a program
# that crashed or printed no such line counts as one failure.
count_cases() { # name logfile exit-status
  local line p f
  line=$(grep -E '^cases: [0-9]+ passed, [0-9]+ failed$' "$2" | tail -1)
  if [[ -z $line ]]; then
    fail "$1 (exit $3, no summary)"
    return
  fi
  p=$(sed -E 's/^cases: ([0-9]+) passed, ([0-9]+) failed$/\1/' <<<"$line")
  f=$(sed -E 's/^cases: ([0-9]+) passed, ([0-9]+) failed$/\2/' <<<"$line")
  passed=$((passed + p))
  failed=$((failed + f))
  if [[ $f -ne 0 ]]; then failures+=("$1 ($f cases)"); fi
  if [[ $3 -ne 0 && $f -eq 0 ]]; then fail "$1 (exit $3: valgrind errors or a crash)"; fi
}

run_program() { # name binary [args...]
  local name=$1 log=$OUT/$1.log status
  shift
  echo "--- $name"
  if [[ ${REWIND_NO_VALGRIND:-} == 1 ]]; then
    timeout 600 "$@" >"$log" 2>&1
  else
    timeout 600 valgrind -q --error-exitcode=99 --leak-check=full \
      --errors-for-leak-kinds=definite,indirect,possible "$@" >"$log" 2>&1
  fi
  status=$?
  cat "$log"
  return $status
}

echo "=== building rewind-ffi"
if ! cargo build -p rewind-ffi; then
  echo "0 passed, 1 failed"
  exit 1
fi

echo "=== the Rust tests of rewind-ffi, with the header check (pinned cbindgen)"
if cargo test -p rewind-ffi 2>&1 | tee "$OUT/cargo-test.log"; then
  for n in $(grep -E '^test result: ok\.' "$OUT/cargo-test.log" | sed -E 's/.* ([0-9]+) passed.*/\1/'); do
    passed=$((passed + n))
  done
else
  fail "cargo test -p rewind-ffi (a stale include/rewind.h is regenerated with: REWIND_BLESS=1 cargo test -p rewind-ffi --test header)"
fi

echo "=== the header compiles alone as C99, C11, C++11 and C++17"
printf '#include "rewind.h"\nint main(void) { return rewind_status_text(REWIND_STATUS_OK)[0] == 0; }\n' >"$WORK/header.c"
cp "$WORK/header.c" "$WORK/header.cpp"
header_ok=1
for std in c99 c11; do
  gcc -std=$std -Wall -Wextra -Wpedantic -Werror -Iinclude -c "$WORK/header.c" -o "$WORK/h.o" || header_ok=0
done
for std in c++11 c++17; do
  g++ -std=$std -Wall -Wextra -Wpedantic -Werror -Iinclude -c "$WORK/header.cpp" -o "$WORK/h.o" || header_ok=0
done
if [[ $header_ok == 1 ]]; then passed=$((passed + 1)); else fail "header compiles cleanly"; fi

echo "=== installing librewind into $PREFIX"
rm -rf "$PREFIX"
if ! bash scripts/install-librewind.sh --keep-debug "$CARGO_OUT" "$PREFIX"; then
  fail "scripts/install-librewind.sh"
  echo "$passed passed, $failed failed"
  exit 1
fi
passed=$((passed + 1))
# The system libraries that librewind.a needs, as rewind-static.pc lists them.
STATIC_LIBS=$(sed -n 's/^Libs: [^ ]*librewind\.a //p' "$LIB_DIR/pkgconfig/rewind-static.pc")

# libzmq for the tests' ZeroMQ clients: the one zmq-sys built (from source)
# for this target directory; the newest build if there are several.
ZMQ_LIB=""
ZMQ_INCLUDE=""
for out in $(ls -t "$CARGO_OUT"/build/zmq-sys-*/output 2>/dev/null); do
  lib=$(grep '^cargo:lib=' "$out" | cut -d= -f2-)
  inc=$(grep '^cargo:include=' "$out" | cut -d= -f2-)
  if [[ -f $lib/libzmq.a && -f $inc/zmq.h ]]; then
    ZMQ_LIB=$lib/libzmq.a
    ZMQ_INCLUDE=$inc
    break
  fi
done
if [[ -z $ZMQ_LIB ]]; then
  fail "finding the libzmq.a that zmq-sys built under $CARGO_OUT/build"
  echo "$passed passed, $failed failed"
  exit 1
fi
# That libzmq has CURVE, on the libsodium that libsodium-sys-stable built
# for the same target directory: the clients link it too.
SODIUM_LIB=""
for out in $(ls -t "$CARGO_OUT"/build/libsodium-sys-stable-*/output 2>/dev/null); do
  lib=$(grep '^cargo:lib=' "$out" | cut -d= -f2-)
  if [[ -f $lib/libsodium.a ]]; then
    SODIUM_LIB=$lib/libsodium.a
    break
  fi
done
if [[ -z $SODIUM_LIB ]]; then
  fail "finding the libsodium.a that libsodium-sys-stable built under $CARGO_OUT/build"
  echo "$passed passed, $failed failed"
  exit 1
fi
ZMQ_LIB="$ZMQ_LIB $SODIUM_LIB"
echo "libzmq for the test clients: $ZMQ_LIB"

# compile NAME LINKAGE COMPILER FLAGS SOURCE [uses-zmq]
compile() {
  local name=$1 linkage=$2 cc=$3 flags=$4 src=$5 zmq=${6:-} bin=$OUT/$1-$2
  local libs
  local extra=()
  if [[ -n $zmq ]]; then extra=(-isystem "$ZMQ_INCLUDE"); fi
  if [[ $linkage == shared ]]; then
    libs="-L$LIB_DIR -lrewind -Wl,-rpath,$LIB_DIR"
    # The test's own ZeroMQ client is libzmq.a, which needs libstdc++.
    if [[ -n $zmq ]]; then libs="$libs $ZMQ_LIB -lstdc++"; fi
  else
    # librewind.a keeps its libzmq private: the test's own ZeroMQ client is
    # a second copy, as in a program that links its own libzmq.
    libs="$LIB_DIR/librewind.a"
    if [[ -n $zmq ]]; then libs="$libs $ZMQ_LIB"; fi
    libs="$libs $STATIC_LIBS"
  fi
  # shellcheck disable=SC2086
  if ! $cc $flags "${extra[@]}" "$src" $libs -pthread -o "$bin"; then
    return 1
  fi
  # A shared build asks for the SONAME; a static one for no librewind.
  if [[ $linkage == shared ]] && ! readelf -d "$bin" | grep -q 'NEEDED.*\[librewind\.so\.0\]'; then
    echo "$bin does not ask for librewind.so.0" >&2
    return 1
  fi
  if [[ $linkage == static ]] && readelf -d "$bin" | grep -q 'NEEDED.*librewind'; then
    echo "$bin needs a shared librewind" >&2
    return 1
  fi
  echo "$bin"
}

for linkage in shared static; do
  echo "=== against librewind ($linkage)"
  for t in "store_test gcc tests/c/store_test.c" \
           "es_test gcc tests/c/es_test.c" \
           "server_test gcc tests/c/server_test.c zmq" \
           "client_test gcc tests/c/client_test.c" \
           "wrapper_test g++ tests/cpp/wrapper_test.cpp zmq"; do
    read -r name cc src zmq <<<"$t"
    if [[ $cc == gcc ]]; then flags=$CFLAGS; else flags=$CXXFLAGS; fi
    if ! bin=$(compile "$name" "$linkage" "$cc" "$flags" "$src" "$zmq"); then
      fail "compiling $name ($linkage)"
      continue
    fi
    run_program "$name-$linkage" "$bin"
    count_cases "$name ($linkage)" "$OUT/$name-$linkage.log" $?
  done

  # The example must build with the flags a user would copy, and run.
  if bin=$(compile example "$linkage" gcc "$CFLAGS" examples/c/example.c); then
    if run_program "example-$linkage" "$bin" "$WORK/example-$linkage" &&
      grep -q "conflict, as expected" "$OUT/example-$linkage.log"; then
      passed=$((passed + 1))
    else
      fail "running examples/c/example.c ($linkage)"
    fi
  else
    fail "compiling examples/c/example.c ($linkage)"
  fi
done

echo
if [[ ${#failures[@]} -gt 0 ]]; then
  printf 'failed: %s\n' "${failures[@]}"
fi
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
