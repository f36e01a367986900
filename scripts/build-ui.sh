#!/usr/bin/env bash
# Build the web UI (ui/) into components/hopsworks_api/webui/dist, which the Python package
# ships and `hops serve` serves. Node is needed here, at build time, never at run time.
# Skipped when the build is newer than every source file and the lock (safe to re-run).
set -euo pipefail
cd "$(dirname "$0")/../ui"
# one build at a time in this checkout (vite empties the output directory first)
exec 9>node_modules.lock && flock 9
dist=../components/hopsworks_api/webui/dist/index.html
if [ -f "$dist" ] && [ -z "$(find src index.html vite.config.js package-lock.json -newer "$dist" -print -quit)" ]; then
  exit 0
fi
# npm ci: exactly the lock's versions, again whenever the lock changed; install scripts are
# not run (none is needed)
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
fi
npx vite build --logLevel warn
