"""GX outcomes as Dagster asset checks: specs declared on the asset, results returned with it."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import dagster as dg
import polars as pl

from checks.gx import CheckDef, run_suite


def check_specs(asset: str, suite: Sequence[CheckDef]) -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec(name=c.name, asset=asset, description=c.description, blocking=c.blocking)
        for c in suite
    ]


def check_results(
    asset: str,
    suite: Sequence[CheckDef],
    tables: dict[str, pl.DataFrame],
    params: Mapping[str, Any] | None = None,
) -> list[dg.AssetCheckResult]:
    results = []
    for outcome in run_suite(suite, tables, params):
        results.append(
            dg.AssetCheckResult(
                asset_key=asset,
                check_name=outcome.name,
                passed=outcome.passed,
                severity=dg.AssetCheckSeverity(outcome.severity),
                description=outcome.description,
                metadata={
                    "observed": dg.MetadataValue.json(
                        json.loads(json.dumps(outcome.observed, default=str))
                    )
                },
            )
        )
    return results


def merged_check_results(asset: str, parts: Sequence[Sequence[Any]]) -> list[dg.AssetCheckResult]:
    """One result per check from the outcomes of the same suite run on parts of a table (the
    hash ranges of a bucketed step): passed when every part passed; observed: the rows checked,
    the parts, and each failing part's own observations (the first 5)."""
    results = []
    for outcomes in zip(*parts, strict=True):
        first = outcomes[0]
        failing = [(i, o) for i, o in enumerate(outcomes) if not o.passed]
        observed = {
            "rows": sum(o.observed.get("rows", 0) for o in outcomes),
            "parts": len(outcomes),
            "failing_parts": {str(i): o.observed for i, o in failing[:5]},
        }
        results.append(
            dg.AssetCheckResult(
                asset_key=asset,
                check_name=first.name,
                passed=not failing,
                severity=dg.AssetCheckSeverity(first.severity),
                description=first.description,
                metadata={
                    "observed": dg.MetadataValue.json(json.loads(json.dumps(observed, default=str)))
                },
            )
        )
    return results
