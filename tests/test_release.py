"""Balanced sampling (nested scales, caps) and the release export (webdataset, schema)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
import webdataset as wds

from checks.gx import run_check
from checks.release_suites import SCALED_SUBSETS_SUITE
from realsyn.balance import gini, hash_rank, rank_within_cluster, select
from realsyn.release import ShardSpec, webdataset_shards
from realsyn.schemas import RELEASE_SCHEMA
from tests.image_fixtures import animated_gif, jpeg


def skewed_world(seed: int = 0):
    """A long-tailed concept distribution: cluster c has ~1000 / (c + 1) images."""
    rng = np.random.default_rng(seed)
    sizes = [max(1, 1000 // (c + 1)) for c in range(60)]
    labels = np.repeat(np.arange(60), sizes)
    rng.shuffle(labels)
    ids = [f"img{i:05d}" for i in range(len(labels))]
    return labels, ids


def test_scales_are_nested_and_capped_and_flatten_the_distribution():
    labels, ids = skewed_world()
    position = rank_within_cluster(labels, hash_rank(ids, seed=0))
    subsets = {t: set(np.nonzero(select(position, t))[0]) for t in (20, 35, 180)}
    assert subsets[20] < subsets[35] < subsets[180]  # nested, strictly growing here
    for t, rows in subsets.items():
        counts = np.bincount(labels[list(rows)], minlength=60)
        assert counts.max() <= t
        # a cluster smaller than t keeps everything
        full = np.bincount(labels, minlength=60)
        assert (counts[full <= t] == full[full <= t]).all()
    before = gini(np.bincount(labels))
    after = {t: gini(np.bincount(labels[list(r)], minlength=60)) for t, r in subsets.items()}
    assert after[20] < after[35] < after[180] < before
    print(
        f"gini before {before:.3f}, after t=20/35/180: {after[20]:.3f}/{after[35]:.3f}/{after[180]:.3f}"
    )


def test_ranks_are_seeded_and_stable():
    ids = [f"x{i}" for i in range(100)]
    assert (hash_rank(ids, 1) == hash_rank(ids, 1)).all()
    assert not (hash_rank(ids, 1) == hash_rank(ids, 2)).all()
    labels = np.zeros(100, dtype=np.int64)
    pos = rank_within_cluster(labels, hash_rank(ids, 1))
    assert sorted(pos.tolist()) == list(range(100))


def _rows(n: int) -> pl.DataFrame:
    rows = []
    for i in range(n):
        rows.append(
            {
                "raw_image_url": f"http://x/{i}.jpg",
                "text1": f"first {i}",
                "text2": "b",
                "text3": "c",
                "syn_text": None,
                "image_id": f"doc{i}:1",
                "sha256": f"sha{i}",
                "doc_id": f"doc{i}",
                "model": "m",
                "scope": "document" if i % 2 else "corpus",
            }
        )
    return pl.DataFrame(rows)


def test_webdataset_shards_are_readable_and_reproducible(tmp_path):
    blobs = {f"sha{i}": (jpeg(seed=i) if i % 2 else animated_gif()) for i in range(5)}
    formats = {f"sha{i}": ("JPEG" if i % 2 else "GIF") for i in range(5)}
    rows = _rows(5)
    shards = list(webdataset_shards(rows, blobs.__getitem__, formats, ShardSpec(2, "t")))
    again = list(webdataset_shards(rows, blobs.__getitem__, formats, ShardSpec(2, "t")))
    assert [s[0] for s in shards] == ["t-000000.tar", "t-000001.tar", "t-000002.tar"]
    assert [s[1] for s in shards] == [s[1] for s in again]  # identical bytes
    samples = []
    for name, data, _n in shards:
        (tmp_path / name).write_bytes(data)
        ds = wds.WebDataset(str(tmp_path / name), shardshuffle=False).decode("pil")
        samples += list(ds.to_tuple("__key__", "jpg;png", "txt", "json"))
    assert [s[2] for s in samples] == [f"first {i}" for i in range(5)]
    assert samples[0][0] == "doc0_1" and samples[0][3]["text3"] == "c"
    assert [s[3]["scope"] for s in samples] == ["corpus", "document"] * 2 + ["corpus"]
    assert all(s[1].size == (320, 240) or s[1].size == (160, 120) for s in samples)


def _subset(t: int = 2) -> pl.DataFrame:
    rows = _rows(4).with_columns(
        pl.Series("image_cluster", [0, 0, 1, 2], dtype=pl.Int64),
        pl.lit(None, dtype=pl.String).alias("short_reason"),
    )
    full = {c: rows[c] if c in rows.columns else pl.Series(c, [None] * 4) for c in RELEASE_SCHEMA}
    return pl.DataFrame(full).cast(RELEASE_SCHEMA)


@pytest.mark.parametrize("name", [c.name for c in SCALED_SUBSETS_SUITE])
def test_each_scaled_subset_check_fails_on_a_crafted_frame(name):
    check = {c.name: c for c in SCALED_SUBSETS_SUITE}[name]
    good = {"subset": _subset(), "smaller": _subset().head(2)}
    assert run_check(check, good, {"t": 2}).passed, name
    bad = dict(good)
    if name == "scaled_subsets_cluster_cap_respected":
        bad["subset"] = good["subset"].with_columns(
            pl.lit(0, dtype=pl.Int64).alias("image_cluster")
        )
    elif name == "scaled_subsets_nested":
        bad["smaller"] = good["smaller"].with_columns(pl.lit("ghost").alias("image_id"))
    elif name == "scaled_subsets_no_image_twice":
        bad["subset"] = pl.concat([good["subset"], good["subset"].tail(1)])
    elif name == "scaled_subsets_three_texts":
        bad["subset"] = good["subset"].with_columns(pl.lit(None, dtype=pl.String).alias("text3"))
    elif name == "scaled_subsets_schema_matches_release":
        bad["subset"] = good["subset"].drop("syn_text")
    assert not run_check(check, bad, {"t": 2}).passed, name


def test_release_funnel_spans_every_stage():
    from realsyn.release import release_funnel

    totals = {
        "raw_documents": {"documents": 10, "image_refs": 40},
        "clean_images": {"kept": 30},
        "image_dedup": {"survivors": 25},
        "retrieval_pairs": {"images": 25},
        "balanced_pool": {"kept": 24},
        "sentences": {"total": 200, "kept": 120},
        "sentence_semantics": {"kept": 100},
        "sentence_dedup": {"survivors": 90},
        "sentence_clusters": {"sentences": 90},
    }
    md = release_funnel(totals, "t20", 12)
    assert "| image references | 40 | 100.0% |" in md
    assert "| images in t20 | 12 | 30.0% |" in md
    assert "| surviving de-duplication | 90 | 45.0% |" in md
