"""Exact sentence de-duplication across shards, after normalisation.

Normalisation: Unicode NFKC, case-folded, punctuation and symbols removed (Unicode categories P*
and S*), whitespace collapsed. Two sentences with the same normalised text are duplicates; the
survivor is the one with the smallest ``sentence_id`` (a hash: deterministic, not positional).
Semantic (embedding) duplicates come with the embeddings stage: only one sentence per normalised
text (``distinct_representatives``) is searched, and its exact duplicates share its group, so a
page repeating one sentence 200,000 times costs one vector in the search.
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


def normalized_keys(kept: pl.DataFrame) -> pl.DataFrame:
    """(sentence_id, shard, norm_key) of every kept sentence, sorted by ``sentence_id``."""
    return kept.select(
        "sentence_id",
        "shard",
        pl.col("text").map_elements(norm_key, return_dtype=pl.String).alias("norm_key"),
    ).sort("sentence_id")


def distinct_representatives(keyed: pl.DataFrame) -> set[str]:
    """The smallest ``sentence_id`` of each normalised text (``normalized_keys``): the only
    sentences a semantic search needs, since exact duplicates inherit their group's decision."""
    return set(keyed.group_by("norm_key").agg(pl.col("sentence_id").min())["sentence_id"])


def dedup_sentences(
    kept: pl.DataFrame,
    semantic_pairs: pl.DataFrame | None = None,
    keyed: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """(sentence_id, shard, text) of every kept sentence -> survival rows.

    ``semantic_pairs`` (``id_a``, ``id_b``: near-duplicate sentence ids by embedding, usually
    among ``distinct_representatives`` only) join groups transitively with the exact ones; the
    smallest ``sentence_id`` of a group survives. ``keyed``: ``normalized_keys(kept)`` when the
    caller already has it. Linear in the rows and pairs.
    """
    keyed = normalized_keys(kept) if keyed is None else keyed
    keyed = keyed.with_columns(pl.int_range(pl.len(), dtype=pl.Int64).alias("i"))
    exact = keyed.select(pl.col("i").min().over("norm_key").alias("a"), pl.col("i").alias("b"))
    links = [exact]
    if semantic_pairs is not None:
        pos = keyed.select("sentence_id", "i")
        links.append(
            semantic_pairs.select("id_a", "id_b")
            .join(pos.rename({"sentence_id": "id_a", "i": "a"}), on="id_a")
            .join(pos.rename({"sentence_id": "id_b", "i": "b"}), on="id_b")
            .select("a", "b")
        )
    pairs = pl.concat(links).to_numpy().astype(np.int64).reshape(-1, 2)
    label = components(keyed.height, pairs)
    grouped = keyed.drop("i").with_columns(pl.Series("group", label))
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


def dedup_stats(table: pl.DataFrame, semantic_pairs: pl.DataFrame | None) -> dict[str, int]:
    """total, exact/semantic duplicates, survivors and semantic pairs (0 without) of the rows."""
    reasons = table["reason"].to_list()
    return {
        "total": table.height,
        "exact_dup": reasons.count("exact_dup"),
        "semantic_dup": reasons.count("semantic_dup"),
        "survivors": int(table["survives"].sum()),
        "semantic_pairs": semantic_pairs.height if semantic_pairs is not None else 0,
    }
