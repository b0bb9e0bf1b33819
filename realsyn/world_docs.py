"""Interleaved documents from a generated world, plus the ground truth the evaluations use.

:func:`build_world` returns every file as ``{corpus-relative key: bytes}``; nothing touches
disk until :func:`write_world`. The corpus gets (under ``world/``):

* ``obelics/world-0000K.parquet``: OBELICS rows (``texts``/``images`` null-padded, image
  references corpus-relative paths, alt texts in ``metadata``);
* ``html/shapes-blog/page-NNN.html``: a site whose navigation and footer carry boilerplate;
* ``images/*.jpg``: rendered scenes, their near-duplicates (re-encoded, resized, cropped) and
  one truncated file; exact duplicates are the same file used twice.

Each document interleaves images with paragraphs of true descriptions (several paraphrases,
some partial), distractor descriptions of scenes that appear nowhere near, narrative sentences
and boilerplate (navigation, cookie notices, URLs, emoji), plus a few malformed records. The
truth lives under ``_world/`` (skipped by shard discovery): ``images.parquet`` (file, sha256,
concepts, duplicate group), ``sentences.parquet`` (text, label, concepts), ``eval.parquet``
(held-out rendered images that appear in no document) and ``world.json``.
"""

from __future__ import annotations

import hashlib
import html
import io
import json
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path

import polars as pl

from realsyn import world as w
from realsyn.world_ja import TEXTS
from realsyn.world_render import near_duplicate, render

TRUTH_DIR = "_world"
GENERATOR_VERSION = 7  # bump when rendering or text templates change: the demo regenerates
PREFIX = "world"


@dataclass(frozen=True)
class WorldParams:
    """Size and noise of the world; everything is a function of ``seed``."""

    seed: int = 0
    documents: int = 600
    max_images_per_doc: int = 4
    exact_dup_rate: float = 0.05
    near_dup_rate: float = 0.06
    alt_text_rate: float = 0.8
    distractor_rate: float = 0.3
    eval_images: int = 480
    obelics_shards: int = 2
    html_share: float = 0.25  # of documents published as HTML pages
    lang: str = "en"  # the language of every text (realsyn.world_ja.TEXTS: en, ja)


@dataclass
class World:
    files: dict[str, bytes] = field(default_factory=dict)
    images: list[dict] = field(default_factory=list)
    sentences: dict[str, w.Sentence] = field(default_factory=dict)
    stats: dict[str, int] = field(default_factory=dict)
    documents: list[dict] = field(default_factory=list)  # blocks per document (world_office)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class _Builder:
    def __init__(self, params: WorldParams) -> None:
        self.p = params
        self.rng = random.Random(params.seed)
        self.texts = TEXTS[params.lang]  # same draws in every language: the same world
        self.world = World()
        self.originals: list[dict] = []  # rendered images that later documents may copy

    def _add_image(self, data: bytes, scene: w.Scene, group: str, kind: str) -> dict:
        n = len(self.world.images)
        key = f"{PREFIX}/images/img-{n:05d}.jpg"
        self.world.files[key] = data
        row = {
            "file": key,
            "sha256": _sha(data),
            "concepts": sorted(scene.concepts),
            "dup_group": group,
            "dup_kind": kind,
            "scene": scene,
        }
        self.world.images.append(row)
        return row

    def image(self) -> dict:
        """A new scene, or (at the configured rates) an exact or near copy of an earlier one."""
        u = self.rng.random()
        if self.originals and u < self.p.exact_dup_rate:
            src = self.rng.choice(self.originals)
            self.world.stats["exact_duplicates"] = self.world.stats.get("exact_duplicates", 0) + 1
            return src
        if self.originals and u < self.p.exact_dup_rate + self.p.near_dup_rate:
            src = self.rng.choice(self.originals)
            data, kind = near_duplicate(self.world.files[src["file"]], self.rng)
            self.world.stats["near_duplicates"] = self.world.stats.get("near_duplicates", 0) + 1
            return self._add_image(data, src["scene"], src["dup_group"], kind)
        scene = w.sample_scene(self.rng)
        row = self._add_image(
            render(scene, self.rng), scene, f"g{len(self.originals):05d}", "original"
        )
        self.originals.append(row)
        return row

    def alt_text(self, scene: w.Scene) -> str:
        """Sites write alt text tersely, as a phrase, or as a whole sentence."""
        style = self.rng.randrange(3)
        return self.texts.alt_text(scene, style) if style < 2 else self.describe(scene).text

    def describe(self, scene: w.Scene) -> w.Sentence:
        return self.texts.describe(scene, self.rng)

    def narrative(self) -> w.Sentence:
        return self.texts.narrative(self.rng)

    def say(self, sentence: w.Sentence) -> str:
        known = self.world.sentences.setdefault(sentence.text, sentence)
        assert known.concepts == sentence.concepts, sentence.text
        return sentence.text

    def paragraph(self, scene: w.Scene) -> str:
        parts = [self.say(self.describe(scene)) for _ in range(self.rng.randint(1, 3))]
        parts = list(dict.fromkeys(parts))
        if self.rng.random() < self.p.distractor_rate:
            parts.insert(
                self.rng.randrange(len(parts) + 1),
                self.say(self.describe(w.sample_scene(self.rng))),
            )
        if self.rng.random() < 0.35:
            parts.append(self.say(self.narrative()))
        if self.rng.random() < 0.12:
            boiler = self.rng.choice(self.texts.boilerplate[2:4])
            parts.append(self.say(w.Sentence(boiler, "boilerplate")))
        return self.texts.joiner.join(parts)

    def document(self) -> dict:
        """Blocks of one document: ('text', str) / ('image', row, alt) plus page furniture."""
        blocks: list[tuple] = [("text", self.say(self.narrative()))]
        for _ in range(self.rng.randint(1, self.p.max_images_per_doc)):
            img = self.image()
            alt = self.alt_text(img["scene"]) if self.rng.random() < self.p.alt_text_rate else None
            para = ("text", self.paragraph(img["scene"]))
            pair = [("image", img, alt), para]
            blocks += pair if self.rng.random() < 0.7 else pair[::-1]
        nav = self.say(w.Sentence(self.texts.boilerplate[0], "boilerplate"))
        footer = [
            self.say(w.Sentence(self.rng.choice(self.texts.boilerplate), "boilerplate"))
            for _ in range(self.rng.randint(0, 2))
        ]
        return {"blocks": blocks, "nav": nav, "footer": list(dict.fromkeys(footer))}


def _obelics_row(doc: dict, url: str, with_furniture: bool) -> dict:
    texts, images, meta = [], [], []
    blocks = list(doc["blocks"])
    if with_furniture:
        blocks = [("text", doc["nav"]), *blocks, *[("text", t) for t in doc["footer"]]]
    for block in blocks:
        if block[0] == "text":
            texts.append(block[1])
            images.append(None)
            meta.append(None)
        else:
            ref = "../" + block[1]["file"].removeprefix(f"{PREFIX}/")
            texts.append(None)
            images.append(ref)
            meta.append({"src": ref, "alt_text": block[2]} if block[2] else {"src": ref})
    return {
        "texts": texts,
        "images": images,
        "metadata": json.dumps(meta),
        "general_metadata": json.dumps({"url": url}),
    }


def _html_page(doc: dict, title: str) -> str:
    body = []
    for block in doc["blocks"]:
        if block[0] == "text":
            body.append(f"<p>{html.escape(block[1])}</p>")
        else:
            src = "../../" + block[1]["file"].removeprefix(f"{PREFIX}/")
            alt = f' alt="{html.escape(block[2])}"' if block[2] else ""
            body.append(f'<img src="{src}"{alt}>')
    footer = "".join(f"<p>{html.escape(t)}</p>" for t in doc["footer"])
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title></head><body>"
        f"<nav>{html.escape(doc['nav'])}</nav><main><h1>{html.escape(title)}</h1>"
        f"{''.join(body)}</main><footer>{footer}</footer></body></html>\n"
    )


def _eval_split(params: WorldParams) -> pl.DataFrame:
    rng = random.Random(params.seed + 1_000_003)
    alt_text = TEXTS[params.lang].alt_text
    rows = []
    for _ in range(params.eval_images):
        scene = w.sample_scene(rng)
        rows.append(
            {
                "image": render(scene, rng),
                "concepts": sorted(scene.concepts),
                "shape": scene.shape,
                "colour": scene.colour,
                "alt_text": alt_text(scene, 0),
                "alt_concepts": sorted(scene.alt_concepts),
            }
        )
    return pl.DataFrame(rows)


def _parquet(df: pl.DataFrame) -> bytes:
    buf = io.BytesIO()
    df.write_parquet(buf, statistics=False)
    return buf.getvalue()


def build_world(params: WorldParams | None = None) -> World:
    """Generate the whole world (documents, images, truth) in memory; deterministic by seed."""
    p = params or WorldParams()
    b = _Builder(p)
    docs = [b.document() for _ in range(p.documents)]
    b.world.documents = docs
    n_html = int(round(p.documents * p.html_share))
    files = b.world.files
    for n, doc in enumerate(docs[:n_html]):
        files[f"{PREFIX}/html/shapes-blog/page-{n:03d}.html"] = _html_page(
            doc, b.texts.page_title.format(n)
        ).encode()
    rest = docs[n_html:]
    for k in range(p.obelics_shards):
        rows = [
            _obelics_row(doc, f"https://world.realsyn.invalid/{k}/{i}", with_furniture=True)
            for i, doc in enumerate(rest[k :: p.obelics_shards])
        ]
        if k == 0:  # malformed records, each rejected or recorded with a reason downstream
            rows.append(
                {
                    "texts": ["orphan text", None],
                    "images": [None],
                    "metadata": "[]",
                    "general_metadata": "{}",
                }
            )  # length mismatch
            rows.append(
                {
                    "texts": [None, b.texts.lost_caption],
                    "images": ["../images/missing.jpg", None],
                    "metadata": "[null, null]",
                    "general_metadata": "{}",
                }
            )  # missing file
            broken = files[b.originals[0]["file"]][:400]
            files[f"{PREFIX}/images/truncated.jpg"] = broken
            rows.append(
                {
                    "texts": [None, b.say(b.narrative())],
                    "images": ["../images/truncated.jpg", None],
                    "metadata": "[null, null]",
                    "general_metadata": "{}",
                }
            )  # truncated JPEG
        files[f"{PREFIX}/obelics/world-{k:05d}.parquet"] = _parquet(pl.DataFrame(rows))
    images = pl.DataFrame(
        [
            {k: v for k, v in r.items() if k != "scene"}
            | {"alt_text": b.texts.alt_text(r["scene"], 0)}
            for r in b.world.images
        ]
    )
    sentences = pl.DataFrame(
        [
            {"text": s.text, "label": s.label, "concepts": sorted(s.concepts)}
            for s in b.world.sentences.values()
        ],
        schema={"text": pl.String, "label": pl.String, "concepts": pl.List(pl.String)},
    )
    files[f"{TRUTH_DIR}/images.parquet"] = _parquet(images)
    files[f"{TRUTH_DIR}/sentences.parquet"] = _parquet(sentences)
    files[f"{TRUTH_DIR}/eval.parquet"] = _parquet(_eval_split(p))
    stats = {
        "documents": p.documents,
        "html_pages": n_html,
        "images": len(b.world.images),
        "originals": len(b.originals),
        "sentences": sentences.height,
        "eval_images": p.eval_images,
        **b.world.stats,
    }
    b.world.stats = stats
    files[f"{TRUTH_DIR}/world.json"] = json.dumps(
        {"generator": GENERATOR_VERSION, "params": asdict(p), "stats": stats}, indent=1
    ).encode()
    return b.world


def write_world(world: World, root: Path) -> int:
    """Write every file under ``root`` (temp + rename); returns the number of files."""
    for key, data in world.files.items():
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
    return len(world.files)
