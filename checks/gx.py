"""The one module that talks to Great Expectations.

Suites are lists of :class:`CheckDef`: one property each, validated against a pandas frame in an
ephemeral GX context (GX 1.x has no polars datasource). Importing GX costs seconds, so it
happens on first use, not at import.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

import polars as pl

Severity = Literal["ERROR", "WARN"]


@dataclass(frozen=True)
class Expect:
    """One GX expectation by class name and its keyword arguments."""

    name: str
    kwargs: dict[str, Any]


@dataclass(frozen=True)
class CheckDef:
    """A named property of one table of an asset, checked by GX expectations.

    ``prepare`` derives columns the expectations need (e.g. how many image references an item
    has); ``expectations`` may depend on all tables (e.g. a set of known ids) and on the
    ``params`` the asset ran with (e.g. the size threshold it applied).
    """

    name: str
    table: str
    description: str
    expectations: Callable[[dict[str, pl.DataFrame], Mapping[str, Any]], Sequence[Expect]]
    prepare: Callable[[pl.DataFrame], pl.DataFrame] | None = None
    severity: Severity = "ERROR"
    blocking: bool = True


@dataclass
class CheckOutcome:
    name: str
    passed: bool
    severity: Severity
    description: str
    observed: dict[str, Any] = field(default_factory=dict)


@lru_cache(maxsize=1)
def _batch_definition():
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    source = context.data_sources.add_pandas("realsyn")
    return source.add_dataframe_asset("frame").add_batch_definition_whole_dataframe("batch")


def _expectation(spec: Expect):
    import great_expectations as gx

    cls = getattr(gx.expectations, spec.name)
    kwargs = dict(spec.kwargs)
    if "row_condition" in kwargs:
        kwargs.setdefault("condition_parser", "pandas")
    return cls(**kwargs)


def run_check(
    check: CheckDef, tables: dict[str, pl.DataFrame], params: Mapping[str, Any] | None = None
) -> CheckOutcome:
    """Validate one check; the outcome reports each failing expectation's counts."""
    frame = tables[check.table]
    if check.prepare is not None:
        frame = check.prepare(frame)
    binary = [c for c, t in frame.schema.items() if t == pl.Binary]
    pdf = frame.drop(binary).to_pandas()
    batch = _batch_definition().get_batch(batch_parameters={"dataframe": pdf})
    observed: dict[str, Any] = {"rows": frame.height}
    passed = True
    for spec in check.expectations(tables, params or {}):
        result = batch.validate(_expectation(spec))
        if not result.success:
            passed = False
            res = result.result or {}
            label = f"{spec.name}({spec.kwargs.get('column', '')})"
            observed[label] = {
                "unexpected_count": res.get("unexpected_count"),
                "unexpected_examples": [
                    str(v)[:80] for v in res.get("partial_unexpected_list", [])[:5]
                ],
                "observed_value": str(res.get("observed_value"))[:200]
                if "observed_value" in res
                else None,
            }
    return CheckOutcome(check.name, passed, check.severity, check.description, observed)


def run_suite(
    suite: Sequence[CheckDef],
    tables: dict[str, pl.DataFrame],
    params: Mapping[str, Any] | None = None,
) -> list[CheckOutcome]:
    return [run_check(check, tables, params) for check in suite]


def decision_consistency(frame: pl.DataFrame, flag: str, positive) -> pl.DataFrame:
    """``consistent``: the row's flag says keep exactly when it has no reason."""
    return frame.with_columns(
        consistent=(positive(pl.col(flag)) == pl.col("reason").is_null()).fill_null(False)
    )


# A row condition: the expectation holds for the kept rows only.
KEEP = {"row_condition": 'decision=="keep"'}
