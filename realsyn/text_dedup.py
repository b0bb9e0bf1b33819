"""Exact sentence de-duplication across shards, after normalisation.

Normalisation: Unicode NFKC, case-folded, punctuation and symbols removed (Unicode categories P*
and S*), whitespace collapsed. Two sentences with the same normalised text are duplicates; the
survivor is the one with the smallest ``sentence_id`` (a hash: deterministic, not positional).
Semantic (embedding) duplicates come with the embeddings stage.
"""

from __future__ import annotations

import hashlib
import unicodedata

import polars as pl

from realsyn.schemas import SENTENCE_DEDUP_SCHEMA

_DROP = {i for i in range(0x110000) if unicodedata.category(chr(i))[0] in "PS"}
_TABLE = dict.fromkeys(_DROP, " ")


def normalize(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold().translate(_TABLE)
    return " ".join(text.split())


def norm_key(text: str) -> str:
    return hashlib.blake2b(normalize(text).encode(), digest_size=12).hexdigest()


def dedup_sentences(kept: pl.DataFrame) -> pl.DataFrame:
    """(sentence_id, shard, text) of every kept sentence -> survival rows."""
    keyed = kept.select(
        "sentence_id",
        "shard",
        pl.col("text").map_elements(norm_key, return_dtype=pl.String).alias("norm_key"),
    ).sort("sentence_id")
    first = keyed.group_by("norm_key", maintain_order=True).agg(
        pl.col("sentence_id").first().alias("rep")
    )
    out = (
        keyed.join(first, on="norm_key")
        .with_columns(
            (pl.col("sentence_id") == pl.col("rep")).alias("survives"),
        )
        .with_columns(
            pl.when(pl.col("survives")).then(None).otherwise(pl.col("rep")).alias("duplicate_of"),
            pl.when(pl.col("survives")).then(None).otherwise(pl.lit("exact_dup")).alias("reason"),
        )
    )
    return out.select(list(SENTENCE_DEDUP_SCHEMA)).cast(SENTENCE_DEDUP_SCHEMA)
