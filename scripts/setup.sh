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

# age and zstd: the by-hand restore of an encrypted backup (age -d -i KEY FILE | zstd -d | pg_restore),
# which the tests run word for word. Optional: without them that one test is skipped.
if ! command -v age >/dev/null 2>&1 || ! command -v zstd >/dev/null 2>&1; then
    if [ "$(id -u)" -eq 0 ]; then
        echo "installing age and zstd with apt-get..." >&2
        export DEBIAN_FRONTEND=noninteractive
        { apt-get update -qq && apt-get install -y -qq --no-install-recommends age zstd >/dev/null; } \
            || echo "could not install age and zstd: the by-hand decryption test will be skipped" >&2
    else
        echo "note: age or zstd is missing (sudo apt-get install age zstd): the by-hand decryption test is skipped" >&2
    fi
fi

extras="${1:-}"
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".${extras:+[$extras]}"
# An editable install compiles nothing (a wheel's does): compiled once here, a launch does not compile our
# modules again each time where PYTHONDONTWRITEBYTECODE keeps Python from saving them (about 0.1 s).
.venv/bin/python -m compileall -q -j 0 backup_tui headless >/dev/null
