"""Review rounds: a stratified sample of pairs for people to judge.

A round samples pairs *before* the cosine band, so the band itself gets judged. Strata are
cosine bin (``below`` / ``low_in`` / ``high_in`` / ``above`` the band) x source format x
image-cluster size (``head`` / ``torso`` / ``tail``); each stratum gives up to
``per_stratum`` images, chosen by a seeded hash rank of the image id (same input, same sample),
never an image reviewed in an earlier round. A seeded ~``double_share`` of the items go to two
raters (two tasks, ``copy`` 0 and 1: Cohen's kappa); a few gold items, whose answers are known,
repeat ``gold_repeats`` times (rater accuracy).

Retrieval scope is a stratum dimension too (``ReviewParams.scopes``, :mod:`realsyn.scope`):
each stratum gives up to ``per_stratum`` images *per compared scope*, each image shown under one
scope (seeded, round-robin in rank order), its texts that scope's top-3 for it
(:func:`with_scope_texts`; the other scopes are computed for the sampled images only). Raters
see only the image and the texts: nothing in a task says which scope it is, and its item id is
numbered in a seeded shuffled order. ``released`` marks the items in the pipeline's own scope
(what retrieval_pairs holds): the round's band and overall figures are theirs; every scope's
precision@1 is compared in :func:`realsyn.review_stats.scope_comparison`.

Label Studio's shapes (tasks, config, exports) are in :mod:`realsyn.label_studio`; statistics
over the labels in :mod:`realsyn.review_stats`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import polars as pl

from realsyn.balance import hash_rank
from realsyn.schemas import frame_from_rows
from realsyn.scope import SCOPES
from realsyn.world import describes

CHOICES = ("describes", "partly", "unrelated")
TEXT_FIELDS = ("text1", "text2", "text3", "syn_text")
COSINE_BINS = ("below", "low_in", "high_in", "above")
SIZE_CLASSES = ("head", "torso", "tail")

ITEMS_SCHEMA: dict[str, pl.DataType] = {
    "item_id": pl.String(),
    "round": pl.String(),
    "image_id": pl.String(),
    "sha256": pl.String(),
    "image_file": pl.String(),
    "doc_id": pl.String(),
    "shard": pl.String(),
    "source_format": pl.String(),
    "image_cluster": pl.Int64(),
    "size_class": pl.String(),
    "cosine_bin": pl.String(),
    "stratum": pl.String(),
    "stratum_population": pl.Int64(),
    "pair_cosine": pl.Float64(),
    "pair_text": pl.String(),
    "text1": pl.String(),
    "text2": pl.String(),
    "text3": pl.String(),
    "syn_text": pl.String(),
    "copies": pl.Int32(),
    "is_gold": pl.Boolean(),
    "scope": pl.String(),
    "released": pl.Boolean(),
}
"""One row per sampled image of a round (gold items included, ``is_gold``). ``copies`` is how
many tasks show it (2 for double-labelled items, ``gold_repeats`` for gold);
``stratum_population`` the number of eligible pairs in its stratum (the weight of its stratum
in the overall figure). ``scope`` is the retrieval scope its texts come from, ``released``
whether that is the pipeline's own (its texts are retrieval_pairs'); ``cosine_bin`` and
``pair_cosine`` are always the released pair's (the stratification is over released pairs)."""

GOLD_SCHEMA: dict[str, pl.DataType] = {
    "item_id": pl.String(),
    "field": pl.String(),
    "label": pl.String(),
}
"""The known answer per gold item and text field."""


@dataclass(frozen=True)
class ReviewParams:
    per_stratum: int = 40
    double_share: float = 0.2
    gold_items: int = 5
    gold_repeats: int = 3
    head_share: float = 1 / 3  # share of the images in the largest clusters ("head")
    tail_share: float = 1 / 3  # share of the images in the smallest clusters ("tail")
    seed: int = 0
    scopes: tuple[str, ...] = SCOPES  # compared side by side; the pairs' own scope always is

    def __post_init__(self) -> None:
        unknown = set(self.scopes) - set(SCOPES)
        if unknown:
            raise ValueError(f"unknown scopes {sorted(unknown)}: expected some of {SCOPES}")


def seeded_unit(seed: int, *parts: str) -> float:
    """A seeded uniform number in [0, 1) from stable parts."""
    digest = hashlib.blake2b(":".join([str(seed), *parts]).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def _strings(values) -> pl.Series:
    return pl.Series(sorted(values), dtype=pl.String)


def cosine_bins(cosine: np.ndarray, band: tuple[float, float]) -> list[str]:
    """Each cosine's bin against the band: below, low/high half inside, above."""
    low, high = band
    mid = (low + high) / 2
    return [
        "below" if c < low else "above" if c > high else "low_in" if c < mid else "high_in"
        for c in np.asarray(cosine, dtype=np.float64)
    ]


def default_band(cosine: np.ndarray) -> tuple[float, float]:
    """The middle half of the observed cosines: bins to judge when no band is configured."""
    if len(cosine) == 0:
        return (0.0, 1.0)
    return float(np.quantile(cosine, 0.25)), float(np.quantile(cosine, 0.75))


def size_classes(clusters: np.ndarray, head_share: float, tail_share: float) -> list[str]:
    """head / torso / tail per image by its cluster's size: clusters from largest to smallest
    (ties by id); a cluster is ``head`` while the images before it are under ``head_share``
    of all, ``tail`` once they reach ``1 - tail_share``."""
    clusters = np.asarray(clusters, dtype=np.int64)
    if len(clusters) == 0:
        return []
    ids, counts = np.unique(clusters, return_counts=True)
    order = np.lexsort((ids, -counts))
    before = np.r_[0, np.cumsum(counts[order])[:-1]] / len(clusters)
    cls = {}
    for cid, b in zip(ids[order].tolist(), before.tolist(), strict=True):
        cls[cid] = "head" if b < head_share else "tail" if b >= 1 - tail_share else "torso"
    return [cls[c] for c in clusters.tolist()]


def sample_review(
    pairs: pl.DataFrame,
    band: tuple[float, float],
    params: ReviewParams,
    round_key: str,
    reviewed: set[str] | frozenset[str] = frozenset(),
    gold: Mapping[str, Mapping[str, str]] | None = None,
) -> pl.DataFrame:
    """The round's items (:data:`ITEMS_SCHEMA`), deterministic for the same inputs and seed.

    Args:
        pairs: every pair before the band: ``image_id``, ``sha256``, ``doc_id``, ``shard``,
            ``source_format``, ``image_cluster``, ``pair_cosine``, ``pair_text``, text1..3,
            ``syn_text``.
        band: the cosine band whose bins are strata.
        reviewed: image ids and sha256s of earlier rounds' (non-gold) items: never again.
        gold: known answers ``{image_id: {field: label}}``; gold items are drawn from these.
    """
    released = _released_scope(pairs)
    scopes = [released, *(s for s in params.scopes if s != released)]
    pairs = pairs.sort("image_id").unique("sha256", keep="first", maintain_order=True)
    frame = pairs.with_columns(
        pl.Series("cosine_bin", cosine_bins(pairs["pair_cosine"].to_numpy(), band)),
        pl.Series(
            "size_class",
            size_classes(pairs["image_cluster"].to_numpy(), params.head_share, params.tail_share),
        ),
        pl.Series("rank", hash_rank(pairs["image_id"].to_list(), params.seed)),
    )
    frame = frame.with_columns(
        pl.concat_str(["cosine_bin", "source_format", "size_class"], separator="|").alias("stratum")
    ).with_columns(pl.len().over("stratum").alias("stratum_population"))
    frame = frame.drop("scope", strict=False)
    seen, gold = _strings(reviewed), gold or {}
    fresh = ~(pl.col("image_id").is_in(seen) | pl.col("sha256").is_in(seen))
    gold_rows = (
        frame.filter(pl.col("image_id").is_in(_strings(gold))).sort("rank").head(params.gold_items)
    )  # gold may repeat across rounds: that is what gold is for
    chosen = (
        frame.filter(fresh & ~pl.col("image_id").is_in(gold_rows["image_id"]))
        .sort("stratum", "rank")
        .group_by("stratum", maintain_order=True)
        .head(params.per_stratum * len(scopes))
        .with_columns(pl.int_range(pl.len()).over("stratum").alias("_n"))
    )
    rows = []
    for is_gold, part in ((False, chosen), (True, gold_rows)):
        for row in part.sort("stratum", "rank").to_dicts():
            double = seeded_unit(params.seed, "double", row["image_id"]) < params.double_share
            copies = params.gold_repeats if is_gold else 2 if double else 1
            scope = released if is_gold else _scope_of(row, scopes, params.seed)
            if scope != released:
                row["stratum"] = f"{row['stratum']}|{scope}"
            elif len(scopes) > 1 and not is_gold:
                row["stratum"] = f"{row['stratum']}|{released}"
            rows.append({**row, "copies": copies, "is_gold": is_gold, "round": round_key,
                         "scope": scope, "released": scope == released})  # fmt: skip
    shuffled = sorted(
        range(len(rows)), key=lambda i: seeded_unit(params.seed, "item", rows[i]["image_id"])
    )
    for n, i in enumerate(shuffled):  # numbered blind: the id says nothing of stratum or scope
        rows[i]["item_id"] = f"{round_key}-{n:04d}"
        rows[i]["image_file"] = f"images/{rows[i]['sha256']}"
    return frame_from_rows(rows, ITEMS_SCHEMA)


def _released_scope(pairs: pl.DataFrame) -> str:
    """The scope of the pairs' texts (retrieval_pairs' ``scope``; rows made before the setting
    existed, or without the column: ``corpus``)."""
    if "scope" not in pairs.columns:
        return "corpus"
    found = set(pairs["scope"].drop_nulls().unique().to_list()) or {"corpus"}
    if len(found) > 1:
        raise ValueError(f"the pairs mix retrieval scopes {sorted(found)}: re-run retrieval_pairs")
    return found.pop()


def _scope_of(row: dict, scopes: list[str], seed: int) -> str:
    """Round-robin in rank order within the stratum (``_n``: the row's place in it), from a
    seeded offset per stratum: each scope gets an equal share of every stratum, and a stratum
    with fewer images than scopes does not always favour the same scope."""
    offset = int(seeded_unit(seed, "scope", row["stratum"]) * len(scopes))
    return scopes[(row["_n"] + offset) % len(scopes)]


def with_scope_texts(items: pl.DataFrame, texts: Mapping[str, pl.DataFrame]) -> pl.DataFrame:
    """The items whose scope is not the released one with that scope's texts: ``texts[scope]``
    has ``image_id`` and text1..text3 (computed for the sampled images only,
    :func:`realsyn.scope.scope_rows`). An item whose scope has no row keeps null texts (it
    is judged as "(none)"), never the released texts."""
    out = []
    items = items.with_row_index("_row")
    for (scope, released), part in items.group_by("scope", "released", maintain_order=True):
        if released:
            out.append(part)
            continue
        alt = texts.get(scope, pl.DataFrame(schema={"image_id": pl.String}))
        cols = [c for c in ("text1", "text2", "text3") if c in alt.columns]
        out.append(
            part.drop(["text1", "text2", "text3"])
            .join(alt.select("image_id", *cols), on="image_id", how="left", maintain_order="left")
            .with_columns(
                pl.lit(None, pl.String).alias(c)
                for c in ("text1", "text2", "text3")
                if c not in cols
            )
            .select(items.columns)
        )
    return pl.concat(out).sort("_row").drop("_row") if out else items.drop("_row")


def gold_table(items: pl.DataFrame, gold: Mapping[str, Mapping[str, str]]) -> pl.DataFrame:
    """:data:`GOLD_SCHEMA` rows for the round's gold items."""
    rows = [
        {"item_id": item, "field": f, "label": gold[image][f]}
        for item, image in items.filter("is_gold").select("item_id", "image_id").iter_rows()
        for f in TEXT_FIELDS
        if f in gold.get(image, {})
    ]
    return frame_from_rows(rows, GOLD_SCHEMA)


def world_labels(
    pairs: pl.DataFrame, truth_images: pl.DataFrame, truth_sentences: pl.DataFrame
) -> dict[str, dict[str, str]]:
    """The true answer per image and text field on a generated world: ``describes`` when the
    sentence's concepts are all true of the image, ``partly`` when some are, else
    ``unrelated``. Texts outside the truth table (e.g. syn_text) get no answer."""
    img = dict(zip(truth_images["sha256"], truth_images["concepts"], strict=True))
    sent = dict(zip(truth_sentences["text"], truth_sentences["concepts"], strict=True))
    out: dict[str, dict[str, str]] = {}
    fields = [f for f in TEXT_FIELDS if f in pairs.columns]
    for row in pairs.filter(pl.col("sha256").is_in(list(img))).iter_rows(named=True):
        concepts = set(img[row["sha256"]])
        answers = {}
        for f in fields:
            text = row[f]
            if text is None or text not in sent:
                continue
            stated = set(sent[text])
            answers[f] = (
                "describes"
                if describes(stated, concepts)
                else "partly"
                if stated & concepts
                else "unrelated"
            )
        out[row["image_id"]] = answers
    return out
