#!/usr/bin/env bash
# Runs every test of the project: Rust (unit, engine (on memory, LMDB and a
# throwaway PostgreSQL cluster), end-to-end against the real binary,
# reliability), the C/C++ ABI tests with the header check, the
# Python package in a fresh virtual environment, and the installable
# artifacts (scripts/package.sh), each installed and used.
set -euo pipefail
cd "$(dirname "$0")"

echo "== PostgreSQL for the PostgreSQL backend's tests (installed when initdb is missing)"
bash scripts/install-postgres.sh

echo "== Rust tests"
cargo test --workspace --exclude rewind-python

if [ -f tests/c/run.sh ]; then
  echo "== C and C++ tests"
  bash tests/c/run.sh
fi

if [ -f rewind-python/run-tests.sh ]; then
  echo "== Python tests"
  bash rewind-python/run-tests.sh
fi

echo "== Packaging: the artifacts of scripts/package.sh, installed and used"
bash tests/packaging/run.sh
