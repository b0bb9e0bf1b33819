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
# CMU link-grammar (the CAT rule's parser) comes from Debian's packages; its Python module is
# built for the system's Python 3.11, which is ABI-compatible with ours: link only that module
# into the venv (not the whole dist-packages folder, whose other packages would shadow ours).
lg=/usr/lib/python3/dist-packages/linkgrammar
if [ ! -d "$lg" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "[realsyn] installing link-grammar from Debian's packages"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      python3-link-grammar link-grammar-dictionaries-en) >/dev/null 2>&1 \
    || echo "[realsyn] WARNING: could not install link-grammar; the CAT filter will be reported as not applied"
fi
# Headless Chromium for the browser test of the Dagster UI (tests/test_ui_browser.py): Debian's
# own build (Playwright drives /usr/bin/chromium; no browser is downloaded).
if [ ! -x /usr/bin/chromium ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "[realsyn] installing chromium from Debian's packages"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      chromium chromium-driver) >/dev/null 2>&1 \
    || echo "[realsyn] WARNING: could not install chromium; the browser test will skip (or fail under REALSYN_REQUIRE_BROWSER=1)"
fi
site="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
if [ -d "$lg" ] && "$venv/bin/python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
  mkdir -p "$venv/system-linkgrammar"
  ln -sfn "$lg" "$venv/system-linkgrammar/linkgrammar"
  echo "$venv/system-linkgrammar" > "$site/realsyn-linkgrammar.pth"
fi
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "[realsyn] installing dependencies (a few minutes on a fresh machine)"
  start=$(date +%s)
  log="$venv/install.log"
  : > "$log"
  set -f  # "$root[dev]" below must not be globbed
  for args in "--upgrade pip setuptools wheel" "torch==2.14.1 torchvision==0.29.1" "-e $root[dev]"; do
    # shellcheck disable=SC2086
    if ! "$venv/bin/python" -m pip install $args >>"$log" 2>&1; then
      grep -v "is ignored" "$log" | tail -40; echo "[realsyn] pip install $args failed (log: $log)"; exit 1
    fi
  done
  set +f
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
# Label Studio for the review round trip in a real browser (tests/test_label_studio_browser.py):
# its pins (redis<5.3, pyarrow<25) clash with ours, so it gets its own venv, keyed by the pinned
# version (REALSYN_LABEL_STUDIO_VENV overrides the folder). A failed install only warns: the test
# skips without it (or fails under REALSYN_REQUIRE_BROWSER=1).
ls_version=1.23.2
ls_venv="${REALSYN_LABEL_STUDIO_VENV:-$HOME/.cache/realsyn/label-studio-$ls_version}"
if [ ! -f "$ls_venv/.realsyn-installed" ]; then
  echo "[realsyn] installing label-studio $ls_version in its own venv ($ls_venv)"
  ls_start=$(date +%s)
  mkdir -p "$(dirname "$ls_venv")"
  if ( "$py" -m venv "$ls_venv" && "$ls_venv/bin/python" -m pip install -q --upgrade pip \
       && "$ls_venv/bin/python" -m pip install -q "label-studio==$ls_version" ) >"$ls_venv.log" 2>&1; then
    echo "$ls_version" > "$ls_venv/.realsyn-installed"
    echo "[realsyn] label-studio installed in $(( $(date +%s) - ls_start )) s"
  else
    grep -v "is ignored" "$ls_venv.log" | tail -5 || true
    echo "[realsyn] WARNING: could not install label-studio; the Label Studio browser test will skip (or fail under REALSYN_REQUIRE_BROWSER=1)"
  fi
fi
