"""Exact sentence de-duplication across shards, after normalisation.

Normalisation: Unicode NFKC, case-folded, punctuation and symbols removed (Unicode categories P*
and S*), whitespace collapsed. Two sentences with the same normalised text are duplicates; the
survivor is the one with the smallest ``sentence_id`` (a hash: deterministic, not positional).
Semantic (embedding) duplicates come with the embeddings stage.
"""

from __future__ import annotations

import hashlib
import unicodedata

import numpy as np
import polars as pl

from realsyn.schemas import SENTENCE_DEDUP_SCHEMA
from realsyn.semantic_dedup import components

_DROP = {i for i in range(0x110000) if unicodedata.category(chr(i))[0] in "PS"}
_TABLE = dict.fromkeys(_DROP, " ")


def normalize(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold().translate(_TABLE)
    return " ".join(text.split())


def norm_key(text: str) -> str:
    return hashlib.blake2b(normalize(text).encode(), digest_size=12).hexdigest()


def dedup_sentences(kept: pl.DataFrame, semantic_pairs: pl.DataFrame | None = None) -> pl.DataFrame:
    """(sentence_id, shard, text) of every kept sentence -> survival rows.

    ``semantic_pairs`` (``id_a``, ``id_b``: near-duplicate sentence ids by embedding) join
    groups transitively with the exact ones; the smallest ``sentence_id`` of a group survives.
    """
    keyed = kept.select(
        "sentence_id",
        "shard",
        pl.col("text").map_elements(norm_key, return_dtype=pl.String).alias("norm_key"),
    ).sort("sentence_id")
    ids = keyed["sentence_id"].to_list()
    pos = {sid: i for i, sid in enumerate(ids)}
    first: dict[str, int] = {}
    pairs = []
    for i, key in enumerate(keyed["norm_key"].to_list()):
        pairs.append((first.setdefault(key, i), i))
    if semantic_pairs is not None:
        pairs += [
            (pos[a], pos[b])
            for a, b in semantic_pairs.select("id_a", "id_b").iter_rows()
            if a in pos and b in pos
        ]
    label = components(len(ids), np.array(pairs, dtype=np.int64).reshape(-1, 2))
    grouped = keyed.with_columns(pl.Series("group", label))
    reps = grouped.group_by("group", maintain_order=True).agg(
        pl.col("sentence_id").first().alias("rep"), pl.col("norm_key").first().alias("rep_key")
    )
    out = (
        grouped.join(reps, on="group")
        .with_columns((pl.col("sentence_id") == pl.col("rep")).alias("survives"))
        .with_columns(
            pl.when(pl.col("survives")).then(None).otherwise(pl.col("rep")).alias("duplicate_of"),
            pl.when(pl.col("survives"))
            .then(None)
            .when(pl.col("norm_key") == pl.col("rep_key"))
            .then(pl.lit("exact_dup"))
            .otherwise(pl.lit("semantic_dup"))
            .alias("reason"),
        )
    )
    return out.select(list(SENTENCE_DEDUP_SCHEMA)).cast(SENTENCE_DEDUP_SCHEMA).sort("sentence_id")
