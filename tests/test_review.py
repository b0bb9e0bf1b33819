"""Review rounds, pure: sampling, Label Studio shapes, statistics, with simulated raters on a
generated world whose answers are known."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import math
import random
import tomllib

import numpy as np
import polars as pl
import pytest

from realsyn.label_studio import label_config, labels_frames, parse_export, simulate_export, tasks
from realsyn.pipeline_eval import retrieval_precision
from realsyn.review import (
    CHOICES,
    ReviewParams,
    cosine_bins,
    gold_table,
    sample_review,
    size_classes,
    world_labels,
)
from realsyn.review_stats import (
    ValidationParams,
    cohen_kappa,
    recommended_band,
    recommended_params_toml,
    validate_round,
    wilson,
)
from realsyn.world import describes
from realsyn.world_docs import TRUTH_DIR, WorldParams, build_world


@pytest.fixture(scope="module")
def world():
    """A small generated world and retrieval-like pairs over it: text1 describes its image with
    a probability that rises with the pair cosine (as a real band is meant to find)."""
    w = build_world(WorldParams(seed=3, documents=400, eval_images=8))
    ti = pl.read_parquet(io.BytesIO(w.files[f"{TRUTH_DIR}/images.parquet"]))
    ts = pl.read_parquet(io.BytesIO(w.files[f"{TRUTH_DIR}/sentences.parquet"]))
    ti = ti.unique("sha256", keep="first", maintain_order=True)
    sentences = ts.filter(pl.col("label") == "description")
    texts, concepts = sentences["text"].to_list(), sentences["concepts"].to_list()
    rng = random.Random(7)
    rows = []
    for n, (sha, img) in enumerate(zip(ti["sha256"], ti["concepts"], strict=True)):
        good = [t for t, c in zip(texts, concepts, strict=True) if describes(c, img)]
        cos = rng.uniform(0.0, 0.8)
        chosen = []
        for k in range(3):
            ok = good and rng.random() < (0.2 + cos if k == 0 else 0.4)
            chosen.append(rng.choice(good) if ok else rng.choice(texts))
        shape = next((c for c in img if c.startswith("shape:")), "shape:none")
        rows.append(
            {
                "image_id": f"doc{n:04d}:{n % 5}",
                "sha256": sha,
                "doc_id": f"doc{n:04d}",
                "shard": "world/obelics/x.parquet" if n % 3 else "world/html/shapes-blog",
                "source_format": "obelics_parquet" if n % 3 else "html_folder",
                "image_cluster": int(
                    hashlib.blake2b(shape.encode(), digest_size=2).hexdigest(), 16
                ),
                "pair_cosine": cos,
                "pair_text": "text1",
                "text1": chosen[0],
                "text2": chosen[1],
                "text3": chosen[2],
                "syn_text": None,
            }
        )
    return pl.DataFrame(rows), ti, ts


def _round(pairs, ti, ts, noise, params=None, shape="full", seed=0):
    """One round over the pairs' own (corpus) scope only: the world has no other scope's texts
    (tests/test_review_scope.py compares scopes)."""
    params = dataclasses.replace(params or ReviewParams(per_stratum=15), scopes=("corpus",))
    truth = world_labels(pairs, ti, ts)
    gold = dict(list(sorted(truth.items()))[:20])
    band = (0.3, 0.6)
    items = sample_review(pairs, band, params, "r001", gold=gold)
    by_item = {i: truth[img] for i, img in items.select("item_id", "image_id").iter_rows()}
    task_list = tasks(items, "/data/local-files/?d=review/r001/")
    export = simulate_export(task_list, by_item, noise, seed=seed, shape=shape)
    labels, rejected = labels_frames({"labels/a.json": export}, set(items["item_id"]))
    return items, labels, rejected, gold_table(items, gold)


def test_wilson_and_kappa_known_values():
    p, lo, hi = wilson(8, 10)
    assert (
        p == 0.8 and lo == pytest.approx(0.4902, abs=1e-3) and hi == pytest.approx(0.9433, abs=1e-3)
    )
    assert wilson(0, 0)[1:] == (0.0, 1.0)
    assert cohen_kappa(["a", "b", "a", "b"], ["a", "b", "a", "b"], ["a", "b"]) == 1.0
    # 70% agreement, marginals 50/50 and 60/40: expected 0.5, kappa 0.4
    a = ["a"] * 5 + ["b"] * 5
    b = ["a"] * 4 + ["b"] + ["a"] * 2 + ["b"] * 3
    assert cohen_kappa(a, b, ["a", "b"]) == pytest.approx(0.4)


def test_bins_and_size_classes():
    assert cosine_bins(np.array([0.1, 0.35, 0.5, 0.7]), (0.3, 0.6)) == [
        "below", "low_in", "high_in", "above"
    ]  # fmt: skip
    classes = size_classes(np.array([1] * 6 + [2] * 3 + [3]), 1 / 3, 1 / 3)
    assert classes == ["head"] * 6 + ["torso"] * 3 + ["tail"]


def test_sampling_is_deterministic_stratified_and_never_repeats_an_image(world):
    pairs, ti, ts = world
    params = ReviewParams(per_stratum=10, scopes=("corpus",))
    a = sample_review(pairs, (0.3, 0.6), params, "r001")
    assert a.equals(sample_review(pairs.reverse(), (0.3, 0.6), params, "r001"))
    assert a.group_by("stratum").len()["len"].max() <= 10
    assert a["sha256"].n_unique() == a.height
    assert set(a["cosine_bin"]) == {"below", "low_in", "high_in", "above"}
    assert a["copies"].max() == 2 and 0.05 < (a["copies"] == 2).mean() < 0.4
    seen = set(a["image_id"]) | set(a["sha256"])
    b = sample_review(pairs, (0.3, 0.6), params, "r002", reviewed=seen)
    assert not (set(b["image_id"]) & set(a["image_id"])) and b.height > 0
    # every image has a known answer (as on the demo): gold is a few of them, not all
    every = world_labels(pairs, ti, ts)
    c = sample_review(pairs, (0.3, 0.6), params, "r001", gold=every)
    assert c["is_gold"].sum() == params.gold_items and (~c["is_gold"]).sum() == a.height
    assert (c.filter("is_gold")["copies"] == params.gold_repeats).all()


def test_label_studio_shapes_round_trip(world):
    pairs, ti, ts = world
    items, labels_full, rejected, _ = _round(pairs, ti, ts, 0.0)
    _, labels_min, _, _ = _round(pairs, ti, ts, 0.0, shape="min")
    assert rejected.height == 0 and labels_full.height > 0
    cols = ["item_id", "copy", "field", "label", "rater"]
    assert labels_full.select(cols).sort(cols).equals(labels_min.select(cols).sort(cols))
    config = label_config()
    assert config.count("<Choices") == 4 and all(f'value="{c}"' in config for c in CHOICES)
    assert sum(items["copies"]) == len(tasks(items, "x/"))


def test_malformed_exports_become_rejected_rows():
    known = {"r001-0000"}
    ok_task = {"data": {"item_id": "r001-0000", "copy": 0}, "annotations": [
        {"id": 1, "result": [{"from_name": "text1_label", "value": {"choices": ["describes"]}}]},
        {"id": 2, "was_cancelled": True, "result": []},
        {"id": 3, "result": [{"from_name": "text2_label", "value": {"choices": ["maybe"]}}]},
    ]}  # fmt: skip
    rows, bad = parse_export(
        json.dumps([ok_task, 5, {"data": {}}, {"data": {"item_id": "zz"}}]).encode(), "f", known
    )
    assert [r["label"] for r in rows] == ["describes"]
    assert [b["reason"] for b in bad] == [
        "cancelled", "unknown_choice", "not_an_object", "missing_item_id", "unknown_item"
    ]  # fmt: skip
    assert parse_export(b"{nope", "g", known)[1][0]["reason"] == "invalid_json"
    assert parse_export(b'{"a": 1}', "g", known)[1][0]["reason"] == "not_a_list"


def test_wilson_interval_covers_true_precision_with_exact_raters(world):
    pairs, ti, ts = world
    items, labels, _, gold = _round(pairs, ti, ts, 0.0)
    report = validate_round(items, labels, gold, ValidationParams())
    s = report["summary"]
    truth = retrieval_precision(pairs, ti, ts)
    assert s["p1_coverage"] == pytest.approx(1.0)
    assert s["p1_weighted_low"] <= truth["precision_at_1"] <= s["p1_weighted_high"]
    assert s["p3_weighted_low"] <= truth["precision_at_3"] <= s["p3_weighted_high"]
    assert s["kappa"] == pytest.approx(1.0) and s["gold_accuracy"] == 1.0
    strata = report["strata"]
    assert ((strata["p1_low"] <= strata["p1"]) & (strata["p1"] <= strata["p1_high"])).all()
    assert s["lead_time_median_s"] > 0 and s["lead_time_p90_s"] >= s["lead_time_median_s"]


def _expected_kappa(noise: float, labels: list[str]) -> float:
    """Kappa of two raters who each replace the truth by a uniform choice with prob. noise."""
    q = np.array([labels.count(c) / len(labels) for c in CHOICES])
    a, b = 1 - noise + noise / 3, noise / 3
    observed = a * a + 2 * b * b
    m = (1 - noise) * q + noise / 3
    return (observed - (m**2).sum()) / (1 - (m**2).sum())


@pytest.mark.parametrize("noise", [0.1, 0.3, 0.5])
def test_kappa_tracks_the_noise(world, noise):
    pairs, ti, ts = world
    params = ReviewParams(per_stratum=40, double_share=1.0)
    items, labels, _, gold = _round(pairs, ti, ts, noise, params=params, seed=11)
    s = validate_round(items, labels, gold, ValidationParams())["summary"]
    truth_labels = labels.filter(pl.col("copy") == 0)["label"].to_list()
    assert s["kappa_pairs"] > 500
    assert s["kappa"] == pytest.approx(_expected_kappa(noise, truth_labels), abs=0.1)


def test_recommended_band_is_the_widest_run_clearing_the_target():
    bins = pl.DataFrame({
        "cosine_low": [0.0, 0.1, 0.2, 0.3, 0.4, 0.5], "cosine_high": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6],
        "n": [10] * 6, "low": [0.2, 0.6, 0.7, 0.4, 0.6, 0.55],
    })  # fmt: skip
    assert recommended_band(bins, 0.5) == (0.1, 0.3)
    assert recommended_band(bins, 0.9) is None
    summary = {"band_target": 0.5, "labelled_items": 60}
    text = recommended_params_toml((0.12345, 0.3001), "r001", summary)
    assert tomllib.loads(text) == {
        "balanced_pool": {"pair_band_low": 0.123, "pair_band_high": 0.301}
    }
    assert tomllib.loads(recommended_params_toml(None, "r001", summary)) == {}


def test_recommended_params_switch_to_the_scope_winner():
    """A named scope winner other than the released scope is recommended with the hybrid prior
    the round compared; no winner, or the released scope winning, recommends no switch."""
    from realsyn.review_stats import scope_recommendation

    summary = {"band_target": 0.5, "labelled_items": 900, "scope_winner": "hybrid",
               "p1_scope_hybrid": 0.94, "p1_scope_hybrid_low": 0.91,
               "p1_scope_hybrid_high": 0.96}  # fmt: skip
    compared = {"scope": "corpus", "scope_prior_weight": 0.25, "scope_prior_halflife": None}
    scope = scope_recommendation(summary, "corpus", compared)
    assert scope == {"scope": "hybrid", "scope_prior_weight": 0.25, "scope_prior_halflife": None}
    text = recommended_params_toml((0.2, 0.9), "r001", summary, scope=scope)
    assert tomllib.loads(text) == {
        "balanced_pool": {"pair_band_low": 0.2, "pair_band_high": 0.9},
        "retrieval_pairs": {"scope": "hybrid", "scope_prior_weight": 0.25},
    }
    halflife = {**scope, "scope_prior_halflife": 8.0}
    parsed = tomllib.loads(recommended_params_toml(None, "r001", summary, scope=halflife))
    assert parsed == {
        "retrieval_pairs": {"scope": "hybrid", "scope_prior_weight": 0.25,
                            "scope_prior_halflife": 8.0}
    }  # fmt: skip
    unknown = scope_recommendation(summary, "corpus", None)  # a round from before the record
    assert tomllib.loads(recommended_params_toml(None, "r001", summary, scope=unknown)) == {
        "retrieval_pairs": {"scope": "hybrid"}
    }
    assert scope_recommendation(summary, "hybrid", compared) is None
    assert (
        scope_recommendation({**summary, "scope_winner": "no clear winner"}, "corpus", compared)
        is None
    )
    document = scope_recommendation({**summary, "scope_winner": "document",
                                     "p1_scope_document": 0.9, "p1_scope_document_low": 0.8,
                                     "p1_scope_document_high": 0.95}, "corpus", compared)  # fmt: skip
    assert tomllib.loads(recommended_params_toml(None, "r001", {**summary, "p1_scope_document": 0.9,
        "p1_scope_document_low": 0.8, "p1_scope_document_high": 0.95}, scope=document)) == {
        "retrieval_pairs": {"scope": "document"}}  # fmt: skip


def test_recommended_band_follows_the_precision_by_cosine(world):
    pairs, ti, ts = world
    items, labels, _, gold = _round(pairs, ti, ts, 0.0, params=ReviewParams(per_stratum=40))
    report = validate_round(items, labels, gold, ValidationParams(band_target=0.6))
    low, high = (
        report["summary"]["recommended_band_low"],
        report["summary"]["recommended_band_high"],
    )
    assert low is not None and low > 0.2 and high > 0.7  # precision rises with the cosine
    assert math.isclose(report["bins"]["n"].sum(), report["summary"]["labelled_items"])


GATES = {"min_labelled_items": 100, "kappa_error": 0.4, "kappa_warn": 0.6,
         "min_gold_accuracy": 0.8, "min_precision_at_1": 0.5}  # fmt: skip


def _outcomes(summary: dict) -> dict[str, bool]:
    from checks.gx import run_suite
    from checks.review_labels_suites import HUMAN_VALIDATION_SUITE

    table = pl.DataFrame([summary]).with_columns(pl.col("kappa").fill_nan(None))
    return {o.name: o.passed for o in run_suite(HUMAN_VALIDATION_SUITE, {"summary": table}, GATES)}


def test_gates_pass_on_careful_raters_and_fire_at_noise_half(world):
    pairs, ti, ts = world
    params = ReviewParams(per_stratum=40)
    for noise, expect in ((0.05, True), (0.5, False)):
        items, labels, _, gold = _round(pairs, ti, ts, noise, params=params, seed=5)
        got = _outcomes(validate_round(items, labels, gold, ValidationParams())["summary"])
        assert got["human_validation_enough_labels"]
        for name in (
            "rater_agreement_usable",
            "rater_agreement_good",
            "gold_accuracy",
            "precision_floor",  # true precision@1 0.61: noise pulls it towards 1/3
        ):
            assert got[f"human_validation_{name}"] is expect, (noise, got)
    summary = validate_round(items, labels, gold, ValidationParams())["summary"]
    assert not _outcomes({**summary, "kappa": float("nan")})[
        "human_validation_rater_agreement_usable"
    ]
