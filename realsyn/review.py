"""Review rounds: a stratified sample of pairs for people to judge, in Label Studio's shapes.

A round samples pairs *before* the cosine band, so the band itself gets judged. Strata are
cosine bin (``below`` / ``low_in`` / ``high_in`` / ``above`` the band) x source format x
image-cluster size (``head`` / ``torso`` / ``tail``); each stratum gives up to
``per_stratum`` images, chosen by a seeded hash rank of the image id (same input, same sample),
never an image reviewed in an earlier round. A seeded ~``double_share`` of the items go to two
raters (two tasks, ``copy`` 0 and 1: Cohen's kappa); a few gold items, whose answers are known,
repeat ``gold_repeats`` times (rater accuracy).

Label Studio's import JSON is a list of ``{"data": {...}}`` tasks; each task shows the image and
text1..3 + syn_text with one single-choice question per text (``<field>_label``: describes /
partly / unrelated). :func:`parse_export` reads both export shapes back: the whole-task JSON
(``annotations`` with ``result`` lists) and the per-annotation ``JSON_MIN`` rows. Malformed
input never raises: each bad record becomes a rejected row with its reason.

Statistics over the labels live in :mod:`realsyn.review_stats`.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from realsyn.balance import hash_rank
from realsyn.schemas import frame_from_rows
from realsyn.world import describes

CHOICES = ("describes", "partly", "unrelated")
TEXT_FIELDS = ("text1", "text2", "text3", "syn_text")
COSINE_BINS = ("below", "low_in", "high_in", "above")
SIZE_CLASSES = ("head", "torso", "tail")

ITEMS_SCHEMA: dict[str, pl.DataType] = {
    "item_id": pl.String(),
    "round": pl.String(),
    "image_id": pl.String(),
    "sha256": pl.String(),
    "image_file": pl.String(),
    "doc_id": pl.String(),
    "shard": pl.String(),
    "source_format": pl.String(),
    "image_cluster": pl.Int64(),
    "size_class": pl.String(),
    "cosine_bin": pl.String(),
    "stratum": pl.String(),
    "stratum_population": pl.Int64(),
    "pair_cosine": pl.Float64(),
    "pair_text": pl.String(),
    "text1": pl.String(),
    "text2": pl.String(),
    "text3": pl.String(),
    "syn_text": pl.String(),
    "copies": pl.Int32(),
    "is_gold": pl.Boolean(),
}
"""One row per sampled image of a round (gold items included, ``is_gold``). ``copies`` is how
many tasks show it (2 for double-labelled items, ``gold_repeats`` for gold);
``stratum_population`` the number of eligible pairs in its stratum (the weight of its stratum
in the overall figure)."""

GOLD_SCHEMA: dict[str, pl.DataType] = {
    "item_id": pl.String(),
    "field": pl.String(),
    "label": pl.String(),
}
"""The known answer per gold item and text field."""

LABELS_SCHEMA: dict[str, pl.DataType] = {
    "file": pl.String(),
    "item_id": pl.String(),
    "copy": pl.Int32(),
    "task_id": pl.String(),
    "annotation_id": pl.String(),
    "rater": pl.String(),
    "field": pl.String(),
    "label": pl.String(),
    "lead_time": pl.Float64(),
}
"""One row per (annotation, text field) judged in a Label Studio export."""

LABEL_REJECTED_SCHEMA: dict[str, pl.DataType] = {
    "file": pl.String(),
    "record_index": pl.Int64(),
    "reason": pl.String(),
    "detail": pl.String(),
}
LABEL_REJECT_REASONS = (
    "invalid_json",
    "not_a_list",
    "not_an_object",
    "missing_item_id",
    "unknown_item",
    "cancelled",
    "no_choices",
    "unknown_choice",
)


@dataclass(frozen=True)
class ReviewParams:
    per_stratum: int = 40
    double_share: float = 0.2
    gold_items: int = 5
    gold_repeats: int = 3
    head_share: float = 1 / 3  # share of the images in the largest clusters ("head")
    tail_share: float = 1 / 3  # share of the images in the smallest clusters ("tail")
    seed: int = 0


def _unit(seed: int, *parts: str) -> float:
    """A seeded uniform number in [0, 1) from stable parts."""
    digest = hashlib.blake2b(":".join([str(seed), *parts]).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def _strings(values) -> pl.Series:
    return pl.Series(sorted(values), dtype=pl.String)


def cosine_bins(cosine: np.ndarray, band: tuple[float, float]) -> list[str]:
    """Each cosine's bin against the band: below, low/high half inside, above."""
    low, high = band
    mid = (low + high) / 2
    return [
        "below" if c < low else "above" if c > high else "low_in" if c < mid else "high_in"
        for c in np.asarray(cosine, dtype=np.float64)
    ]


def default_band(cosine: np.ndarray) -> tuple[float, float]:
    """The middle half of the observed cosines: bins to judge when no band is configured."""
    if len(cosine) == 0:
        return (0.0, 1.0)
    return float(np.quantile(cosine, 0.25)), float(np.quantile(cosine, 0.75))


def size_classes(clusters: np.ndarray, head_share: float, tail_share: float) -> list[str]:
    """head / torso / tail per image by its cluster's size: clusters from largest to smallest
    (ties by id); a cluster is ``head`` while the images before it are under ``head_share``
    of all, ``tail`` once they reach ``1 - tail_share``."""
    clusters = np.asarray(clusters, dtype=np.int64)
    if len(clusters) == 0:
        return []
    ids, counts = np.unique(clusters, return_counts=True)
    order = np.lexsort((ids, -counts))
    before = np.r_[0, np.cumsum(counts[order])[:-1]] / len(clusters)
    cls = {}
    for cid, b in zip(ids[order].tolist(), before.tolist(), strict=True):
        cls[cid] = "head" if b < head_share else "tail" if b >= 1 - tail_share else "torso"
    return [cls[c] for c in clusters.tolist()]


def sample_review(
    pairs: pl.DataFrame,
    band: tuple[float, float],
    params: ReviewParams,
    round_key: str,
    reviewed: set[str] | frozenset[str] = frozenset(),
    gold: Mapping[str, Mapping[str, str]] | None = None,
) -> pl.DataFrame:
    """The round's items (:data:`ITEMS_SCHEMA`), deterministic for the same inputs and seed.

    Args:
        pairs: every pair before the band: ``image_id``, ``sha256``, ``doc_id``, ``shard``,
            ``source_format``, ``image_cluster``, ``pair_cosine``, ``pair_text``, text1..3,
            ``syn_text``.
        band: the cosine band whose bins are strata.
        reviewed: image ids and sha256s of earlier rounds' (non-gold) items: never again.
        gold: known answers ``{image_id: {field: label}}``; gold items are drawn from these.
    """
    pairs = pairs.sort("image_id").unique("sha256", keep="first", maintain_order=True)
    frame = pairs.with_columns(
        pl.Series("cosine_bin", cosine_bins(pairs["pair_cosine"].to_numpy(), band)),
        pl.Series(
            "size_class",
            size_classes(pairs["image_cluster"].to_numpy(), params.head_share, params.tail_share),
        ),
        pl.Series("rank", hash_rank(pairs["image_id"].to_list(), params.seed)),
    )
    frame = frame.with_columns(
        pl.concat_str(["cosine_bin", "source_format", "size_class"], separator="|").alias("stratum")
    ).with_columns(pl.len().over("stratum").alias("stratum_population"))
    seen, gold = _strings(reviewed), gold or {}
    fresh = ~(pl.col("image_id").is_in(seen) | pl.col("sha256").is_in(seen))
    gold_rows = (
        frame.filter(pl.col("image_id").is_in(_strings(gold))).sort("rank").head(params.gold_items)
    )  # gold may repeat across rounds: that is what gold is for
    chosen = (
        frame.filter(fresh & ~pl.col("image_id").is_in(gold_rows["image_id"]))
        .sort("stratum", "rank")
        .group_by("stratum", maintain_order=True)
        .head(params.per_stratum)
    )
    rows = []
    for is_gold, part in ((False, chosen), (True, gold_rows)):
        for row in part.sort("stratum", "rank").to_dicts():
            double = _unit(params.seed, "double", row["image_id"]) < params.double_share
            copies = params.gold_repeats if is_gold else 2 if double else 1
            rows.append({**row, "copies": copies, "is_gold": is_gold, "round": round_key})
    for n, row in enumerate(rows):
        row["item_id"] = f"{round_key}-{n:04d}"
        row["image_file"] = f"images/{row['sha256']}"
    return frame_from_rows(rows, ITEMS_SCHEMA)


def gold_table(items: pl.DataFrame, gold: Mapping[str, Mapping[str, str]]) -> pl.DataFrame:
    """:data:`GOLD_SCHEMA` rows for the round's gold items."""
    rows = [
        {"item_id": item, "field": f, "label": gold[image][f]}
        for item, image in items.filter("is_gold").select("item_id", "image_id").iter_rows()
        for f in TEXT_FIELDS
        if f in gold.get(image, {})
    ]
    return frame_from_rows(rows, GOLD_SCHEMA)


def world_labels(
    pairs: pl.DataFrame, truth_images: pl.DataFrame, truth_sentences: pl.DataFrame
) -> dict[str, dict[str, str]]:
    """The true answer per image and text field on a generated world: ``describes`` when the
    sentence's concepts are all true of the image, ``partly`` when some are, else
    ``unrelated``. Texts outside the truth table (e.g. syn_text) get no answer."""
    img = dict(zip(truth_images["sha256"], truth_images["concepts"], strict=True))
    sent = dict(zip(truth_sentences["text"], truth_sentences["concepts"], strict=True))
    out: dict[str, dict[str, str]] = {}
    fields = [f for f in TEXT_FIELDS if f in pairs.columns]
    for row in pairs.filter(pl.col("sha256").is_in(list(img))).iter_rows(named=True):
        concepts = set(img[row["sha256"]])
        answers = {}
        for f in fields:
            text = row[f]
            if text is None or text not in sent:
                continue
            stated = set(sent[text])
            answers[f] = (
                "describes"
                if describes(stated, concepts)
                else "partly"
                if stated & concepts
                else "unrelated"
            )
        out[row["image_id"]] = answers
    return out


# --- Label Studio shapes ------------------------------------------------------------------------


def label_config() -> str:
    """Label Studio's labelling config: the image, then each text with its own question."""
    blocks = []
    for f in TEXT_FIELDS:
        required = "false" if f == "syn_text" else "true"
        choices = "".join(f'<Choice value="{c}"/>' for c in CHOICES)
        blocks.append(
            f'  <Header value="{f}"/>\n  <Text name="{f}" value="${f}"/>\n'
            f'  <Choices name="{f}_label" toName="{f}" choice="single" required="{required}" '
            f'showInline="true">{choices}</Choices>'
        )
    return (
        '<View>\n  <Image name="image" value="$image" maxWidth="480px"/>\n'
        + "\n".join(blocks)
        + "\n</View>\n"
    )


def tasks(items: pl.DataFrame, image_url_prefix: str, seed: int = 0) -> list[dict]:
    """Label Studio import tasks, one per (item, copy), in a seeded shuffled order (so copies
    and gold repeats are not adjacent). ``image_url_prefix`` + the item's image file is what
    Label Studio loads (e.g. ``/data/local-files/?d=review/r001/``)."""
    out = []
    for row in items.iter_rows(named=True):
        for copy in range(row["copies"]):
            data = {f: row[f] if row[f] is not None else "(none)" for f in TEXT_FIELDS}
            data.update(
                image=f"{image_url_prefix}{row['image_file']}", item_id=row["item_id"], copy=copy
            )
            out.append({"data": data})
    return sorted(
        out, key=lambda t: _unit(seed, "task", t["data"]["item_id"], str(t["data"]["copy"]))
    )


RATER_GUIDE = """# Rater guide

Each task shows one image and up to four texts (text1, text2, text3, syn_text). For each text,
choose one answer:

- **describes**: everything the text says about the image is true of it (it may leave things out).
- **partly**: some of what it says is true of the image, some is not, or it is too vague to tell.
- **unrelated**: it is about something else.

Judge each text alone, only against the image. "(none)" means there is no such text: leave
its question empty. Do not look things up. About 10 seconds per text is enough; when unsure
between two answers, take the less favourable one. Some tasks appear twice, on purpose.

When done, export the project from Label Studio (JSON or JSON-MIN) into this round's `labels/`
folder; the pipeline picks it up from there.
"""


# --- reading exports ----------------------------------------------------------------------------


def _rater(value) -> str | None:
    if isinstance(value, dict):
        value = value.get("email") or value.get("id")
    return None if value is None else str(value)


def _choice(value) -> list[str]:
    if isinstance(value, dict):
        value = value.get("choices")
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value] if isinstance(value, list) else []


def _item(data: Mapping) -> tuple[str | None, int]:
    item = data.get("item_id")
    try:
        copy = int(data.get("copy") or 0)
    except (TypeError, ValueError):
        copy = 0
    return (str(item) if item else None), copy


def _annotation_rows(
    file: str, item: str, copy: int, task_id, ann: Mapping, choices: Mapping[str, list[str]]
) -> tuple[list[dict], str | None, str]:
    """Label rows of one annotation, or a reject reason and detail."""
    if ann.get("was_cancelled"):
        return [], "cancelled", f"annotation {ann.get('id')} was skipped"
    if not choices:
        return [], "no_choices", f"annotation {ann.get('id')} answered no question"
    rows = []
    for field, picked in sorted(choices.items()):
        if len(picked) != 1 or picked[0] not in CHOICES:
            return [], "unknown_choice", f"{field}: {picked!r} (expected one of {CHOICES})"
        lead = ann.get("lead_time")
        rows.append(
            {
                "file": file,
                "item_id": item,
                "copy": copy,
                "task_id": None if task_id is None else str(task_id),
                "annotation_id": None if ann.get("id") is None else str(ann.get("id")),
                "rater": _rater(ann.get("completed_by", ann.get("annotator"))),
                "field": field,
                "label": picked[0],
                "lead_time": float(lead) if isinstance(lead, (int, float)) else None,
            }
        )
    return rows, None, ""


def _records(task: Mapping) -> list[tuple[Mapping, dict[str, list[str]]]]:
    """(annotation, {field: choices}) per annotation of a task in either export shape."""
    if "annotations" in task:  # whole-task export
        out = []
        for ann in task.get("annotations") or []:
            picked: dict[str, list[str]] = {}
            for res in ann.get("result") or [] if isinstance(ann, dict) else []:
                name = str(res.get("from_name", "")) if isinstance(res, dict) else ""
                if name.endswith("_label") and name[: -len("_label")] in TEXT_FIELDS:
                    picked[name[: -len("_label")]] = _choice(res.get("value"))
            out.append((ann if isinstance(ann, dict) else {}, picked))
        return out
    picked = {  # JSON_MIN: one flat row per annotation
        f: _choice(task[f"{f}_label"]) for f in TEXT_FIELDS if task.get(f"{f}_label") is not None
    }
    ann = {"id": task.get("annotation_id"), "annotator": task.get("annotator")}
    return [({**ann, "lead_time": task.get("lead_time")}, picked)]


def parse_export(
    data: bytes, file: str, known_items: set[str] | frozenset[str]
) -> tuple[list[dict], list[dict]]:
    """(label rows, rejected rows) of one Label Studio export file; never raises on bad input."""
    try:
        tasks_ = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        return [], [
            {"file": file, "record_index": -1, "reason": "invalid_json", "detail": str(err)[:200]}
        ]
    if not isinstance(tasks_, list):
        detail = f"top level is {type(tasks_).__name__}"
        return [], [{"file": file, "record_index": -1, "reason": "not_a_list", "detail": detail}]
    rows, rejected = [], []
    for i, task in enumerate(tasks_):

        def reject(reason: str, detail: str, i: int = i) -> None:
            rejected.append({"file": file, "record_index": i, "reason": reason, "detail": detail})

        if not isinstance(task, dict):
            reject("not_an_object", f"record is {type(task).__name__}")
            continue
        data_ = task.get("data") if isinstance(task.get("data"), dict) else task
        item, copy = _item(data_)
        if item is None:
            reject("missing_item_id", "the task's data has no item_id (not a realsyn round?)")
            continue
        if item not in known_items:
            reject("unknown_item", f"{item} is not an item of this round")
            continue
        for ann, picked in _records(task):
            got, reason, detail = _annotation_rows(file, item, copy, task.get("id"), ann, picked)
            rows.extend(got)
            if reason:
                reject(reason, detail)
    return rows, rejected


def labels_frames(
    files: Mapping[str, bytes], known_items: set[str] | frozenset[str]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Every export file of a round parsed, in file-name order: (labels, rejected)."""
    rows, rejected = [], []
    for name in sorted(files):
        got, bad = parse_export(files[name], name, known_items)
        rows += got
        rejected += bad
    return frame_from_rows(rows, LABELS_SCHEMA), frame_from_rows(rejected, LABEL_REJECTED_SCHEMA)


# --- simulated raters ---------------------------------------------------------------------------


def simulate_export(
    task_list: Sequence[dict],
    truth: Mapping[str, Mapping[str, str]],
    noise: float,
    seed: int = 0,
    raters: Sequence[str] = ("rater-a", "rater-b"),
    shape: str = "full",
) -> bytes:
    """A Label Studio export as simulated raters would make it: each answer is the truth
    (``truth[item_id][field]``), replaced with probability ``noise`` by a uniformly random
    choice. Copy ``c`` of a task goes to ``raters[c % len(raters)]``. ``shape``: ``full``
    (whole tasks with ``annotations``) or ``min`` (Label Studio's JSON_MIN rows)."""
    rng = random.Random(seed)
    out = []
    for n, task in enumerate(task_list):
        data = task["data"]
        answers = {}
        for f, label in sorted(truth.get(data["item_id"], {}).items()):
            answers[f] = rng.choice(CHOICES) if rng.random() < noise else label
        rater = raters[int(data["copy"]) % len(raters)]
        lead = round(5 + 20 * rng.random(), 2)
        if shape == "min":
            out.append(
                {**data, "id": n + 1, "annotation_id": 1000 + n, "annotator": rater,
                 "lead_time": lead, **{f"{f}_label": c for f, c in answers.items()}}
            )  # fmt: skip
            continue
        result = [
            {"from_name": f"{f}_label", "to_name": f, "type": "choices", "value": {"choices": [c]}}
            for f, c in answers.items()
        ]
        ann = {"id": 1000 + n, "completed_by": {"id": n % 7, "email": rater}, "result": result,
               "lead_time": lead, "was_cancelled": False}  # fmt: skip
        out.append({"id": n + 1, "data": data, "annotations": [ann]})
    return json.dumps(out, indent=1).encode()
