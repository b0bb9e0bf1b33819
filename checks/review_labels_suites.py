"""GX suites of human_validation (one-row ``summary`` table): enough labels, raters who
agree, gold answered right, precision good enough to scale up."""

from __future__ import annotations

from checks.gx import CheckDef, Expect


def _at_least(column: str, param: str):
    return lambda t, p: [
        Expect("ExpectColumnValuesToBeBetween", {"column": column, "min_value": p[param]})
    ]


HUMAN_VALIDATION_SUITE: tuple[CheckDef, ...] = (
    CheckDef(
        name="human_validation_enough_labels",
        table="summary",
        description="At least min_labelled_items sampled items carry a label (gold excluded).",
        expectations=_at_least("labelled_items", "min_labelled_items"),
        severity="WARN",
        blocking=False,
    ),
    CheckDef(
        name="human_validation_rater_agreement_usable",
        table="summary",
        description="Cohen's kappa on double-labelled texts is at least kappa_error (0.4): below, "
        "the raters disagree too much for the round to mean anything (no double-labelled texts fails).",
        expectations=lambda t, p: [
            Expect("ExpectColumnValuesToNotBeNull", {"column": "kappa"}),
            *_at_least("kappa", "kappa_error")(t, p),
        ],
        severity="ERROR",
        blocking=False,
    ),
    CheckDef(
        name="human_validation_rater_agreement_good",
        table="summary",
        description="Cohen's kappa on double-labelled texts is at least kappa_warn (0.6).",
        expectations=_at_least("kappa", "kappa_warn"),
        severity="WARN",
        blocking=False,
    ),
    CheckDef(
        name="human_validation_gold_accuracy",
        table="summary",
        description="Raters answer the gold items right at least min_gold_accuracy of the time.",
        expectations=_at_least("gold_accuracy", "min_gold_accuracy"),
        severity="WARN",
        blocking=False,
    ),
    CheckDef(
        name="human_validation_precision_floor",
        table="summary",
        description="The population-weighted precision@1's lower 95% bound is at least "
        "min_precision_at_1: below, the pairs are not good enough to scale up.",
        expectations=_at_least("p1_weighted_low", "min_precision_at_1"),
    ),
)
