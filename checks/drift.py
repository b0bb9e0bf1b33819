"""Drift checks: a partition's profile against the previous materialization of the same
partition and a rolling window of recent partitions from the same source, as Dagster checks.

The profile travels in the materialization's metadata (``drift_profile``), so the references
come from the instance's event log and nothing else needs storing. It is one compact line of
JSON text, last on the page: a JSON entry is pretty-printed by the UI one value per line, which
made every materialization page thousands of pixels tall. Partitions are grouped by
source: the shard key without its last component (``world/obelics/world-00001.parquet`` is
compared with other ``world/obelics`` shards, not with a WARC crawl).
"""

from __future__ import annotations

import json

import dagster as dg

from realsyn.drift import DriftParams, DriftReport, assess, source_of
from realsyn.report import preview_markdown

PROFILE_KEY = "drift_profile"
SCAN_LIMIT = 500  # recent materializations read to find the window's partitions


def drift_check_name(asset: str) -> str:
    return f"{asset}_distribution_stable"


def drift_spec(asset: str) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(
        name=drift_check_name(asset),
        asset=asset,
        description="Distributions (reasons, lengths, sizes, scores) match the previous "
        "materialization of this partition and recent partitions of the same source "
        "(Jensen-Shannon distance with a chi-square test; WARN / ERROR thresholds).",
        blocking=False,
    )


def source_group(partition_key: str | None) -> str | None:
    return source_of(partition_key)


def profile_metadata(profile: dict) -> dg.MetadataValue:
    """The profile as one compact line of JSON text (sorted keys, no spaces)."""
    return dg.MetadataValue.text(json.dumps(profile, sort_keys=True, separators=(",", ":")))


def profile_from_metadata(value) -> dict | None:
    """The profile of a ``drift_profile`` entry: a compact text line, or a JSON entry (how
    materializations recorded it before), else None."""
    data = getattr(value, "data", None)
    text = getattr(value, "text", None)
    if data is None and isinstance(text, str):
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            return None
    return data if isinstance(data, dict) and "distributions" in data else None


def _profile_of(record) -> dict | None:
    mat = record.asset_materialization
    return profile_from_metadata(mat.metadata.get(PROFILE_KEY) if mat is not None else None)


def references(
    instance: dg.DagsterInstance, asset: str, partition_key: str | None, window: int
) -> tuple[dict | None, list[dict]]:
    """(profile of the latest earlier materialization of this partition, latest profiles of up
    to ``window`` other partitions of the same source, newest first)."""
    key = dg.AssetKey(asset)
    previous = None
    flt = dg.AssetRecordsFilter(
        asset_key=key, asset_partitions=[partition_key] if partition_key else None
    )
    for record in instance.fetch_materializations(flt, limit=1).records:
        previous = _profile_of(record)
    others: list[dict] = []
    if partition_key is not None:
        group = source_group(partition_key)
        seen = {partition_key}
        for record in instance.fetch_materializations(key, limit=SCAN_LIMIT).records:
            pk = record.partition_key
            if pk in seen or source_group(pk) != group:
                continue
            seen.add(pk)
            prof = _profile_of(record)
            if prof is not None:
                others.append(prof)
            if len(others) >= window:
                break
    return previous, others


def drift_result(
    context: dg.AssetExecutionContext,
    asset: str,
    current: dict,
    params: DriftParams | None = None,
) -> tuple[dg.AssetCheckResult, DriftReport]:
    """Assess ``current`` (a :func:`realsyn.drift.profile`) and return the check result."""
    params = params or DriftParams()
    partition_key = context.partition_key if context.has_partition_key else None
    previous, window = references(context.instance, asset, partition_key, params.window)
    report = assess(current, previous, window, params)
    worst = max((c.distance or 0.0 for c in report.comparisons), default=0.0)
    rows = [c.as_dict() for c in report.comparisons]
    metadata = {
        "max_js_distance": dg.MetadataValue.float(worst),
        "comparisons": dg.MetadataValue.int(len(rows)),
        "thresholds": dg.MetadataValue.json(
            {"warn": params.warn_distance, "error": params.error_distance, "alpha": params.alpha}
        ),
    }
    if rows:
        metadata["details"] = dg.MetadataValue.md(
            preview_markdown(
                rows,
                ["distribution", "reference", "level", "js_distance", "p_value", "n_current"],
                width=40,
            )
        )
    if report.notes:
        metadata["notes"] = dg.MetadataValue.text("; ".join(report.notes))
    result = dg.AssetCheckResult(
        asset_key=asset,
        check_name=drift_check_name(asset),
        passed=report.level == "ok",
        severity=dg.AssetCheckSeverity.ERROR
        if report.level == "ERROR"
        else dg.AssetCheckSeverity.WARN,
        description=report.summary(),
        metadata=metadata,
    )
    return result, report


def drift_outputs(
    context: dg.AssetExecutionContext, asset: str, current: dict, params: DriftParams
) -> tuple[dict, list[dg.AssetCheckResult]]:
    """What an asset adds to its result: the profile as metadata, and the drift check."""
    result, report = drift_result(context, asset, current, params)
    if report.level != "ok":
        context.log.warning(f"{asset}: {report.summary()}")
    stored = {**current, "level": report.level}
    return {PROFILE_KEY: profile_metadata(stored)}, [result]
