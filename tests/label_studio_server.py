"""A real Label Studio server for the review round trip (tests/test_label_studio_browser.py).

Label Studio lives in its own venv (its pins clash with ours), made by ``scripts/env.sh``:
``$REALSYN_LABEL_STUDIO_VENV``, default ``~/.cache/realsyn/label-studio-<version>``. It runs on
SQLite in a temporary data folder, headless, on 127.0.0.1, with local-files serving on and the
given document root; the first user and its (legacy) API token come from the command line, with
legacy tokens enabled for the new organization (new organizations refuse them otherwise).
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import requests

from tests.conftest import free_port
from tests.test_dagster_dev import _reset_signals, _stop

VERSION = "1.23.2"  # scripts/env.sh installs this one
VENV = Path(
    os.environ.get("REALSYN_LABEL_STUDIO_VENV")
    or Path.home() / ".cache" / "realsyn" / f"label-studio-{VERSION}"
)
EXECUTABLE = VENV / "bin" / "label-studio"
USER, PASSWORD, TOKEN = "rater@example.com", "realsyn-test-pass", "realsyn0test0token0123456789"


def missing() -> str | None:
    """Why Label Studio cannot run here, or None."""
    if not EXECUTABLE.is_file() or not (VENV / ".realsyn-installed").is_file():
        return f"Label Studio's venv is missing ({VENV}; scripts/env.sh makes it)"
    return None


@dataclass
class LabelStudio:
    url: str
    log: Path
    proc: subprocess.Popen

    def api(self, method: str, path: str, **kwargs) -> requests.Response:
        """An API call with the user's token; raises on an HTTP error (with the body)."""
        headers = {"Authorization": f"Token {TOKEN}", **kwargs.pop("headers", {})}
        r = requests.request(method, f"{self.url}{path}", headers=headers, timeout=60, **kwargs)
        if not r.ok:
            raise AssertionError(f"{method} {path}: {r.status_code} {r.text[:2000]}")
        return r

    def log_tail(self, n: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-n:]


def start(data_dir: Path, document_root: Path, timeout: float = 240) -> LabelStudio:
    """Start Label Studio and wait for ``/health``; the caller stops it with :func:`stop`."""
    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHON"))},
        "LABEL_STUDIO_BASE_DATA_DIR": str(data_dir),
        "LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED": "true",
        "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT": str(document_root),
        "DJANGO_DB": "sqlite",
        "COLLECT_ANALYTICS": "false",
        "LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK": "true",
    }
    log = data_dir / "label-studio.log"
    cmd = [str(EXECUTABLE), "start", "--no-browser", "--internal-host", "127.0.0.1"]
    cmd += ["-p", str(port), "--data-dir", str(data_dir), "--username", USER]
    cmd += ["--password", PASSWORD, "--user-token", TOKEN, "--enable-legacy-api-token"]
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            cmd,
            cwd=data_dir,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=_reset_signals,
            start_new_session=True,
        )
    server = LabelStudio(f"http://127.0.0.1:{port}", log, proc)
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"label-studio exited ({proc.returncode}):\n{server.log_tail()}")
        try:
            if requests.get(f"{server.url}/health", timeout=5).ok:
                return server
        except requests.RequestException:
            pass
        time.sleep(2)
    stop(server)
    raise AssertionError(
        f"label-studio answered no /health in {timeout:.0f} s:\n{server.log_tail()}"
    )


def stop(server: LabelStudio) -> None:
    _stop(server.proc)
