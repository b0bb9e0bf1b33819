"""GX suites of balanced_pool, scaled_subsets and release: caps, nesting, uniqueness, texts,
the published schema."""

from __future__ import annotations

import polars as pl

from checks.gx import CheckDef, Expect
from checks.retrieval_suites import three_texts_check
from realsyn.schemas import (
    RELEASE_SCHEMA,
    RELEASE_TEXTS,
)


def _with_cluster_counts(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(pl.len().over("image_cluster").alias("cluster_count"))


BALANCED_POOL_SUITE: tuple[CheckDef, ...] = (
    CheckDef(
        name="balanced_pool_images_unique",
        table="pool",
        description="Each image appears once in the pool.",
        expectations=lambda t, p: [Expect("ExpectColumnValuesToBeUnique", {"column": "image_id"})],
    ),
    CheckDef(
        name="balanced_pool_ranks_and_cosines_valid",
        table="pool",
        description="Every image has a cluster and a rank >= 0; pair cosines lie in [-1, 1] "
        "and inside the band when one is applied.",
        expectations=lambda t, p: [
            Expect("ExpectColumnValuesToNotBeNull", {"column": "image_cluster"}),
            Expect("ExpectColumnValuesToBeBetween", {"column": "cluster_rank", "min_value": 0}),
            Expect(
                "ExpectColumnValuesToBeBetween",
                {
                    "column": "pair_cosine",
                    "min_value": -1.001 if p["band_low"] is None else p["band_low"],
                    "max_value": 1.001 if p["band_high"] is None else p["band_high"],
                },
            ),
        ],
    ),
)


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


RELEASE_SUITE: tuple[CheckDef, ...] = (
    CheckDef(
        name="release_every_row_in_a_shard",
        table="shards",
        description="The webdataset shards hold exactly as many samples as release.parquet rows.",
        expectations=lambda t, p: [
            Expect(
                "ExpectColumnSumToBeBetween",
                {"column": "samples", "min_value": p["rows"], "max_value": p["rows"]},
            )
        ],
    ),
    CheckDef(
        name="release_rows_have_image_and_text",
        table="release",
        description="Every row has its image URL/id and text1.",
        expectations=lambda t, p: [
            Expect("ExpectColumnValuesToNotBeNull", {"column": "raw_image_url"}),
            Expect("ExpectColumnValuesToNotBeNull", {"column": "text1"}),
            Expect("ExpectColumnValuesToBeUnique", {"column": "image_id"}),
        ],
    ),
)
