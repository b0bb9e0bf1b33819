"""Cross-shard image de-duplication: exact (SHA-256) and perceptual (64-bit pHash, Hamming).

Incremental by design. The state kept between runs is

* ``contents``: one row per distinct image content ever indexed (``label``, ``sha256``, ``phash``);
* ``edges``: every pair of contents within ``search_radius`` bits (``a`` < ``b``, ``distance``);
* a usearch binary index (Hamming metric) over the contents' pHashes.

A run adds only contents it has not seen and searches only those (new-new and new-old pairs are
both found from the new side). A smaller radius just filters the stored edges; a larger one
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
    neighbours: int = 16  # first k of the search; doubled while all k are within radius


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
    index: Index, labels: np.ndarray, hashes: np.ndarray, radius: int, k0: int
) -> pl.DataFrame:
    """All (a, b, distance) with distance <= radius from each query to the index."""
    if len(labels) == 0 or len(index) == 0:
        return pl.DataFrame(schema=EDGES_SCHEMA)
    exact = len(index) <= EXACT_SEARCH_MAX
    vectors = pack(hashes)
    found_a, found_b, found_d = [], [], []
    todo = np.arange(len(labels))
    k = min(k0, len(index))
    while len(todo):
        matches = index.search(vectors[todo], k, exact=exact)
        keys = np.asarray(matches.keys).reshape(len(todo), -1)
        dists = np.asarray(matches.distances).reshape(len(todo), -1)
        within = dists <= radius
        rows, cols = np.nonzero(within & (keys != labels[todo][:, None]))
        found_a.append(labels[todo][rows])
        found_b.append(keys[rows, cols].astype(np.uint64))
        found_d.append(dists[rows, cols])
        saturated = within.all(axis=1) & (k < len(index))
        todo, k = todo[saturated], min(k * 2, len(index))
    a = np.concatenate(found_a).astype(np.uint64)
    b = np.concatenate(found_b).astype(np.uint64)
    frame = pl.DataFrame(
        {
            "a": np.minimum(a, b),
            "b": np.maximum(a, b),
            "distance": np.concatenate(found_d).astype(np.int16),
        },
        schema=EDGES_SCHEMA,
    )
    return frame.unique(["a", "b"]).sort("a", "b")


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
    index = state.index
    if new.height:
        index.add(new["label"].to_numpy(), pack(new["phash"].to_numpy()))
    if params.radius > state.search_radius:
        queried = contents  # a wider radius: search every stored hash again
        edges = _search_pairs(
            index,
            queried["label"].to_numpy(),
            queried["phash"].to_numpy(),
            params.radius,
            params.neighbours,
        )
        search_radius = params.radius
    else:
        queried = new
        fresh = _search_pairs(
            index,
            new["label"].to_numpy(),
            new["phash"].to_numpy(),
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
    labels = active["label"].to_numpy()
    pos = {int(label): i for i, label in enumerate(labels)}
    edges = state.edges.filter(pl.col("distance") <= params.radius)
    ea = [pos.get(int(a), -1) for a in edges["a"].to_list()]
    eb = [pos.get(int(b), -1) for b in edges["b"].to_list()]
    pair_list = [(x, y) for x, y in zip(ea, eb, strict=True) if x >= 0 and y >= 0]
    n_phash = len(pair_list)
    if semantic_pairs is not None and semantic_pairs.height:
        sha_pos = {sha: i for i, sha in enumerate(active["sha256"].to_list())}
        pair_list += [
            (sha_pos[a], sha_pos[b])
            for a, b in semantic_pairs.select("sha_a", "sha_b").iter_rows()
            if a in sha_pos and b in sha_pos
        ]
    n = len(labels)
    phash_only = components(n, np.array(pair_list[:n_phash], dtype=np.int64).reshape(-1, 2))
    component = components(n, np.array(pair_list, dtype=np.int64).reshape(-1, 2))
    comp = active.select("sha256").with_columns(
        pl.Series("component", component), pl.Series("phash_component", phash_only)
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
    dropped = images.filter(pl.col("decision") != "keep").select(
        "image_id",
        "shard",
        "sha256",
        pl.lit(None, dtype=pl.String).alias("group_id"),
        pl.lit(None, dtype=pl.String).alias("duplicate_of"),
        pl.lit(False).alias("survives"),
        "reason",
    )
    out = pl.concat([kept_out, dropped]).cast(IMAGE_DEDUP_SCHEMA).sort("image_id")
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
