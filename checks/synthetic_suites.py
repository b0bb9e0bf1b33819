"""GX suites of synthetic_texts: every pair got its syn_text (a warning: the captioner is
optional)."""

from __future__ import annotations

from checks.gx import CheckDef, Expect

SYNTHETIC_TEXTS_SUITE: tuple[CheckDef, ...] = (
    CheckDef(
        name="synthetic_texts_applied",
        table="syn",
        description="Every pair got a syn_text; a warning when no captioner is configured or "
        "an endpoint failed (the reason column says which).",
        expectations=lambda t, p: [Expect("ExpectColumnValuesToNotBeNull", {"column": "syn_text"})],
        severity="WARN",
        blocking=False,
    ),
)
