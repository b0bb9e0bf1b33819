"""GX suites of sentence_clusters and retrieval_pairs."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import polars as pl

from checks.gx import CheckDef, Expect


def _text_columns(frame: pl.DataFrame, prefix: str = "text") -> list[str]:
    """``text1``, ``text2``, ... (or ``score1``, ...) present in ``frame``, in order."""
    return [c for c in frame.columns if c.startswith(prefix) and c[len(prefix) :].isdigit()]


def _with_gapless(frame: pl.DataFrame) -> pl.DataFrame:
    cols = _text_columns(frame)
    gapless = pl.lit(True)
    for a, b in zip(cols, cols[1:], strict=False):  # text j+1 only where text j
        gapless = gapless & (pl.col(b).is_null() | pl.col(a).is_not_null())
    return frame.with_columns(gapless=gapless)


def three_texts_check(name: str, table: str, required: Callable[[Mapping], int]) -> CheckDef:
    """text1..text<required(params)> on every row that records no ``short_reason``, and no
    gaps (a text j+1 only after a text j). The name keeps "three": the release's texts."""
    return CheckDef(
        name=name,
        table=table,
        description="Every row has text1..text<top_k> (the run's top_k, 3 by default) without "
        "gaps, or a recorded reason why fewer exist.",
        prepare=_with_gapless,
        expectations=lambda t, p: [
            *(
                Expect(
                    "ExpectColumnValuesToNotBeNull",
                    {"column": f"text{j}", "row_condition": "short_reason.isnull()"},
                )
                for j in range(1, required(p) + 1)
            ),
            Expect("ExpectColumnValuesToBeInSet", {"column": "gapless", "value_set": [True]}),
        ],
    )


def _with_ordered(frame: pl.DataFrame) -> pl.DataFrame:
    """``ordered``: score j >= score j+1, except on hybrid-scope rows, which are ranked by
    cosine + the same-document prior and record the cosine (realsyn.scope)."""
    cols = _text_columns(frame, "score")
    ordered = pl.lit(True)
    for a, b in zip(cols, cols[1:], strict=False):
        ordered = ordered & (pl.col(a) >= pl.col(b)).fill_null(True)
    if "scope" in frame.columns:
        ordered = ordered | (pl.col("scope") == "hybrid").fill_null(False)
    return frame.with_columns(ordered=ordered)


RETRIEVAL_PAIRS_SUITE: tuple[CheckDef, ...] = (
    CheckDef(
        name="retrieval_pairs_every_survivor_has_a_row",
        table="pairs",
        description="Exactly one row per surviving image of the shard.",
        expectations=lambda t, p: [
            Expect("ExpectTableRowCountToEqual", {"value": p["survivors"]}),
            Expect("ExpectColumnValuesToBeUnique", {"column": "image_id"}),
            Expect(
                "ExpectColumnValuesToBeInSet",
                {"column": "image_id", "value_set": p["survivor_ids"]},
            ),
        ],
    ),
    three_texts_check("retrieval_pairs_three_texts", "pairs", lambda p: p["top_k"]),
    CheckDef(
        name="retrieval_pairs_scores_ordered",
        table="pairs",
        description="Scores are cosines in [-1, 1] and score1 >= score2 >= ... (best first; "
        "hybrid scope ranks by cosine + prior, so its cosines need not be ordered).",
        prepare=_with_ordered,
        expectations=lambda t, p: [
            Expect(
                "ExpectColumnValuesToBeBetween",
                {"column": "score1", "min_value": -1.0001, "max_value": 1.0001},
            ),
            Expect("ExpectColumnValuesToBeInSet", {"column": "ordered", "value_set": [True]}),
        ],
    ),
)

SENTENCE_CLUSTERS_SUITE: tuple[CheckDef, ...] = (
    CheckDef(
        name="sentence_clusters_every_sentence_assigned",
        table="members",
        description="Each surviving sentence is in exactly one cluster with a valid id.",
        expectations=lambda t, p: [
            Expect("ExpectColumnValuesToBeUnique", {"column": "sentence_id"}),
            Expect(
                "ExpectColumnValuesToBeBetween",
                {"column": "cluster", "min_value": 0, "max_value": p["k"] - 1},
            ),
            Expect("ExpectTableRowCountToEqual", {"value": p["survivors"]}),
        ],
    ),
)
