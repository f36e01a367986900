#!/usr/bin/env bash
# Run every check: lint, format, and the whole test suite on SQLite and on a real
# MariaDB that the tests install (apt) and start themselves on loopback.
#
# The lab tests (tests/lab: systemd-nspawn hosts running the real playbook) spend most of
# their time waiting on the hosts, so by default they run in a second pytest beside the rest
# (two lanes; their report follows the main one). Naming test paths runs one plain pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
HOPS_WITH_TESTS=1 bash scripts/bootstrap.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .

for arg in "$@"; do
  if [ -e "${arg%%::*}" ]; then exec .venv/bin/pytest "$@"; fi
done

mkdir -p build
lab_log=build/test-lab.log
.venv/bin/pytest "$@" tests/lab > "$lab_log" 2>&1 &
lab=$!
trap 'kill $lab 2>/dev/null || true' EXIT
main_status=0
.venv/bin/pytest "$@" --ignore=tests/lab || main_status=$?
lab_status=0
wait $lab || lab_status=$?
trap - EXIT
echo "---- the lab lane (tests/lab; also in $lab_log) ----"
cat "$lab_log"
# pytest's 5 is "no tests collected" (e.g. -m 'not lab'): not a failure of the lab lane
[ "$lab_status" = 5 ] && lab_status=0
[ "$main_status" = 0 ] && [ "$lab_status" = 0 ]
