"""The review round's Dagster wiring without the pipeline: a review_sample partition written
from a generated world, simulated raters' exports in labels/, the sensor, human_validation."""

import json

import dagster as dg
import polars as pl
import pytest
from test_review import world  # noqa: F401  (the module-scoped generated world)

from realsyn.label_studio import simulate_export, tasks
from realsyn.review import ReviewParams, gold_table, sample_review, world_labels
from realsyn.storage import LocalStorage, read_manifest, read_partition_table, write_partition
from realsyn_assets.release import BalancedPoolConfig
from realsyn_assets.retrieval import RetrievalConfig
from realsyn_assets.review_labels import human_validation, review_labels_sensor
from resources.stage_params import load_stage_params, validate_stage_params
from resources.storage import StorageResource


def _sampled_round(tmp_path, world, noise):  # noqa: F811
    pairs, ti, ts = world
    store = LocalStorage(tmp_path / "data")
    truth = world_labels(pairs, ti, ts)
    gold = dict(sorted(truth.items())[:20])
    items = sample_review(pairs, (0.3, 0.6), ReviewParams(per_stratum=12), "r001", gold=gold)
    write_partition(
        store, "review_sample", "r001", {"items": items, "gold": gold_table(items, gold)}
    )
    by_item = {i: truth[img] for i, img in items.select("item_id", "image_id").iter_rows()}
    export = simulate_export(tasks(items, "x/"), by_item, noise, seed=2)
    store.write_bytes("review/r001/labels/project-1.json", export)
    store.write_bytes("review/r001/labels/broken.json", b'[{"data": {"item_id": "r001-0000"')
    store.write_bytes("review/r001/labels/README.md", b"not an export")
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("review_rounds", ["r001"])
    return store, instance, items


def _tick(instance, store, cursor=None):
    context = dg.build_sensor_context(
        instance=instance,
        cursor=cursor,
        resources={"storage": StorageResource(root=str(store.root))},
    )
    return review_labels_sensor(context)


def test_sensor_records_labels_once_and_rejects_malformed_files(tmp_path, world):  # noqa: F811
    store, instance, items = _sampled_round(tmp_path, world, 0.0)
    first = _tick(instance, store)
    assert isinstance(first, dg.SensorResult) and len(first.run_requests) == 1
    assert first.run_requests[0].partition_key == "r001"
    rejected = read_partition_table(store, "review_labels", "r001", "rejected")
    assert rejected.select("file", "reason").to_dicts() == [
        {"file": "broken.json", "reason": "invalid_json"}
    ]
    version = read_manifest(store, "review_labels", "r001")["version"]
    again = _tick(instance, store, first.cursor)
    assert isinstance(again, dg.SkipReason)
    # a lost cursor re-parses to the same bytes and asks for the same run (same run key)
    replay = _tick(instance, store)
    assert read_manifest(store, "review_labels", "r001")["version"] == version
    assert replay.run_requests[0].run_key == first.run_requests[0].run_key
    store.write_bytes("review/r001/labels/project-2.json", b"[]")
    changed = _tick(instance, store, first.cursor)
    assert isinstance(changed, dg.SensorResult) and len(changed.asset_events) == 1


@pytest.mark.parametrize("noise", [0.0, 0.5])
def test_human_validation_checks_and_recommended_params(tmp_path, world, noise):  # noqa: F811
    store, instance, items = _sampled_round(tmp_path, world, noise)
    _tick(instance, store)
    result = dg.materialize(
        [human_validation],
        partition_key="r001",
        instance=instance,
        resources={"storage": StorageResource(root=str(store.root))},
        raise_on_error=False,
    )
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    careful = noise == 0.0
    # the blocking floor fails the run at noise 0.5 (true precision@1 0.61 reads as ~0.45)
    assert result.success is careful
    assert checks["human_validation_precision_floor"] is careful
    assert checks["human_validation_rater_agreement_usable"] is careful
    assert checks["human_validation_gold_accuracy"] is careful
    summary = read_partition_table(store, "human_validation", "r001", "summary")
    assert summary["labelled_items"][0] == items.filter(~pl.col("is_gold")).height
    head_tail = read_partition_table(store, "human_validation", "r001", "size_classes")
    assert set(head_tail["size_class"]) <= {"head", "torso", "tail"}
    assert head_tail["n"].sum() == summary["labelled_items"][0]
    path = tmp_path / "data" / "review" / "r001" / "recommended_params.toml"
    params = load_stage_params(path)
    validate_stage_params(params, {"balanced_pool": BalancedPoolConfig})
    if careful:
        band = params["balanced_pool"]
        assert 0.0 <= band["pair_band_low"] < band["pair_band_high"] <= 1.0
        # REALSYN_PARAMS takes the file as it is: balanced_pool's code version carries it
        from realsyn_assets.definitions import build_definitions
        from realsyn_assets.settings import Settings

        defs = build_definitions(Settings.from_env({"REALSYN_PARAMS": str(path)}))
        node = defs.resolve_asset_graph().get(dg.AssetKey("balanced_pool"))
        assert "+p" in node.code_version
    meta = result.asset_materializations_for_node("human_validation")[0].metadata
    assert "metrics_table" in meta and "precision_by_cosine_plot" in meta
    assert json.loads(json.dumps(meta["params"].data))["kappa_error"] == 0.4


@pytest.mark.slow
def test_pilot_loop_on_a_small_generated_world(tmp_path):
    """realsyn run on a small world (bias_report per scale comes with the release), a review
    round, simulated raters' export in labels/, `realsyn review validate`, the recommendation."""
    import io
    import os
    import subprocess
    import sys
    from pathlib import Path

    from tests.conftest import REPO

    env = {
        **os.environ,
        "DAGSTER_HOME": str(tmp_path / "home"),
        "REALSYN_DATA_ROOT": str(tmp_path / "data"),
    }
    for var in ("REALSYN_CORPUS", "REALSYN_CAPTIONER_URL", "REALSYN_CLIP_CHECKPOINT"):
        env.pop(var, None)
    realsyn = str(Path(sys.executable).parent / "realsyn")
    corpus = tmp_path / "corpus"

    def cli(*args: str, ok=(0,)) -> subprocess.CompletedProcess:
        proc = subprocess.run(
            [realsyn, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=900
        )
        assert proc.returncode in ok, proc.stdout[-4000:] + proc.stderr[-4000:]
        return proc

    cli("run", "--corpus", str(corpus), "--world", "--world-documents", "60", "--train-epochs", "2")
    env["REALSYN_CORPUS"] = str(corpus)  # the world's truth gives the gold items
    store = LocalStorage(tmp_path / "data")
    bias = read_partition_table(store, "bias_report", "t20", "clusters")
    assert bias.height > 0 and bias["release"].max() <= 20
    funnel = read_partition_table(store, "bias_report", "t20", "funnel")
    assert {"clean_images", "image_dedup", "cosine_band", "cap_t20"} <= set(funnel["stage"])

    out = cli("review", "new", "--per-stratum", "8").stdout
    assert "review round r001" in out, out
    items = read_partition_table(store, "review_sample", "r001", "items")
    task_list = json.loads(store.read_bytes("review/r001/tasks.json"))
    assert len(task_list) == items["copies"].sum() and items["is_gold"].sum() > 0
    assert all(store.exists(f"review/r001/{f}") for f in items["image_file"])
    ti, ts = (
        pl.read_parquet(io.BytesIO((corpus / "_world" / f"{n}.parquet").read_bytes()))
        for n in ("images", "sentences")
    )
    pairs = items.select("image_id", "sha256", "text1", "text2", "text3", "syn_text")
    truth = world_labels(pairs, ti, ts)
    by_item = {i: truth.get(img, {}) for i, img in items.select("item_id", "image_id").iter_rows()}
    store.write_bytes("review/r001/labels/export.json", simulate_export(task_list, by_item, 0.05))
    # 1 when the blocking precision floor fails: a 2-epoch model may well be below it
    out = cli("review", "validate", ok=(0, 1)).stdout
    assert "r001: human_validation" in out and "precision@1" in out, out
    summary = read_manifest(store, "human_validation", "r001")["info"]["summary"]
    # every item with a text is labelled; a document-scope item whose page kept no sentence
    # shows only "(none)", which raters leave empty (RATER_GUIDE)
    shown = [i for i in items.filter(~pl.col("is_gold"))["item_id"] if by_item[i]]
    assert summary["labelled_items"] == len(shown) >= 0.9 * items.filter(~pl.col("is_gold")).height
    assert set(items["scope"]) == {"corpus", "document", "hybrid"}
    assert summary["scope_winner"] in {"corpus", "document", "hybrid", "no clear winner"}
    params = load_stage_params(tmp_path / "data" / "review" / "r001" / "recommended_params.toml")
    # the band, and retrieval_pairs' scope when the round names another winner
    validate_stage_params(
        params, {"balanced_pool": BalancedPoolConfig, "retrieval_pairs": RetrievalConfig}
    )
    # a second round never shows an image of the first
    cli("review", "new", "--per-stratum", "8")
    second = read_partition_table(store, "review_sample", "r002", "items")
    first_images = set(items.filter(~pl.col("is_gold"))["image_id"])
    assert not first_images & set(second.filter(~pl.col("is_gold"))["image_id"])
