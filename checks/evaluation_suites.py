"""GX suites of the evaluation assets: the measured quality against a floor (warnings)."""

from __future__ import annotations

from checks.gx import CheckDef, Expect


def _floor(column: str, key: str, default: float) -> CheckDef:
    return CheckDef(
        name="",
        table="metrics",
        description="",
        expectations=lambda t, p: [
            Expect(
                "ExpectColumnValuesToBeBetween",
                {"column": column, "min_value": p.get(key, default), "max_value": 1.0},
            )
        ],
    )


def _named(check: CheckDef, name: str, description: str, severity: str = "WARN") -> CheckDef:
    return CheckDef(
        name=name,
        table=check.table,
        description=description,
        expectations=check.expectations,
        severity=severity,
        blocking=False,
    )


CLIP_EVALUATION_SUITE = (
    _named(
        _floor("image_to_text_r5", "min_image_to_text_r5", 0.5),
        "clip_evaluation_retrieval_above_floor",
        "Held-out image->text R@5 is at least the configured floor (a model that learned little).",
    ),
)
PIPELINE_EVALUATION_SUITE = (
    _named(
        _floor("precision_at_1", "min_precision_at_1", 0.9),
        "pipeline_evaluation_retrieval_precision",
        "retrieval_pairs' text1 truly describes its image for at least the floor's share (0.9).",
    ),
    _named(
        _floor("dedup_recall", "min_dedup_recall", 0.8),
        "pipeline_evaluation_dedup_recall",
        "Image de-duplication finds at least the floor's share of the injected copies.",
    ),
)
