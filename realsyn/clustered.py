"""Synthetic clustered unit embeddings written as shards: the input of the bucketed stages'
tests and of ``bench/scale.py`` (i.i.d. random vectors have no neighbourhoods, so an
approximate search looks worse on them than on any real embedding)."""

from __future__ import annotations

import numpy as np
import polars as pl

from realsyn.bucket_io import npy_bytes
from realsyn.storage import Storage, write_partition


def clustered_vectors(
    n: int, centers: np.ndarray, spread: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """(n, d) unit vectors around randomly chosen ``centers`` (unit rows), and each one's center."""
    rng = np.random.default_rng(seed)
    owner = rng.integers(0, len(centers), n)
    x = centers[owner] + spread * rng.standard_normal((n, centers.shape[1])).astype(np.float32)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32), owner


def unit_centers(k: int, d: int, seed: int) -> np.ndarray:
    c = np.random.default_rng(seed).standard_normal((k, d)).astype(np.float32)
    return c / np.linalg.norm(c, axis=1, keepdims=True)


def topic_centers(
    k: int, d: int, seed: int, per_domain: int = 50, spread: float = 0.12
) -> np.ndarray:
    """``k`` unit topic centres grouped in domains of ~``per_domain`` (a domain's topics lie
    around its own random direction): the coarse-then-fine structure real embeddings have and a
    two-level codebook relies on. Topics without domains (``unit_centers``) split across coarse
    buckets far more often (bench/scale.py's note gives both recalls)."""
    rng = np.random.default_rng(seed)
    domains = unit_centers(max(1, k // per_domain), d, seed + 1)
    c = domains[rng.integers(0, len(domains), k)]
    c = c + spread * rng.standard_normal((k, d)).astype(np.float32)
    return (c / np.linalg.norm(c, axis=1, keepdims=True)).astype(np.float32)


def write_shards(
    store: Storage,
    asset: str,
    prefix: str,
    vectors: np.ndarray,
    shard_size: int,
    id_column: str,
    start: int = 0,
) -> list[str]:
    """Split ``vectors`` into shards of ``shard_size`` rows (``members`` table: ``id_column``,
    ``text``; ``vectors.npy`` float32); returns the shard keys."""
    shards = []
    for i, lo in enumerate(range(0, len(vectors), shard_size)):
        block = vectors[lo : lo + shard_size]
        ids = [f"{prefix}{lo + j + start:09d}" for j in range(len(block))]
        shard = f"{prefix}-{i + start // max(shard_size, 1):05d}"
        members = pl.DataFrame({id_column: ids, "text": [f"text of {x}" for x in ids]})
        write_partition(
            store, asset, shard, {"members": members}, files={"vectors.npy": npy_bytes(block)}
        )
        shards.append(shard)
    return shards
