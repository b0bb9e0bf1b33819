#!/usr/bin/env bash
# Creates (or reuses) the project's virtual environment and installs realsyn into it.
# Source it or run it; REALSYN_VENV picks the folder (default: .venv in the repo root).
# torch/torchvision are installed first and pinned, as ../shared/ENV.md requires.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${REALSYN_VENV:-$root/.venv}"
py="${REALSYN_PYTHON:-python3.11}"
command -v "$py" >/dev/null 2>&1 || py=python3
stamp="$venv/.realsyn-installed"
want="$(cat "$root/pyproject.toml" | sha256sum | cut -c1-16)"
if [ ! -x "$venv/bin/python" ]; then
  echo "[realsyn] creating virtual environment in $venv"
  "$py" -m venv "$venv"
fi
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "[realsyn] installing dependencies (a few minutes on a fresh machine)"
  start=$(date +%s)
  "$venv/bin/python" -m pip install -q --upgrade pip setuptools wheel
  "$venv/bin/python" -m pip install -q torch==2.14.1 torchvision==0.29.1
  "$venv/bin/python" -m pip install -q -e "$root[dev]"
  echo "$want" > "$stamp"
  echo "[realsyn] installed in $(( $(date +%s) - start )) s"
else
  # The code is installed editable; make sure the link points at this checkout.
  log="$(mktemp)"
  if ! "$venv/bin/python" -m pip install -q --no-deps --no-build-isolation -e "$root" >"$log" 2>&1; then
    cat "$log"; rm -f "$log"; exit 1
  fi
  rm -f "$log"
fi
