"""Embeddings across shards: every shard's vectors read back (balanced_pool, review), and the
semantic dedup threshold from the shards' manifests."""

import dagster as dg
import numpy as np
import polars as pl

from realsyn.embeddings import vectors_from_bytes
from realsyn.semantic_dedup import dup_cosine_for
from realsyn.storage import (
    PartitionNotFound,
    read_manifest,
    read_partition_file,
    read_partition_table,
)
from realsyn_assets.partitions import shard_partitions


def load_all_vectors(context, store, asset: str) -> tuple[pl.DataFrame, np.ndarray, str | None]:
    """(keys table with a ``shard`` column, vectors, model identity) over every shard that has
    ``asset``; refuses to mix vectors of different models."""
    tables, blocks, identities = [], [], set()
    for shard in sorted(context.instance.get_dynamic_partitions(shard_partitions.name)):
        try:
            manifest = read_manifest(store, asset, shard)
        except PartitionNotFound:
            continue
        identities.add(manifest["info"].get("model"))
        tables.append(
            read_partition_table(store, asset, shard, "keys").with_columns(shard=pl.lit(shard))
        )
        blocks.append(vectors_from_bytes(read_partition_file(store, asset, shard, "vectors.npy")))
    if len(identities) > 1:
        raise dg.Failure(
            description=f"{asset} partitions were made by different models {sorted(identities)}: "
            "re-materialize them with one model"
        )
    if not tables:
        return pl.DataFrame(), np.zeros((0, 0), dtype=np.float32), None
    return pl.concat(tables), np.concatenate(blocks), identities.pop()


def is_random_model(identity: str) -> bool:
    """Seeded random weights (see realsyn.clip): similarities mean nothing, so no semantic dedup."""
    return "@random-seed" in identity


def dedup_threshold(
    context, store, asset: str, threshold: float | None, shards: list[str]
) -> tuple[float | None, str | None]:
    """(the cosine threshold for semantic dedup of ``asset``'s vectors of ``shards``, their
    model), reading manifests only; the threshold is None, with a warning saying why, when
    semantic dedup cannot be applied (``threshold`` above 1: off, silently)."""
    if threshold is not None and threshold > 1.0:
        return None, None
    models = set()
    for shard in shards:
        try:
            models.add(read_manifest(store, asset, shard)["info"].get("model"))
        except PartitionNotFound:
            continue
    if len(models) > 1:
        raise dg.Failure(
            description=f"{asset} partitions were made by different models "
            f"{sorted(map(str, models))}: re-materialize them with one model"
        )
    if not models:
        context.log.warning(f"no {asset} yet: semantic dedup not applied")
        return None, None
    model = models.pop()
    if is_random_model(model):
        context.log.warning(f"{model} has random weights: semantic dedup not applied")
        return None, model
    if threshold is None:
        threshold = dup_cosine_for(model, "image" if asset.startswith("image") else "text")
        if threshold is None:
            context.log.warning(
                f"{model}: no calibrated duplicate threshold for {asset} of this architecture: "
                "semantic dedup not applied; set semantic_threshold to force it"
            )
    return threshold, model
