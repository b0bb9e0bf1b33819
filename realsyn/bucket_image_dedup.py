"""Image de-duplication without one process holding every image: exact (SHA-256) and pHash
duplicates by hash range of the pHash, near ones by a multi-index search, semantic ones within
image-embedding buckets, one union-find reduce over the found edges.

A node is a distinct pHash (as :mod:`realsyn.dedup`: contents with equal hashes are one node;
the same bytes always have the same hash), so ranges keyed by the pHash hold every copy of a
content and every content of a node.

1. **Split** (map per shard): the shard's kept images written sorted by pHash range; its
   dropped ones (quality, fetch and decode reasons) are its own survival rows.
2. **Nodes** (map per range): the range's distinct contents (sha256, pHash) written sorted by
   the search tasks they go to: with ``phash_tasks`` > 1 each content goes to the task of each
   of its ``radius + 1`` pHash chunks (multi-index hashing: two hashes within ``radius`` bits
   agree exactly on at least one chunk, so each near pair meets in some task).
3. **pHash search** (map per task): :func:`realsyn.dedup.update_index` on the task's contents:
   with one task exactly the single-process search (same labels, same ties).
4. **Semantic** (map per coarse bucket of the image vectors, :func:`realsyn.codebook.assign_all`):
   one vector per content, :func:`realsyn.semantic_dedup.cosine_pairs`.
5. **Reduce**: components of the node edges (pHash, semantic) and of the pHash edges alone; each
   component's representative is its best image (most pixels, then bytes, then smallest id),
   looked up per range for the nodes of an edge only.
6. **Survival** (map per range): every kept row's ``duplicate_of`` and reason, as
   :func:`realsyn.dedup.group_images`, written sorted by shard.

With one search task and one semantic bucket the rows are exactly ``group_images``' on a fresh
index (tested). With several, each task links a hash to its ``neighbours`` nearest within the
radius among the task's hashes: every global nearest pair is still found (fewer competitors),
and a few more pairs within the radius may be, so a group denser than ``neighbours`` can only
join more (never a pair beyond the radius). Semantic pairs split across buckets are not found.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import polars as pl

from realsyn.bucket_io import open_sorted, write_sorted
from realsyn.codebook import holders
from realsyn.dedup import DedupParams, PhashIndex, _popcount, dropped_rows, update_index
from realsyn.engine import Engine
from realsyn.images import funnel_from_counts
from realsyn.schemas import IMAGE_DEDUP_SCHEMA
from realsyn.semantic_dedup import NEIGHBOURS, components, cosine_pairs, crowded
from realsyn.storage import (
    PartitionNotFound,
    Storage,
    read_manifest,
    read_partition_table,
    write_partition,
)

KEPT_COLUMNS = ("image_id", "shard", "sha256", "phash", "width", "height", "n_bytes")
NODE_EDGES = {
    "a": pl.UInt64,
    "b": pl.UInt64,
    "kind": pl.String,  # phash | semantic
    "distance": pl.Int64,  # pHash bits (phash edges)
    "cosine": pl.Float64,  # (semantic edges)
}
PREVIEW = 8


@dataclass(frozen=True)
class ImageBucketParams:
    """``ranges`` of the pHash (exact step, survival), the pHash ``radius`` and ``neighbours``
    (as :class:`realsyn.dedup.DedupParams`), ``phash_tasks`` of the multi-index search (1: one
    search over every distinct hash), the semantic ``threshold`` (None: off) and its
    ``semantic_neighbours``."""

    ranges: int = 16
    radius: int = DedupParams.radius
    neighbours: int = DedupParams.neighbours
    phash_tasks: int = 1
    threshold: float | None = None
    semantic_neighbours: int = NEIGHBOURS


def range_key(r: int) -> str:
    return f"range-{r:05d}"


def task_key(t: int) -> str:
    return f"task-{t:05d}"


def _mix(values: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: uint64 -> well-spread uint64."""
    x = values.astype(np.uint64)
    with np.errstate(over="ignore"):
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def phash_range(phash: np.ndarray, ranges: int) -> np.ndarray:
    top = _mix(phash) >> np.uint64(32)
    return ((top * np.uint64(ranges)) >> np.uint64(32)).astype(np.int64)


def tasks_for(hashes: int, radius: int, per_task: int) -> int:
    """The multi-index search tasks for ``hashes`` distinct hashes so that a task expects at
    most ``per_task``: one up to ``per_task``; above, each hash goes to the tasks of its
    ``radius + 1`` chunks, so a task of T gets about 1 - (1 - 1/T)^(radius + 1) of them (with
    fewer tasks than chunks, most of them)."""
    if hashes <= per_task:
        return 1
    share = per_task / hashes
    return math.ceil(1 / (1 - (1 - share) ** (1 / (radius + 1))))


def search_tasks(phash: np.ndarray, radius: int, tasks: int) -> tuple[np.ndarray, np.ndarray]:
    """(row, task) pairs, unique: each hash to the task of each of its ``radius + 1`` chunks."""
    n = len(phash)
    if tasks == 1:
        return np.arange(n), np.zeros(n, dtype=np.int64)
    m = radius + 1
    bounds = [(j * 64) // m for j in range(m + 1)]
    rows, owners = [], []
    for j in range(m):
        width = bounds[j + 1] - bounds[j]
        chunk = (phash.astype(np.uint64) >> np.uint64(bounds[j])) & np.uint64((1 << width) - 1)
        key = _mix(chunk ^ (np.uint64(j) << np.uint64(58)))
        rows.append(np.arange(n))
        owners.append(((key >> np.uint64(32)) * np.uint64(tasks) >> np.uint64(32)).astype(np.int64))
    pairs = np.unique(np.stack([np.concatenate(rows), np.concatenate(owners)], axis=1), axis=0)
    return pairs[:, 0], pairs[:, 1]


def split_shard(
    load: Callable[[str], pl.DataFrame], store: Storage, prefix: str, ranges: int, shard: str
):
    """Step 1 for one shard; returns (kept rows per range, its dropped rows' reason counts)."""
    images = load(shard)
    kept = images.filter(pl.col("decision") == "keep").select(KEPT_COLUMNS)
    dropped = (
        dropped_rows(images)
        .cast(IMAGE_DEDUP_SCHEMA)
        .select(list(IMAGE_DEDUP_SCHEMA))
        .sort("image_id")
    )
    write_partition(store, f"{prefix}_dropped", shard, {"survival": dropped})
    groups = phash_range(kept["phash"].to_numpy(), ranges)
    counts = write_sorted(
        store,
        f"{prefix}_split",
        shard,
        kept,
        np.zeros((kept.height, 0), np.float16),
        groups,
        ranges,
    )
    return counts, Counter(dropped["reason"].to_list())


def _rows(store: Storage, asset: str, group: int, keys: tuple[str, ...]) -> pl.DataFrame:
    frames = []
    for key in keys:
        with open_sorted(store, asset, key) as part:
            if group < len(part.offsets) - 1:
                frames.append(part.group(group)[0])
    return pl.concat(frames)


def node_range(
    store: Storage, prefix: str, params: ImageBucketParams, task: tuple[int, tuple[str, ...]]
) -> np.ndarray:
    """Step 2 for one range; returns its contents per search task."""
    r, shards = task
    rows = _rows(store, f"{prefix}_split", r, shards)
    write_partition(store, f"{prefix}_exact", range_key(r), {"rows": rows})
    contents = rows.select("sha256", "phash").unique("sha256").sort("sha256")
    at, owner = search_tasks(contents["phash"].to_numpy(), params.radius, params.phash_tasks)
    return write_sorted(
        store,
        f"{prefix}_nodes",
        range_key(r),
        contents[at],
        np.zeros((len(at), 0), np.float16),
        owner,
        params.phash_tasks,
    )


def phash_task(
    store: Storage, prefix: str, params: ImageBucketParams, task: tuple[int, tuple[int, ...]]
) -> pl.DataFrame:
    """Step 3 for one search task: (a, b) pHash node pairs within the radius."""
    t, ranges = task
    contents = _rows(store, f"{prefix}_nodes", t, tuple(range_key(r) for r in ranges))
    state, _stats = update_index(
        PhashIndex.empty(),
        contents,
        DedupParams(radius=params.radius, neighbours=params.neighbours),
    )
    phash = state.contents.select("label", "phash")
    edges = (
        state.edges.join(phash.rename({"label": "a", "phash": "pa"}), on="a")
        .join(phash.rename({"label": "b", "phash": "pb"}), on="b")
        .select(a="pa", b="pb", distance=pl.col("distance").cast(pl.Int64))
    )
    return edges.select(
        "a", "b", kind=pl.lit("phash"), distance="distance", cosine=pl.lit(None, dtype=pl.Float64)
    )


def semantic_bucket(
    store: Storage, prefix: str, params: ImageBucketParams, task: tuple[int, tuple[str, ...]]
) -> tuple[pl.DataFrame, int]:
    """Step 4 for one bucket: (a, b) pHash nodes of contents whose vectors are within the
    threshold (cosine kept), and the contents searched."""
    bucket, shards = task
    frames, blocks = [], []
    for shard in shards:
        with open_sorted(store, f"{prefix}_assign", shard) as part:
            frame, vectors = part.group(bucket)
        frames.append(frame.select("sha256", "phash"))
        blocks.append(vectors)
    frame = pl.concat(frames).with_columns(pl.int_range(pl.len(), dtype=pl.Int64).alias("i"))
    # one vector per content, in sha256 order: the single-process search's rows
    reps = frame.unique("sha256", keep="first", maintain_order=True).sort("sha256")
    found = cosine_pairs(
        np.concatenate(blocks)[reps["i"].to_numpy()], params.threshold, params.semantic_neighbours
    )
    phash = reps["phash"]
    edges = pl.DataFrame(
        {
            "a": phash.gather(found[:, 0].astype(np.int64)),
            "b": phash.gather(found[:, 1].astype(np.int64)),
            "kind": "semantic",
            "distance": None,
            "cosine": found[:, 2],
        },
        schema=NODE_EDGES,
    )
    return edges, reps.height


def _best(rows: pl.DataFrame) -> pl.DataFrame:
    """Per pHash node its best image: most pixels, then bytes, then the smallest image_id."""
    return (
        rows.with_columns((pl.col("width").cast(pl.Int64) * pl.col("height")).alias("area"))
        .sort(["phash", "area", "n_bytes", "image_id"], descending=[False, True, True, False])
        .group_by("phash", maintain_order=True)
        .first()
        .select("phash", "area", "n_bytes", rep_id="image_id", rep_sha="sha256")
    )


def node_best(store: Storage, prefix: str, task: tuple[int, tuple[int, ...]]) -> pl.DataFrame:
    r, nodes = task
    rows = read_partition_table(store, f"{prefix}_exact", range_key(r), "rows")
    return _best(rows.filter(pl.col("phash").is_in(list(nodes))))


@dataclass
class ImageRangeSummary:
    range: int
    version: str
    reasons: Counter  # reason (None: survives) -> rows
    groups: int  # duplicate groups wholly in this range
    spanning: pl.Series  # group ids of semantic/pHash components with duplicates here
    preview: pl.DataFrame
    checked: Any = None


def survival_range(
    store: Storage,
    prefix: str,
    radius: int,
    shards: tuple[str, ...],
    check: Callable[[pl.DataFrame, pl.Series], Any] | None,
    task: tuple[int, pl.DataFrame],
) -> ImageRangeSummary:
    """Step 6 for one range; ``task``'s frame: (phash, rep_id, rep_sha, rep_phash, pcomp,
    rep_pcomp) of the nodes of a component (every other node is its own group)."""
    r, merged = task
    rows = read_partition_table(store, f"{prefix}_exact", range_key(r), "rows")
    own = _best(rows).select(
        "phash",
        "rep_id",
        "rep_sha",
        pl.col("phash").alias("rep_phash"),
        pl.lit(0, dtype=pl.Int64).alias("pcomp"),
        pl.lit(0, dtype=pl.Int64).alias("rep_pcomp"),
    )
    alone = own.join(merged.select("phash"), on="phash", how="anti").cast(merged.schema)
    groups = pl.concat([merged, alone])
    rep = pl.col("image_id") == pl.col("rep_id")
    distance = (
        pl.col("phash").xor(pl.col("rep_phash")).map_batches(_popcount, return_dtype=pl.Int64)
    )
    out = (
        rows.join(groups, on="phash", how="left")
        .select(
            "image_id",
            "shard",
            "sha256",
            pl.col("rep_id").alias("group_id"),
            pl.when(rep).then(None).otherwise(pl.col("rep_id")).alias("duplicate_of"),
            rep.alias("survives"),
            pl.when(rep)
            .then(None)
            .when(pl.col("sha256") == pl.col("rep_sha"))
            .then(pl.lit("exact_dup"))
            .when((distance <= radius) | (pl.col("pcomp") == pl.col("rep_pcomp")))
            .then(pl.lit("near_dup"))
            .otherwise(pl.lit("semantic_dup"))
            .alias("reason"),
        )
        .cast(IMAGE_DEDUP_SCHEMA)
        .sort("image_id")
    )
    index = pl.DataFrame({"shard": list(shards), "g": np.arange(len(shards), dtype=np.int64)})
    at = out.select("shard").join(index, on="shard", how="left", maintain_order="left")["g"]
    if at.null_count():
        raise ValueError(f"range {r}: rows of a shard not in the shard list")
    empty = np.zeros((out.height, 0), np.float16)
    write_sorted(store, f"{prefix}_survival", range_key(r), out, empty, at.to_numpy(), len(shards))
    version = read_manifest(store, f"{prefix}_survival", range_key(r))["version"]
    dups = out.filter(pl.col("duplicate_of").is_not_null())
    wide = dups["group_id"].is_in(merged["rep_id"].implode())
    return ImageRangeSummary(
        r,
        version,
        Counter(out["reason"].to_list()),
        dups.filter(~wide)["group_id"].n_unique(),
        dups.filter(wide)["group_id"].unique(),
        dups.head(PREVIEW),
        check(out, merged["rep_id"].unique()) if check is not None else None,
    )


@dataclass
class FoundImages:
    shards: list[str]
    ranges: list[tuple[int, tuple[str, ...]]]  # ranges with rows, and their shards
    edges: pl.DataFrame  # NODE_EDGES
    dropped: Counter
    contents: int  # distinct contents (sha256) searched semantically
    phash_pairs: int


def find_image_duplicates(
    engine: Engine,
    load: Callable[[str], pl.DataFrame],
    shards: list[str],
    store: Storage,
    prefix: str,
    params: ImageBucketParams,
    assign_counts: np.ndarray | None = None,
    assigned: list[str] | None = None,
) -> FoundImages:
    """Steps 1-4. ``load(shard)``: its clean_images table (must pickle for Ray);
    ``assign_counts``: rows per (``assigned`` shard, bucket) of ``<prefix>_assign`` (sha256,
    phash; image vectors), needed with a threshold."""
    shards = sorted(shards)
    assigned = sorted(assigned) if assigned is not None else shards
    split = list(engine.map(partial(split_shard, load, store, prefix, params.ranges), shards))
    counts = np.stack([c for c, _ in split])
    dropped = sum((d for _, d in split), Counter())
    ranges = [(r, holders(shards, counts, r)) for r in range(params.ranges)]
    ranges = [t for t in ranges if t[1]]
    per_task = np.stack(
        list(engine.map(partial(node_range, store, prefix, params), ranges))
        or [np.zeros(params.phash_tasks, dtype=np.int64)]
    )
    tasks = [(t, holders([r for r, _ in ranges], per_task, t)) for t in range(params.phash_tasks)]
    tasks = [t for t in tasks if t[1]]
    found = list(engine.map(partial(phash_task, store, prefix, params), tasks))
    phash_edges = pl.concat([pl.DataFrame(schema=NODE_EDGES), *found]).unique(["a", "b"])
    semantic, contents = pl.DataFrame(schema=NODE_EDGES), 0
    if params.threshold is not None:
        if assign_counts is None:
            raise ValueError("a semantic threshold needs the vectors assigned to buckets")
        buckets = [
            (b, holders(assigned, assign_counts, b))
            for b in np.nonzero(assign_counts.sum(axis=0))[0].tolist()
        ]
        parts = list(engine.map(partial(semantic_bucket, store, prefix, params), buckets))
        semantic = pl.concat([semantic, *(e for e, _ in parts)])
        contents = sum(n for _, n in parts)
    edges = pl.concat([phash_edges.sort("a", "b"), semantic])
    return FoundImages(shards, ranges, edges, dropped, contents, phash_edges.height)


def crowded_semantic(edges: pl.DataFrame, n: int) -> int:
    """:func:`realsyn.semantic_dedup.crowded` of the semantic edges among ``n`` contents."""
    sem = edges.filter(pl.col("kind") == "semantic")
    if not sem.height:
        return 0
    nodes = pl.concat([sem["a"], sem["b"]]).unique().sort()
    pos = {v: i for i, v in enumerate(nodes.to_list())}
    pairs = np.array(
        [(pos[a], pos[b], c) for a, b, c in sem.select("a", "b", "cosine").iter_rows()]
    )
    return crowded(max(n, len(nodes)), pairs)


def _components(edges: pl.DataFrame) -> pl.DataFrame:
    """(phash, comp, pcomp) of every node of an edge: components of all edges, and of the
    pHash edges alone."""
    nodes = pl.concat([edges["a"], edges["b"]]).unique().sort()
    pos = {v: i for i, v in enumerate(nodes.to_list())}
    ab = np.array([(pos[a], pos[b]) for a, b in edges.select("a", "b").iter_rows()]).reshape(-1, 2)
    is_phash = (edges["kind"] == "phash").to_numpy()
    return pl.DataFrame(
        {
            "phash": nodes,
            "comp": components(len(nodes), ab),
            "pcomp": components(len(nodes), ab[is_phash]).astype(np.int64),
        }
    )


def merge_image_edges(
    engine: Engine, store: Storage, prefix: str, params: ImageBucketParams, edges: pl.DataFrame
) -> pl.DataFrame:
    """Step 5: each edge node's group (rep_id, rep_sha, rep_phash) and pHash components."""
    schema = {
        "phash": pl.UInt64,
        "rep_id": pl.String,
        "rep_sha": pl.String,
        "rep_phash": pl.UInt64,
        "pcomp": pl.Int64,
        "rep_pcomp": pl.Int64,
    }
    if not edges.height:
        return pl.DataFrame(schema=schema)
    comp = _components(edges)
    comp = comp.with_columns(pl.Series("r", phash_range(comp["phash"].to_numpy(), params.ranges)))
    asks = [(r, tuple(g["phash"].to_list())) for (r,), g in comp.group_by("r", maintain_order=True)]
    best = pl.concat(engine.map(partial(node_best, store, prefix), asks))
    comp = comp.join(best, on="phash")
    reps = (
        comp.sort(["comp", "area", "n_bytes", "rep_id"], descending=[False, True, True, False])
        .group_by("comp", maintain_order=True)
        .first()
        .select("comp", "rep_id", "rep_sha", rep_phash="phash", rep_pcomp="pcomp")
    )
    return comp.select("phash", "comp", "pcomp").join(reps, on="comp").select(list(schema))


@dataclass
class ImageDedupSummary:
    stats: dict[str, int]
    ranges: pl.DataFrame  # (range, version)
    preview: pl.DataFrame
    checked: list


def write_image_survival(
    engine: Engine,
    store: Storage,
    prefix: str,
    params: ImageBucketParams,
    found: FoundImages,
    edges: pl.DataFrame,
    check: Callable[[pl.DataFrame, pl.Series], Any] | None = None,
) -> ImageDedupSummary:
    """Steps 5-6 with ``edges`` (``found.edges``, less the semantic ones when refused)."""
    merged = merge_image_edges(engine, store, prefix, params, edges)
    by_range = merged.with_columns(
        pl.Series("r", phash_range(merged["phash"].to_numpy(), params.ranges))
    )
    todo = [(r, by_range.filter(pl.col("r") == r).drop("r")) for r, _ in found.ranges]
    task = partial(survival_range, store, prefix, params.radius, tuple(found.shards), check)
    reasons, groups, spanning, previews, versions, checked = (
        Counter(found.dropped),
        0,
        [],
        [],
        [],
        [],
    )
    for part in engine.map(task, todo):
        reasons.update(part.reasons)
        groups += part.groups
        spanning.append(part.spanning)
        previews.append(part.preview)
        versions.append((part.range, part.version))
        checked.append(part.checked)
    stats = funnel_from_counts(reasons)
    for reason in ("exact_dup", "near_dup", "semantic_dup"):
        stats[reason] = reasons.get(reason, 0)
    stats["survivors"] = reasons.get(None, 0)
    stats["duplicate_groups"] = groups + (pl.concat(spanning).n_unique() if spanning else 0)
    stats["semantic_pairs"] = int((edges["kind"] == "semantic").sum())
    stats["phash_pairs"] = found.phash_pairs
    empty = pl.DataFrame(schema={k: IMAGE_DEDUP_SCHEMA[k] for k in IMAGE_DEDUP_SCHEMA})
    return ImageDedupSummary(
        stats,
        pl.DataFrame(versions, schema={"range": pl.Int64, "version": pl.String}, orient="row"),
        pl.concat([empty, *previews]).sort("image_id").head(PREVIEW),
        checked,
    )


def delete_scratch(store: Storage, prefix: str) -> None:
    for part in ("split", "exact", "nodes", "assign"):
        store.delete_prefix(f"{prefix}_{part}")


def shard_image_survival(
    store: Storage, prefix: str, ranges: list[int], index: int, shard: str
) -> pl.DataFrame:
    """One shard's survival rows: its dropped images and its slice of each range."""
    frames = [read_partition_table(store, f"{prefix}_dropped", shard, "survival")]
    for r in ranges:
        with open_sorted(store, f"{prefix}_survival", range_key(r)) as part:
            if index < len(part.offsets) - 1:
                frames.append(part.group(index)[0])
    return pl.concat(frames).cast(IMAGE_DEDUP_SCHEMA).sort("image_id")


def dedup_images_bucketed(
    engine: Engine,
    load: Callable[[str], pl.DataFrame],
    shards: list[str],
    store: Storage,
    prefix: str,
    params: ImageBucketParams,
    assign_counts: np.ndarray | None = None,
) -> tuple[dict[str, int], pl.DataFrame]:
    """Steps 1-6 (tests, bench): the stats and the edges; rows under ``<prefix>_survival``."""
    found = find_image_duplicates(engine, load, shards, store, prefix, params, assign_counts)
    summary = write_image_survival(engine, store, prefix, params, found, found.edges)
    return summary.stats, found.edges


def read_image_survival(store: Storage, prefix: str, shards: list[str], ranges: int):
    """Every shard's rows (tests and small corpora only)."""
    present = []
    for r in range(ranges):
        try:
            read_manifest(store, f"{prefix}_survival", range_key(r))
            present.append(r)
        except PartitionNotFound:
            continue
    shards = sorted(shards)
    return pl.concat(
        shard_image_survival(store, prefix, present, i, s) for i, s in enumerate(shards)
    ).sort("image_id")
