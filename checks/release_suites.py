"""GX suites of scaled_subsets: caps, nesting, uniqueness, texts, the published schema."""

from __future__ import annotations

import polars as pl

from checks.gx import CheckDef, Expect
from checks.retrieval_suites import three_texts_check
from realsyn.schemas import RELEASE_SCHEMA, RELEASE_TEXTS


def _with_cluster_counts(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(pl.len().over("image_cluster").alias("cluster_count"))


SCALED_SUBSETS_SUITE: tuple[CheckDef, ...] = (
    CheckDef(
        name="scaled_subsets_cluster_cap_respected",
        table="subset",
        description="No image cluster contributes more than the scale's cap t.",
        prepare=_with_cluster_counts,
        expectations=lambda t, p: [
            Expect(
                "ExpectColumnValuesToBeBetween",
                {"column": "cluster_count", "max_value": p["t"]},
            )
        ],
    ),
    CheckDef(
        name="scaled_subsets_nested",
        table="smaller",
        description="Every image of the next smaller scale is in this scale (nested, monotone).",
        expectations=lambda t, p: [
            Expect(
                "ExpectColumnValuesToBeInSet",
                {"column": "image_id", "value_set": t["subset"]["image_id"].to_list()},
            )
        ],
    ),
    CheckDef(
        name="scaled_subsets_no_image_twice",
        table="subset",
        description="Each image (id and content) appears once.",
        expectations=lambda t, p: [
            Expect("ExpectColumnValuesToBeUnique", {"column": "image_id"}),
            Expect("ExpectColumnValuesToBeUnique", {"column": "sha256"}),
        ],
    ),
    three_texts_check("scaled_subsets_three_texts", "subset", lambda p: RELEASE_TEXTS),
    CheckDef(
        name="scaled_subsets_schema_matches_release",
        table="subset",
        description="Columns are RealSyn's published ones first, then provenance, in order.",
        expectations=lambda t, p: [
            Expect("ExpectTableColumnsToMatchOrderedList", {"column_list": list(RELEASE_SCHEMA)})
        ],
    ),
)
