#!/usr/bin/env bash
# Run every check: lint, format, and the whole test suite on SQLite and on a real
# MariaDB that the tests install (apt) and start themselves on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
HOPS_WITH_TESTS=1 bash scripts/bootstrap.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
exec .venv/bin/pytest "$@"
