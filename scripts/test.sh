#!/usr/bin/env bash
# Run every check: lint, format, and the whole test suite on SQLite and on a real
# MariaDB that the tests install (apt) and start themselves on loopback.
#
# The lab tests (tests/lab: systemd-nspawn hosts running the real playbook) spend most of
# their time waiting on the hosts, so by default they run in two more pytests beside the rest
# (three lanes; the lab lanes' reports follow the main one). Naming test paths runs one
# plain pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
HOPS_WITH_TESTS=1 bash scripts/bootstrap.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .

for arg in "$@"; do
  if [ -e "${arg%%::*}" ]; then exec .venv/bin/pytest "$@"; fi
done

mkdir -p build
# The lab tests wait on their hosts most of the time, so they run in two lanes of their own
# beside the rest: the second takes the modules named here, the first every other one.
second_lane=(tests/lab/test_twins.py tests/lab/test_galera.py tests/lab/test_upgrade.py)
first_log=build/test-lab.log second_log=build/test-lab-2.log
.venv/bin/pytest "$@" tests/lab "${second_lane[@]/#/--ignore=}" > "$first_log" 2>&1 &
first=$!
.venv/bin/pytest "$@" "${second_lane[@]}" > "$second_log" 2>&1 &
second=$!
trap 'kill $first $second 2>/dev/null || true' EXIT
main_status=0
.venv/bin/pytest "$@" --ignore=tests/lab || main_status=$?
lab_status=0
for lane in "$first:$first_log" "$second:$second_log"; do
  status=0
  wait "${lane%%:*}" || status=$?
  echo "---- a lab lane (${lane#*:}) ----"
  cat "${lane#*:}"
  # pytest's 5 is "no tests collected" (e.g. -m 'not lab'): not a failure of a lab lane
  [ "$status" = 5 ] || [ "$status" = 0 ] || lab_status=$status
done
trap - EXIT
[ "$main_status" = 0 ] && [ "$lab_status" = 0 ]
