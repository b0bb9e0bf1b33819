"""GX suites of the text stage: sentences, sentence_semantics and sentence_dedup."""

from __future__ import annotations

import polars as pl

from checks.gx import CheckDef, Expect
from checks.suites import decision_consistency
from realsyn.schemas import (
    PARSE_STATUSES,
    SEMANTIC_REASONS,
    SENTENCE_DEDUP_REASONS,
    SENTENCE_REASONS,
)

KEEP = {"row_condition": 'decision=="keep"'}

SENTENCES_SUITE: tuple[CheckDef, ...] = (
    CheckDef(
        name="sentences_word_counts_within_bounds",
        table="sentences",
        description="Kept sentences have between min_words and max_words words.",
        expectations=lambda t, p: [
            Expect(
                "ExpectColumnValuesToBeBetween",
                {
                    "column": "n_words",
                    "min_value": p["min_words"],
                    "max_value": p["max_words"],
                    **KEEP,
                },
            )
        ],
    ),
    CheckDef(
        name="sentences_no_url_or_emoji_kept",
        table="sentences",
        description="No kept sentence contains a URL or an emoji.",
        expectations=lambda t, p: [
            Expect("ExpectColumnValuesToBeInSet", {"column": c, "value_set": [False], **KEEP})
            for c in ("has_url", "has_emoji")
        ],
    ),
    CheckDef(
        name="sentences_ids_unique",
        table="sentences",
        description="sentence_id is non-null and unique.",
        expectations=lambda t, p: [
            Expect("ExpectColumnValuesToNotBeNull", {"column": "sentence_id"}),
            Expect("ExpectColumnValuesToBeUnique", {"column": "sentence_id"}),
        ],
    ),
    CheckDef(
        name="sentences_provenance_complete",
        table="sentences",
        description="Every sentence names its document, item position and sentence index.",
        expectations=lambda t, p: [
            Expect("ExpectColumnValuesToNotBeNull", {"column": c})
            for c in ("doc_id", "position", "sentence_index", "shard")
        ],
    ),
    CheckDef(
        name="sentences_decision_consistent",
        table="sentences",
        description="A known reason is given exactly for dropped sentences; parse statuses known.",
        prepare=lambda f: decision_consistency(f, "decision", lambda c: c == "keep"),
        expectations=lambda t, p: [
            Expect("ExpectColumnValuesToBeInSet", {"column": "consistent", "value_set": [True]}),
            Expect(
                "ExpectColumnValuesToBeInSet",
                {"column": "reason", "value_set": list(SENTENCE_REASONS)},
            ),
            Expect(
                "ExpectColumnValuesToBeInSet",
                {"column": "parse_status", "value_set": list(PARSE_STATUSES)},
            ),
        ],
    ),
    CheckDef(
        name="sentences_cat_applied",
        table="sentences",
        description="The CAT rule ran (a parser is installed); a warning when it did not.",
        expectations=lambda t, p: [
            Expect(
                "ExpectColumnValuesToNotBeInSet",
                {"column": "parse_status", "value_set": ["unavailable"]},
            )
        ],
        severity="WARN",
        blocking=False,
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
                    "value_set": t["survival"].filter(pl.col("survives"))["sentence_id"].to_list(),
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
