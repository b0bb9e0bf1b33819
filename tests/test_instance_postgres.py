"""The instance profiles in deploy/: a shard partition materialized on a PostgreSQL-backed
Dagster instance (a real server from Debian's packages) and read back; the SQLite profile too."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import dagster as dg
import pytest

from realsyn.storage import read_manifest
from realsyn_assets.partitions import shard_partitions
from realsyn_assets.raw_documents import raw_documents
from resources.drift import DriftResource
from resources.stage_params import StageParamsResource
from resources.storage import StorageResource
from tests.conftest import DEMO_CORPUS, REPO
from tests.services import Postgres, postgres_server

pytestmark = pytest.mark.slow
SHARD = "mmc4/demo-00000.jsonl"


@pytest.fixture(scope="module")
def postgres() -> Postgres:
    with postgres_server() as pg:
        yield pg


def use_profile(home: Path, profile: str, monkeypatch, env: dict[str, str]) -> dg.DagsterInstance:
    """``deploy/dagster.<profile>.yaml`` as ``$DAGSTER_HOME/dagster.yaml``; a fresh instance."""
    home.mkdir(exist_ok=True)
    shutil.copy(REPO / "deploy" / f"dagster.{profile}.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return dg.DagsterInstance.get()


def materialize_shard(
    instance: dg.DagsterInstance, data: Path
) -> tuple[dg.ExecuteInProcessResult, list[float]]:
    """Materialize the shard twice (the second run is warm and idempotent); the last result."""
    instance.add_dynamic_partitions(shard_partitions.name, [SHARD])
    seconds = []
    for _ in range(2):
        t0 = time.perf_counter()
        result = dg.materialize(
            [raw_documents],
            partition_key=SHARD,
            instance=instance,
            resources={
                "corpus": StorageResource(root=str(DEMO_CORPUS)),
                "storage": StorageResource(root=str(data)),
                "drift": DriftResource(),
                "stage_params": StageParamsResource(),
            },
        )
        seconds.append(time.perf_counter() - t0)
        assert result.success
    return result, seconds


def test_partition_materialized_on_postgres_and_read_back(tmp_path, monkeypatch, postgres):
    from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage

    instance = use_profile(tmp_path / "home", "postgres", monkeypatch, postgres.env())
    assert isinstance(instance.run_storage, PostgresRunStorage)
    assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
    assert isinstance(instance.run_coordinator, dg.QueuedRunCoordinator)
    result, seconds = materialize_shard(instance, tmp_path / "data")
    stats = read_manifest(
        StorageResource(root=str(tmp_path / "data")).get(), "raw_documents", SHARD
    )["info"]["stats"]
    instance.dispose()

    # A new instance (new connections) sees the run, the partition and its metadata.
    again = dg.DagsterInstance.get()
    assert again.get_dynamic_partitions(shard_partitions.name) == [SHARD]
    run = again.get_run_by_id(result.run_id)
    assert run.status == dg.DagsterRunStatus.SUCCESS
    assert run.tags["dagster/partition"] == SHARD
    records = again.fetch_materializations(dg.AssetKey("raw_documents"), limit=10).records
    assert len(records) == 2  # newest first
    mat = records[0].asset_materialization
    assert records[0].run_id == result.run_id
    assert mat.partition == SHARD
    assert mat.metadata["documents"].value == stats["documents"] > 0
    assert mat.metadata["rejected_records"].value == stats["rejected_records"]
    checks = [
        e
        for e in again.all_logs(result.run_id)
        if e.dagster_event and e.dagster_event.event_type_value == "ASSET_CHECK_EVALUATION"
    ]
    evaluated = {e.dagster_event.event_specific_data.asset_check_key for e in checks}
    assert evaluated == set(raw_documents.check_keys)
    assert len(checks) == len(evaluated) > 0
    again.dispose()

    # The rows are in PostgreSQL's tables, not in a file beside DAGSTER_HOME.
    import psycopg2

    with (
        psycopg2.connect(
            host=postgres.host,
            port=postgres.port,
            user=postgres.user,
            password=postgres.password,
            dbname=postgres.db_name,
        ) as conn,
        conn.cursor() as cur,
    ):
        cur.execute("SELECT count(*) FROM event_logs WHERE run_id = %s", (result.run_id,))
        (n_events,) = cur.fetchone()
        cur.execute("SELECT status FROM runs WHERE run_id = %s", (result.run_id,))
        (status,) = cur.fetchone()
    conn.close()
    assert n_events >= 10
    assert status == "SUCCESS"
    assert not list((tmp_path / "home").rglob("*.db"))
    print(
        f"\nTIMING postgres: raw_documents[{SHARD}] in {seconds[0]:.2f} s, again {seconds[1]:.2f} s"
    )


def test_sqlite_profile_materializes_the_same_partition(tmp_path, monkeypatch):
    from dagster._core.storage.runs import SqliteRunStorage

    instance = use_profile(tmp_path / "home", "sqlite", monkeypatch, {})
    assert isinstance(instance.run_storage, SqliteRunStorage)
    assert isinstance(instance.run_coordinator, dg.QueuedRunCoordinator)
    result, seconds = materialize_shard(instance, tmp_path / "data")
    assert result.success
    records = instance.fetch_materializations(dg.AssetKey("raw_documents"), limit=10).records
    assert [r.asset_materialization.partition for r in records] == [SHARD, SHARD]
    assert list((tmp_path / "home").rglob("*.db"))
    instance.dispose()
    print(
        f"\nTIMING sqlite: raw_documents[{SHARD}] in {seconds[0]:.2f} s, again {seconds[1]:.2f} s"
    )
