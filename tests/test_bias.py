"""bias: shares in the pool vs the release, over-representation, the tail, drop rates."""

import numpy as np
import polars as pl
import pytest

from realsyn.balance import hash_rank, rank_within_cluster, select
from realsyn.bias import (
    cluster_report,
    concept_labels,
    precision_by_class,
    share_shift,
    share_table,
    source_funnel,
    stage_counts,
)


def _capped(pool: np.ndarray, cap: int) -> np.ndarray:
    ranks = hash_rank([f"img{i}" for i in range(len(pool))], 0)
    return pool[select(rank_within_cluster(pool, ranks), cap)]


def test_cluster_report_finds_the_over_represented_cluster_and_the_tail():
    pool = np.array([0] * 60 + [1] * 20 + [2] * 5 + [3] * 3 + [4] * 2)
    release = _capped(pool, 10)
    table, stats = cluster_report(pool, release, cap=10)
    assert table["image_cluster"][0] == "0" and table["over_uniform"][0] == pytest.approx(
        60 / 90 * 5
    )
    assert table.filter(pl.col("image_cluster") == "0")["release"][0] == 10
    assert stats["tail_clusters"] == 3  # 5, 3 and 2 images: under the cap, kept whole
    assert stats["tail_release_share"] == pytest.approx(10 / 30)
    assert stats["gini_release"] < stats["gini_pool"]
    assert stats["top_cluster_pool_share"] == pytest.approx(60 / 90)
    assert table["release_over_uniform"][0] == pytest.approx(10 / 30 * 5)


def test_bias_checks_fire_on_an_over_represented_release():
    from checks.bias_suites import BIAS_REPORT_SUITE
    from checks.gx import run_suite

    pool = np.array([0] * 60 + [1] * 20 + [2] * 5 + [3] * 3 + [4] * 2)
    params = {"t": 10, "max_over_uniform": 3.0}
    capped, _ = cluster_report(pool, _capped(pool, 10), cap=10)
    uncapped, _ = cluster_report(pool, pool, cap=10)
    ok = {o.name: o.passed for o in run_suite(BIAS_REPORT_SUITE, {"clusters": capped}, params)}
    bad = {o.name: o.passed for o in run_suite(BIAS_REPORT_SUITE, {"clusters": uncapped}, params)}
    assert all(ok.values()) and not any(bad.values())


def test_share_shift_between_materializations():
    shift = share_shift({"pdf": 0.7, "html": 0.3}, {"pdf": 0.5, "html": 0.4, "epub": 0.1})
    delta = dict(zip(shift["source"], shift["abs_delta"], strict=True))
    assert delta == pytest.approx({"epub": 0.1, "html": 0.1, "pdf": 0.2})


def test_share_table_ratio_says_who_lost_ground():
    t = share_table(["a"] * 8 + ["b"] * 2, ["a"] * 2 + ["b"] * 2, "source")
    ratio = dict(zip(t["source"], t["ratio"], strict=True))
    assert ratio["a"] == pytest.approx(0.5 / 0.8) and ratio["b"] == pytest.approx(0.5 / 0.2)


def test_source_funnel_drop_rates_per_source():
    funnel = source_funnel(
        [
            stage_counts("clean_images", ["pdf"] * 10 + ["html"] * 10, ["pdf"] * 9 + ["html"] * 2),
            stage_counts("image_dedup", ["pdf"] * 9 + ["html"] * 2, ["pdf"] * 9),
        ]
    )
    rate = {(s, src): r for s, src, r in funnel.select("stage", "source", "drop_rate").iter_rows()}
    assert rate[("clean_images", "html")] == pytest.approx(0.8)
    assert rate[("clean_images", "pdf")] == pytest.approx(0.1)
    assert rate[("image_dedup", "html")] == 1.0 and rate[("image_dedup", "pdf")] == 0.0


def test_concept_labels_and_precision_head_vs_tail():
    labels = concept_labels(
        ["Three red squares on a dotted background", "Red squares again", "A blue star", None],
        [1, 1, 2, 2],
    )
    assert labels == {1: "red squares again", 2: "blue star"}
    strata = pl.DataFrame(
        {"size_class": ["head", "head", "tail"], "p1_n": [10, 10, 20], "p1": [0.9, 0.7, 0.5]}
    )
    got = precision_by_class(strata)
    head = got.filter(pl.col("size_class") == "head")
    assert head["n"][0] == 20 and head["precision_at_1"][0] == pytest.approx(0.8)
    assert head["low"][0] < 0.8 < head["high"][0]
