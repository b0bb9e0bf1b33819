"""What a review round's labels say: precision with intervals, agreement, gold accuracy, the band.

* :func:`wilson`: the Wilson score interval of a proportion (95% by default).
* :func:`cohen_kappa`: chance-corrected agreement of two raters on the same items.
* :func:`validate_round`: precision@1, @3 and syn_text precision per stratum, the
  population-weighted overall figure, kappa on double-labelled items, accuracy on gold,
  labelling time, and precision by cosine bin with a recommended band.
* :func:`scope_comparison`: precision@1 per retrieval scope (Wilson 95%) and the winner: the
  scope whose interval's lower bound is above every other scope's estimate, else none.
* :func:`recommended_params_toml`: the band as a ``REALSYN_PARAMS`` file.

The overall figures, the bins and the band are the released scope's items' (what the release
holds); the other scopes' items only feed the comparison and the per-stratum table.

A text counts as correct when labelled ``describes``; ``partly`` counts as not. Each (item,
field) gets one judgement for precision: copy 0's, else the lowest copy's (the second rater
of a double-labelled item only feeds kappa). Gold items feed only rater accuracy.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from realsyn.review import CHOICES

Z95 = 1.959963984540054


@dataclass(frozen=True)
class ValidationParams:
    band_bins: int = 8  # equal-count cosine bins for the recommended band
    band_target: float = 0.5  # each bin's Wilson lower bound of pair precision must clear it
    z: float = Z95


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float, float]:
    """(estimate, low, high) of a proportion ``k / n``; (nan, 0, 1) when ``n`` is 0."""
    if n <= 0:
        return float("nan"), 0.0, 1.0
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return p, max(0.0, centre - half), min(1.0, centre + half)


def cohen_kappa(a: Sequence[str], b: Sequence[str], categories: Sequence[str] = CHOICES) -> float:
    """Cohen's kappa of two raters' labels on the same items (nan without items; 1.0 when both
    always give the same single label, where chance agreement is already 1)."""
    if len(a) != len(b):
        raise ValueError(f"two raters need the same items: {len(a)} vs {len(b)} labels")
    n = len(a)
    if n == 0:
        return float("nan")
    observed = sum(x == y for x, y in zip(a, b, strict=True)) / n
    expected = sum((list(a).count(c) / n) * (list(b).count(c) / n) for c in categories)
    if expected >= 1.0:
        return 1.0 if observed >= 1.0 else 0.0
    return (observed - expected) / (1 - expected)


def _first_judgements(labels: pl.DataFrame) -> pl.DataFrame:
    """One label per (item, field): the lowest copy's, then the lowest annotation id."""
    return labels.sort("item_id", "field", "copy", "annotation_id", nulls_last=True).unique(
        ["item_id", "field"], keep="first", maintain_order=True
    )


def _ci_row(name: str, key: str, k: int, n: int, z: float) -> dict:
    p, lo, hi = wilson(k, n, z)
    return {name: key, "n": n, "correct": k, "precision": p, "low": lo, "high": hi}


def _per_stratum(items: pl.DataFrame, judged: pl.DataFrame, z: float) -> pl.DataFrame:
    wide = judged.with_columns((pl.col("label") == "describes").alias("ok"))
    rows = []
    for (stratum,), part in items.group_by("stratum", maintain_order=True):
        ids = part["item_id"]
        j = wide.filter(pl.col("item_id").is_in(ids))
        at1 = j.filter(pl.col("field") == "text1")
        at3 = j.filter(pl.col("field").is_in(["text1", "text2", "text3"]))
        syn = j.filter(pl.col("field") == "syn_text")
        row = {
            "stratum": stratum,
            "cosine_bin": part["cosine_bin"][0],
            "source_format": part["source_format"][0],
            "size_class": part["size_class"][0],
            "scope": part["scope"][0],
            "released": bool(part["released"][0]),
            "population": int(part["stratum_population"][0]),
            "items": part.height,
        }
        for prefix, sel in (("p1", at1), ("p3", at3), ("syn", syn)):
            p, lo, hi = wilson(int(sel["ok"].sum()), sel.height, z)
            row.update(
                {f"{prefix}_n": sel.height, prefix: p, f"{prefix}_low": lo, f"{prefix}_high": hi}
            )
        rows.append(row)
    return pl.DataFrame(rows).sort("stratum") if rows else pl.DataFrame()


def weighted_overall(strata: pl.DataFrame, prefix: str, z: float = Z95) -> dict:
    """The population-weighted precision over the strata that have labels, with a normal
    interval from the stratified variance (sum of w^2 p(1-p)/n); the weights cover only the
    labelled strata (``coverage`` says which share of the population that is)."""
    s = strata.filter(pl.col(f"{prefix}_n") > 0) if strata.height else strata
    total = int(strata["population"].sum()) if strata.height else 0
    if s.height == 0:
        return {"estimate": float("nan"), "low": 0.0, "high": 1.0, "coverage": 0.0}
    w = s["population"].to_numpy() / s["population"].sum()
    p, n = s[prefix].to_numpy(), s[f"{prefix}_n"].to_numpy()
    est = float((w * p).sum())
    se = float(math.sqrt((w**2 * p * (1 - p) / n).sum()))
    return {
        "estimate": est,
        "low": max(0.0, est - z * se),
        "high": min(1.0, est + z * se),
        "coverage": float(s["population"].sum() / total),
    }


def kappa_on_doubles(labels: pl.DataFrame) -> dict:
    """Kappa between copy 0 and copy 1 over every (item, field) judged in both; also how many
    of those pairs one rater gave twice (not independent: said, not hidden)."""
    a = labels.filter(pl.col("copy") == 0).unique(["item_id", "field"], keep="first")
    b = labels.filter(pl.col("copy") == 1).unique(["item_id", "field"], keep="first")
    both = a.join(b, on=["item_id", "field"], suffix="_b").sort("item_id", "field")
    return {
        "kappa": cohen_kappa(both["label"].to_list(), both["label_b"].to_list()),
        "kappa_pairs": both.height,
        "same_rater_pairs": int((both["rater"] == both["rater_b"]).sum()) if both.height else 0,
    }


def gold_accuracy(labels: pl.DataFrame, gold: pl.DataFrame) -> pl.DataFrame:
    """Per rater (and ``all``): answers on gold items and the share that match the truth."""
    j = labels.join(gold, on=["item_id", "field"], suffix="_gold")
    if j.height == 0:
        return pl.DataFrame(
            schema={"rater": pl.String, "answers": pl.Int64, "accuracy": pl.Float64}
        )
    j = j.with_columns(
        (pl.col("label") == pl.col("label_gold")).alias("ok"), pl.col("rater").fill_null("unknown")
    )
    per = j.group_by("rater").agg(pl.len().alias("answers"), pl.col("ok").mean().alias("accuracy"))
    total = pl.DataFrame(
        {"rater": ["all"], "answers": [j.height], "accuracy": [float(j["ok"].mean())]}
    )
    return pl.concat([per.sort("rater"), total], how="vertical_relaxed")


def lead_times(labels: pl.DataFrame) -> dict:
    """Seconds per labelled task (one annotation): median and p90 from Label Studio's lead_time."""
    per = labels.unique(["item_id", "copy", "annotation_id"]).drop_nulls("lead_time")["lead_time"]
    if per.len() == 0:
        return {
            "lead_time_median_s": float("nan"),
            "lead_time_p90_s": float("nan"),
            "timed_tasks": 0,
        }
    x = per.to_numpy()
    return {
        "lead_time_median_s": float(np.median(x)),
        "lead_time_p90_s": float(np.quantile(x, 0.9)),
        "timed_tasks": int(len(x)),
    }


def precision_by_bin(
    items: pl.DataFrame, judged: pl.DataFrame, params: ValidationParams
) -> pl.DataFrame:
    """Pair precision (the label of the text the band is on: syn_text, else text1) in
    equal-count bins of the pair cosine, each with its Wilson interval."""
    pair = items.join(
        judged.select("item_id", "field", "label"),
        left_on=["item_id", "pair_text"],
        right_on=["item_id", "field"],
    ).sort("pair_cosine", "item_id")
    if pair.height == 0:
        return pl.DataFrame()
    chunks = np.array_split(np.arange(pair.height), min(params.band_bins, pair.height))
    cos, ok = pair["pair_cosine"].to_numpy(), (pair["label"] == "describes").to_numpy()
    rows = []
    for i, idx in enumerate(chunks):
        p, lo, hi = wilson(int(ok[idx].sum()), len(idx), params.z)
        rows.append({"bin": i, "cosine_low": float(cos[idx].min()), "cosine_high": float(cos[idx].max()),
                     "n": len(idx), "precision": p, "low": lo, "high": hi})  # fmt: skip
    return pl.DataFrame(rows)


def recommended_band(bins: pl.DataFrame, target: float) -> tuple[float, float] | None:
    """The widest run of adjacent bins whose lower bounds all clear ``target`` (ties: more
    labels, then the lower run); None when no bin does."""
    if bins.height == 0:
        return None
    good = (bins["low"] >= target).to_list()
    n = bins["n"].to_list()
    best: tuple[int, int, int] | None = None  # (length, labels, -start)
    start = None
    for i, g in enumerate([*good, False]):
        if g and start is None:
            start = i
        elif not g and start is not None:
            key = (i - start, sum(n[start:i]), -start)
            if best is None or key > best:
                best = key
            start = None
    if best is None:
        return None
    first = -best[2]
    last = first + best[0] - 1
    return float(bins["cosine_low"][first]), float(bins["cosine_high"][last])


def scope_comparison(
    items: pl.DataFrame, judged: pl.DataFrame, strata: pl.DataFrame, z: float = Z95
) -> pl.DataFrame:
    """Per scope: precision@1 of its labelled items with the Wilson interval (each scope gets
    the same share of every stratum, so the plain proportions compare like with like), and
    the population-weighted estimate over its strata. ``sampled`` counts the scope's items and
    ``no_text`` those it found no text for (document scope: a page that kept no sentence):
    raters see nothing to judge there, so they are outside ``n`` but counted, never hidden."""
    ok = judged.filter(pl.col("field") == "text1").select(
        "item_id", (pl.col("label") == "describes").alias("ok")
    )
    rows = []
    for (scope,), part in items.group_by("scope", maintain_order=True):
        j = ok.filter(pl.col("item_id").is_in(part["item_id"]))
        p, lo, hi = wilson(int(j["ok"].sum()), j.height, z)
        s = strata.filter(pl.col("scope") == scope) if strata.height else strata
        w = weighted_overall(s, "p1", z) if s.height else {"estimate": float("nan")}
        no_text = int(part["text1"].is_null().sum()) if "text1" in part.columns else 0
        rows.append({"scope": scope, "released": bool(part["released"][0]),
                     "sampled": part.height, "no_text": no_text, "n": j.height,
                     "correct": int(j["ok"].sum()), "p1": p, "p1_low": lo, "p1_high": hi,
                     "p1_weighted": w["estimate"]})  # fmt: skip
    return pl.DataFrame(rows).sort("scope") if rows else pl.DataFrame()


def scope_winner(scopes: pl.DataFrame) -> str:
    """The scope whose precision@1 interval's lower bound is above every other labelled
    scope's estimate; ``no clear winner`` when none is (or fewer than two scopes have labels)."""
    labelled = scopes.filter(pl.col("n") > 0) if scopes.height else scopes
    if labelled.height < 2:
        return "no clear winner"
    for row in labelled.to_dicts():
        others = labelled.filter(pl.col("scope") != row["scope"])["p1"].to_list()
        if all(row["p1_low"] > p for p in others):
            return row["scope"]
    return "no clear winner"


def scope_summary(scopes: pl.DataFrame) -> dict:
    """The comparison as flat summary fields: ``p1_<scope>`` (+ ``_low``, ``_high``, ``_n``)
    and ``scope_winner``."""
    out: dict = {}
    for row in scopes.to_dicts():
        key = f"p1_scope_{row['scope']}"
        out.update({key: row["p1"], f"{key}_low": row["p1_low"], f"{key}_high": row["p1_high"],
                    f"{key}_n": row["n"], f"{key}_no_text": row["no_text"]})  # fmt: skip
    out["scope_winner"] = scope_winner(scopes)
    return out


def _with_scope(items: pl.DataFrame) -> pl.DataFrame:
    """Rounds sampled before scopes were compared: every item is the released corpus scope."""
    if "scope" not in items.columns:
        items = items.with_columns(scope=pl.lit("corpus"))
    if "released" not in items.columns:
        items = items.with_columns(released=pl.lit(True))
    return items


def validate_round(
    items: pl.DataFrame, labels: pl.DataFrame, gold: pl.DataFrame, params: ValidationParams
) -> dict:
    """Every figure of a round. Returns tables (``strata``, ``bins``, ``raters``, ``scopes``)
    and a flat ``summary`` dict (the checks' one-row table)."""
    sampled = _with_scope(items).filter(~pl.col("is_gold"))
    judged = _first_judgements(labels.filter(pl.col("item_id").is_in(sampled["item_id"])))
    all_strata = _per_stratum(sampled, judged, params.z)
    scopes = scope_comparison(sampled, judged, all_strata, params.z)
    strata = all_strata.filter("released") if all_strata.height else all_strata
    released = sampled.filter("released")
    bins = precision_by_bin(released, judged, params)
    band = recommended_band(bins, params.band_target)
    summary: dict = {
        "items": sampled.height,
        "released_items": released.height,
        "gold_items": items.height - sampled.height,
        "labelled_items": judged["item_id"].n_unique(),
        "label_rows": labels.height,
    }
    for prefix in ("p1", "p3", "syn"):
        o = weighted_overall(strata, prefix, params.z)
        summary.update({f"{prefix}_weighted": o["estimate"], f"{prefix}_weighted_low": o["low"],
                        f"{prefix}_weighted_high": o["high"], f"{prefix}_coverage": o["coverage"]})  # fmt: skip
    summary.update(kappa_on_doubles(labels))
    raters = gold_accuracy(labels, gold)
    total = raters.filter(pl.col("rater") == "all")
    summary["gold_answers"] = int(total["answers"][0]) if total.height else 0
    summary["gold_accuracy"] = float(total["accuracy"][0]) if total.height else float("nan")
    summary.update(lead_times(labels))
    summary["band_target"] = params.band_target
    summary["recommended_band_low"] = band[0] if band else None
    summary["recommended_band_high"] = band[1] if band else None
    summary.update(scope_summary(scopes))
    return {"strata": all_strata, "bins": bins, "raters": raters, "scopes": scopes,
            "summary": summary}  # fmt: skip


def recommended_params_toml(
    band: tuple[float, float] | None,
    round_key: str,
    summary: Mapping,
    asset: str = "balanced_pool",
    scope: Mapping | None = None,
) -> str:
    """A ``REALSYN_PARAMS`` file setting the band (low rounded down, high up, 3 decimals), or
    one that says in a comment why it recommends nothing; with ``scope`` (the round's scope
    winner when it is not the released scope: ``scope`` and the hybrid prior the round compared),
    a ``[retrieval_pairs]`` table switching to it."""
    text = _band_toml(band, round_key, summary, asset)
    if not scope:
        return text
    name = scope["scope"]
    key = f"p1_scope_{name}"
    lines = [
        f"\n# The round's scope winner: {name}, precision@1 {summary[key]:.3f} "
        f"[{summary[key + '_low']:.3f}, {summary[key + '_high']:.3f}] (its lower bound above every",
        "# other scope's estimate). The band above was measured on the released scope's pairs:",
        "# label a round after switching before you trust it for the new scope.",
        "[retrieval_pairs]",
        f'scope = "{name}"',
    ]
    if name == "hybrid" and scope.get("scope_prior_weight") is not None:
        lines.append(f"scope_prior_weight = {float(scope['scope_prior_weight'])!r}")
        if scope.get("scope_prior_halflife") is not None:
            lines.append(f"scope_prior_halflife = {float(scope['scope_prior_halflife'])!r}")
    return text + "\n".join(lines) + "\n"


def scope_recommendation(summary: Mapping, released: str, compared: Mapping | None) -> dict | None:
    """The scope to switch to (with the hybrid prior the round compared), or None when the
    round names no winner or the winner is already the released scope."""
    winner = summary.get("scope_winner")
    if not winner or winner in ("no clear winner", released):
        return None
    return {**(compared or {}), "scope": winner}


def _band_toml(
    band: tuple[float, float] | None, round_key: str, summary: Mapping, asset: str
) -> str:
    head = (
        f"# Recommended by human_validation, review round {round_key}: the widest cosine range\n"
        f"# whose bins' Wilson 95% lower bound of pair precision clears {summary['band_target']}\n"
        f"# ({summary['labelled_items']} labelled items). Apply it by pointing REALSYN_PARAMS at\n"
        "# this file (merge it into yours), then re-run: the changed stage re-materializes.\n"
    )
    if band is None:
        return head + "# No bin clears the target: no band is recommended.\n"
    low = math.floor(band[0] * 1000) / 1000
    high = math.ceil(band[1] * 1000) / 1000
    return head + f"[{asset}]\npair_band_low = {low}\npair_band_high = {high}\n"
