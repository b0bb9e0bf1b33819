"""GX suites of sentence_clusters and retrieval_pairs."""

from __future__ import annotations

from checks.gx import CheckDef, Expect


def three_texts_check(name: str, table: str) -> CheckDef:
    """text1..text3 present on every row that records no ``short_reason``."""
    return CheckDef(
        name=name,
        table=table,
        description="Every row has text1..text3, or a recorded reason why fewer exist.",
        expectations=lambda t, p: [
            Expect(
                "ExpectColumnValuesToNotBeNull",
                {"column": c, "row_condition": "short_reason.isnull()"},
            )
            for c in ("text1", "text2", "text3")
        ],
    )


RETRIEVAL_PAIRS_SUITE: tuple[CheckDef, ...] = (
    CheckDef(
        name="retrieval_pairs_every_survivor_has_a_row",
        table="pairs",
        description="Exactly one row per surviving image of the shard.",
        expectations=lambda t, p: [
            Expect("ExpectTableRowCountToEqual", {"value": p.get("survivors", -1)}),
            Expect("ExpectColumnValuesToBeUnique", {"column": "image_id"}),
            Expect(
                "ExpectColumnValuesToBeInSet",
                {"column": "image_id", "value_set": p.get("survivor_ids", [])},
            ),
        ],
    ),
    three_texts_check("retrieval_pairs_three_texts", "pairs"),
    CheckDef(
        name="retrieval_pairs_scores_ordered",
        table="pairs",
        description="Scores are cosines in [-1, 1] and score1 >= score2 >= score3.",
        prepare=lambda f: f.with_columns(
            ordered=((f["score1"] >= f["score2"]) & (f["score2"] >= f["score3"])).fill_null(True)
        ),
        expectations=lambda t, p: [
            Expect(
                "ExpectColumnValuesToBeBetween",
                {"column": "score1", "min_value": -1.0001, "max_value": 1.0001},
            ),
            Expect("ExpectColumnValuesToBeInSet", {"column": "ordered", "value_set": [True]}),
        ],
    ),
)

SENTENCE_CLUSTERS_SUITE: tuple[CheckDef, ...] = (
    CheckDef(
        name="sentence_clusters_every_sentence_assigned",
        table="members",
        description="Each surviving sentence is in exactly one cluster with a valid id.",
        expectations=lambda t, p: [
            Expect("ExpectColumnValuesToBeUnique", {"column": "sentence_id"}),
            Expect(
                "ExpectColumnValuesToBeBetween",
                {"column": "cluster", "min_value": 0, "max_value": p.get("k", 1) - 1},
            ),
            Expect("ExpectTableRowCountToEqual", {"value": p.get("survivors", -1)}),
        ],
    ),
)
