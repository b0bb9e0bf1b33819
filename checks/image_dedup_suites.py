"""GX suites of image_dedup: one survival row per image, each drop with its reason."""

from __future__ import annotations

import polars as pl

from checks.gx import CheckDef, Expect, decision_consistency
from realsyn.schemas import (
    IMAGE_DEDUP_REASONS,
    IMAGE_ERRORS,
    IMAGE_FILTER_REASONS,
)


def _survivors(tables: dict[str, pl.DataFrame]) -> list[str]:
    """The table's survivors, and ``other_survivors`` when checking one pHash range of the
    bucketed dedup: the survivors of other ranges its duplicates name (each checked to survive
    in its own range)."""
    own = tables["survival"].filter(pl.col("survives"))["image_id"]
    other = tables.get("other_survivors")
    return (pl.concat([own, other["image_id"]]) if other is not None else own).to_list()


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
                {"column": "duplicate_of", "value_set": _survivors(t)},
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


def check_image_range(table: pl.DataFrame, other_survivors: pl.Series):
    """IMAGE_DEDUP_SUITE on one pHash range's survival rows (a map task of image_dedup)."""
    from checks.gx import run_suite

    others = pl.DataFrame({"image_id": other_survivors}, schema={"image_id": pl.String})
    return run_suite(IMAGE_DEDUP_SUITE, {"survival": table, "other_survivors": others})
