"""raw_documents materialized for real: SQLite instance in a temp DAGSTER_HOME, local + S3."""

from __future__ import annotations

import dagster as dg
import polars as pl

from realsyn.storage import LocalStorage, open_storage, read_partition_table
from realsyn_assets.partitions import shard_partitions
from realsyn_assets.raw_documents import raw_documents
from realsyn_assets.sensors import new_shard_sensor
from resources.drift import DriftResource
from resources.stage_params import StageParamsResource
from resources.storage import StorageResource
from tests.conftest import DEMO_CORPUS, SHARED_DATA

MMC4 = "mmc4/docs_no_face_shard_151_v3.partial.jsonl"


def test_materialize_one_partition_on_sqlite_instance(dagster_home, tmp_path):
    instance = dg.DagsterInstance.get()
    assert "sqlite" in type(instance.event_log_storage).__name__.lower()
    instance.add_dynamic_partitions(shard_partitions.name, [MMC4])
    out = tmp_path / "out"
    resources = {
        "corpus": StorageResource(root=str(SHARED_DATA)),
        "storage": StorageResource(root=str(out)),
        "drift": DriftResource(),
        "stage_params": StageParamsResource(),
    }
    result = dg.materialize(
        [raw_documents], partition_key=MMC4, instance=instance, resources=resources
    )
    assert result.success
    mat = result.asset_materializations_for_node("raw_documents")[0]
    assert mat.metadata["documents"].value == 107
    assert mat.metadata["image_refs"].value == 417
    assert mat.metadata["text_items"].value == 2072
    assert "| documents | 107 |" in mat.metadata["funnel"].value
    checks = result.get_asset_check_evaluations()
    assert len(checks) == 5 and all(c.passed for c in checks)  # 4 GX + distribution drift
    docs = read_partition_table(LocalStorage(out), "raw_documents", MMC4, "documents")
    assert docs.height == 107
    # The event log on the instance has the materialization for the partition.
    event = instance.get_latest_materialization_event(dg.AssetKey("raw_documents"))
    assert event.asset_materialization.partition == MMC4


def test_bad_shard_fails_with_the_file_named(dagster_home, tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "x.arc").write_bytes(b"filedesc://x.arc 0.0.0.0 20140101 text/plain 10\n")
    instance = dg.DagsterInstance.get()
    instance.add_dynamic_partitions(shard_partitions.name, ["x.arc"])
    resources = {
        "corpus": StorageResource(root=str(corpus)),
        "storage": StorageResource(root=str(tmp_path / "o")),
        "drift": DriftResource(),
        "stage_params": StageParamsResource(),
    }
    result = dg.materialize(
        [raw_documents],
        partition_key="x.arc",
        instance=instance,
        resources=resources,
        raise_on_error=False,
    )
    assert not result.success
    failure = result.get_step_failure_events()[0]
    assert (
        "x.arc: ARC (pre-WARC) format is not supported"
        in failure.step_failure_data.user_failure_data.description
    )


def test_corpus_and_outputs_on_s3(dagster_home, s3_bucket, moto_endpoint):
    client, bucket = s3_bucket
    for path in sorted(DEMO_CORPUS.rglob("*")):
        if path.is_file():
            client.upload_file(
                str(path), bucket, f"corpus/{path.relative_to(DEMO_CORPUS).as_posix()}"
            )
    corpus = StorageResource(root=f"s3://{bucket}/corpus", endpoint_url=moto_endpoint)
    storage = StorageResource(root=f"s3://{bucket}/out", endpoint_url=moto_endpoint)
    instance = dg.DagsterInstance.get()
    # The sensor discovers the shards under the S3 prefix and asks for their runs.
    ctx = dg.build_sensor_context(instance=instance, resources={"corpus": corpus})
    evaluation = new_shard_sensor(ctx)
    keys = sorted(r.partition_key for r in evaluation.run_requests)
    assert keys == [
        "html/museum",
        "mmc4/demo-00000.jsonl",
        "obelics/demo-00000.parquet",
        "warc/demo-00000.warc.gz",
    ]
    instance.add_dynamic_partitions(shard_partitions.name, keys)
    for key in keys:
        result = dg.materialize(
            [raw_documents],
            partition_key=key,
            instance=instance,
            resources={
                "corpus": corpus,
                "storage": storage,
                "drift": DriftResource(),
                "stage_params": StageParamsResource(),
            },
        )
        assert result.success
    items = read_partition_table(
        open_storage(f"s3://{bucket}/out", endpoint_url=moto_endpoint),
        "raw_documents",
        "html/museum",
        "items",
    )
    assert (
        items.filter(pl.col("kind") == "image")["image_path"]
        .drop_nulls()
        .str.starts_with("images/")
        .all()
    )
    # Once registered, the sensor has nothing new to ask for.
    again = new_shard_sensor(
        dg.build_sensor_context(instance=instance, resources={"corpus": corpus})
    )
    assert isinstance(again, dg.SkipReason)
