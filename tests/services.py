"""Real servers for the deployment tests: PostgreSQL and Redis from Debian's packages.

Each helper starts a private server on 127.0.0.1 and a free port in its own temp folder and
stops it (by its PID) on exit. The binaries come from Debian's ``postgresql`` and
``redis-server`` packages (``.ci/run`` installs them). When they are missing the tests skip with
the reason, unless ``REALSYN_REQUIRE_SERVICES=1`` (set by ``.ci/run``), where they fail instead.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import free_port

PG_ROOTS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)


def require(what: str, found: bool) -> None:
    """Skip (or fail under ``REALSYN_REQUIRE_SERVICES=1``) when a server binary is missing."""
    if found:
        return
    reason = f"{what} not installed (Debian: apt-get install postgresql redis-server)"
    if os.environ.get("REALSYN_REQUIRE_SERVICES") == "1":
        pytest.fail(f"REALSYN_REQUIRE_SERVICES=1 but {reason}")
    pytest.skip(reason)


def pg_bin_dir() -> Path | None:
    """The newest PostgreSQL server binaries (Debian's layout first, then ``$PATH``)."""
    for root in PG_ROOTS:
        if (root / "initdb").exists() and (root / "pg_ctl").exists():
            return root
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _reset_signals() -> None:
    # Servers started from some shells inherit SIGINT/SIGTERM as ignored (../shared/ENV.md).
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


@dataclass(frozen=True)
class Postgres:
    host: str
    port: int
    user: str
    password: str
    db_name: str

    def env(self) -> dict[str, str]:
        """The variables ``deploy/dagster.postgres.yaml`` reads."""
        return {
            "DAGSTER_PG_HOST": self.host,
            "DAGSTER_PG_PORT": str(self.port),
            "DAGSTER_PG_USER": self.user,
            "DAGSTER_PG_PASSWORD": self.password,
            "DAGSTER_PG_DB": self.db_name,
        }


@contextmanager
def postgres_server(db_name: str = "dagster") -> Iterator[Postgres]:
    """initdb into a temp folder, start on a free port (password auth), create ``db_name``.

    PostgreSQL refuses to run as root: as root the cluster belongs to the ``postgres`` user
    (Debian's package creates it), or ``nobody``.
    """
    bin_dir = pg_bin_dir()
    require("PostgreSQL server (initdb, pg_ctl)", bin_dir is not None)
    assert bin_dir is not None
    run_as: list[str] = []
    owner = None
    if os.geteuid() == 0:
        name = next(n for n in ("postgres", "nobody") if _user_exists(n))
        owner = pwd.getpwnam(name)
        run_as = ["runuser", "-u", name, "--"]
    root = Path(tempfile.mkdtemp(prefix="realsyn-pg-"))
    data, sock = root / "data", root / "sock"
    sock.mkdir()
    password = "realsyn-test-" + os.urandom(6).hex()
    pwfile = root / "pw"
    pwfile.write_text(password + "\n")
    if owner is not None:
        for p in (root, sock, pwfile):
            os.chown(p, owner.pw_uid, owner.pw_gid)
    port = free_port()

    def pg(*args: str, **kw) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*run_as, *args], check=True, capture_output=True, text=True, timeout=120, **kw
        )

    pg(
        str(bin_dir / "initdb"),
        "-D",
        str(data),
        "-U",
        "realsyn",
        f"--pwfile={pwfile}",
        "--auth=scram-sha-256",
        "-E",
        "UTF8",
        "--locale=C",
    )
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {sock} -c fsync=off"
    try:
        pg(
            str(bin_dir / "pg_ctl"),
            "-D",
            str(data),
            "-o",
            options,
            "-l",
            str(root / "server.log"),
            "-w",
            "start",
            preexec_fn=_reset_signals,
        )
        env = {**os.environ, "PGPASSWORD": password}
        pg(
            str(bin_dir / "createdb"),
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-U",
            "realsyn",
            db_name,
            env=env,
        )
        yield Postgres("127.0.0.1", port, "realsyn", password, db_name)
    finally:
        subprocess.run(
            [*run_as, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(root, ignore_errors=True)


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


@contextmanager
def redis_server() -> Iterator[str]:
    """A private ``redis-server`` (no persistence) on 127.0.0.1; yields ``redis://...``."""
    exe = shutil.which("redis-server") or (
        "/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None
    )
    require("redis-server", exe is not None)
    assert exe is not None
    root = Path(tempfile.mkdtemp(prefix="realsyn-redis-"))
    port = free_port()
    log = open(root / "redis.log", "wb")
    proc = subprocess.Popen(
        [exe, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"]
        + ["--dir", str(root), "--daemonize", "no"],
        stdout=log,
        stderr=subprocess.STDOUT,
        preexec_fn=_reset_signals,
        start_new_session=True,
    )
    try:
        deadline = time.time() + 30
        while not _redis_ping(port):
            if proc.poll() is not None or time.time() > deadline:
                raise RuntimeError(
                    f"redis-server did not start: {(root / 'redis.log').read_text()}"
                )
            time.sleep(0.1)
        yield f"redis://127.0.0.1:{port}"
    finally:
        stop_process_group(proc)
        log.close()
        shutil.rmtree(root, ignore_errors=True)


def _redis_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def stop_process_group(proc: subprocess.Popen, timeout: float = 30) -> None:
    """SIGTERM the process group started with ``start_new_session``; SIGKILL if it lingers."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    except ProcessLookupError:
        pass
