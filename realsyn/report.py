"""Human-readable summaries of stage stats (Markdown), shared by the UI metadata and the CLI."""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def funnel_markdown(stats: Mapping[str, int], total_key: str, rows: Sequence[str]) -> str:
    """A Markdown table of counts with their share of ``stats[total_key]``."""
    total = stats.get(total_key, 0) or 0
    lines = ["| stage | count | share |", "|---|---:|---:|"]
    for key in rows:
        value = stats.get(key, 0) or 0
        share = f"{100.0 * value / total:.1f}%" if total else "-"
        lines.append(f"| {key} | {value:,} | {share} |")
    return "\n".join(lines)


def preview_markdown(
    records: Sequence[Mapping], columns: Sequence[str], width: int = 60, raw: Sequence[str] = ()
) -> str:
    """A small Markdown table of example rows; long cells are cut to ``width`` characters.

    Columns named in ``raw`` hold Markdown (e.g. a thumbnail image) and are written as they are.
    """

    def cell(value, column: str = "") -> str:
        text = "" if value is None else str(value)
        if column in raw:
            return text
        text = text.replace("|", "\\|").replace("\n", " ")
        return text if len(text) <= width else text[: width - 1] + "…"

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(r.get(c), c) for c in columns) + " |" for r in records]
    return "\n".join(lines)


def histogram_markdown(values: Sequence[float], edges: Sequence[float], label: str) -> str:
    """A Markdown histogram: one row per bin [edge_i, edge_i+1), with a bar of block characters."""
    counts = [0] * (len(edges) - 1)
    for v in values:
        for i in range(len(edges) - 1):
            if edges[i] <= v < edges[i + 1]:
                counts[i] += 1
                break
    peak = max(counts) or 1
    lines = [f"| {label} | count | |", "|---|---:|---|"]
    for i, n in enumerate(counts):
        lines.append(f"| {edges[i]:g}–{edges[i + 1]:g} | {n:,} | {'█' * round(20 * n / peak)} |")
    return "\n".join(lines)


def shares(stats: Mapping[str, int], total_key: str, keys: Sequence[str]) -> dict[str, float]:
    """``<key>_share`` = ``stats[key] / stats[total_key]`` for each key (0 when the total is 0).

    Published as float metadata, Dagster plots them per partition and over time: drift plots of
    the keep rate and each drop reason across shards, for free.
    """
    total = stats.get(total_key, 0) or 0
    return {f"{k}_share": (stats.get(k, 0) or 0) / total if total else 0.0 for k in keys}
