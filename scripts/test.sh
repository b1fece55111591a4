#!/usr/bin/env bash
# Install what the tests need and run them all: pytest (real PostgreSQL, real terminal),
# then ruff, mypy and the import contracts.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test
.venv/bin/pytest -n 2 --dist loadfile -p no:cacheprovider "$@"
.venv/bin/ruff check .
.venv/bin/mypy
.venv/bin/lint-imports
