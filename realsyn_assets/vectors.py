"""Reading every shard's embeddings back, for the corpus-wide steps."""

import dagster as dg
import numpy as np
import polars as pl

from realsyn.embeddings import vectors_from_bytes
from realsyn.semantic_dedup import (
    PairCache,
    crowded_pairs,
    dup_cosine_for,
    incremental_pairs,
)
from realsyn.storage import (
    PartitionNotFound,
    read_manifest,
    read_partition_file,
    read_partition_table,
    write_partition,
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


def _state_asset(asset: str) -> str:
    return f"{asset}_pairs_state"


def load_pair_cache(store, asset: str) -> PairCache | None:
    try:
        manifest = read_manifest(store, _state_asset(asset), None)
    except PartitionNotFound:
        return None
    info = manifest["info"]
    return PairCache(
        info["model"],
        float(info["threshold"]),
        read_partition_table(store, _state_asset(asset), None, "keys")["key"].to_list(),
        read_partition_table(store, _state_asset(asset), None, "pairs"),
    )


def cached_semantic_pairs(
    context, store, asset: str, model: str, names: list[str], vectors: np.ndarray, threshold: float
) -> tuple[pl.DataFrame, int]:
    """Pairs of distinct keys whose vectors have cosine >= threshold (one row per key pair),
    and the size of an implausibly large group they form (0 when none: ``crowded``).

    Incremental: the pairs found by earlier runs
    (same model, threshold at most this one) are re-used and only unseen contents are searched
    against all; the updated cache is stored under ``<asset>_pairs_state``."""
    unique, first = np.unique(np.asarray(names, dtype=object), return_index=True)
    keys = [str(k) for k in unique]
    cache = load_pair_cache(store, asset)
    pairs, new_cache, stats = incremental_pairs(cache, keys, vectors[first], model, threshold)
    write_partition(
        store,
        _state_asset(asset),
        None,
        {
            "keys": pl.DataFrame({"key": new_cache.keys}, schema={"key": pl.String}),
            "pairs": new_cache.pairs,
        },
        info={"model": model, "threshold": new_cache.threshold, "stats": stats},
    )
    context.log.info(
        f"{asset} semantic pairs: searched {stats['searched']:,} of {len(keys):,} contents"
        + (" (full search)" if stats["full"] else f", re-used {stats['reused_pairs']:,} pairs")
    )
    return pairs, crowded_pairs(keys, pairs)


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


def semantic_pairs(
    context,
    store,
    asset: str,
    key_column: str,
    threshold: float | None,
    keep: set[str] | None = None,
) -> tuple[pl.DataFrame | None, float | None]:
    """Near-duplicate key pairs (``a``, ``b``, ``cosine``) from every shard's ``asset`` vectors
    and the threshold applied (``None``: the model's calibrated one), or (None, threshold) with a
    warning saying why when semantic dedup cannot be applied."""
    if threshold is not None and threshold > 1.0:
        return None, threshold
    keys, vectors, model = load_all_vectors(context, store, asset)
    if model is None:
        context.log.warning(f"no {asset} yet: semantic dedup not applied")
        return None, threshold
    if is_random_model(model):
        context.log.warning(f"{model} has random weights: semantic dedup not applied")
        return None, threshold
    if threshold is None:
        threshold = dup_cosine_for(model, "image" if asset.startswith("image") else "text")
        if threshold is None:
            context.log.warning(
                f"{model}: no calibrated duplicate threshold for {asset} of this architecture: "
                "semantic dedup not applied; set semantic_threshold to force it"
            )
            return None, None
    names = keys[key_column].to_list()
    if keep is not None:
        mask = np.array([k in keep for k in names], dtype=bool)
        names, vectors = [k for k, m in zip(names, mask, strict=True) if m], vectors[mask]
    pairs, giant = cached_semantic_pairs(context, store, asset, model, names, vectors, threshold)
    if giant:
        context.log.warning(
            f"{asset}: at cosine >= {threshold} one group would hold {giant} of {len(set(names))} "
            f"items: {model}'s space is too crowded for this threshold (under-trained weights?); "
            "semantic dedup not applied. Calibrate with bench/dedup_calibration.py"
        )
        return None, threshold
    return pairs, threshold
