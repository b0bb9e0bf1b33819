"""`dagster dev -w workspace.yaml` starts, and its GraphQL endpoint lists the assets."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.conftest import REPO, free_port

pytestmark = pytest.mark.slow


def _reset_signals():
    # Servers started from some shells inherit SIGINT/SIGTERM as ignored; restore defaults.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _stop(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def test_dagster_dev_serves_the_asset_graph(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    port = free_port()
    env = {**os.environ, "DAGSTER_HOME": str(home), "REALSYN_DATA_ROOT": str(tmp_path / "data")}
    dagster = Path(sys.executable).parent / "dagster"
    log = open(tmp_path / "dev.log", "wb")
    proc = subprocess.Popen(
        [str(dagster), "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        preexec_fn=_reset_signals,
        start_new_session=True,
    )
    query = "{ assetNodes { assetKey { path } } }"
    try:
        deadline = time.time() + 120
        data = None
        while time.time() < deadline and proc.poll() is None:
            try:
                resp = requests.post(
                    f"http://127.0.0.1:{port}/graphql", json={"query": query}, timeout=5
                )
                if resp.ok and resp.json().get("data", {}).get("assetNodes"):
                    data = resp.json()["data"]
                    break
            except requests.RequestException:
                pass
            time.sleep(1)
        assert data is not None, (tmp_path / "dev.log").read_text()[-3000:]
        keys = {"/".join(n["assetKey"]["path"]) for n in data["assetNodes"]}
        assert "raw_documents" in keys
    finally:
        _stop(proc)
        log.close()
    assert proc.returncode is not None
