"""Score, then decide: a threshold change re-decides from stored scores (no re-scoring)."""

from __future__ import annotations

import dagster as dg

from realsyn.storage import LocalStorage, read_manifest, read_partition_table
from realsyn_assets.clean_images import clean_images
from realsyn_assets.partitions import shard_partitions
from realsyn_assets.raw_documents import raw_documents
from realsyn_assets.sentences import sentences
from resources.drift import DriftResource
from resources.fetcher import ImageFetcherResource
from resources.stage_params import StageParamsResource
from resources.storage import StorageResource
from resources.text_models import CatParserResource
from tests.conftest import DEMO_CORPUS

SHARD = "html/museum"


def _run(instance, resources, selection, config=None):
    result = dg.materialize(
        selection,
        partition_key=SHARD,
        instance=instance,
        resources=resources,
        run_config={"ops": config or {}},
    )
    assert result.success


def test_threshold_changes_redecide_without_rescoring(dagster_home, tmp_path):
    instance = dg.DagsterInstance.get()
    instance.add_dynamic_partitions(shard_partitions.name, [SHARD])
    out = tmp_path / "data"
    resources = {
        "corpus": StorageResource(root=str(DEMO_CORPUS)),
        "storage": StorageResource(root=str(out)),
        "drift": DriftResource(),
        "stage_params": StageParamsResource(),
        "fetcher": ImageFetcherResource(),
        "cat_parser": CatParserResource(workers=1),
    }
    store = LocalStorage(out)
    _run(instance, resources, [raw_documents, clean_images, sentences])
    stats = lambda asset: read_manifest(store, asset, SHARD)["info"]["stats"]  # noqa: E731
    assert stats("sentences")["rescored"] == 1 and stats("clean_images")["rescored"] == 1
    before = read_partition_table(store, "sentences", SHARD, "sentences")

    # Stricter word bound: decisions change, scores are re-used.
    _run(instance, resources, [sentences], {"sentences": {"config": {"min_words": 12}}})
    after = read_partition_table(store, "sentences", SHARD, "sentences")
    assert stats("sentences")["rescored"] == 0
    assert stats("sentences")["kept"] < int((before["decision"] == "keep").sum())
    assert after.drop("decision", "reason").equals(before.drop("decision", "reason"))

    # Looser image size: no decoding, more images kept.
    kept_before = stats("clean_images")["kept"]
    _run(instance, resources, [clean_images], {"clean_images": {"config": {"min_side": 40}}})
    assert stats("clean_images")["rescored"] == 0 and stats("clean_images")["kept"] > kept_before

    # A scoring parameter changes the scores: a real re-score.
    _run(instance, resources, [sentences], {"sentences": {"config": {"parse_max_words": 50}}})
    assert stats("sentences")["rescored"] == 1
    # New upstream data (raw_documents re-materialized with other bytes) re-scores too.
    _run(
        instance,
        resources,
        [raw_documents],
        {"raw_documents": {"config": {"parquet_batch_rows": 7}}},
    )
    _run(instance, resources, [clean_images])
    assert stats("clean_images")["rescored"] == 0  # same raw_documents bytes: same version
