"""GX suites of the image stage: clean_images and image_dedup."""

from __future__ import annotations

import polars as pl

from checks.gx import CheckDef, Expect
from checks.suites import decision_consistency
from realsyn.schemas import IMAGE_DECISIONS, IMAGE_DEDUP_REASONS, IMAGE_ERRORS, IMAGE_FILTER_REASONS


def _keep_bounds(t, p) -> list[Expect]:
    min_side = p["min_side"]
    max_aspect = p["max_aspect"]
    keep = {"row_condition": 'decision=="keep"'}
    return [
        Expect("ExpectColumnValuesToBeBetween", {"column": "width", "min_value": min_side, **keep}),
        Expect(
            "ExpectColumnValuesToBeBetween", {"column": "height", "min_value": min_side, **keep}
        ),
        Expect(
            "ExpectColumnValuesToBeBetween",
            {"column": "aspect", "min_value": 1.0 / max_aspect, "max_value": max_aspect, **keep},
        ),
    ]


CLEAN_IMAGES_SUITE: tuple[CheckDef, ...] = (
    CheckDef(
        name="clean_images_kept_within_bounds",
        table="images",
        description="Kept images satisfy the size and aspect bounds the run applied.",
        expectations=_keep_bounds,
    ),
    CheckDef(
        name="clean_images_image_ids_unique",
        table="images",
        description="image_id is non-null and unique.",
        expectations=lambda t, p: [
            Expect("ExpectColumnValuesToNotBeNull", {"column": "image_id"}),
            Expect("ExpectColumnValuesToBeUnique", {"column": "image_id"}),
        ],
    ),
    CheckDef(
        name="clean_images_hashes_present",
        table="images",
        description="Every kept image has a SHA-256 (64 hex chars) and a pHash.",
        expectations=lambda t, p: (
            [
                Expect(
                    "ExpectColumnValuesToNotBeNull",
                    {"column": c, "row_condition": 'decision=="keep"'},
                )
                for c in ("sha256", "phash")
            ]
            + [
                Expect(
                    "ExpectColumnValuesToMatchRegex",
                    {"column": "sha256", "regex": "^[0-9a-f]{64}$"},
                )
            ]
        ),
    ),
    CheckDef(
        name="clean_images_decision_consistent",
        table="images",
        description="decision is keep or drop, a known reason is given exactly for drops.",
        prepare=lambda f: decision_consistency(f, "decision", lambda c: c == "keep"),
        expectations=lambda t, p: [
            Expect(
                "ExpectColumnValuesToBeInSet",
                {"column": "decision", "value_set": list(IMAGE_DECISIONS)},
            ),
            Expect("ExpectColumnValuesToBeInSet", {"column": "consistent", "value_set": [True]}),
            Expect(
                "ExpectColumnValuesToBeInSet",
                {"column": "reason", "value_set": list(IMAGE_ERRORS + IMAGE_FILTER_REASONS)},
            ),
        ],
    ),
)

IMAGE_DEDUP_SUITE: tuple[CheckDef, ...] = (
    CheckDef(
        name="image_dedup_image_ids_unique",
        table="survival",
        description="Each image appears once in the survival table.",
        expectations=lambda t, p: [
            Expect("ExpectColumnValuesToNotBeNull", {"column": "image_id"}),
            Expect("ExpectColumnValuesToBeUnique", {"column": "image_id"}),
        ],
    ),
    CheckDef(
        name="image_dedup_duplicates_point_to_survivors",
        table="survival",
        description="duplicate_of always names a surviving image.",
        expectations=lambda t, p: [
            Expect(
                "ExpectColumnValuesToBeInSet",
                {
                    "column": "duplicate_of",
                    "value_set": t["survival"].filter(pl.col("survives"))["image_id"].to_list(),
                },
            )
        ],
    ),
    CheckDef(
        name="image_dedup_reason_consistent",
        table="survival",
        description="Survivors have no reason; every other image has a known one.",
        prepare=lambda f: decision_consistency(f, "survives", lambda c: c),
        expectations=lambda t, p: [
            Expect("ExpectColumnValuesToBeInSet", {"column": "consistent", "value_set": [True]}),
            Expect(
                "ExpectColumnValuesToBeInSet",
                {
                    "column": "reason",
                    "value_set": list(IMAGE_ERRORS + IMAGE_FILTER_REASONS + IMAGE_DEDUP_REASONS),
                },
            ),
        ],
    ),
)
