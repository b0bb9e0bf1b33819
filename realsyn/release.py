"""The release: RealSyn's parquet schema plus provenance, webdataset shards, a dataset card.

Webdataset samples: ``<key>.jpg`` (or ``.png``/``.webp``: the image's own bytes; other formats
are re-encoded to PNG, first frame), ``<key>.txt`` = text1, ``<key>.json`` = text1..3, syn_text
and provenance (ids, url, model, and the retrieval ``scope`` the texts came from). Stock open_clip trains on ``txt``; the ``json`` holds the other texts for
trainers that sample among them (as the paper does). Shards are built in memory and written in
one atomic put each.
"""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import polars as pl
from PIL import Image

from realsyn.report import funnel_markdown

KEEP_AS_IS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}


@dataclass(frozen=True)
class ShardSpec:
    samples_per_shard: int = 1000
    prefix: str = "realsyn"


def image_payload(data: bytes, fmt: str | None) -> tuple[bytes, str]:
    if fmt in KEEP_AS_IS:
        return data, KEEP_AS_IS[fmt]
    img = Image.open(io.BytesIO(data))
    img.seek(0)
    buf = io.BytesIO()
    img.convert("RGB").save(buf, "PNG")
    return buf.getvalue(), "png"


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 0  # reproducible bytes
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def webdataset_shards(
    rows: pl.DataFrame,
    image_bytes: Callable[[str], bytes],
    formats: dict[str, str | None],
    spec: ShardSpec,
) -> Iterable[tuple[str, bytes, int]]:
    """(shard file name, tar bytes, samples) for the release rows, in row order."""
    records = rows.to_dicts()
    for start in range(0, len(records), spec.samples_per_shard):
        buf = io.BytesIO()
        chunk = records[start : start + spec.samples_per_shard]
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
            for rec in chunk:
                key = rec["image_id"].replace(":", "_").replace(".", "_")
                data, ext = image_payload(image_bytes(rec["sha256"]), formats.get(rec["sha256"]))
                _add(tar, f"{key}.{ext}", data)
                _add(tar, f"{key}.txt", (rec["text1"] or "").encode())
                meta = {
                    k: rec[k]
                    for k in (
                        "text1",
                        "text2",
                        "text3",
                        "syn_text",
                        "image_id",
                        "sha256",
                        "raw_image_url",
                        "doc_id",
                        "model",
                        "scope",
                    )
                }
                _add(tar, f"{key}.json", json.dumps(meta, ensure_ascii=False).encode())
        name = f"{spec.prefix}-{start // spec.samples_per_shard:06d}.tar"
        yield name, buf.getvalue(), len(chunk)


def dataset_card(scale: str, stats: dict, params: dict, models: dict, funnel_md: str) -> str:
    lines = [
        f"# realsyn release: {scale}",
        "",
        "RealSyn-style image-text data (arXiv 2502.12513): each image with 3 retrieved realistic",
        "sentences (`text1` best) and one synthetic caption (`syn_text`, null when no captioner",
        "was configured).",
        "",
        "## Counts",
        *[f"- {k}: {v:,}" if isinstance(v, int) else f"- {k}: {v}" for k, v in stats.items()],
        "",
        "## Filters and thresholds",
        *[f"- {k}: {v}" for k, v in params.items()],
        "",
        "## Models",
        *[f"- {k}: {v}" for k, v in models.items()],
        "",
        "## Funnel",
        funnel_md,
        "",
        "## Files",
        "- `release.parquet`: `raw_image_url, text1, text2, text3, syn_text` + provenance columns",
        "- `wds/*.tar`: webdataset shards (`jpg|png|webp`, `txt` = text1, `json` = all texts)",
        "",
    ]
    return "\n".join(lines)


# The release's cross-stage funnel: (row label, asset, stats key), images then sentences.
IMAGE_FUNNEL = (
    ("documents parsed", "raw_documents", "documents"),
    ("image references", "raw_documents", "image_refs"),
    ("images kept by the quality filter", "clean_images", "kept"),
    ("images surviving de-duplication", "image_dedup", "survivors"),
    ("images with retrieved texts", "retrieval_pairs", "images"),
    ("pairs kept by the pair filter", "balanced_pool", "kept"),
)
SENTENCE_FUNNEL = (
    ("sentences", "sentences", "total"),
    ("kept by the quality rules", "sentences", "kept"),
    ("kept by entropy / perplexity", "sentence_semantics", "kept"),
    ("surviving de-duplication", "sentence_dedup", "survivors"),
    ("clustered for retrieval", "sentence_clusters", "sentences"),
)


def release_funnel(totals: dict[str, dict], scale: str, rows: int) -> str:
    """Markdown funnels from documents to this scale's rows, and from sentences to the
    retrieval pool; ``totals`` maps asset -> stats summed over its partitions."""

    def table(spec, total: str, last=None) -> str:
        stats = {label: int(totals.get(asset, {}).get(key, 0)) for label, asset, key in spec}
        order = [label for label, _, _ in spec]
        if last:
            stats[last[0]] = last[1]
            order.append(last[0])
        return funnel_markdown(stats, total, order)

    images = table(IMAGE_FUNNEL, "image references", (f"images in {scale}", rows))
    sentences = table(SENTENCE_FUNNEL, "sentences")
    return f"Images (shares of the image references):\n\n{images}\n\nSentences:\n\n{sentences}"
