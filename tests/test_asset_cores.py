"""The row building that moved out of the assets into the core: pool, scaled subset, syn_text."""

import numpy as np
import polars as pl

from realsyn.balance import PAPER_BAND, BalanceParams, balance_pool, scaled_subset
from realsyn.captioner import SynText, syn_table
from realsyn.schemas import RELEASE_SCHEMA


def _pairs(n: int) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "image_id": [f"i{k}" for k in range(n)],
            "text1": [f"t{k}" for k in range(n)],
            "syn_text": [None if k % 2 else f"s{k}" for k in range(n)],
            "cluster_id": list(range(n)),
        }
    )


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def test_pool_keeps_the_band_and_ranks_within_clusters():
    rng = np.random.default_rng(0)
    images = _unit(rng.normal(size=(40, 8)))
    texts = _unit(images + rng.normal(size=(40, 8)))  # cosines spread over (-1, 1)
    pairs = _pairs(40)
    has_syn = pairs["syn_text"].is_not_null().to_numpy()
    params = BalanceParams(images_per_cluster=5, seed=1)
    every = balance_pool(pairs, images, texts, has_syn, params, None)
    cosine = (images * texts).sum(axis=1)
    assert every.pool.height == 40 and every.stats["kept"] == 40
    assert every.pool["pair_text"].to_list() == ["syn_text", "text1"] * 20
    assert every.in_paper_band == float(((cosine >= 0.51) & (cosine <= 0.61)).mean())
    assert PAPER_BAND == (0.51, 0.61)
    band = balance_pool(pairs, images, texts, has_syn, params, (0.3, 0.9))
    inside = (cosine >= 0.3) & (cosine <= 0.9)
    assert band.stats == {
        "pairs": 40,
        "kept": int(inside.sum()),
        "no_text": 0,
        "clusters": len(band.sizes),
        "max_cluster": int(band.sizes.max()),
    }
    assert set(band.pool["image_id"]) == {f"i{k}" for k in np.nonzero(inside)[0]}
    ranks = band.pool.group_by("image_cluster").agg(pl.col("cluster_rank").sort())
    for row in ranks.iter_rows(named=True):
        assert row["cluster_rank"] == list(range(len(row["cluster_rank"])))
    again = balance_pool(pairs, images, texts, has_syn, params, (0.3, 0.9))
    assert again.pool.equals(band.pool)  # seeded: same input, same pool


def test_pool_drops_pairs_without_a_text_and_counts_them():
    """Document scope: an image whose page kept no sentence has no text1; it never reaches the
    release (whose blocking check requires text1) and is counted as no_text."""
    rng = np.random.default_rng(0)
    images = _unit(rng.normal(size=(6, 8)))
    texts = _unit(rng.normal(size=(6, 8)))
    pairs = _pairs(6).with_columns(
        pl.when(pl.col("image_id").is_in(["i1", "i4"]))
        .then(None)
        .otherwise(pl.col("text1"))
        .alias("text1"),
        pl.lit(None, dtype=pl.String).alias("syn_text"),
    )
    has_syn = np.zeros(6, dtype=bool)
    report = balance_pool(pairs, images, texts, has_syn, BalanceParams(seed=1), None)
    assert sorted(report.pool["image_id"]) == ["i0", "i2", "i3", "i5"]
    assert report.stats["no_text"] == 2 and report.stats["kept"] == 4


def test_scaled_subset_caps_each_cluster_in_the_release_schema():
    pool = pl.DataFrame(
        {
            "image_id": ["d", "c", "b", "a"],
            "image_cluster": [0, 0, 0, 1],
            "cluster_rank": [0, 1, 2, 0],
            "cluster_id": [7, 7, 8, 9],
        }
    )
    full = pool.with_columns(
        pl.lit(None, dtype=t).alias(c)
        for c, t in RELEASE_SCHEMA.items()
        if c not in pool.columns and c != "sentence_cluster"
    )
    report = scaled_subset(full, 2, RELEASE_SCHEMA)
    assert report.subset.columns == list(RELEASE_SCHEMA)
    assert report.subset["image_id"].to_list() == ["a", "c", "d"]  # rank < 2, by id
    assert report.subset["sentence_cluster"].to_list() == [9, 7, 7]
    assert report.stats == {"rows": 3, "pool": 4, "cap": 2, "max_per_cluster": 2}
    assert report.before.tolist() == [3, 1] and report.after.tolist() == [2, 1]


def test_syn_table_counts_each_failure_reason():
    results = [
        SynText("a cat", "cap", ["cat"], None),
        SynText(None, None, [], "no_captioner"),
        SynText(None, None, [], "no_captioner"),
    ]
    table, stats = syn_table(["i0", "i1", "i2"], results)
    assert table["syn_text"].to_list() == ["a cat", None, None]
    assert stats == {"pairs": 3, "with_syn_text": 1, "failed_no_captioner": 2}
    empty, none = syn_table([], [])
    assert empty.height == 0 and none == {"pairs": 0, "with_syn_text": 0}


def test_clusters_report_orders_members_by_cluster_with_their_text():
    from realsyn.retrieval import ClusterParams, clusters_report, fit_clusters

    rng = np.random.default_rng(0)
    centres = _unit(rng.normal(size=(3, 8)))
    x = _unit(np.repeat(centres, [4, 2, 6], axis=0) + 0.01 * rng.normal(size=(12, 8)))
    members = pl.DataFrame({"sentence_id": [f"s{k}" for k in range(12)], "shard": ["a"] * 12})
    texts = pl.DataFrame(
        {"sentence_id": [f"s{k}" for k in range(12)], "text": list("abcdefghijkl")}
    )
    clusters = fit_clusters(x, ClusterParams(n_clusters=3, seed=0))
    report = clusters_report(members, clusters, texts)
    assert sorted(report.sizes.tolist()) == [2, 4, 6]
    assert report.stats == {
        "sentences": 12,
        "clusters": 3,
        "min_size": 2,
        "median_size": 4,
        "max_size": 6,
    }
    assert report.members["cluster"].is_sorted()
    by_id = dict(zip(texts["sentence_id"], texts["text"], strict=True))
    assert [by_id[s] for s in report.members["sentence_id"]] == report.members["text"].to_list()
