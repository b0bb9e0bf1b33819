"""Distribution drift: small profiles of a partition's data, compared with a reference.

A *profile* is a JSON-able mapping ``name -> distribution`` where a distribution is either
categorical counts (``{"kind": "categorical", "counts": {label: n}}``, e.g. the decision
reasons, which gives the kept ratio per reason) or a fixed-bin histogram
(``{"kind": "histogram", "edges": [...], "counts": [...]}``, e.g. sentence word counts, image
widths, retrieval scores, relative cluster sizes). Fixed edges make profiles of different
partitions and materializations comparable without keeping the data.

Two profiles are compared distribution by distribution with the Jensen-Shannon *distance*
(base 2, so in [0, 1]; symmetric and finite on empty bins, unlike KL) and a chi-square test of
homogeneity on the 2 x k contingency table of counts. A distribution drifts when the distance
reaches a threshold **and** the difference is significant (p < ``alpha``): small partitions do
not alert on noise, and huge ones do not alert on trivial differences. Distributions with fewer
than ``min_count`` observations on either side are reported as not compared.

The profile also records the parameters the stage ran with; a reference made with other
parameters is not compared (a deliberate filter change is not drift). Once assessed, a profile
records its level; partitions that drifted are left out of later rolling windows, so one bad
shard does not become the norm (if a source changes for good, its alerts continue until the
thresholds are changed).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from scipy.spatial.distance import jensenshannon
from scipy.stats import chi2_contingency

Level = Literal["ok", "WARN", "ERROR"]

WORD_COUNT_EDGES = [0, 3, 5, 8, 12, 16, 20, 30, 40, 60, 82, 120, 200, 10**6]
IMAGE_SIDE_EDGES = [0, 64, 128, 200, 256, 384, 512, 768, 1024, 1600, 2400, 10**6]
SCORE_EDGES = [round(-1.0 + 0.05 * i, 2) for i in range(41)]
ENTROPY_EDGES = [0.0, 0.3, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 5.0, 100.0]
RELATIVE_SIZE_EDGES = [0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 3.0, 5.0, 1e9]


@dataclass(frozen=True)
class DriftParams:
    """Thresholds on the Jensen-Shannon distance; significance and minimum sample size."""

    warn_distance: float = 0.10
    error_distance: float = 0.25
    alpha: float = 0.01
    min_count: int = 30
    window: int = 8  # recent partitions pooled into the rolling reference

    def __post_init__(self) -> None:
        if not 0 < self.warn_distance <= self.error_distance <= 1:
            raise ValueError(
                "drift thresholds need 0 < warn_distance <= error_distance <= 1, got "
                f"{self.warn_distance} / {self.error_distance}"
            )
        if not 0 < self.alpha < 1 or self.min_count < 1 or self.window < 1:
            raise ValueError(f"invalid drift parameters {self}")


def categorical(values: Iterable[Any]) -> dict:
    """Counts per label; ``None`` is counted under ``"null"``."""
    counts: dict[str, int] = {}
    for v in values:
        label = "null" if v is None else str(v)
        counts[label] = counts.get(label, 0) + 1
    return {"kind": "categorical", "counts": dict(sorted(counts.items()))}


def histogram(values: Sequence[float] | np.ndarray, edges: Sequence[float]) -> dict:
    """Counts per bin ``[edges[i], edges[i+1])``; values outside the edges go to the end bins."""
    arr = np.asarray(values, dtype=np.float64)
    arr = arr[np.isfinite(arr)]
    e = np.asarray(edges, dtype=np.float64)
    idx = np.clip(np.searchsorted(e, arr, side="right") - 1, 0, len(e) - 2)
    counts = np.bincount(idx, minlength=len(e) - 1)
    return {"kind": "histogram", "edges": [float(x) for x in e], "counts": counts.tolist()}


def relative_sizes(sizes: Sequence[int] | np.ndarray) -> dict:
    """Histogram of cluster sizes divided by their mean: the shape of a size distribution,
    comparable across k-means refits whose cluster ids and counts differ."""
    arr = np.asarray(sizes, dtype=np.float64)
    rel = arr / arr.mean() if arr.size and arr.mean() > 0 else arr
    return histogram(rel, RELATIVE_SIZE_EDGES)


def params_digest(params: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:12]


def profile(distributions: Mapping[str, dict], params: Mapping[str, Any]) -> dict:
    """A partition's profile: its distributions plus the digest of the parameters used."""
    return {"params": params_digest(params), "distributions": dict(distributions)}


def _aligned(cur: dict, ref: dict) -> tuple[np.ndarray, np.ndarray] | None:
    if cur["kind"] != ref["kind"]:
        return None
    if cur["kind"] == "histogram":
        if cur["edges"] != ref["edges"]:
            return None
        return np.asarray(cur["counts"], float), np.asarray(ref["counts"], float)
    labels = sorted(set(cur["counts"]) | set(ref["counts"]))
    return (
        np.asarray([cur["counts"].get(k, 0) for k in labels], float),
        np.asarray([ref["counts"].get(k, 0) for k in labels], float),
    )


def pool(distributions: Sequence[dict]) -> dict | None:
    """Sum several partitions' counts of one distribution (the rolling-window reference)."""
    if not distributions:
        return None
    first = distributions[0]
    if first["kind"] == "histogram":
        same = [
            d for d in distributions if d["kind"] == "histogram" and d["edges"] == first["edges"]
        ]
        counts = np.sum([d["counts"] for d in same], axis=0)
        return {"kind": "histogram", "edges": first["edges"], "counts": counts.tolist()}
    total: dict[str, int] = {}
    for d in distributions:
        if d["kind"] != "categorical":
            continue
        for k, n in d["counts"].items():
            total[k] = total.get(k, 0) + n
    return {"kind": "categorical", "counts": dict(sorted(total.items()))}


@dataclass
class Comparison:
    name: str
    reference: str
    level: Level
    distance: float | None = None
    p_value: float | None = None
    n_current: int = 0
    n_reference: int = 0
    note: str = ""

    def as_dict(self) -> dict:
        return {
            "distribution": self.name,
            "reference": self.reference,
            "level": self.level,
            "js_distance": None if self.distance is None else round(self.distance, 4),
            "p_value": None if self.p_value is None else float(f"{self.p_value:.3g}"),
            "n_current": self.n_current,
            "n_reference": self.n_reference,
            "note": self.note,
        }


def compare(name: str, cur: dict, ref: dict, reference: str, params: DriftParams) -> Comparison:
    """One distribution against its reference: distance, significance and level."""
    aligned = _aligned(cur, ref)
    if aligned is None:
        return Comparison(name, reference, "ok", note="bins differ; not compared")
    a, b = aligned
    na, nb = int(a.sum()), int(b.sum())
    if min(na, nb) < params.min_count:
        return Comparison(
            name, reference, "ok", n_current=na, n_reference=nb, note="too few observations"
        )
    distance = float(jensenshannon(a / na, b / nb, base=2))
    used = (a + b) > 0
    if used.sum() < 2:
        p = 1.0
    else:
        p = float(chi2_contingency(np.vstack([a[used], b[used]]))[1])
    level: Level = "ok"
    if p < params.alpha and distance >= params.error_distance:
        level = "ERROR"
    elif p < params.alpha and distance >= params.warn_distance:
        level = "WARN"
    return Comparison(name, reference, level, distance, p, na, nb)


@dataclass
class DriftReport:
    level: Level
    comparisons: list[Comparison] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def drifted(self) -> list[Comparison]:
        return [c for c in self.comparisons if c.level != "ok"]

    def summary(self) -> str:
        if not self.comparisons:
            return "; ".join(self.notes) or "no reference to compare with"
        if not self.drifted:
            worst = max(self.comparisons, key=lambda c: c.distance or 0.0)
            return (
                f"no drift: {len(self.comparisons)} comparison(s), largest JS distance "
                f"{worst.distance or 0.0:.3f} ({worst.name} vs {worst.reference})"
            )
        parts = [
            f"{c.name} vs {c.reference}: JS {c.distance:.3f}, p={c.p_value:.2g} ({c.level})"
            for c in self.drifted
        ]
        return "drift: " + "; ".join(parts)


_RANK = {"ok": 0, "WARN": 1, "ERROR": 2}


def assess(
    current: dict,
    previous: dict | None,
    window: Sequence[dict],
    params: DriftParams = DriftParams(),
) -> DriftReport:
    """Compare a profile with the previous materialization of the same partition and with the
    pooled profiles of recent other partitions (``window``). References made with other
    parameters are skipped and noted."""
    comparisons: list[Comparison] = []
    notes: list[str] = []
    dists = current["distributions"]
    if previous is not None:
        if previous.get("params") != current["params"]:
            notes.append("previous materialization used other parameters; not compared")
        else:
            for name, dist in dists.items():
                if name in previous["distributions"]:
                    comparisons.append(
                        compare(name, dist, previous["distributions"][name], "previous", params)
                    )
    recent = window[: params.window]
    same = [w for w in recent if w.get("params") == current["params"]]
    if len(same) < len(recent):
        notes.append(f"{len(recent) - len(same)} recent partition(s) used other parameters")
    clean = [w for w in same if w.get("level", "ok") == "ok"]
    if len(clean) < len(same):  # a drifted partition must not become the norm
        notes.append(f"{len(same) - len(clean)} recent partition(s) left out: they drifted")
    same = clean
    if same:
        for name, dist in dists.items():
            pooled = pool([w["distributions"][name] for w in same if name in w["distributions"]])
            if pooled is not None:
                comparisons.append(
                    compare(name, dist, pooled, f"window of {len(same)} partition(s)", params)
                )
    level: Level = max((c.level for c in comparisons), key=_RANK.__getitem__, default="ok")
    return DriftReport(level, comparisons, notes)


def source_of(partition_key: str | None) -> str | None:
    """The source a shard's profiles are compared within: a file shard's folder
    (``world/obelics/world-00001.parquet`` -> ``world/obelics``; a file at the corpus root ->
    ``""``), and an HTML folder shard itself (``docs.python.org/3`` -> ``docs.python.org/3``):
    each folder of pages is a site of its own, never pooled with its siblings. A shard is a
    file when its name has a reader's file suffix (``realsyn.readers.dispatch.FILE_FORMATS``)."""
    if partition_key is None:
        return None
    from realsyn.readers.dispatch import FILE_FORMATS

    if not partition_key.lower().endswith(tuple(FILE_FORMATS)):
        return partition_key
    return partition_key.rsplit("/", 1)[0] if "/" in partition_key else ""


# -- the profiles each stage publishes ---------------------------------------------------------


def _reasons(frame) -> dict:
    """Decision reasons, with kept rows under ``"kept"``: the kept ratio per reason."""
    return categorical("kept" if r is None else r for r in frame["reason"].to_list())


def documents_profile(documents, items, rejected, params: Mapping[str, Any]) -> dict:
    per_doc = documents["n_texts"].to_numpy() + documents["n_images"].to_numpy()
    return profile(
        {
            "item_kind": categorical(items["kind"].to_list()),
            "items_per_document": histogram(per_doc, [0, 1, 2, 5, 10, 20, 50, 100, 200, 10**6]),
            "record_outcome": categorical(
                ["parsed"] * documents.height + rejected["reason"].to_list()
            ),
        },
        params,
    )


def images_profile(images, params: Mapping[str, Any]) -> dict:
    decoded = images.filter(images["width"].is_not_null())
    return profile(
        {
            "reason": _reasons(images),
            "width": histogram(decoded["width"].to_numpy(), IMAGE_SIDE_EDGES),
            "height": histogram(decoded["height"].to_numpy(), IMAGE_SIDE_EDGES),
        },
        params,
    )


def sentences_profile(sentences, params: Mapping[str, Any]) -> dict:
    return profile(
        {
            "reason": _reasons(sentences),
            "n_words": histogram(sentences["n_words"].to_numpy(), WORD_COUNT_EDGES),
        },
        params,
    )


def semantics_profile(semantics, params: Mapping[str, Any]) -> dict:
    return profile(
        {
            "reason": _reasons(semantics),
            "entropy": histogram(semantics["entropy"].drop_nulls().to_numpy(), ENTROPY_EDGES),
        },
        params,
    )


def retrieval_profile(pairs, params: Mapping[str, Any]) -> dict:
    return profile(
        {
            f"score{j}": histogram(pairs[f"score{j}"].drop_nulls().to_numpy(), SCORE_EDGES)
            for j in (1, 3)
        },
        params,
    )


def cluster_profile(sizes, params: Mapping[str, Any]) -> dict:
    return profile({"relative_cluster_size": relative_sizes(sizes)}, params)


def pool_profile(cosines, sizes, params: Mapping[str, Any]) -> dict:
    return profile(
        {
            "pair_cosine": histogram(cosines, SCORE_EDGES),
            "relative_cluster_size": relative_sizes(sizes),
        },
        params,
    )
