"""The measured gain: the held-out split, per-query hits, the before/after comparison and its
intervals on tiny data; the two assets on a small generated world with realsyn-tiny."""

import hashlib
import io

import dagster as dg
import numpy as np
import polars as pl
import pytest

from checks.finetune_suites import CLIP_FINETUNE_SUITE, GAIN_EVALUATION_SUITE
from checks.gx import run_suite
from realsyn.finetune import (
    bootstrap_interval,
    compare,
    describes_pairs,
    finetune_pairs,
    retrieval_hits,
    split_images,
    split_share,
    t_interval,
    without_trained,
)

SHAS = [hashlib.sha256(f"img{i}".encode()).hexdigest() for i in range(2000)]


def test_split_is_stable_one_side_per_image_and_near_the_fraction():
    split = split_images(SHAS + SHAS[:10], 0.2)
    assert split.height == len(SHAS) and split["sha256"].is_unique().all()
    share = (split["split"] == "held_out").mean()
    assert 0.17 < share < 0.23, share
    # an image's side depends on its own sha256 only: a smaller scale agrees on every image
    small = split_images(SHAS[:300], 0.2)
    joined = small.join(split, on="sha256", suffix="_all")
    assert (joined["split"] == joined["split_all"]).all()
    assert split_share(SHAS[0]) != split_share(SHAS[0], salt="other")
    assert split_images(SHAS, 0.2).equals(split)  # same input, same output
    with pytest.raises(ValueError, match="held_out_fraction"):
        split_images(SHAS, 1.0)


def test_finetune_pairs_never_hold_a_held_out_image():
    subset = pl.DataFrame(
        {
            "sha256": SHAS[:50],
            "text1": [f"a {i}" for i in range(50)],
            "text2": [None] * 50,
            "text3": ["x"] * 50,
            "syn_text": ["s"] * 50,
        }
    )
    split = split_images(subset["sha256"].to_list(), 0.3)
    pairs = finetune_pairs(subset, split)
    held = set(split.filter(pl.col("split") == "held_out")["sha256"])
    assert held and not held & set(pairs["sha256"])
    assert pairs.height == 50 - len(held)
    assert pairs["texts"].list.len().to_list() == [3] * pairs.height  # the null text dropped


def test_retrieval_hits_count_any_relevant_item_in_the_top_k():
    eye = np.eye(6, dtype=np.float32)
    relevant = np.eye(6, dtype=bool)
    hits = retrieval_hits(eye, eye, relevant)
    assert all(v.all() and len(v) == 6 for v in hits.values())
    # text 0 is nearer image 1 than image 0 (and than text 1 is): text 0 finds image 1 first,
    # image 1 finds text 0 first; image 0 still finds text 0 first
    texts = eye.copy()
    texts[0] = [0.5, 1.5, 0, 0, 0, 0]
    hits = retrieval_hits(eye, texts, relevant)
    assert hits["image_to_text_r1"].tolist() == [True, False, True, True, True, True]
    assert hits["text_to_image_r1"].tolist() == [False, True, True, True, True, True]
    assert hits["image_to_text_r5"].all() and hits["text_to_image_r5"].all()
    # a query without any relevant item is no query
    relevant[5, 5] = False
    assert len(retrieval_hits(eye, eye, relevant)["image_to_text_r1"]) == 5


def test_intervals_over_seeds_and_over_queries():
    low, high = t_interval([1.0, 2.0, 3.0])
    assert (low, high) == pytest.approx((2 - 2.4842, 2 + 2.4842), abs=1e-3)  # t(0.975, 2) = 4.303
    assert np.isnan(t_interval([0.1])[0])
    diff = np.array([0.25] * 40)
    assert bootstrap_interval(diff) == pytest.approx((0.25, 0.25))
    noisy = np.random.default_rng(1).normal(0.1, 0.5, 400)
    a, b = bootstrap_interval(noisy, seed=3)
    assert a < noisy.mean() < b and bootstrap_interval(noisy, seed=3) == (a, b)


def test_compare_reports_the_gain_per_seed_and_with_intervals():
    before = {"m": np.array([1, 0, 0, 0, 0, 0, 0, 0, 0, 0], dtype=bool)}
    after = {
        0: {"m": np.array([1, 1, 1, 0, 0, 0, 0, 0, 0, 0], dtype=bool)},
        1: {"m": np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0], dtype=bool)},
        2: {"m": np.array([1, 1, 0, 0, 0, 0, 0, 0, 0, 0], dtype=bool)},
    }
    per_seed, summary = compare(before, after, "world")
    assert per_seed["gain"].to_list() == pytest.approx([0.2, 0.3, 0.1])
    row = summary.to_dicts()[0]
    assert row["before"] == pytest.approx(0.1) and row["after_mean"] == pytest.approx(0.3)
    assert row["gain_mean"] == pytest.approx(0.2)
    assert (row["gain_min"], row["gain_max"]) == pytest.approx((0.1, 0.3))
    assert row["gain_t_low"] < 0.2 < row["gain_t_high"]
    assert row["gain_boot_low"] <= 0.2 <= row["gain_boot_high"]
    assert row["queries"] == 10 and row["seeds"] == 3
    with pytest.raises(ValueError, match="queries"):
        compare(before, {0: {"m": np.ones(3, dtype=bool)}}, "world")


def test_describes_pairs_take_the_first_copy_and_only_describes():
    items = pl.DataFrame(
        {
            "item_id": ["a", "b"],
            "sha256": ["s1", "s2"],
            "text1": ["red disc", "blue star"],
            "text2": ["a tree", "two squares"],
            "text3": [None, None],
            "syn_text": ["red disc on white", ""],
        }
    )
    labels = pl.DataFrame(
        {
            "item_id": ["a", "a", "a", "a", "b", "b"],
            "copy": [1, 0, 0, 0, 0, 0],
            "field": ["text1", "text1", "text2", "syn_text", "text1", "text2"],
            "label": ["unrelated", "describes", "partly", "describes", "describes", "unrelated"],
        }
    )
    pairs = describes_pairs(items, labels)
    assert pairs.rows() == [("s1", "red disc"), ("s1", "red disc on white"), ("s2", "blue star")]


def test_without_trained_drops_world_images_that_were_fine_tuned_on():
    frame = pl.DataFrame({"image": [b"a", b"b", b"c"]})
    kept, dropped = without_trained(frame, {hashlib.sha256(b"b").hexdigest()})
    assert kept["image"].to_list() == [b"a", b"c"] and dropped == 1


def _outcomes(suite, tables, params=None) -> dict[str, bool]:
    return {o.name: o.passed for o in run_suite(suite, tables, params)}


def test_suites_fire_on_a_cut_short_run_a_twice_split_image_and_a_regression():
    runs = pl.DataFrame({"steps": [5, 3], "planned_steps": [5, 5], "final_loss": [1.0, 1.2]})
    split = pl.DataFrame({"sha256": ["a", "a"], "split": ["finetune", "held_out"]})
    got = _outcomes(CLIP_FINETUNE_SUITE, {"runs": runs, "split": split})
    assert got == {"clip_finetune_ran_all_steps": False, "clip_finetune_split_one_side": False}
    good = _outcomes(
        CLIP_FINETUNE_SUITE,
        {
            "runs": runs.with_columns(steps=5),
            "split": split.with_columns(sha256=pl.Series(["a", "b"])),
        },
    )
    assert all(good.values())
    summary = pl.DataFrame({"queries": [30, 5], "gain_mean": [0.1, -0.2]})
    params = {"min_queries": 20, "max_regression": 0.05}
    assert _outcomes(GAIN_EVALUATION_SUITE, {"summary": summary}, params) == {
        "gain_evaluation_enough_queries": False,
        "gain_evaluation_no_regression": False,
    }
    fine = summary.with_columns(queries=30, gain_mean=0.0)
    assert all(_outcomes(GAIN_EVALUATION_SUITE, {"summary": fine}, params).values())


@pytest.fixture(scope="module")
def small_world():
    from realsyn.world_docs import TRUTH_DIR, WorldParams, build_world

    world = build_world(WorldParams(seed=5, documents=60, eval_images=24))
    truth = pl.read_parquet(io.BytesIO(world.files[f"{TRUTH_DIR}/images.parquet"]))
    return world, truth.unique("sha256", keep="first", maintain_order=True)


@pytest.mark.slow  # ~40 s on 2 busy cores: five model loads, two fine-tuning runs
def test_clip_finetune_and_gain_evaluation_on_a_small_world(tmp_path, small_world):
    """Real training (realsyn-tiny, 1 epoch, 2 seeds) and real evaluation: the world's held-out
    split and one labelled review round whose pairs include a fine-tuned image (left out)."""
    import torch

    from realsyn.clip import load_clip
    from realsyn.schemas import image_blob_key
    from realsyn.storage import LocalStorage, read_manifest, read_partition_table, write_partition
    from realsyn.world import describes
    from realsyn.world_docs import TRUTH_DIR
    from realsyn_assets.finetune import build_finetune_assets
    from resources.storage import StorageResource

    world, truth = small_world
    store, corpus = LocalStorage(tmp_path / "data"), LocalStorage(tmp_path / "corpus")
    for name in ("eval", "images", "sentences"):
        corpus.write_bytes(
            f"{TRUTH_DIR}/{name}.parquet", world.files[f"{TRUTH_DIR}/{name}.parquet"]
        )
    for sha, file in truth.select("sha256", "file").iter_rows():
        store.write_bytes(image_blob_key(sha), world.files[file])
    sentences = pl.read_parquet(io.BytesIO(world.files[f"{TRUTH_DIR}/sentences.parquet"]))
    sentences = sentences.filter(pl.col("label") == "description")
    # text1: a sentence that truly describes the image where the world has one; text2: none does
    text1 = [
        next((t for t, c in sentences.select("text", "concepts").iter_rows() if describes(c, img)),
             " ".join(img))
        for img in truth["concepts"].to_list()
    ]  # fmt: skip
    texts = [" ".join(c) for c in truth["concepts"].to_list()]
    subset = pl.DataFrame(
        {"image_id": [f"i{n}" for n in range(truth.height)], "sha256": truth["sha256"],
         "text1": text1, "text2": texts, "text3": texts, "syn_text": texts}
    )  # fmt: skip
    write_partition(store, "scaled_subsets", "t20", {"subset": subset})
    split = split_images(truth["sha256"].to_list(), 0.3)
    held = split.filter(pl.col("split") == "held_out")["sha256"].to_list()
    trained = split.filter(pl.col("split") == "finetune")["sha256"].to_list()
    reviewed = held[:6] + trained[:1]
    items = pl.DataFrame(
        {"item_id": [f"r001-{i:04d}" for i in range(7)], "sha256": reviewed,
         "text1": [texts[truth["sha256"].to_list().index(s)] for s in reviewed]}
    )  # fmt: skip
    labels = pl.DataFrame(
        {"item_id": items["item_id"], "copy": [0] * 7, "field": ["text1"] * 7,
         "label": ["describes"] * 7}
    )  # fmt: skip
    write_partition(store, "review_sample", "r001", {"items": items})
    write_partition(store, "review_labels", "r001", {"labels": labels})
    start = load_clip("realsyn-tiny", seed=0)
    torch.save({"state_dict": start.model.state_dict()}, tmp_path / "start.pt")

    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("review_rounds", ["r001"])
    clip_finetune, gain_evaluation = build_finetune_assets((20,))
    ft = {"start": str(tmp_path / "start.pt"), "seeds": [0, 1], "epochs": 1,
          "batch_size": 16, "held_out_fraction": 0.3, "precision": "fp32"}  # fmt: skip
    result = dg.materialize(
        [clip_finetune, gain_evaluation],
        partition_key="t20",
        instance=instance,
        resources={
            "storage": StorageResource(root=str(tmp_path / "data")),
            "corpus": StorageResource(root=str(tmp_path / "corpus")),
        },
        run_config={"ops": {"clip_finetune": {"config": ft}}},
    )
    assert result.success
    checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
    assert checks["clip_finetune_ran_all_steps"] and checks["clip_finetune_split_one_side"]
    stored = read_partition_table(store, "clip_finetune", "t20", "split")
    assert stored.equals(split)  # the recorded split is the hash split
    runs = read_partition_table(store, "clip_finetune", "t20", "runs")
    assert runs["seed"].to_list() == [0, 1] and runs["samples"][0] == len(trained)
    summary = read_partition_table(store, "gain_evaluation", "t20", "summary")
    assert set(summary["evaluation_set"]) == {"world", "human", "release_truth"}
    described = {
        s for s, t in zip(subset["sha256"], text1, strict=True) if t in set(sentences["text"])
    }
    release = summary.filter(pl.col("evaluation_set") == "release_truth")
    assert release.filter(pl.col("metric") == "image_to_text_r1")["queries"][0] == len(
        described & set(held)
    )
    assert set(summary["metric"]) >= {"image_to_text_r1", "text_to_image_r5", "shape_accuracy"}
    human = summary.filter(pl.col("evaluation_set") == "human")
    assert human.filter(pl.col("metric") == "image_to_text_r1")["queries"][0] == 6
    info = read_manifest(store, "gain_evaluation", "t20")["info"]
    assert info["stats"]["human_dropped_trained"] == 1
    assert info["stats"]["world_images"] == 24 and info["stats"]["world_dropped_trained"] == 0
    assert summary["seeds"].to_list() == [2] * summary.height
    assert summary["gain_mean"].is_finite().all()
