"""Who is in the release, and who was filtered out: shares, over-representation, drop rates.

* :func:`share_table`: counts and shares of a key (image cluster, source, concept) in the pool
  vs in the release, and their ratio (release share / pool share: below 1, the release holds
  less of it than the pool did).
* :func:`cluster_report`: per image cluster, its pool and release size, how many times the
  uniform share it holds in the pool (the most over-represented first), the tail below the cap
  (clusters the cap never touches) and the Gini of cluster sizes before and after.
* :func:`concept_labels`: a readable name per sentence cluster (its most frequent words).
* :func:`stage_counts` / :func:`source_funnel`: per source, how many entered and left each
  filter, and the drop rate: who is filtered out, not only who remains.
* :func:`precision_by_class`: human precision@1 per image-cluster size class from a review
  round's strata (head vs tail).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

import numpy as np
import polars as pl

from realsyn.balance import gini
from realsyn.review_stats import wilson

STOPWORDS = frozenset(
    "a an the and or of in on at to for with by from is are was were be been it its this that "
    "these those as into over under there their his her they we you i not no some one two three "
    "has have had sits sit shows show picture image photo".split()
)


def share_table(pool: Sequence, release: Sequence, name: str) -> pl.DataFrame:
    """``name``, pool, release, pool_share, release_share, ratio; largest pool share first."""
    p, r = Counter(pool), Counter(release)
    n_p, n_r = max(sum(p.values()), 1), max(sum(r.values()), 1)
    rows = [
        {
            name: str(k),
            "pool": p[k],
            "release": r.get(k, 0),
            "pool_share": p[k] / n_p,
            "release_share": r.get(k, 0) / n_r,
        }
        for k in p
    ]
    schema = {name: pl.String, "pool": pl.Int64, "release": pl.Int64,
              "pool_share": pl.Float64, "release_share": pl.Float64}  # fmt: skip
    frame = pl.DataFrame(rows, schema=schema) if rows else pl.DataFrame(schema=schema)
    return frame.with_columns((pl.col("release_share") / pl.col("pool_share")).alias("ratio")).sort(
        ["pool", name], descending=[True, False]
    )


def cluster_report(
    pool_clusters: np.ndarray, release_clusters: np.ndarray, cap: int, top: int = 10
) -> tuple[pl.DataFrame, dict]:
    """(clusters table, stats). ``over_uniform`` = pool share x number of clusters (1.0 = its
    fair share), ``release_over_uniform`` the same in the release; the tail is every cluster with at most ``cap`` pool images (kept whole)."""
    table = share_table(pool_clusters.tolist(), release_clusters.tolist(), "image_cluster")
    k = max(table.height, 1)
    table = table.with_columns(
        (pl.col("pool_share") * k).alias("over_uniform"),
        (pl.col("release_share") * k).alias("release_over_uniform"),
    )
    pool_sizes, rel_sizes = table["pool"].to_numpy(), table["release"].to_numpy()
    tail = table.filter(pl.col("pool") <= cap)
    stats = {
        "clusters": table.height,
        "gini_pool": gini(pool_sizes),
        "gini_release": gini(rel_sizes[rel_sizes > 0]),
        "top_cluster_pool_share": float(table["pool_share"].max()) if table.height else 0.0,
        "top_cluster_release_share": float(table["release_share"].max()) if table.height else 0.0,
        f"top{top}_pool_share": float(table["pool_share"].head(top).sum()),
        f"top{top}_release_share": float(table["release_share"].head(top).sum()),
        "tail_clusters": tail.height,
        "tail_release_share": float(tail["release_share"].sum()),
        "tail_pool_share": float(tail["pool_share"].sum()),
    }
    return table, stats


def concept_labels(texts: Sequence[str | None], clusters: Sequence[int], words: int = 3) -> dict:
    """``{cluster: "w1 w2 w3"}``: each sentence cluster's most frequent non-stopwords."""
    counts: dict[int, Counter] = {}
    for text, cid in zip(texts, clusters, strict=True):
        if text is None or cid is None:
            continue
        tokens = [t for t in re.findall(r"[a-z]+", text.lower()) if t not in STOPWORDS]
        counts.setdefault(int(cid), Counter()).update(tokens)
    return {
        cid: " ".join(w for w, _ in sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))[:words])
        for cid, c in sorted(counts.items())
    }


STAGE_COUNTS_SCHEMA = {
    "stage": pl.String,
    "source": pl.String,
    "entered": pl.Int64,
    "kept": pl.Int64,
}


def stage_counts(
    stage: str, entered: Sequence[str | None], kept: Sequence[str | None]
) -> pl.DataFrame:
    """Per source, how many records entered a filter and how many it kept."""
    e, k = Counter(s or "unknown" for s in entered), Counter(s or "unknown" for s in kept)
    rows = [{"stage": stage, "source": s, "entered": e[s], "kept": k.get(s, 0)} for s in sorted(e)]
    return (
        pl.DataFrame(rows, schema=STAGE_COUNTS_SCHEMA)
        if rows
        else pl.DataFrame(schema=STAGE_COUNTS_SCHEMA)
    )


def source_funnel(counts: Sequence[pl.DataFrame]) -> pl.DataFrame:
    """The stages' counts, in the order given, with each drop rate (dropped / entered)."""
    frame = pl.concat(list(counts)) if counts else pl.DataFrame(schema=STAGE_COUNTS_SCHEMA)
    return frame.with_columns(
        (1 - pl.col("kept") / pl.col("entered")).fill_nan(0.0).alias("drop_rate")
    )


def precision_by_class(strata: pl.DataFrame, column: str = "size_class") -> pl.DataFrame:
    """Human precision@1 with its Wilson interval per value of ``column`` (the labelled
    items of every stratum with that value, unweighted)."""
    if strata.height == 0:
        return pl.DataFrame()
    per = strata.with_columns((pl.col("p1") * pl.col("p1_n")).fill_nan(0).round().alias("k"))
    rows = []
    for (value,), part in per.group_by(column, maintain_order=True):
        n, k = int(part["p1_n"].sum()), int(part["k"].sum())
        p, lo, hi = wilson(k, n)
        rows.append({column: value, "n": n, "precision_at_1": p, "low": lo, "high": hi})
    return pl.DataFrame(rows).sort(column)


def share_shift(previous: dict[str, float], now: dict[str, float]) -> pl.DataFrame:
    """Per key, its share now vs before and the absolute change (keys in either)."""
    keys = sorted(set(previous) | set(now))
    return pl.DataFrame(
        {
            "source": keys,
            "share_now": [now.get(k, 0.0) for k in keys],
            "share_before": [previous.get(k, 0.0) for k in keys],
        },
        schema={"source": pl.String, "share_now": pl.Float64, "share_before": pl.Float64},
    ).with_columns((pl.col("share_now") - pl.col("share_before")).abs().alias("abs_delta"))
