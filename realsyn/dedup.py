"""Cross-shard image de-duplication: exact (SHA-256) and perceptual (64-bit pHash, Hamming).

Incremental by design. The state kept between runs is

* ``contents``: one row per distinct image content ever indexed (``label``, ``sha256``, ``phash``);
* ``edges``: every pair of contents within ``search_radius`` bits (``a`` < ``b``, ``distance``);
* a usearch binary index (Hamming metric) over the contents' pHashes.

A run adds only contents it has not seen and searches only those (new-new and new-old pairs are
both found from the new side). The index holds one content per distinct pHash (the first seen):
contents with equal hashes are one node of the graph, so a banner re-encoded 200,000 times costs
one search, and each search links a hash to at most ``neighbours`` nearest hashes within the
radius (ties by label), never to all of them: linear for any input, dense clusters included. A smaller radius just filters the stored edges; a larger one
re-searches the stored hashes; nothing is ever re-decoded or re-hashed. Contents that left the
corpus stay in the index but are inactive: edges through them never join groups.

Groups are the connected components (scipy) of the active edges within ``radius``. The
representative of a group is the image with the most pixels, then the most bytes, then the
smallest ``image_id``: the best-quality copy, chosen deterministically. Every other member
records ``duplicate_of`` = the representative and ``exact_dup`` (same bytes) or ``near_dup``.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass

import numpy as np
import polars as pl
from usearch.index import Index

from realsyn.images import funnel_from_reasons
from realsyn.schemas import IMAGE_DEDUP_SCHEMA
from realsyn.semantic_dedup import components

EXACT_SEARCH_MAX = 50_000  # below this many contents, brute force is exact and fast enough

CONTENTS_SCHEMA = {"label": pl.UInt64(), "sha256": pl.String(), "phash": pl.UInt64()}
EDGES_SCHEMA = {"a": pl.UInt64(), "b": pl.UInt64(), "distance": pl.Int16()}


@dataclass(frozen=True)
class DedupParams:
    """``radius``: pHash Hamming distance (of 64 bits) at or below which two images are
    near duplicates. See ``bench/phash_radius.py`` for the measurement behind the default."""

    radius: int = 10
    neighbours: int = 16  # links per distinct hash: the cap that keeps dense clusters linear


@dataclass
class PhashIndex:
    contents: pl.DataFrame
    edges: pl.DataFrame
    search_radius: int
    index: Index

    @classmethod
    def empty(cls) -> PhashIndex:
        return cls(
            pl.DataFrame(schema=CONTENTS_SCHEMA),
            pl.DataFrame(schema=EDGES_SCHEMA),
            -1,
            Index(ndim=64, metric="hamming", dtype="b1"),
        )

    def index_bytes(self) -> bytes:
        fd, path = tempfile.mkstemp(suffix=".usearch")
        os.close(fd)
        try:
            self.index.save(path)
            with open(path, "rb") as fh:
                return fh.read()
        finally:
            os.unlink(path)

    @staticmethod
    def load_index(data: bytes) -> Index:
        return _restore(data)


def _restore(data: bytes) -> Index:
    fd, path = tempfile.mkstemp(suffix=".usearch")
    os.close(fd)
    try:
        with open(path, "wb") as fh:
            fh.write(data)
        index = Index.restore(path)
        if index is None:
            raise ValueError("not a usearch index")
        # detach from the temp file: copy into memory
        return index.copy()
    finally:
        os.unlink(path)


def pack(phashes: np.ndarray) -> np.ndarray:
    """uint64 hashes -> (n, 8) uint8 rows, most significant byte first (bit order = hash order)."""
    return phashes.astype(">u8").view(np.uint8).reshape(-1, 8)


def _search_pairs(
    index: Index, labels: np.ndarray, hashes: np.ndarray, radius: int, k: int
) -> pl.DataFrame:
    """(a, b, distance) from each query to its ``k`` nearest other hashes in the index within
    ``radius``; equal distances go to the smaller label, not to the search order."""
    if len(labels) == 0 or len(index) < 2:
        return pl.DataFrame(schema=EDGES_SCHEMA)
    exact = len(index) <= EXACT_SEARCH_MAX
    kk = min(2 * k + 1, len(index))  # room to break ties at the k-th place by label
    found = []
    for start in range(0, len(labels), 32_768):
        todo = labels[start : start + 32_768].astype(np.uint64)
        matches = index.search(pack(hashes[start : start + 32_768]), kk, exact=exact)
        keys = np.asarray(matches.keys, dtype=np.uint64).reshape(len(todo), -1)
        dists = np.asarray(matches.distances, dtype=np.float64).reshape(len(todo), -1)
        counts = np.asarray(matches.counts).reshape(-1, 1)
        invalid = (np.arange(keys.shape[1])[None, :] >= counts) | (keys == todo[:, None])
        dists[invalid] = np.inf
        keys[invalid] = np.iinfo(np.uint64).max
        order = np.lexsort((keys, dists), axis=1)[:, :k]
        keys, dists = np.take_along_axis(keys, order, 1), np.take_along_axis(dists, order, 1)
        r, c = np.nonzero(dists <= radius)
        found.append((todo[r], keys[r, c], dists[r, c]))
    a = np.concatenate([f[0] for f in found])
    b = np.concatenate([f[1] for f in found])
    frame = pl.DataFrame(
        {
            "a": np.minimum(a, b),
            "b": np.maximum(a, b),
            "distance": np.concatenate([f[2] for f in found]).astype(np.int16),
        },
        schema=EDGES_SCHEMA,
    )
    return frame.unique(["a", "b"]).sort("a", "b")


def _distinct_hashes(contents: pl.DataFrame) -> pl.DataFrame:
    """The first content (smallest label) of each pHash: the ones the index holds."""
    return contents.sort("label").unique("phash", keep="first").sort("label")


def update_index(
    state: PhashIndex, current: pl.DataFrame, params: DedupParams
) -> tuple[PhashIndex, dict]:
    """Add unseen contents of ``current`` (sha256, phash) and find their near pairs."""
    current = current.unique("sha256").sort("sha256")
    new = current.join(state.contents, on="sha256", how="anti")
    start = int(state.contents["label"].max() + 1) if state.contents.height else 0
    new = new.with_columns(
        pl.Series("label", np.arange(start, start + new.height, dtype=np.uint64))
    )
    contents = pl.concat([state.contents, new.select(CONTENTS_SCHEMA.keys())])
    fresh_hashes = _distinct_hashes(new.select(CONTENTS_SCHEMA.keys())).join(
        state.contents.select("phash"), on="phash", how="anti"
    )
    index = state.index
    if fresh_hashes.height:
        index.add(  # one thread: a threaded HNSW build differs from run to run
            fresh_hashes["label"].to_numpy(), pack(fresh_hashes["phash"].to_numpy()), threads=1
        )
    if params.radius > state.search_radius:
        queried = _distinct_hashes(contents)  # a wider radius: search every stored hash again
        edges = _search_pairs(
            index,
            queried["label"].to_numpy(),
            queried["phash"].to_numpy(),
            params.radius,
            params.neighbours,
        )
        search_radius = params.radius
    else:
        queried = fresh_hashes
        fresh = _search_pairs(
            index,
            queried["label"].to_numpy(),
            queried["phash"].to_numpy(),
            state.search_radius,
            params.neighbours,
        )
        edges = pl.concat([state.edges, fresh]).unique(["a", "b"]).sort("a", "b")
        search_radius = state.search_radius
    stats = {
        "contents_indexed": contents.height,
        "contents_new": new.height,
        "contents_searched": queried.height,
        "pairs_within_search_radius": edges.height,
    }
    return PhashIndex(contents, edges, search_radius, index), stats


def group_images(
    images: pl.DataFrame,
    state: PhashIndex,
    params: DedupParams,
    semantic_pairs: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Every clean_images row -> survives / duplicate_of / reason (``IMAGE_DEDUP_SCHEMA``).

    ``semantic_pairs`` (``sha_a``, ``sha_b``: contents whose embeddings are near duplicates)
    join groups too. A member's reason says how it relates to its representative: same bytes
    (``exact_dup``), pHash within the radius or joined by a chain of pHash pairs (``near_dup``),
    else a member joined by embedding pairs (``semantic_dup``).
    """
    kept = images.filter(pl.col("decision") == "keep")
    active = kept.select("sha256").unique().join(state.contents, on="sha256", how="left")
    if active["label"].null_count():
        raise ValueError(
            "group_images: some kept images are not in the index; run update_index first"
        )
    # One node per distinct pHash of the active contents: equal hashes are one node, and an
    # edge reaches every content of its hashes (the index holds only the first of each).
    node_of = state.contents.select(
        "label", "phash", pl.col("label").min().over("phash").alias("node")
    ).join(active.select("phash").unique(), on="phash")
    nodes = node_of["node"].unique().sort()
    pos = pl.DataFrame({"node": nodes, "i": np.arange(len(nodes), dtype=np.int64)})
    at = node_of.join(pos, on="node").select("label", "i")
    edges = state.edges.filter(pl.col("distance") <= params.radius)
    phash_links = (
        edges.join(at.rename({"label": "a", "i": "ia"}), on="a")
        .join(at.rename({"label": "b", "i": "ib"}), on="b")
        .select("ia", "ib")
    )
    sha_at = active.select("sha256", "label").join(at, on="label").select("sha256", "i")
    links = [phash_links]
    if semantic_pairs is not None and semantic_pairs.height:
        links.append(
            semantic_pairs.join(sha_at.rename({"sha256": "sha_a", "i": "ia"}), on="sha_a")
            .join(sha_at.rename({"sha256": "sha_b", "i": "ib"}), on="sha_b")
            .select("ia", "ib")
        )
    n = len(nodes)
    phash_only = components(n, phash_links.to_numpy().astype(np.int64).reshape(-1, 2))
    component = components(n, pl.concat(links).to_numpy().astype(np.int64).reshape(-1, 2))
    comp = sha_at.select(
        "sha256",
        pl.Series("component", component).gather(sha_at["i"]),
        pl.Series("phash_component", phash_only).gather(sha_at["i"]),
    )
    ranked = (
        kept.join(comp, on="sha256")
        .with_columns((pl.col("width").cast(pl.Int64) * pl.col("height")).alias("area"))
        .sort(["component", "area", "n_bytes", "image_id"], descending=[False, True, True, False])
    )
    reps = (
        ranked.group_by("component", maintain_order=True)
        .first()
        .select(
            "component",
            pl.col("image_id").alias("rep_id"),
            pl.col("sha256").alias("rep_sha"),
            pl.col("phash").alias("rep_phash"),
            pl.col("phash_component").alias("rep_pcomp"),
        )
    )
    distance = (
        pl.col("phash").xor(pl.col("rep_phash")).map_batches(_popcount, return_dtype=pl.Int64)
    )
    kept_out = ranked.join(reps, on="component").select(
        "image_id",
        "shard",
        "sha256",
        pl.col("rep_id").alias("group_id"),
        pl.when(pl.col("image_id") == pl.col("rep_id"))
        .then(None)
        .otherwise(pl.col("rep_id"))
        .alias("duplicate_of"),
        (pl.col("image_id") == pl.col("rep_id")).alias("survives"),
        pl.when(pl.col("image_id") == pl.col("rep_id"))
        .then(None)
        .when(pl.col("sha256") == pl.col("rep_sha"))
        .then(pl.lit("exact_dup"))
        .when((distance <= params.radius) | (pl.col("phash_component") == pl.col("rep_pcomp")))
        .then(pl.lit("near_dup"))  # within the radius of the representative, or a pHash chain
        .otherwise(pl.lit("semantic_dup"))
        .alias("reason"),
    )
    out = pl.concat([kept_out, dropped_rows(images)]).cast(IMAGE_DEDUP_SCHEMA).sort("image_id")
    return out.select(list(IMAGE_DEDUP_SCHEMA))


def _popcount(series: pl.Series) -> pl.Series:
    values = series.cast(pl.UInt64).to_numpy()
    bits = np.unpackbits(values.astype(">u8").view(np.uint8).reshape(-1, 8), axis=1)
    return pl.Series(bits.sum(axis=1).astype(np.int64))


def dedup_stats(table: pl.DataFrame) -> dict[str, int]:
    """The whole image funnel (fetch, decode, quality, exact and near duplicates) plus groups."""
    stats = funnel_from_reasons(table["reason"].to_list())
    reasons = table["reason"].to_list()
    for reason in ("exact_dup", "near_dup", "semantic_dup"):
        stats[reason] = reasons.count(reason)
    stats["survivors"] = int(table["survives"].sum())
    stats["duplicate_groups"] = int(
        table.filter(pl.col("duplicate_of").is_not_null())["group_id"].n_unique()
    )
    return stats


def dropped_rows(images: pl.DataFrame) -> pl.DataFrame:
    """The images clean_images did not keep, as image_dedup rows: not surviving, no group,
    clean_images' reason."""
    return images.filter(pl.col("decision") != "keep").select(
        "image_id",
        "shard",
        "sha256",
        pl.lit(None, dtype=pl.String).alias("group_id"),
        pl.lit(None, dtype=pl.String).alias("duplicate_of"),
        pl.lit(False).alias("survives"),
        "reason",
    )
