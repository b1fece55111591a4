#!/usr/bin/env bash
# Make this machine ready: PostgreSQL 15 server binaries (apt-get, when missing) and the
# project in a virtual environment at .venv. Safe to run again; quiet when all is there.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "PostgreSQL server binaries are missing: run 'sudo apt-get install postgresql-15' first" >&2
        exit 2
    fi
    echo "installing PostgreSQL 15 server binaries with apt-get..." >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends postgresql-15 postgresql-client-15 >/dev/null
fi
# Debian's package may start a cluster of its own: we never use it (tests start their own).

extras="${1:-}"
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".${extras:+[$extras]}"
