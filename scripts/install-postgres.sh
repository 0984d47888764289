#!/usr/bin/env bash
# Makes PostgreSQL's server programs (initdb, pg_ctl, postgres) available
# for the tests of the PostgreSQL backend, which start a throwaway cluster
# of their own. Does nothing when initdb is found (on the PATH or in
# Debian's /usr/lib/postgresql/*/bin); otherwise installs Debian's
# `postgresql` package (as root, or through sudo). The package's own
# cluster is not used.
set -euo pipefail

found() {
  command -v initdb >/dev/null 2>&1 && return 0
  compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null
}

if found; then
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-postgres.sh: initdb not found and apt-get is missing; install PostgreSQL's server programs" >&2
  exit 1
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    sudo=(sudo -n)
  else
    echo "install-postgres.sh: initdb not found; run as root (or with sudo) to install postgresql" >&2
    exit 1
  fi
fi

echo "install-postgres.sh: installing postgresql with apt-get" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -q >&2
"${sudo[@]}" apt-get install -y -q --no-install-recommends postgresql >&2

if ! found; then
  echo "install-postgres.sh: postgresql was installed but initdb is still not found" >&2
  exit 1
fi
