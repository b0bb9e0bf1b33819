"""Scale-out on Dagster's own executors, for real: the multiprocess executor with a concurrency
limit, and the Celery executor with a Redis broker, two worker processes, S3 storage (moto's
server) and the PostgreSQL instance. Runs are launched through ``dagster job execute`` with the
executor that ``REALSYN_EXECUTOR`` selects in definitions.py."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest

from realsyn_assets.partitions import shard_partitions
from tests.conftest import DEMO_CORPUS, REPO

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent
INGEST_STEPS = {"raw_documents", "clean_images", "sentences"}


@dataclass
class StepSpan:
    """One step of a run as the event log saw it: its process and its wall-clock spans."""

    step: str
    pid: int | None
    worker_start: float  # the executor launched the step's process / task
    start: float  # STEP_START
    end: float  # STEP_SUCCESS
    host: str | None = None  # the Celery worker that ran it

    @property
    def seconds(self) -> float:
        return self.end - self.start


def step_spans(instance: dg.DagsterInstance, run_id: str) -> dict[str, StepSpan]:
    """Per step: pid, launch time, start and success time, and the Celery worker's name."""
    seen: dict[str, dict] = defaultdict(dict)
    for entry in instance.all_logs(run_id):
        ev = entry.dagster_event
        if ev is None or ev.step_key is None:
            continue
        info = seen[ev.step_key]
        kind = ev.event_type_value
        if kind in ("STEP_WORKER_STARTING", "ENGINE_EVENT") and "launch" not in info:
            info["launch"] = entry.timestamp
        if kind == "ENGINE_EVENT":
            meta = ev.engine_event_data.metadata if ev.engine_event_data else {}
            if "Celery worker" in meta:
                info["host"] = meta["Celery worker"].value
        if kind == "STEP_START":
            info["start"], info["pid"] = entry.timestamp, ev.pid
        if kind == "STEP_SUCCESS":
            info["end"] = entry.timestamp
    return {
        step: StepSpan(step, i.get("pid"), i["launch"], i["start"], i["end"], i.get("host"))
        for step, i in seen.items()
        if "start" in i and "end" in i
    }


def overlap(a: StepSpan, b: StepSpan) -> float:
    """Seconds during which both steps' processes were running (launch to success)."""
    return max(0.0, min(a.end, b.end) - max(a.worker_start, b.worker_start))


def make_home(tmp_path: Path, profile: str) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(REPO / "deploy" / f"dagster.{profile}.yaml", home / "dagster.yaml")
    return home


def launch(job: str, partition: str, env: dict[str, str], log: Path) -> subprocess.Popen:
    """``dagster job execute`` for one shard partition, as a deployment launches a run."""
    tags = json.dumps({"dagster/partition": partition})
    cmd = [str(BIN / "dagster"), "job", "execute", "-m", "realsyn_assets.definitions"]
    return subprocess.Popen(
        [*cmd, "-j", job, "--tags", tags],
        cwd=REPO,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )


def finished_run(instance: dg.DagsterInstance, job: str, partition: str) -> dg.DagsterRun:
    runs = instance.get_runs(
        dg.RunsFilter(job_name=job, tags={"dagster/partition": partition}), limit=1
    )
    assert runs, f"no {job} run for {partition}"
    return runs[0]


def run_ingest(tmp_path: Path, monkeypatch, max_concurrent: int) -> dict[str, StepSpan]:
    sub = tmp_path / f"max{max_concurrent}"
    sub.mkdir()
    home = make_home(sub, "sqlite")
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "REALSYN_EXECUTOR": "multiprocess",
        "REALSYN_MAX_CONCURRENT": str(max_concurrent),
        "REALSYN_CORPUS": str(DEMO_CORPUS),
        "REALSYN_DATA_ROOT": str(sub / "data"),
        "DAGSTER_DISABLE_TELEMETRY": "1",
    }
    shard = "mmc4/demo-00000.jsonl"
    monkeypatch.setenv("DAGSTER_HOME", str(home))  # the profile's base_dir
    instance = dg.DagsterInstance.get()
    instance.add_dynamic_partitions(shard_partitions.name, [shard])
    proc = launch("ingest_shards", shard, env, sub / "run.log")
    assert proc.wait(timeout=300) == 0, (sub / "run.log").read_text()[-3000:]
    run = finished_run(instance, "ingest_shards", shard)
    assert run.status == dg.DagsterRunStatus.SUCCESS
    spans = step_spans(instance, run.run_id)
    instance.dispose()
    assert set(spans) == INGEST_STEPS
    # Each step ran in its own child process, not in the run's process.
    pids = {s.pid for s in spans.values()}
    assert len(pids) == 3 and None not in pids
    return spans


def test_multiprocess_executor_honours_max_concurrent(tmp_path, monkeypatch):
    """clean_images and sentences both depend only on raw_documents: with max_concurrent=2
    their processes run at the same time; with max_concurrent=1 one waits for the other."""
    t0 = time.perf_counter()
    two = run_ingest(tmp_path, monkeypatch, 2)
    t_two = time.perf_counter() - t0
    t0 = time.perf_counter()
    one = run_ingest(tmp_path, monkeypatch, 1)
    t_one = time.perf_counter() - t0
    for spans in (one, two):  # raw_documents first, always
        first = spans["raw_documents"]
        assert all(s.worker_start >= first.end for k, s in spans.items() if k != first.step)
    both = overlap(two["clean_images"], two["sentences"])
    assert both > 0.5, two
    assert overlap(one["clean_images"], one["sentences"]) == 0.0, one
    print(
        f"\nTIMING multiprocess ingest_shards[mmc4/demo-00000.jsonl]: max_concurrent=2 {t_two:.1f} s "
        f"(clean_images and sentences overlapped {both:.1f} s), max_concurrent=1 {t_one:.1f} s; "
        + ", ".join(f"{k} {s.seconds:.2f} s" for k, s in sorted(two.items()))
    )


@pytest.fixture(scope="module")
def postgres():
    from tests.services import postgres_server

    with postgres_server() as pg:
        yield pg


@pytest.fixture(scope="module")
def redis_url():
    from tests.services import redis_server

    with redis_server() as url:
        yield url


def start_worker(name: str, env: dict[str, str], log: Path) -> subprocess.Popen:
    """``dagster-celery worker start``: one Celery worker process running one step at a time."""
    return subprocess.Popen(
        [str(BIN / "dagster-celery"), "worker", "start", "-A", "dagster_celery.app"]
        + ["-y", str(REPO / "deploy" / "celery.yaml"), "-n", name, "--loglevel", "INFO"]
        + ["--", "--concurrency=1"],
        cwd=REPO,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def wait_ready(logs: list[Path], procs: list[subprocess.Popen], timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while not all(b" ready." in p.read_bytes() for p in logs if p.exists()):
        for log, proc in zip(logs, procs, strict=True):
            assert proc.poll() is None, log.read_text()[-3000:]
        assert time.time() < deadline, "\n".join(p.read_text()[-2000:] for p in logs)
        time.sleep(0.5)


def test_celery_workers_share_s3_and_postgres(
    tmp_path, monkeypatch, postgres, redis_url, s3_bucket, moto_endpoint
):
    """Four shard runs at once; their steps are Celery tasks that two workers take from Redis,
    reading the corpus from and writing outputs to S3, logging to the PostgreSQL instance."""
    from tests.services import stop_process_group

    client, bucket = s3_bucket
    for path in sorted(DEMO_CORPUS.rglob("*")):
        if path.is_file():
            client.upload_file(str(path), bucket, f"corpus/{path.relative_to(DEMO_CORPUS)}")
    home = make_home(tmp_path, "postgres")
    env = {
        **os.environ,
        **postgres.env(),
        "DAGSTER_HOME": str(home),
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",  # dagster-celery runs `celery`
        "REALSYN_EXECUTOR": "celery",
        "REALSYN_CELERY_BROKER": f"{redis_url}/0",
        "REALSYN_CORPUS": f"s3://{bucket}/corpus",
        "REALSYN_DATA_ROOT": f"s3://{bucket}/out",
        "REALSYN_S3_ENDPOINT_URL": moto_endpoint,
        "REALSYN_S3_REGION": "us-east-1",
        "DAGSTER_DISABLE_TELEMETRY": "1",
    }
    for k in ("DAGSTER_HOME", *postgres.env()):
        monkeypatch.setenv(k, env[k])
    instance = dg.DagsterInstance.get()
    from dagster_postgres import PostgresEventLogStorage

    assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
    shards = sorted(
        ["html/museum", "mmc4/demo-00000.jsonl", "obelics/demo-00000.parquet"]
        + ["warc/demo-00000.warc.gz"]
    )
    instance.add_dynamic_partitions(shard_partitions.name, shards)

    names = ["worker1", "worker2"]
    logs = [tmp_path / f"{n}.log" for n in names]
    workers = [start_worker(n, env, log) for n, log in zip(names, logs, strict=True)]
    try:
        wait_ready(logs, workers)
        t0 = time.perf_counter()
        runs = [
            launch("ingest_shards", s, env, tmp_path / f"run-{i}.log") for i, s in enumerate(shards)
        ]
        for i, proc in enumerate(runs):
            assert proc.wait(timeout=400) == 0, (tmp_path / f"run-{i}.log").read_text()[-3000:]
        wall = time.perf_counter() - t0
    finally:
        for proc in workers:
            stop_process_group(proc)

    spans: list[StepSpan] = []
    for shard in shards:
        run = finished_run(instance, "ingest_shards", shard)
        assert run.status == dg.DagsterRunStatus.SUCCESS
        steps = step_spans(instance, run.run_id)
        assert set(steps) == INGEST_STEPS
        spans += steps.values()
    instance.dispose()
    by_worker: dict[str, list[StepSpan]] = defaultdict(list)
    for span in spans:
        assert span.host is not None, span
        by_worker[span.host.split("@")[0]].append(span)
    assert sorted(by_worker) == names, by_worker.keys()  # both workers took steps
    # The two workers ran steps at the same time (steps of different shards' runs).
    a, b = (by_worker[n] for n in names)
    parallel = sum(max(0.0, min(x.end, y.end) - max(x.start, y.start)) for x in a for y in b)
    assert parallel > 0, spans
    # Every output is in the bucket; the event log is in PostgreSQL.
    from realsyn.storage import open_storage, read_manifest

    out = open_storage(f"s3://{bucket}/out", endpoint_url=moto_endpoint, region_name="us-east-1")
    for shard in shards:
        for asset in INGEST_STEPS:
            assert read_manifest(out, asset, shard)["version"]
    lines = [
        f"{n}: {len(by_worker[n])} steps, {sum(s.seconds for s in by_worker[n]):.1f} s in steps, "
        f"pids {sorted({s.pid for s in by_worker[n]})} ("
        + ", ".join(
            f"{s.step} {s.seconds:.1f}" for s in sorted(by_worker[n], key=lambda s: s.start)
        )
        + ")"
        for n in names
    ]
    print(
        f"\nTIMING celery: {len(shards)} ingest_shards runs, {len(spans)} steps in {wall:.1f} s; "
        f"two workers in parallel for {parallel:.1f} s\n  " + "\n  ".join(lines)
    )


def test_executor_choice_from_the_environment():
    from realsyn_assets.executors import executor_from_env

    assert executor_from_env({}) is None  # Dagster's default
    assert executor_from_env({"REALSYN_EXECUTOR": "in_process"}).name == "in_process"
    multi = executor_from_env({"REALSYN_EXECUTOR": "multiprocess", "REALSYN_MAX_CONCURRENT": "3"})
    assert multi.name == "multiprocess"
    celery = executor_from_env({"REALSYN_EXECUTOR": "celery", "REALSYN_CELERY_BROKER": "redis://h"})
    assert celery.name == "celery"
    assert executor_from_env({"REALSYN_EXECUTOR": "k8s"}).name == "k8s"
    with pytest.raises(ValueError, match="REALSYN_CELERY_BROKER"):
        executor_from_env({"REALSYN_EXECUTOR": "celery"})
    with pytest.raises(ValueError, match="expected one of"):
        executor_from_env({"REALSYN_EXECUTOR": "spark"})
