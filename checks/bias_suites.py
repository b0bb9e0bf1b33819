"""GX suites of bias_report: the release within its cap, no cluster over-represented."""

from __future__ import annotations

from checks.gx import CheckDef, Expect

BIAS_REPORT_SUITE: tuple[CheckDef, ...] = (
    CheckDef(
        name="bias_report_release_within_cap",
        table="clusters",
        description="No image cluster has more release rows than the scale's cap t.",
        expectations=lambda t, p: [
            Expect("ExpectColumnValuesToBeBetween", {"column": "release", "max_value": p["t"]})
        ],
    ),
    CheckDef(
        name="bias_report_top_cluster_share",
        table="clusters",
        description="No image cluster holds more than max_over_uniform times its fair share "
        "(1 / clusters) of the release.",
        expectations=lambda t, p: [
            Expect(
                "ExpectColumnValuesToBeBetween",
                {"column": "release_over_uniform", "max_value": p["max_over_uniform"]},
            )
        ],
        severity="WARN",
        blocking=False,
    ),
)
