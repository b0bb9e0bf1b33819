"""The measured gain: fine-tune an existing CLIP on a release scale, compare before and after.

* :func:`split_images`: a stable split of a scale's images into ``finetune`` and ``held_out`` by
  a salted SHA-256 of each image's sha256 (the same image always lands on the same side,
  whatever else the scale holds), so evaluation pairs are never trained on.
* :func:`finetune_seeds`: :func:`realsyn.train.train_clip` from one start checkpoint, once per
  seed (the seed moves the batch order, crops and drawn texts; the start is the same).
* :func:`world_hits` / :func:`pair_hits`: per-query hits (bool per held-out query) of
  image->text and text->image R@1/R@5, plus zero-shot shape/colour accuracy on the generated
  world's held-out split; :func:`describes_pairs` turns a review round's labels into the
  human-checked ``describes`` pairs.
* :func:`compare`: before vs after per seed, the mean gain with min/max and a Student-t
  interval over seeds, and a paired bootstrap interval over held-out queries of the
  seed-averaged gain.
"""

from __future__ import annotations

import hashlib
import io
import math
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import polars as pl

from realsyn import world as w
from realsyn.bootstrap import subset_pairs
from realsyn.clip import ClipBundle, encode_images, encode_texts, load_clip
from realsyn.evaluation import COLOUR_PROMPTS, SHAPE_PROMPTS
from realsyn.review import world_labels
from realsyn.train import TrainParams, train_clip

SPLIT_SALT = "realsyn-finetune-v1"
SPLIT_SCHEMA = {"sha256": pl.String(), "split": pl.String(), "split_hash": pl.Float64()}
"""One row per image of the scale: ``finetune`` or ``held_out``, and the hash share in [0, 1)
that decided it (held out when below ``held_out_fraction``)."""
KS = (1, 5)


@dataclass(frozen=True)
class FinetuneParams:
    seeds: tuple[int, ...] = (0, 1, 2)
    epochs: int = 10
    batch_size: int = 128
    lr: float = 5e-4  # a tenth of the bootstrap's: the start is already trained
    jitter: float = 0.3
    held_out_fraction: float = 0.2
    precision: str = "auto"
    max_seconds: float | None = 4 * 3600.0  # per seed; a safety net, see TrainParams


def split_share(sha256: str, salt: str = SPLIT_SALT) -> float:
    """A uniform number in [0, 1) from the image's sha256 (salted: independent of the other
    hash-based choices made on the same ids, e.g. the scale's cluster ranks)."""
    digest = hashlib.sha256(f"{salt}:{sha256}".encode()).hexdigest()
    return int(digest[:13], 16) / 16**13


def split_images(
    shas: Sequence[str], held_out_fraction: float, salt: str = SPLIT_SALT
) -> pl.DataFrame:
    """:data:`SPLIT_SCHEMA` rows, one per distinct sha256, sorted by it."""
    if not 0.0 < held_out_fraction < 1.0:
        raise ValueError(f"held_out_fraction must be in (0, 1), got {held_out_fraction}")
    unique = sorted(set(shas))
    shares = [split_share(s, salt) for s in unique]
    return pl.DataFrame(
        {
            "sha256": unique,
            "split": ["held_out" if x < held_out_fraction else "finetune" for x in shares],
            "split_hash": shares,
        },
        schema=SPLIT_SCHEMA,
    )


def finetune_pairs(subset: pl.DataFrame, split: pl.DataFrame) -> pl.DataFrame:
    """The scale's (sha256, texts) pairs on the ``finetune`` side of ``split``."""
    keep = split.filter(pl.col("split") == "finetune")["sha256"]
    return subset_pairs(subset).filter(pl.col("sha256").is_in(keep.implode()))


def start_checkpoint(
    model_name: str, pretrained: str | None = None, checkpoint_path: str | None = None
) -> tuple[bytes, str]:
    """(checkpoint bytes :func:`train_clip` starts from, the start's identity): a pretrained
    tag (network or hub cache) or a local file, loaded by open_clip's own loader."""
    import torch

    if not (pretrained or checkpoint_path):
        raise ValueError("fine-tuning needs a start: a pretrained tag or a checkpoint file")
    bundle = load_clip(model_name, pretrained, checkpoint_path)
    buf = io.BytesIO()
    torch.save({"state_dict": bundle.model.state_dict(), "name": model_name}, buf)
    return buf.getvalue(), bundle.identity


def bundle_from_bytes(model_name: str, checkpoint: bytes) -> ClipBundle:
    """An inference model from checkpoint bytes (identity: the bytes' SHA-256)."""
    with tempfile.TemporaryDirectory(prefix="realsyn-ft-") as tmp:
        path = Path(tmp) / "checkpoint.pt"
        path.write_bytes(checkpoint)
        return load_clip(model_name, checkpoint_path=str(path))


def finetune_seeds(
    model_name: str,
    start: bytes,
    images: Sequence[bytes],
    texts: Sequence[Sequence[str]],
    params: FinetuneParams,
    progress: Callable[[int, int, int, float], None] | None = None,
) -> list[tuple[int, bytes, dict]]:
    """(seed, checkpoint, train stats) per seed of ``params.seeds``, each from ``start``."""
    if not params.seeds:
        raise ValueError("at least one fine-tuning seed is needed")
    out = []
    for seed in params.seeds:
        train = replace(
            TrainParams(),
            epochs=params.epochs,
            batch_size=params.batch_size,
            lr=params.lr,
            jitter=params.jitter,
            seed=seed,
            precision=params.precision,
            max_seconds=params.max_seconds,
        )

        def report(step: int, total: int, loss: float, seed=seed) -> None:
            if progress:
                progress(seed, step, total, loss)

        ckpt, stats = train_clip(model_name, images, texts, train, report, init_checkpoint=start)
        out.append((seed, ckpt, stats))
    return out


def retrieval_hits(
    image_emb: np.ndarray, text_emb: np.ndarray, relevant: np.ndarray, ks: Sequence[int] = KS
) -> dict[str, np.ndarray]:
    """Per-query hits of image->text (queries: images with a relevant text) and text->image
    (queries: texts with a relevant image) R@k. ``relevant``: bool [images, texts]."""
    sims = image_emb @ text_emb.T
    k_max = max(ks)
    out: dict[str, np.ndarray] = {}
    for name, s, rel in (("image_to_text", sims, relevant), ("text_to_image", sims.T, relevant.T)):
        queries = np.flatnonzero(rel.any(axis=1))
        order = np.argsort(-s[queries], axis=1, kind="stable")[:, :k_max]
        hits = np.take_along_axis(rel[queries], order, axis=1)
        for k in ks:
            out[f"{name}_r{k}"] = hits[:, :k].any(axis=1)
    return out


def world_hits(bundle: ClipBundle, held_out: pl.DataFrame) -> dict[str, np.ndarray]:
    """On the world's held-out split (as :func:`realsyn.evaluation.evaluate_clip`): a text is
    relevant when it truly describes the image; zero-shot accuracy per image."""
    img = encode_images(bundle, held_out["image"].to_list())
    out: dict[str, np.ndarray] = {}
    for kind, classes, prompts in (
        ("shape", w.SHAPES, SHAPE_PROMPTS),
        ("colour", tuple(w.COLOURS), COLOUR_PROMPTS),
    ):
        texts = [p.format(c) for c in classes for p in prompts]
        emb = encode_texts(bundle, texts).reshape(len(classes), len(prompts), -1).mean(axis=1)
        emb /= np.linalg.norm(emb, axis=1, keepdims=True)
        truth = np.array([classes.index(v) for v in held_out[kind].to_list()])
        out[f"{kind}_accuracy"] = (img @ emb.T).argmax(axis=1) == truth
    alts = held_out.unique("alt_text", maintain_order=True)
    text_concepts = [frozenset(c) for c in alts["alt_concepts"].to_list()]
    concepts = [set(c) for c in held_out["concepts"].to_list()]
    relevant = np.array([[w.describes(t, c) for t in text_concepts] for c in concepts])
    txt = encode_texts(bundle, alts["alt_text"].to_list())
    return {**retrieval_hits(img, txt, relevant), **out}


def describes_pairs(items: pl.DataFrame, labels: pl.DataFrame) -> pl.DataFrame:
    """(sha256, text) pairs a person labelled ``describes``: per (item, field) the lowest
    copy's judgement, as :mod:`realsyn.review_stats` counts precision."""
    first = (
        labels.sort("item_id", "field", "copy")
        .unique(["item_id", "field"], keep="first", maintain_order=True)
        .filter(pl.col("label") == "describes")
    )
    fields = sorted(set(first["field"].to_list()))
    long = items.unpivot(
        index=["item_id", "sha256"], on=[f for f in fields if f in items.columns],
        variable_name="field", value_name="text",
    )  # fmt: skip
    return (
        first.join(long, on=["item_id", "field"])
        .filter(pl.col("text").is_not_null() & (pl.col("text") != ""))
        .select("sha256", "text")
        .unique()
        .sort("sha256", "text")
    )


def truth_pairs(
    rows: pl.DataFrame, truth_images: pl.DataFrame, truth_sentences: pl.DataFrame
) -> pl.DataFrame:
    """(sha256, text) pairs of release ``rows`` whose text truly describes the image on a
    generated world (:func:`realsyn.review.world_labels`): the demo's perfect rater, judged
    like :func:`describes_pairs` (syn_text has no truth: left out)."""
    labels = world_labels(rows, truth_images, truth_sentences)
    out = [
        (row["sha256"], row[field])
        for row in rows.iter_rows(named=True)
        for field, label in labels.get(row["image_id"], {}).items()
        if label == "describes"
    ]
    return (
        pl.DataFrame(out, schema={"sha256": pl.String, "text": pl.String}, orient="row")
        .unique()
        .sort("sha256", "text")
    )


def pair_hits(
    bundle: ClipBundle, pairs: pl.DataFrame, image_bytes: Callable[[str], bytes]
) -> dict[str, np.ndarray]:
    """Retrieval hits over human-checked pairs: each image against every distinct text, a text
    relevant to the images it was labelled ``describes`` for."""
    shas = sorted(set(pairs["sha256"].to_list()))
    texts = sorted(set(pairs["text"].to_list()))
    row, col = {s: i for i, s in enumerate(shas)}, {t: j for j, t in enumerate(texts)}
    relevant = np.zeros((len(shas), len(texts)), dtype=bool)
    for s, t in pairs.select("sha256", "text").iter_rows():
        relevant[row[s], col[t]] = True
    img = encode_images(bundle, [image_bytes(s) for s in shas])
    return retrieval_hits(img, encode_texts(bundle, texts), relevant)


def t_interval(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float]:
    """Student-t interval of the mean; (nan, nan) with fewer than two values."""
    from scipy.stats import t

    x = np.asarray(values, dtype=float)
    if len(x) < 2:
        return float("nan"), float("nan")
    half = t.ppf(0.5 + confidence / 2, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x))
    return float(x.mean() - half), float(x.mean() + half)


def bootstrap_interval(
    diff: np.ndarray, n_boot: int = 2000, confidence: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``diff``'s mean, resampling queries (seeded)."""
    if len(diff) == 0:
        return float("nan"), float("nan")
    idx = np.random.default_rng(seed).integers(0, len(diff), size=(n_boot, len(diff)))
    means = diff[idx].mean(axis=1)
    tail = (1 - confidence) / 2 * 100
    return float(np.percentile(means, tail)), float(np.percentile(means, 100 - tail))


def compare(
    before: dict[str, np.ndarray],
    after: dict[int, dict[str, np.ndarray]],
    evaluation_set: str,
    confidence: float = 0.95,
    n_boot: int = 2000,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(per-seed rows, summary rows) for every metric of ``before``.

    Summary: ``before``, ``after_mean``, ``gain_mean``, ``gain_min``/``gain_max`` over seeds,
    ``gain_t_low``/``gain_t_high`` (Student t over seeds: the fine-tuning's own variance) and
    ``gain_boot_low``/``gain_boot_high`` (paired bootstrap over held-out queries of the
    seed-averaged gain: the evaluation set's sampling variance).
    """
    per_seed, summary = [], []
    for metric, b in before.items():
        gains = []
        for seed, hits in sorted(after.items()):
            a = hits[metric]
            if len(a) != len(b):
                raise ValueError(f"{metric}: {len(a)} queries after, {len(b)} before")
            gains.append(float(a.mean() - b.mean()) if len(b) else float("nan"))
            per_seed.append(
                {"evaluation_set": evaluation_set, "metric": metric, "seed": seed,
                 "before": float(b.mean()) if len(b) else float("nan"),
                 "after": float(a.mean()) if len(a) else float("nan"), "gain": gains[-1]}
            )  # fmt: skip
        diff = np.mean([after[s][metric] for s in sorted(after)], axis=0) - b
        t_low, t_high = t_interval(gains, confidence)
        boot_low, boot_high = bootstrap_interval(diff, n_boot, confidence)
        summary.append(
            {"evaluation_set": evaluation_set, "metric": metric, "queries": len(b),
             "seeds": len(after), "before": float(b.mean()) if len(b) else float("nan"),
             "after_mean": float(np.mean([r["after"] for r in per_seed[-len(after):]])),
             "gain_mean": float(np.mean(gains)), "gain_min": float(np.min(gains)),
             "gain_max": float(np.max(gains)), "gain_t_low": t_low, "gain_t_high": t_high,
             "gain_boot_low": boot_low, "gain_boot_high": boot_high}
        )  # fmt: skip
    return pl.DataFrame(per_seed), pl.DataFrame(summary)


def without_trained(eval_split: pl.DataFrame, trained: set[str]) -> tuple[pl.DataFrame, int]:
    """The world's held-out images minus any whose bytes were fine-tuned on (by sha256), and
    how many were dropped (the world renders them apart, so normally none)."""
    shas = [hashlib.sha256(b).hexdigest() for b in eval_split["image"].to_list()]
    keep = [s not in trained for s in shas]
    return eval_split.filter(pl.Series(keep, dtype=pl.Boolean)), keep.count(False)
