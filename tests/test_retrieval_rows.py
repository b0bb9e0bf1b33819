"""retrieval_pairs' rows for every top_k the stage accepts (1..5), built by the pure core."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from checks.gx import run_check
from checks.retrieval_suites import RETRIEVAL_PAIRS_SUITE
from realsyn.retrieval import (
    ClusterParams,
    RetrievalParams,
    fit_clusters,
    pair_rows,
    pairs_report,
    retrieve,
)
from realsyn.schemas import MAX_TOP_K, RELEASE_TEXTS, retrieval_schema


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _world(n_sentences: int = 60, n_images: int = 7, seed: int = 0):
    rng = np.random.default_rng(seed)
    sentences = _unit(rng.normal(size=(n_sentences, 16)))
    images = _unit(sentences[:n_images] + 0.01 * rng.normal(size=(n_images, 16)))
    clusters = fit_clusters(sentences, ClusterParams(n_clusters=3, seed=0))
    ids = [f"s{i}" for i in clusters.order]
    texts = [f"sentence {i}" for i in clusters.order]
    frame = pl.DataFrame(
        {
            "image_id": [f"i{n}" for n in range(n_images)],
            "shard": ["a"] * n_images,
            "sha256": [f"{n:064x}" for n in range(n_images)],
            "raw_image_url": [f"http://x/{n}.jpg" for n in range(n_images)],
            "doc_id": ["d"] * n_images,
            "position": list(range(n_images)),
        },
        schema_overrides={"position": pl.Int32},
    )
    return sentences[clusters.order], images, clusters, ids, texts, frame


@pytest.mark.parametrize("top_k", [1, 2, 3, 5])
def test_rows_hold_top_k_texts_best_first(top_k):
    ordered, images, clusters, ids, texts, frame = _world()
    result = retrieve(images, ordered, clusters, RetrievalParams(top_k, clusters_searched=3))
    table = pair_rows(frame, result, ids, texts, "m")
    assert table.schema == pl.Schema(retrieval_schema(top_k))
    assert table.height == len(images)
    assert table["short_reason"].null_count() == table.height  # 3 clusters of ~20: no shortage
    for j in range(1, top_k + 1):
        assert table[f"text{j}"].null_count() == 0
        assert table[f"score{j}"].null_count() == 0
    for j in range(top_k + 1, max(top_k, RELEASE_TEXTS) + 1):  # the release's text3 exists, null
        assert table[f"text{j}"].null_count() == table.height
    assert f"text{max(top_k, RELEASE_TEXTS) + 1}" not in table.columns
    scores = table.select(f"score{j}" for j in range(1, top_k + 1)).to_numpy()
    assert (np.diff(scores, axis=1) <= 0).all()
    # each image is a slightly moved sentence: that sentence comes first, with its own id
    assert table["sentence_id1"].to_list() == [f"s{n}" for n in range(len(images))]
    assert table["text1"].to_list() == [f"sentence {n}" for n in range(len(images))]
    checks = {c.name: c for c in RETRIEVAL_PAIRS_SUITE}
    params = {
        "survivors": table.height,
        "survivor_ids": table["image_id"].to_list(),
        "top_k": top_k,
    }
    for check in checks.values():
        assert run_check(check, {"pairs": table}, params).passed, check.name


def test_a_small_cluster_is_short_by_the_runs_top_k_only():
    # 4 orthogonal sentences in 4 clusters, one searched: one text per image
    sentences = _unit(np.eye(4, 8) + 0.01)
    clusters = fit_clusters(sentences, ClusterParams(n_clusters=4))
    ordered = sentences[clusters.order]
    ids = [f"s{i}" for i in clusters.order]
    _, _, _, _, _, frame = _world(n_images=1)
    image = _unit(np.eye(4, 8)[:1] + 0.02)
    one = pair_rows(frame, retrieve(image, ordered, clusters, RetrievalParams(1, 1)), ids, ids, "m")
    assert one["short_reason"].to_list() == [None] and one["text1"].to_list() == ["s0"]
    two = pairs_report(
        frame, retrieve(image, ordered, clusters, RetrievalParams(2, 1)), ids, ids, "m"
    )
    assert two.table["short_reason"].to_list() == ["cluster_too_small"]
    assert two.stats == {"images": 1, "short": 1, "mean_candidates": 1}
    assert two.table["text2"].to_list() == [None]


def test_empty_shard_and_out_of_range_top_k():
    ordered, _, clusters, ids, texts, frame = _world(n_images=0)
    empty = pairs_report(
        frame,
        retrieve(np.zeros((0, 16), np.float32), ordered, clusters, RetrievalParams(5)),
        ids,
        texts,
        "m",
    )
    assert empty.table.height == 0 and empty.quantiles == {}
    assert list(empty.table.columns) == list(retrieval_schema(5))
    for bad in (0, MAX_TOP_K + 1):
        with pytest.raises(ValueError, match="top_k"):
            RetrievalParams(top_k=bad)
