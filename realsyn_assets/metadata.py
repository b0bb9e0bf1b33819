"""The order of an asset's metadata in the UI: what a user looks at first comes first.

Dagster lists materialization metadata in insertion order. The funnel, the plots and the
previews lead; the model and parameters follow; then the raw counts and shares (which Dagster
also plots over time and per partition), and last the machine-oriented entries (drift profile,
location, version).
"""

from collections.abc import Mapping, Sequence

import dagster as dg

from realsyn.report import shares

FIRST = ("funnel", "metrics_table")
PLOT_SUFFIXES = ("_plot", "_histogram", "_distances", "_sizes", "_curve")
PREVIEW_SUFFIXES = (
    "preview",
    "examples",
    "top_words",
    "per_shape_accuracy",
    "boilerplate_kept",
    "dataset_card",
)
IDENTITY = ("model", "params", "source_format", "captioner", "language_model", "source")
LAST = ("drift_profile", "location", "checkpoint", "version")


def _rank(key: str) -> int:
    if key in FIRST:
        return 0
    if key.endswith(PLOT_SUFFIXES) or key == "items_per_document":
        return 1
    if key.endswith(PREVIEW_SUFFIXES):
        return 2
    if key in IDENTITY:
        return 3
    if key in LAST:
        return 5
    return 4


def ui_order(metadata: Mapping[str, object]) -> dict[str, object]:
    """``metadata`` reordered for reading (stable within each rank)."""
    return dict(sorted(metadata.items(), key=lambda kv: _rank(kv[0])))


def share_values(
    stats: Mapping[str, int], total_key: str, keys: Sequence[str]
) -> dict[str, dg.MetadataValue]:
    """``<key>_share`` float entries (each count over ``stats[total_key]``), which Dagster plots
    per partition and over time."""
    return {k: dg.MetadataValue.float(v) for k, v in shares(stats, total_key, keys).items()}
