"""GX suites of the embedding assets: blocking health checks before clustering and retrieval."""

from __future__ import annotations

import numpy as np
import polars as pl

from checks.gx import CheckDef, Expect


def health_frame(vectors: np.ndarray) -> pl.DataFrame:
    """One row per vector: its norm, whether it is finite, and the matrix width."""
    norms = np.linalg.norm(vectors, axis=1) if len(vectors) else np.zeros(0)
    finite = np.isfinite(vectors).all(axis=1) if len(vectors) else np.zeros(0, dtype=bool)
    dim = vectors.shape[1] if vectors.ndim == 2 else 0
    return pl.DataFrame(
        {"norm": norms.astype(np.float64), "finite": finite, "dim": [dim] * len(vectors)}
    )


def embedding_suite(asset: str) -> tuple[CheckDef, ...]:
    return (
        CheckDef(
            name=f"{asset}_finite_unit_norm",
            table="health",
            description="Every vector is finite and L2-normalised (|norm - 1| <= 0.01 in float16).",
            expectations=lambda t, p: [
                Expect("ExpectColumnValuesToBeInSet", {"column": "finite", "value_set": [True]}),
                Expect(
                    "ExpectColumnValuesToBeBetween",
                    {"column": "norm", "min_value": 0.99, "max_value": 1.01},
                ),
            ],
        ),
        CheckDef(
            name=f"{asset}_dimension_matches_model",
            table="health",
            description="Vectors have the model's embedding dimension.",
            expectations=lambda t, p: [
                Expect(
                    "ExpectColumnValuesToBeBetween",
                    {"column": "dim", "min_value": p["dim"], "max_value": p["dim"]},
                ),
            ],
        ),
    )


IMAGE_EMBEDDINGS_SUITE = embedding_suite("image_embeddings")
SENTENCE_EMBEDDINGS_SUITE = embedding_suite("sentence_embeddings")
