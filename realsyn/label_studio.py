"""Label Studio's shapes: the import tasks, the labelling config, the rater guide, the exports.

Label Studio's import JSON is a list of ``{"data": {...}}`` tasks; each task shows the image and
text1..3 + syn_text with one single-choice question per text (``<field>_label``: describes /
partly / unrelated). :func:`parse_export` reads both export shapes back: the whole-task JSON
(``annotations`` with ``result`` lists) and the per-annotation ``JSON_MIN`` rows. Malformed
input never raises: each bad record becomes a rejected row with its reason.
:func:`simulate_export` writes what simulated raters (truth plus flip noise) would export.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping, Sequence

import polars as pl

from realsyn.review import CHOICES, TEXT_FIELDS, seeded_unit
from realsyn.schemas import frame_from_rows

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
        out, key=lambda t: seeded_unit(seed, "task", t["data"]["item_id"], str(t["data"]["copy"]))
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
