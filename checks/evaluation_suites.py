"""GX suites of the evaluation assets: the measured quality against a floor (warnings)."""

from __future__ import annotations

from checks.gx import CheckDef, Expect


def _floor(name: str, column: str, param: str, description: str) -> CheckDef:
    """``metrics.<column>`` is at least the asset's ``<param>`` config (a non-blocking warning)."""
    return CheckDef(
        name=name,
        table="metrics",
        description=description,
        expectations=lambda t, p: [
            Expect(
                "ExpectColumnValuesToBeBetween",
                {"column": column, "min_value": p[param], "max_value": 1.0},
            )
        ],
        severity="WARN",
        blocking=False,
    )


CLIP_EVALUATION_SUITE = (
    _floor(
        "clip_evaluation_retrieval_above_floor",
        "image_to_text_r5",
        "min_image_to_text_r5",
        "Held-out image->text R@5 is at least the configured floor (a model that learned little).",
    ),
)
PIPELINE_EVALUATION_SUITE = (
    _floor(
        "pipeline_evaluation_retrieval_precision",
        "precision_at_1",
        "min_precision_at_1",
        "retrieval_pairs' text1 truly describes its image for at least the floor's share (min_precision_at_1).",
    ),
    _floor(
        "pipeline_evaluation_dedup_recall",
        "dedup_recall",
        "min_dedup_recall",
        "Image de-duplication finds at least the floor's share of the injected copies.",
    ),
)
