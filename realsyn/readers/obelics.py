"""OBELICS documents: parquet shards and OBELICS-style JSON lines.

A record has ``texts`` and ``images``: parallel lists, null-padded, where each position holds
exactly one of a text paragraph or an image URL; ``metadata`` a JSON list (per position, null
for texts; per image e.g. ``src``, ``alt_text``); ``general_metadata`` JSON with the page ``url``.
"""

from __future__ import annotations

import json
import posixpath
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from realsyn.readers.base import RecordRejected, ShardError, ShardResult, resolve_image_ref

REQUIRED_COLUMNS = ("texts", "images")
READ_COLUMNS = ("texts", "images", "metadata", "general_metadata")


def _json_field(value, name: str, expect: type):
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as err:
            raise RecordRejected("invalid_json", f"{name}: {err.msg} (column {err.colno})") from err
    if value is not None and not isinstance(value, expect):
        raise RecordRejected("bad_field_type", f"{name} must be a JSON {expect.__name__}")
    return value


def obelics_blocks(obj: dict, base_dir: str) -> tuple[str | None, list[dict]]:
    """An OBELICS record -> (page url, ordered blocks)."""
    for name in REQUIRED_COLUMNS:
        if name not in obj:
            raise RecordRejected("missing_field", f"no {name!r}")
    texts, images = obj["texts"], obj["images"]
    if not isinstance(texts, list) or not isinstance(images, list):
        raise RecordRejected("bad_field_type", "'texts' and 'images' must be lists")
    if len(texts) != len(images):
        raise RecordRejected(
            "length_mismatch", f"texts has {len(texts)} positions, images {len(images)}"
        )
    metadata = _json_field(obj.get("metadata"), "metadata", list) or [None] * len(images)
    if len(metadata) != len(images):
        raise RecordRejected(
            "length_mismatch", f"metadata has {len(metadata)} entries, images {len(images)}"
        )
    general = _json_field(obj.get("general_metadata"), "general_metadata", dict) or {}
    url = general.get("url") if isinstance(general.get("url"), str) else None
    blocks: list[dict] = []
    for pos, (text, image) in enumerate(zip(texts, images, strict=True)):
        if (text is None) == (image is None):
            state = "both" if text is not None else "neither"
            raise RecordRejected("bad_field_type", f"position {pos} has {state} text and image")
        if text is not None:
            if not isinstance(text, str):
                raise RecordRejected("bad_field_type", f"texts[{pos}] is not a string")
            blocks.append({"kind": "text", "text": text})
            continue
        if not isinstance(image, str):
            raise RecordRejected("bad_field_type", f"images[{pos}] is not a string")
        meta = metadata[pos] if isinstance(metadata[pos], dict) else {}
        blocks.append(
            {
                "kind": "image",
                "ref": resolve_image_ref(image, base_dir),
                "alt_text": meta.get("alt_text") if isinstance(meta.get("alt_text"), str) else None,
                "caption": meta.get("caption") if isinstance(meta.get("caption"), str) else None,
            }
        )
    return url, blocks


def read_obelics_parquet(
    path: Path, shard: str, result: ShardResult, batch_rows: int = 1024
) -> None:
    """Read an OBELICS parquet shard batch by batch (memory bounded by ``batch_rows``), one row
    group at a time: an unreadable row group is one ``parquet_row_group_corrupt`` rejection
    (its lost rows counted) and the groups after it are still read."""
    try:
        pf = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as err:
        raise ShardError(f"{shard}: not a readable parquet file ({err})") from err
    names = set(pf.schema_arrow.names)
    missing = [c for c in REQUIRED_COLUMNS if c not in names]
    if missing:
        raise ShardError(
            f"{shard}: not an OBELICS shard, missing column(s) {missing} (has {sorted(names)})"
        )
    columns = [c for c in READ_COLUMNS if c in names]
    base_dir = posixpath.dirname(shard)
    start = 0  # a row group at a time: a corrupt one costs its own rows, not the shard's
    for group in range(pf.num_row_groups):
        rows = pf.metadata.row_group(group).num_rows
        index = start
        try:
            for batch in pf.iter_batches(
                batch_size=batch_rows, columns=columns, row_groups=[group]
            ):
                for row in batch.to_pylist():
                    try:
                        url, blocks = obelics_blocks(row, base_dir)
                        result.add_document(index, url, blocks)
                    except RecordRejected as rej:
                        result.reject_record(index, rej.reason, rej.detail, str(row)[:200])
                    index += 1
        except (pa.ArrowInvalid, OSError) as err:
            lost = start + rows - index
            result.reject_record(
                index,
                "parquet_row_group_corrupt",
                f"row group {group}: {lost} of {rows} rows unreadable ({err})",
            )
        start += rows
