#!/usr/bin/env bash
# README command 2 (and what CI runs): set up the environment, lint, run the whole test suite.
# pytest exits non-zero when a test fails and also when no test was collected (exit 5).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/env.sh
venv="${REALSYN_VENV:-$root/.venv}"
export GX_ANALYTICS_ENABLED=False DAGSTER_DISABLE_TELEMETRY=1
"$venv/bin/ruff" check realsyn resources checks realsyn_assets tests bench scripts
"$venv/bin/python" -m pytest "$@"
