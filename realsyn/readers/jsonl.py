"""MMC4 and OBELICS-style JSON-lines shards (plain or gzip)."""

from __future__ import annotations

import gzip
import json
import posixpath
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

from realsyn.readers.base import (
    RecordRejected,
    ShardError,
    ShardResult,
    decode_utf8,
    excerpt_of,
    resolve_image_ref,
)
from realsyn.readers.obelics import obelics_blocks


def iter_lines(path: Path, result: ShardResult) -> Iterator[tuple[int, bytes]]:
    """(record index, raw line) for every non-blank line; a broken gzip stream is recorded."""
    opener = gzip.open if path.name.endswith(".gz") else open
    index = -1
    try:
        with opener(path, "rb") as fh:
            for index, line in enumerate(fh):
                if line.strip():
                    yield index, line
                else:
                    result.notes["blank_lines"] += 1
    except (EOFError, OSError, zlib.error) as err:
        result.reject_record(index + 1, "stream_truncated", f"stream ends early: {err}")


def _load_object(raw: bytes) -> dict:
    text = decode_utf8(raw)
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as err:
        raise RecordRejected("invalid_json", f"{err.msg} (column {err.colno})") from err
    if not isinstance(obj, dict):
        raise RecordRejected("not_an_object", f"a JSON {type(obj).__name__}, not an object")
    return obj


def mmc4_blocks(obj: dict, base_dir: str) -> tuple[str | None, list[dict]]:
    """An MMC4 record -> (url, ordered blocks).

    MMC4 assigns each image to one sentence (``matched_text_index``). Following OpenFlamingo's
    MMC4 loader, each image is placed immediately before its matched sentence; images that
    match the same sentence keep their ``image_info`` order. ``matched_text_index`` in the
    output is the *item position* of that sentence, ``matched_sim`` MMC4's CLIP score.
    """
    for name in ("text_list", "image_info"):
        if name not in obj:
            raise RecordRejected("missing_field", f"no {name!r}")
    texts, infos = obj["text_list"], obj["image_info"]
    if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
        raise RecordRejected("bad_field_type", "'text_list' must be a list of strings")
    if not isinstance(infos, list) or not all(isinstance(i, dict) for i in infos):
        raise RecordRejected("bad_field_type", "'image_info' must be a list of objects")
    url = obj.get("url")
    if url is not None and not isinstance(url, str):
        raise RecordRejected("bad_field_type", "'url' must be a string")
    by_text: dict[int, list[dict]] = {}
    for n, info in enumerate(infos):
        idx = info.get("matched_text_index")
        if not isinstance(idx, int) or isinstance(idx, bool):
            raise RecordRejected("bad_field_type", f"image_info[{n}].matched_text_index not an int")
        if not 0 <= idx < len(texts):
            raise RecordRejected(
                "length_mismatch",
                f"image_info[{n}].matched_text_index={idx} outside text_list (len {len(texts)})",
            )
        raw = info.get("raw_url") or info.get("image_name")
        if not isinstance(raw, str):
            raise RecordRejected("missing_field", f"image_info[{n}] has no raw_url/image_name")
        by_text.setdefault(idx, []).append(info)
    blocks: list[dict] = []
    for t_index, text in enumerate(texts):
        images = by_text.get(t_index, [])
        has_text = bool(text.strip())
        text_position = len(blocks) + len(images) if has_text else None
        for info in images:
            sim = info.get("matched_sim")
            blocks.append(
                {
                    "kind": "image",
                    "ref": resolve_image_ref(info.get("raw_url") or info["image_name"], base_dir),
                    "alt_text": info.get("alt_text"),
                    "matched_text_index": text_position,
                    "matched_sim": float(sim) if isinstance(sim, int | float) else None,
                }
            )
        if has_text:
            blocks.append({"kind": "text", "text": text})
    return url, blocks


def read_jsonl(path: Path, shard: str, source_format: str, result: ShardResult) -> None:
    """Read an MMC4 (``mmc4_jsonl``) or OBELICS-style (``obelics_jsonl``) JSON-lines shard."""
    base_dir = posixpath.dirname(shard)
    parse: Callable[[dict, str], tuple[str | None, list[dict]]] = (
        mmc4_blocks if source_format == "mmc4_jsonl" else obelics_blocks
    )
    for index, raw in iter_lines(path, result):
        try:
            url, blocks = parse(_load_object(raw), base_dir)
            result.add_document(index, url, blocks)
        except RecordRejected as rej:
            result.reject_record(index, rej.reason, rej.detail, excerpt_of(raw))


def sniff_jsonl_format(path: Path) -> str | None:
    """``mmc4_jsonl`` or ``obelics_jsonl`` from the first parseable records' fields, else None."""
    opener = gzip.open if path.name.endswith(".gz") else open
    try:
        with opener(path, "rb") as fh:
            for n, line in enumerate(fh):
                if n >= 50:
                    break
                try:
                    obj = json.loads(line)
                except (json.JSONDecodeError, UnicodeDecodeError):
                    continue
                if isinstance(obj, dict) and "text_list" in obj:
                    return "mmc4_jsonl"
                if isinstance(obj, dict) and "texts" in obj:
                    return "obelics_jsonl"
    except (EOFError, OSError, zlib.error) as err:
        raise ShardError(f"{path.name}: cannot decompress or read ({err})") from err
    return None
