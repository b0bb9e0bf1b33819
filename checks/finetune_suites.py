"""GX suites of clip_finetune (every seed ran every step, the split is one row per image) and
gain_evaluation (enough held-out queries, no regression beyond a tolerance)."""

from __future__ import annotations

from checks.gx import CheckDef, Expect

CLIP_FINETUNE_SUITE: tuple[CheckDef, ...] = (
    CheckDef(
        name="clip_finetune_ran_all_steps",
        table="runs",
        description="Every seed ran every planned step with a finite loss: the wall-clock safety "
        "net (max_seconds) cut none short. Blocking: the gain of an incomplete model is not one.",
        expectations=lambda t, p: [
            Expect(
                "ExpectColumnPairValuesToBeEqual",
                {"column_A": "steps", "column_B": "planned_steps"},
            ),
            Expect("ExpectColumnValuesToNotBeNull", {"column": "final_loss"}),
            Expect(
                "ExpectColumnValuesToBeBetween",
                {"column": "final_loss", "min_value": 0, "max_value": 1e6},
            ),
        ],
    ),
    CheckDef(
        name="clip_finetune_split_one_side",
        table="split",
        description="Each image of the scale is on exactly one side of the split (finetune or "
        "held_out), so no evaluation pair was trained on.",
        expectations=lambda t, p: [
            Expect("ExpectColumnValuesToBeUnique", {"column": "sha256"}),
            Expect(
                "ExpectColumnValuesToBeInSet",
                {"column": "split", "value_set": ["finetune", "held_out"]},
            ),
        ],
    ),
)

GAIN_EVALUATION_SUITE: tuple[CheckDef, ...] = (
    CheckDef(
        name="gain_evaluation_enough_queries",
        table="summary",
        description="Every before/after figure rests on at least min_queries held-out queries.",
        expectations=lambda t, p: [
            Expect(
                "ExpectColumnValuesToBeBetween",
                {"column": "queries", "min_value": p["min_queries"]},
            )
        ],
        severity="WARN",
        blocking=False,
    ),
    CheckDef(
        name="gain_evaluation_no_regression",
        table="summary",
        description="No figure's mean gain over seeds is below -max_regression (fine-tuning "
        "made the model worse on held-out pairs).",
        expectations=lambda t, p: [
            Expect(
                "ExpectColumnValuesToBeBetween",
                {"column": "gain_mean", "min_value": -p["max_regression"]},
            )
        ],
        severity="WARN",
        blocking=False,
    ),
)
