"""GX suites of the corpus-wide and model assets: word_frequencies, balanced_pool, release and
clip_training (the blocking ones sit before the expensive steps that read them)."""

from __future__ import annotations

import math

from checks.gx import CheckDef, Expect

WORD_FREQUENCIES_SUITE: tuple[CheckDef, ...] = (
    CheckDef(
        name="word_frequencies_words_unique",
        table="words",
        description="Every word is non-null and counted once.",
        expectations=lambda t, p: [
            Expect("ExpectColumnValuesToNotBeNull", {"column": "word"}),
            Expect("ExpectColumnValuesToBeUnique", {"column": "word"}),
        ],
    ),
    CheckDef(
        name="word_frequencies_probabilities_sum_to_one",
        table="words",
        description="Counts are positive; probabilities lie in (0, 1] and sum to 1.",
        expectations=lambda t, p: [
            Expect("ExpectColumnValuesToBeBetween", {"column": "count", "min_value": 1}),
            Expect(
                "ExpectColumnValuesToBeBetween", {"column": "p", "min_value": 0, "max_value": 1}
            ),
            Expect(
                "ExpectColumnSumToBeBetween",
                {"column": "p", "min_value": 0.999, "max_value": 1.001},
            ),
        ],
    ),
)

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
