"""GX suites of sentences: kept sentences within the filters' bounds, decisions with reasons."""

from __future__ import annotations

from checks.gx import KEEP, CheckDef, Expect, decision_consistency
from realsyn.language import CONTINUOUS_SCRIPT, rules_for
from realsyn.schemas import (
    PARSE_STATUSES,
    SENTENCE_REASONS,
)


def _word_bounds(p) -> list[Expect]:
    ja = rules_for("ja", p["min_words"], p["max_words"])
    others = f'{KEEP["row_condition"]} and lang!="ja" and lang not in {sorted(CONTINUOUS_SCRIPT)}'
    return [
        Expect(
            "ExpectColumnValuesToBeBetween",
            {"column": "n_words", "min_value": lo, "max_value": hi, "row_condition": rows},
        )
        for lo, hi, rows in (
            (p["min_words"], p["max_words"], others),
            (ja.min_words, ja.max_words, f'{KEEP["row_condition"]} and lang=="ja"'),
        )
    ]


SENTENCES_SUITE: tuple[CheckDef, ...] = (
    CheckDef(
        name="sentences_word_counts_within_bounds",
        table="sentences",
        description="Kept sentences have between min_words and max_words words (Japanese: "
        "the bounds mapped to morphemes; no bound for languages without a word counter).",
        expectations=lambda t, p: _word_bounds(p),
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
