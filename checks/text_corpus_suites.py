"""GX suites of the corpus-wide text assets: word_frequencies, sentence_semantics and
sentence_dedup."""

from __future__ import annotations

import polars as pl

from checks.gx import KEEP, CheckDef, Expect, decision_consistency
from realsyn.schemas import (
    SEMANTIC_REASONS,
    SENTENCE_DEDUP_REASONS,
)


def _languages(words) -> int:
    return words["lang"].n_unique() if "lang" in words.columns else 1


WORD_FREQUENCIES_SUITE: tuple[CheckDef, ...] = (
    CheckDef(
        name="word_frequencies_words_unique",
        table="words",
        description="Every word is non-null and counted once (per language).",
        expectations=lambda t, p: [
            Expect("ExpectColumnValuesToNotBeNull", {"column": "word"}),
            Expect("ExpectCompoundColumnsToBeUnique", {"column_list": ["lang", "word"]})
            if "lang" in t["words"].columns
            else Expect("ExpectColumnValuesToBeUnique", {"column": "word"}),
        ],
    ),
    CheckDef(
        name="word_frequencies_probabilities_sum_to_one",
        table="words",
        description="Counts are positive; probabilities lie in (0, 1] and sum to 1 (in each "
        "language).",
        expectations=lambda t, p: [
            Expect("ExpectColumnValuesToBeBetween", {"column": "count", "min_value": 1}),
            Expect(
                "ExpectColumnValuesToBeBetween", {"column": "p", "min_value": 0, "max_value": 1}
            ),
            Expect(
                "ExpectColumnSumToBeBetween",
                {
                    "column": "p",
                    "min_value": 0.999 * _languages(t["words"]),
                    "max_value": 1.001 * _languages(t["words"]),
                },
            ),
        ],
    ),
)


SENTENCE_SEMANTICS_SUITE: tuple[CheckDef, ...] = (
    CheckDef(
        name="sentence_semantics_entropy_above_threshold",
        table="semantics",
        description="Kept sentences have word-frequency entropy >= min_entropy.",
        expectations=lambda t, p: [
            Expect(
                "ExpectColumnValuesToBeBetween",
                {"column": "entropy", "min_value": p["min_entropy"], **KEEP},
            ),
        ],
    ),
    CheckDef(
        name="sentence_semantics_perplexity_in_band",
        table="semantics",
        description="Kept sentences with a perplexity lie within [min_perplexity, max_perplexity].",
        expectations=lambda t, p: [
            Expect(
                "ExpectColumnValuesToBeBetween",
                {
                    "column": "perplexity",
                    "min_value": p["min_perplexity"],
                    "max_value": p["max_perplexity"],
                    **KEEP,
                },
            ),
        ],
    ),
    CheckDef(
        name="sentence_semantics_perplexity_applied",
        table="semantics",
        description="A language model scored perplexity; a warning when none is configured.",
        expectations=lambda t, p: [
            Expect("ExpectColumnValuesToNotBeNull", {"column": "perplexity"})
        ],
        severity="WARN",
        blocking=False,
    ),
    CheckDef(
        name="sentence_semantics_decision_consistent",
        table="semantics",
        description="A known reason is given exactly for dropped sentences.",
        prepare=lambda f: decision_consistency(f, "decision", lambda c: c == "keep"),
        expectations=lambda t, p: [
            Expect("ExpectColumnValuesToBeInSet", {"column": "consistent", "value_set": [True]}),
            Expect(
                "ExpectColumnValuesToBeInSet",
                {"column": "reason", "value_set": list(SEMANTIC_REASONS)},
            ),
        ],
    ),
)


def _survivors(tables: dict[str, pl.DataFrame]) -> list[str]:
    """The table's survivors, and ``other_survivors`` when checking one hash range of the
    bucketed dedup: the survivors of other ranges that this range's semantic duplicates name
    (each is checked to survive in its own range)."""
    own = tables["survival"].filter(pl.col("survives"))["sentence_id"]
    other = tables.get("other_survivors")
    return (pl.concat([own, other["sentence_id"]]) if other is not None else own).to_list()


SENTENCE_DEDUP_SUITE: tuple[CheckDef, ...] = (
    CheckDef(
        name="sentence_dedup_ids_unique",
        table="survival",
        description="Each sentence appears once in the survival table.",
        expectations=lambda t, p: [
            Expect("ExpectColumnValuesToNotBeNull", {"column": "sentence_id"}),
            Expect("ExpectColumnValuesToBeUnique", {"column": "sentence_id"}),
        ],
    ),
    CheckDef(
        name="sentence_dedup_duplicates_point_to_survivors",
        table="survival",
        description="duplicate_of always names a surviving sentence; survivors' texts differ.",
        expectations=lambda t, p: [
            Expect(
                "ExpectColumnValuesToBeInSet",
                {
                    "column": "duplicate_of",
                    "value_set": _survivors(t),
                },
            ),
            Expect(
                "ExpectColumnValuesToBeUnique",
                {"column": "norm_key", "row_condition": "survives==True"},
            ),
            Expect(
                "ExpectColumnValuesToBeInSet",
                {"column": "reason", "value_set": list(SENTENCE_DEDUP_REASONS)},
            ),
        ],
    ),
)


def check_dedup_range(table: pl.DataFrame, other_survivors: pl.Series):
    """SENTENCE_DEDUP_SUITE on one hash range's survival rows (a map task of sentence_dedup;
    GX is imported in the task's process)."""
    from checks.gx import run_suite

    others = pl.DataFrame({"sentence_id": other_survivors}, schema={"sentence_id": pl.String})
    return run_suite(SENTENCE_DEDUP_SUITE, {"survival": table, "other_survivors": others})
