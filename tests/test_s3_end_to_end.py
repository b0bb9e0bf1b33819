"""The data store on S3, end to end: the bundled demo corpus in a bucket on moto's S3 server
(over HTTP on 127.0.0.1), the new-shard sensor discovering the shards under the prefix, then
``realsyn run`` (the main job, every asset but the CLIP training) reading the corpus from the
bucket and writing every output into it; nothing lands on the local disk."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from realsyn.storage import open_storage, read_manifest, read_partition_table
from realsyn_assets.partitions import shard_partitions
from realsyn_assets.sensors import new_shard_sensor
from realsyn_assets.settings import Settings
from tests.conftest import DEMO_CORPUS, REPO

pytestmark = pytest.mark.slow
SHARDS = [
    "html/museum",
    "mmc4/demo-00000.jsonl",
    "obelics/demo-00000.parquet",
    "warc/demo-00000.warc.gz",
]


def evaluate_sensor(instance: dg.DagsterInstance, env: dict[str, str]):
    """The sensor with the corpus resource the deployment profile builds from ``env``."""
    corpus = Settings.from_env(env).resources()["corpus"]
    ctx = dg.build_sensor_context(instance=instance, resources={"corpus": corpus})
    return new_shard_sensor(ctx)


def test_main_job_on_s3(tmp_path, monkeypatch, s3_bucket, moto_endpoint):
    client, bucket = s3_bucket
    for path in sorted(DEMO_CORPUS.rglob("*")):
        if path.is_file():
            client.upload_file(str(path), bucket, f"corpus/{path.relative_to(DEMO_CORPUS)}")
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text((REPO / "deploy" / "dagster.sqlite.yaml").read_text())
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "REALSYN_CORPUS": f"s3://{bucket}/corpus",
        "REALSYN_DATA_ROOT": f"s3://{bucket}/out",
        "REALSYN_S3_ENDPOINT_URL": moto_endpoint,
        "REALSYN_S3_REGION": "us-east-1",
        "REALSYN_S3_ACCESS_KEY_ID": "testing",
        "REALSYN_S3_SECRET_ACCESS_KEY": "testing",
        # The demo CLIP is trained by clip_bootstrap (minutes); seeded random weights here.
        "REALSYN_CLIP_CHECKPOINT": "random",
        "DAGSTER_DISABLE_TELEMETRY": "1",
    }
    for k, v in env.items():
        if k.startswith("REALSYN_"):  # the profile passes the S3 keys as dg.EnvVar
            monkeypatch.setenv(k, v)
    instance = dg.DagsterInstance.get()

    # The sensor lists the prefix: one run request and one new partition per shard.
    first = evaluate_sensor(instance, env)
    assert sorted(r.partition_key for r in first.run_requests) == SHARDS
    (added,) = first.dynamic_partitions_requests
    instance.add_dynamic_partitions(shard_partitions.name, list(added.partition_keys))

    t0 = time.perf_counter()
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "realsyn"), "run", "--no-world"],
        cwd=tmp_path,  # nothing may be written here
        env=env,
        capture_output=True,
        text=True,
        timeout=400,
    )
    seconds = time.perf_counter() - t0
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert f"outputs in s3://{bucket}/out" in proc.stdout
    assert "skipping clip_bootstrap" in proc.stdout
    summary = next(line for line in proc.stdout.splitlines() if "run(s) succeeded" in line)
    n_runs = int(summary.split("/")[0])
    assert summary.startswith(f"{n_runs}/{n_runs} ")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home"]

    out = open_storage(f"s3://{bucket}/out", endpoint_url=moto_endpoint, region_name="us-east-1")
    keys = out.list_keys()
    per_asset = Counter(k.split("/")[0] for k in keys)
    for asset in ("raw_documents", "clean_images", "sentences", "sentence_semantics"):
        for shard in SHARDS:
            assert read_manifest(out, asset, shard)["version"]
    for asset in ("image_dedup", "word_frequencies", "sentence_dedup", "sentence_clusters"):
        assert read_manifest(out, asset, None)["version"]
    for shard in SHARDS:
        read_manifest(out, "image_embeddings", shard)
        read_manifest(out, "retrieval_pairs", shard)
    scales = Settings.from_env(env).scales
    releases = [k for k in keys if k.startswith("release/") and k.endswith("release.parquet")]
    assert len(releases) == len(scales)
    tars = [k for k in keys if k.startswith("release/") and k.endswith(".tar")]
    assert tars
    # The images the HTML pages reference were read from the bucket and stored there by hash.
    images = read_partition_table(out, "clean_images", "html/museum", "images")
    kept = images.filter(pl.col("decision") == "keep")
    assert kept.height > 0
    assert per_asset["image_blobs"] >= kept["sha256"].n_unique()

    # Nothing new under the prefix: the sensor skips; a new object: exactly that shard.
    assert isinstance(evaluate_sensor(instance, env), dg.SkipReason)
    client.copy_object(
        Bucket=bucket,
        CopySource={"Bucket": bucket, "Key": "corpus/mmc4/demo-00000.jsonl"},
        Key="corpus/mmc4/demo-00001.jsonl",
    )
    new = evaluate_sensor(instance, env)
    assert [r.partition_key for r in new.run_requests] == ["mmc4/demo-00001.jsonl"]
    instance.dispose()
    print(
        f"\nTIMING s3 end to end: realsyn run ({n_runs} runs) in {seconds:.1f} s; "
        f"{len(keys)} objects under out/: "
        + ", ".join(f"{a} {n}" for a, n in sorted(per_asset.items()))
    )
