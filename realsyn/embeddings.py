"""Embedding storage and the encode-once cache.

Vectors are stored per partition as one float16 ``.npy`` matrix (row i = row i of the id table),
L2-normalised before the cast. float16 keeps cosine similarities within ~1e-3 of float32 (see
``tests/test_embeddings.py``), halving the bytes. Vectors are cached by (content key, model
identity): re-materializing a partition re-encodes only contents it has not seen with the same
model.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence

import numpy as np


def vectors_to_bytes(vectors: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(vectors, dtype=np.float16), allow_pickle=False)
    return buf.getvalue()


def vectors_from_bytes(data: bytes) -> np.ndarray:
    return np.load(io.BytesIO(data), allow_pickle=False).astype(np.float32)


def embed_with_cache(
    keys: Sequence[str],
    encode: Callable[[list[int]], np.ndarray],
    dim: int,
    cached: dict[str, np.ndarray] | None = None,
) -> tuple[np.ndarray, int]:
    """Vectors for ``keys`` (duplicates share one encode); ``encode(rows)`` encodes the given
    row indices. Returns (matrix, number of rows actually encoded)."""
    cached = cached or {}
    out = np.zeros((len(keys), dim), dtype=np.float32)
    first: dict[str, int] = {}
    todo: list[int] = []
    for i, key in enumerate(keys):
        if key in cached:
            out[i] = cached[key]
        elif key in first:
            continue
        else:
            first[key] = i
            todo.append(i)
    if todo:
        out[todo] = encode(todo)
    for i, key in enumerate(keys):
        if key not in cached and first.get(key) != i:
            out[i] = out[first[key]]
    return out, len(todo)


def embedding_health(vectors: np.ndarray, dim: int) -> dict[str, float]:
    """Observations for the blocking embedding checks."""
    norms = np.linalg.norm(vectors, axis=1) if len(vectors) else np.zeros(0)
    return {
        "rows": int(len(vectors)),
        "dim": int(vectors.shape[1]) if vectors.ndim == 2 else -1,
        "expected_dim": dim,
        "non_finite": int((~np.isfinite(vectors)).any(axis=1).sum()) if len(vectors) else 0,
        "max_norm_error": float(np.abs(norms - 1).max()) if len(vectors) else 0.0,
    }
