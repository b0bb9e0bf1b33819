"""The bootstrap's training pairs: alt texts, the page sentences near each image, which of them a
first model ranks near the image, and a released subset's four texts."""

from __future__ import annotations

import random

import numpy as np
import polars as pl
import pytest

from realsyn import world as w
from realsyn.bootstrap import (
    alt_text_pairs,
    context_sentences,
    rank_context_texts,
    refine_pairs,
    select_context_texts,
    subset_pairs,
)
from realsyn.clip import load_clip
from realsyn.world_render import render


def test_alt_text_pairs_take_alt_text_and_neighbouring_kept_sentences():
    items = pl.DataFrame({"item_id": ["i1", "i2", "i3"], "alt_text": ["red circle", "  ", None]})
    images = pl.DataFrame(
        {
            "image_id": ["i1", "i2", "i3"],
            "doc_id": ["d", "d", "e"],
            "position": [1, 3, 0],
            "sha256": ["a", "b", "a"],
            "decision": ["keep", "keep", "drop"],
        }
    )
    sentences = pl.DataFrame(
        {
            "doc_id": ["d", "d", "d", "d"],
            "position": [0, 2, 2, 5],
            "text": ["Before.", "Between.", "Dropped.", "Far away."],
            "decision": ["keep", "keep", "drop", "keep"],
        }
    )
    out = alt_text_pairs(items, images, sentences, window=1)
    got = {sha: sorted(t) for sha, t in out.iter_rows()}
    assert got == {"a": ["Before.", "Between.", "red circle"], "b": ["Between."]}
    only_alt = alt_text_pairs(items, images)
    assert {sha: t for sha, t in only_alt.iter_rows()} == {"a": ["red circle"]}


def test_subset_pairs_draw_from_all_four_texts():
    subset = pl.DataFrame(
        {
            "sha256": ["a", "b", "a"],
            "text1": ["t1", "u1", "x"],
            "text2": ["t2", None, "x"],
            "text3": ["t3", None, "x"],
            "syn_text": [None, "u-syn", "x"],
        }
    )
    out = {sha: t for sha, t in subset_pairs(subset).iter_rows()}
    assert out == {"a": ["t1", "t2", "t3"], "b": ["u1", "u-syn"]}


def test_context_sentences_are_the_page_text_near_each_kept_image():
    images = pl.DataFrame(
        {
            "doc_id": ["d", "d", "e"],
            "position": [1, 4, 0],
            "sha256": ["a", "b", "c"],
            "decision": ["keep", "keep", "drop"],
        }
    )
    sentences = pl.DataFrame(
        {
            "doc_id": ["d", "d", "d", "d", "e"],
            "position": [0, 2, 3, 6, 1],
            "text": ["Zero.", "Two.", "Dropped three.", "Six.", "Other doc."],
            "decision": ["keep", "keep", "drop", "keep", "keep"],
        }
    )

    def near(**kw) -> dict:
        out = context_sentences(images, sentences, 2, **kw)
        return {sha: sorted(g["text"]) for (sha,), g in out.group_by("sha256")}

    assert near() == {"a": ["Two.", "Zero."], "b": ["Six.", "Two."]}
    assert near(only_kept=False) == {
        "a": ["Dropped three.", "Two.", "Zero."],
        "b": ["Dropped three.", "Six.", "Two."],
    }


def _unit(rows) -> np.ndarray:
    v = np.asarray(rows, dtype=np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_select_context_texts_keeps_candidates_ranked_in_the_images_top_k():
    pool = _unit([[1, 0, 0], [0.9, 0.1, 0], [0, 1, 0], [0, 0.9, 0.1], [0, 0, 1], [0.5, 0.5, 0]])
    images = _unit([[1, 0.05, 0], [0, 0, 1]])
    # image 0's page holds a description (row 1), the neighbour's (row 2) and a mixed one (5)
    kept = select_context_texts(images, [[1, 2, 5], [2, 4]], pool, top_k=2)
    assert kept == [[1], [4]]
    assert select_context_texts(images, [[1, 2, 5], []], pool, top_k=3) == [[1, 5], []]
    # ranked within a sub-pool: rows 0 and 1 are left out, so the mixed row 5 now ranks 1st
    assert select_context_texts(images[:1], [[5, 2]], pool, 1, reference_rows=[2, 3, 4, 5]) == [[5]]
    with pytest.raises(ValueError, match="candidate lists"):
        select_context_texts(images, [[1]], pool)
    with pytest.raises(ValueError, match="top_k"):
        select_context_texts(images, [[1], [2]], pool, top_k=0)


def test_select_context_texts_samples_a_large_pool_and_scales_k():
    rng = np.random.default_rng(0)
    pool = _unit(rng.normal(size=(4000, 8)))
    images = _unit(rng.normal(size=(50, 8)))
    sims = images @ pool.T
    order = np.argsort(-sims, axis=1)
    # each image's 5th-best and 600th-best sentences as candidates
    cands = [[int(order[i, 4]), int(order[i, 599])] for i in range(50)]
    full = select_context_texts(images, cands, pool, top_k=40)
    sampled = select_context_texts(images, cands, pool, top_k=40, pool_limit=1000)
    assert full == [[c[0]] for c in cands]
    # top 40 of 4,000 ~ top 10 of a 1,000 sample: the 5th best stays in, the 600th stays out
    assert sum(k == [c[0]] for k, c in zip(sampled, cands, strict=True)) >= 45


def test_rank_context_texts_keeps_a_candidate_at_exactly_rank_k():
    """The k-th nearest pool sentence is within rank k on any BLAS: its score and the rank
    threshold are one and the same float (a second product could round it below itself)."""
    rng = np.random.default_rng(7)
    pool = rng.standard_normal((300, 48)).astype(np.float32)
    pool /= np.linalg.norm(pool, axis=1, keepdims=True)
    images = rng.standard_normal((200, 48)).astype(np.float32)
    images /= np.linalg.norm(images, axis=1, keepdims=True)
    ks = [1, 5, 37, 300]
    order = np.argsort(-(images.astype(np.float64) @ pool.T.astype(np.float64)), axis=1)
    for k in ks:
        exactly_kth = [[int(order[i, k - 1])] for i in range(len(images))]
        (kept,) = rank_context_texts(images, exactly_kth, pool, [k], chunk=64)
        assert kept == exactly_kth, k
        beyond = [[int(order[i, k])] for i in range(len(images))] if k < len(pool) else None
        if beyond:
            (dropped,) = rank_context_texts(images, beyond, pool, [k], chunk=64)
            assert all(d == [] for d in dropped), k


def test_refine_pairs_adds_chosen_page_sentences_to_the_alt_texts():
    rng = random.Random(4)
    scenes = [w.sample_scene(rng) for _ in range(6)]
    blobs = {f"s{i}": render(s, rng) for i, s in enumerate(scenes)}
    model = load_clip("realsyn-tiny", seed=0)
    pairs = pl.DataFrame(
        {"sha256": ["s0", "s1", "s2"], "texts": [["alt zero"], ["alt one"], ["alt two"]]}
    )
    candidates = pl.DataFrame(
        {
            "sha256": ["s0", "s0", "s1", "s3", "s3"],
            "text": ["page a", "alt zero", "page b", "page c", "page d"],
        }
    )
    pool = ["page a", "page b", "page c", "page d", "page e"]
    # top_k as large as the pool: every candidate ranks in it, so all are chosen
    out, stats = refine_pairs(model, pairs, candidates, pool, blobs.__getitem__, top_k=5)
    got = {r["sha256"]: r for r in out.iter_rows(named=True)}
    assert got["s0"]["texts"] == ["alt zero", "page a"]  # an alt text is not added twice
    assert got["s0"]["context_texts"] == ["page a"] and got["s2"]["context_texts"] == []
    assert got["s3"]["alt_texts"] == [] and sorted(got["s3"]["texts"]) == ["page c", "page d"]
    assert stats == {
        "candidates": 4,
        "chosen": 4,
        "images_with_chosen": 3,
        "new_samples": 1,
        "samples": 4,
        "negatives": 0,
    }
    assert out["negatives"].list.len().sum() == 0  # no negative_rank: no negatives
    # top_k 1: at most one candidate per image can be its nearest pool sentence
    out1, stats1 = refine_pairs(model, pairs, candidates, pool, blobs.__getitem__, top_k=1)
    assert stats1["chosen"] < 4 and all(len(c) <= 1 for c in out1["context_texts"].to_list())
    # negative_rank 1: every candidate but an image's nearest pool sentence is a negative
    out2, stats2 = refine_pairs(
        model, pairs, candidates, pool, blobs.__getitem__, top_k=1, negative_rank=1
    )
    for row in out2.iter_rows(named=True):
        own = [t for t in candidates.filter(pl.col("sha256") == row["sha256"])["text"]]
        own = [t for t in own if t not in row["alt_texts"]]
        assert sorted(row["context_texts"] + row["negatives"]) == sorted(own)
    assert stats2["negatives"] == 4 - stats2["chosen"]
