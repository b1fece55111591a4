#!/usr/bin/env bash
# Install and open the terminal app on the built-in demo (a throwaway cluster with real backups).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/backup-tui --demo "$@"
