#!/usr/bin/env bash
# Set up (first run) and start the control service with embedded defaults:
# SQLite + local storage under ~/.hops (override with HOPS_DATA_DIR), port 8181.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/hops serve "$@"
