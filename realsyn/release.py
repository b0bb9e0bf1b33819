"""The release: RealSyn's parquet schema plus provenance, webdataset shards, a dataset card.

Webdataset samples: ``<key>.jpg`` (or ``.png``/``.webp``: the image's own bytes; other formats
are re-encoded to PNG, first frame), ``<key>.txt`` = text1, ``<key>.json`` = text1..3, syn_text
and provenance. Stock open_clip trains on ``txt``; the ``json`` holds the other texts for
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
