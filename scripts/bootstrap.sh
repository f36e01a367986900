#!/usr/bin/env bash
# Install what the project needs on a fresh Debian machine: system packages (as root),
# then a virtualenv in .venv with the project (and, with HOPS_WITH_TESTS=1, its test tools:
# MariaDB, a Kafka-protocol broker, pyspark). Safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
python3 -c 'import venv, ensurepip' 2>/dev/null || need_apt+=(python3-venv python3-pip)
command -v bwrap >/dev/null || need_apt+=(bubblewrap)  # the embedded job runner's sandbox
if [ "${HOPS_WITH_TESTS:-0}" = 1 ] && ! command -v mariadbd >/dev/null && [ ! -x /usr/sbin/mariadbd ]; then
  need_apt+=(mariadb-server)
fi
if [ "${HOPS_WITH_TESTS:-0}" = 1 ] && ! command -v java >/dev/null; then
  need_apt+=(openjdk-17-jre-headless)  # the Spark Thrift Server the Hive tests start
fi
if [ "${HOPS_WITH_TESTS:-0}" = 1 ] && ! command -v ruby >/dev/null; then
  need_apt+=(ruby)  # the Vagrantfile is evaluated (VMs cannot boot here)
fi
command -v npm >/dev/null || need_apt+=(nodejs npm)  # builds the web UI (Node >= 18)
if [ "${HOPS_WITH_TESTS:-0}" = 1 ] && [ ! -x /usr/bin/chromium ]; then
  need_apt+=(chromium)  # the browser tests (Playwright drives Debian's chromium)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "please install: ${need_apt[*]} (apt-get, as root)" >&2; exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

# the web UI's static assets, which the package ships (no Node at run time)
bash scripts/build-ui.sh

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
extras="[notebooks]"  # JupyterLab for notebook servers in the default environment
[ "${HOPS_WITH_TESTS:-0}" = 1 ] && extras="[notebooks,test]"
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".${extras}"
# the model servers' environment (kserve, scikit-learn): built once per machine, cached by
# its requirements' hash under ~/.cache/hopsworks-api (servings/model_server_env.py)
.venv/bin/python -m hopsworks_api.servings.model_server_env >/dev/null
