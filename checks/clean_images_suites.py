"""GX suites of clean_images: kept images within bounds, decisions with reasons."""

from __future__ import annotations

from checks.gx import CheckDef, Expect, decision_consistency
from realsyn.schemas import (
    IMAGE_DECISIONS,
    IMAGE_ERRORS,
    IMAGE_FILTER_REASONS,
)


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
