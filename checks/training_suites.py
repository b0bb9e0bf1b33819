"""GX suites of clip_training: it ran every planned step, finite and better than chance
(blocking before every vector is re-encoded)."""

from __future__ import annotations

import math

from checks.gx import CheckDef, Expect

CLIP_TRAINING_SUITE: tuple[CheckDef, ...] = (
    CheckDef(
        name="clip_training_finite",
        table="stats",
        description="Training ran (steps > 0), its loss is finite and the learned temperature "
        "lies in open_clip's clamp [0.01, 1]: blocking, before every vector is re-encoded.",
        expectations=lambda t, p: [
            Expect("ExpectColumnValuesToBeBetween", {"column": "steps", "min_value": 1}),
            Expect("ExpectColumnValuesToNotBeNull", {"column": "final_loss"}),  # NaN included
            Expect(
                "ExpectColumnValuesToBeBetween",
                {"column": "final_loss", "min_value": 0, "max_value": 1e6},
            ),
            Expect(
                "ExpectColumnValuesToBeBetween",
                {"column": "temperature", "min_value": 0.0099, "max_value": 1.0},
            ),
        ],
    ),
    CheckDef(
        name="clip_training_ran_all_steps",
        table="stats",
        description="Every planned training step ran: the wall-clock safety net (max_seconds) "
        "did not cut training short. Blocking: a model that depends on how busy the machine was "
        "must not reach the embeddings.",
        expectations=lambda t, p: [
            Expect(
                "ExpectColumnPairValuesToBeEqual",
                {"column_A": "total_steps", "column_B": "total_planned_steps"},
            )
        ],
    ),
    CheckDef(
        name="clip_training_beats_chance",
        table="stats",
        description="The final contrastive loss is below chance, ln(effective batch size).",
        expectations=lambda t, p: [
            Expect(
                "ExpectColumnValuesToBeBetween",
                {"column": "final_loss", "max_value": math.log(max(p["batch"], 2))},
            )
        ],
        severity="WARN",
        blocking=False,
    ),
)
