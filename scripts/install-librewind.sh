#!/usr/bin/env bash
# Installs librewind, built by cargo, into an install tree:
#
#   PREFIX/lib/librewind.so.X.Y.Z         the shared library (SONAME librewind.so.X)
#   PREFIX/lib/librewind.so.X -> librewind.so.X.Y.Z
#   PREFIX/lib/librewind.so   -> librewind.so.X
#   PREFIX/lib/librewind.a                the static library: only rewind_* global
#   PREFIX/lib/pkgconfig/rewind.pc        pkg-config: `pkg-config --cflags --libs rewind`
#   PREFIX/lib/pkgconfig/rewind-static.pc the same, linking librewind.a
#   PREFIX/include/rewind.h, rewind.hpp   the C header and the C++17 wrapper
#
# Usage: scripts/install-librewind.sh [--relocatable] [--keep-debug] CARGO_OUT PREFIX
#   CARGO_OUT  the directory cargo built rewind-ffi into, e.g. target/dist after
#              `cargo build --profile dist -p rewind-ffi` (or target/release)
#   PREFIX     where to install, e.g. /usr/local; created when missing
#   --relocatable  the .pc files locate the tree from their own place
#              (${pcfiledir}) instead of naming PREFIX: for a tarball that is
#              unpacked anywhere
#   --keep-debug   keep the debug info in librewind.a (the test builds)

# The static library that cargo writes carries all of Rust's standard
# library, libzmq and LMDB with their symbols global, so a program that links
# its own libzmq would be bound to Rewind's copy (or fail on duplicates).
# Here it becomes one relocatable object in which every symbol but the
# rewind_* functions is renamed (prefix __rewind_private_) and made local:
# the C++ COMDAT groups are renamed with their symbols so that the linker
# never merges Rewind's copies with the program's. The one exception is a
# symbol of type "u" (GNU unique), an object from libstdc++'s headers that
# the C++ ABI keeps once per process. The result is checked with nm.
set -euo pipefail
export LC_ALL=C # one sort order for sort and comm

relocatable=0
keep_debug=0
while [[ $# -gt 0 && $1 == --* ]]; do
  case $1 in
    --relocatable) relocatable=1 ;;
    --keep-debug) keep_debug=1 ;;
    *) echo "install-librewind: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
if [[ $# -ne 2 ]]; then
  sed -n '2,/^$/p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
fi

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
src=$(cd "$1" && pwd)
mkdir -p "$2"
prefix=$(cd "$2" && pwd)
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$ROOT/Cargo.toml" | head -1)
major=${version%%.*}
for f in librewind.so librewind.a; do
  [[ -f $src/$f ]] || { echo "install-librewind: $src/$f is missing (cargo build -p rewind-ffi first)" >&2; exit 1; }
done
soname=$(readelf -d "$src/librewind.so" | sed -n 's/.*Library soname: \[\(.*\)\].*/\1/p')
if [[ $soname != "librewind.so.$major" ]]; then
  echo "install-librewind: $src/librewind.so has SONAME '$soname', not librewind.so.$major" >&2
  exit 1
fi

# The system libraries a program linked with librewind.a needs, as
# `rustc --print native-static-libs` lists them for rewind-ffi (libzmq in it
# needs libstdc++).
static_libs="-lstdc++ -lgcc_s -lutil -lrt -lpthread -lm -ldl"

mkdir -p "$prefix/lib/pkgconfig" "$prefix/include"
rm -f "$prefix/lib/librewind.so" "$prefix/lib/librewind.so.$major" "$prefix/lib/librewind.so.$version"
install -m 755 "$src/librewind.so" "$prefix/lib/librewind.so.$version"
ln -s "librewind.so.$version" "$prefix/lib/librewind.so.$major"
ln -s "librewind.so.$major" "$prefix/lib/librewind.so"
install -m 644 "$ROOT/include/rewind.h" "$prefix/include/rewind.h"
install -m 644 "$ROOT/bindings/cpp/rewind.hpp" "$prefix/include/rewind.hpp"

# --- the static library, with only rewind_* global
work=$(mktemp -d "${TMPDIR:-/tmp}/rewind-install-XXXXXX")
trap 'rm -rf "$work"' EXIT
# The rewind_* functions: those to keep global.
nm -g --defined-only --format=posix "$src/librewind.a" 2>/dev/null |
  awk 'NF >= 2 && $1 ~ /^rewind_/ { print $1 }' | sort -u >"$work/keep"
[[ -s $work/keep ]] || { echo "install-librewind: no rewind_ symbol in $src/librewind.a" >&2; exit 1; }
# One object. Rust's objects carry LLVM bitcode (.llvmbc), which means
# nothing to a C linker and, once the objects are merged, is no longer valid
# bitcode: a linker or ar with LLVM's plugin would stop on it.
ld -r --whole-archive "$src/librewind.a" -o "$work/merged.o"
strip_debug=(--strip-debug)
if [[ $keep_debug == 1 ]]; then strip_debug=(); fi
objcopy "${strip_debug[@]}" --remove-section=.llvmbc --remove-section=.llvmcmd \
  "$work/merged.o" "$work/clean.o"
# Every other defined global, and every COMDAT group's signature, gets a
# private name (GNU unique objects keep theirs, see above).
{
  nm --defined-only --extern-only --format=posix "$work/clean.o" | awk '$2 != "u" { print $1 }'
  readelf -gW "$work/clean.o" | sed -n "s/^COMDAT group section \[ *[0-9]*\] \`[^']*' \[\(.*\)\] contains.*/\1/p"
} | grep -v '^rewind_' | sort -u >"$work/private"
nm --defined-only --extern-only --format=posix "$work/clean.o" | awk '$2 == "u" { print $1 }' |
  sort -u >"$work/unique"
comm -23 "$work/private" "$work/unique" | awk '{ print $1, "__rewind_private_" $1 }' >"$work/rename"
objcopy --redefine-syms="$work/rename" --keep-global-symbols="$work/keep" \
  "$work/clean.o" "$work/librewind.o"
rm -f "$prefix/lib/librewind.a"
ar rcsD "$prefix/lib/librewind.a" "$work/librewind.o"
chmod 644 "$prefix/lib/librewind.a"

# The check: rewind_* and GNU unique objects are the only defined globals.
leaked=$(nm -g --defined-only --format=posix "$prefix/lib/librewind.a" |
  awk 'NF >= 2 && $1 !~ /^rewind_/ && $2 != "u" && $1 !~ /:$/ { print $1 }')
if [[ -n $leaked ]]; then
  echo "install-librewind: librewind.a still exports symbols other than rewind_*:" >&2
  head -20 <<<"$leaked" >&2
  exit 1
fi
exported=$(nm -g --defined-only --format=posix "$prefix/lib/librewind.a" | awk '$1 ~ /^rewind_/' | wc -l)
if [[ $exported -ne $(wc -l <"$work/keep") ]]; then
  echo "install-librewind: librewind.a lost rewind_ symbols" >&2
  exit 1
fi

# --- pkg-config
if [[ $relocatable == 1 ]]; then
  pc_prefix='${pcfiledir}/../..'
else
  pc_prefix=$prefix
fi
cat >"$prefix/lib/pkgconfig/rewind.pc" <<EOF
# librewind, the C ABI of the Rewind event store.
# Shared:  cc app.c \$(pkg-config --cflags --libs rewind)
# Static:  cc app.c \$(pkg-config --cflags --libs rewind-static)
prefix=$pc_prefix
libdir=\${prefix}/lib
includedir=\${prefix}/include

Name: rewind
Description: Rewind event store: LMDB storage and a ZeroMQ server, in-process (C ABI)
Version: $version
Cflags: -I\${includedir}
Libs: -L\${libdir} -lrewind
Libs.private: $static_libs
EOF
cat >"$prefix/lib/pkgconfig/rewind-static.pc" <<EOF
# librewind linked statically: the archive itself, then the system libraries
# it needs (its libzmq, LMDB and Rust runtime are private to it).
prefix=$pc_prefix
libdir=\${prefix}/lib
includedir=\${prefix}/include

Name: rewind-static
Description: Rewind event store, C ABI, as a static library
Version: $version
Cflags: -I\${includedir}
Libs: \${libdir}/librewind.a $static_libs
EOF
echo "installed librewind $version in $prefix"
