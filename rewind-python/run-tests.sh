#!/usr/bin/env bash
# Tests of the Python package `rewind`, in a fresh virtual environment.
#
# Creates target/py-venv (recreated on every run), installs maturin, pytest,
# pytest-timeout, pyzmq, mypy and eventsourcing (the optional dependency
# of rewind.eventsourcing) from PyPI, builds the package's wheel with
# maturin (Cargo's dev profile by default: it reuses what `cargo test`
# built, and is much faster to build than a release wheel; set
# REWIND_PY_PROFILE=release to test the release build), installs it, checks
# the type stubs against the native module and the package with mypy
# --strict, and runs pytest.
#
# Environment: PYTHON (default python3, 3.9 or later), REWIND_PY_PROFILE
# (dev or release), extra arguments are passed to pytest.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
python="${PYTHON:-python3}"
profile="${REWIND_PY_PROFILE:-dev}"
venv="$root/target/py-venv"
wheels="$root/target/py-wheels"

echo "-- fresh virtual environment in $venv ($("$python" --version))"
rm -rf "$venv" "$wheels"
"$python" -m venv "$venv"
vpy="$venv/bin/python"
"$vpy" -m pip install --quiet --disable-pip-version-check --upgrade pip
"$vpy" -m pip install --quiet --disable-pip-version-check \
  "maturin>=1.5,<2" pytest pytest-timeout pyzmq mypy "eventsourcing[crypto]>=9.5,<9.6"

echo "-- building the wheel (cargo profile: $profile)"
if [ "$profile" = "release" ]; then
  "$venv/bin/maturin" build --release --manifest-path "$here/Cargo.toml" --interpreter "$vpy" --out "$wheels"
else
  "$venv/bin/maturin" build --profile "$profile" --manifest-path "$here/Cargo.toml" --interpreter "$vpy" --out "$wheels"
fi
"$vpy" -m pip install --quiet --disable-pip-version-check "$wheels"/rewind-*.whl

echo "-- type checks: the stubs of rewind._native against the module, the package with mypy --strict"
(cd "$root/target" && "$vpy" -m mypy.stubtest rewind._native --ignore-missing-stub)
"$vpy" -m mypy --strict --cache-dir "$root/target/mypy-cache" "$here/python/rewind"

echo "-- pytest"
# Run from the tests directory so that `import rewind` is the installed package.
cd "$here/tests"
"$vpy" -m pytest -p no:cacheprovider --rootdir "$here" -c "$here/pyproject.toml" "$@"
