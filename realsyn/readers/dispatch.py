"""Shard discovery and format dispatch.

A shard is one input file (``.parquet``, ``.jsonl[.gz]``, ``.warc[.gz]``, ``.arc[.gz]``) or one
folder of HTML pages: the top-most folder that directly holds ``.html`` files, which takes every
page below it. Keys are relative to the corpus root and become partition keys.
"""

from __future__ import annotations

import posixpath
import time
from dataclasses import dataclass

from realsyn.readers.base import ShardError, ShardRef, ShardResult
from realsyn.readers.html_folder import HTML_SUFFIXES, read_html_folder
from realsyn.readers.jsonl import read_jsonl, sniff_jsonl_format
from realsyn.readers.obelics import read_obelics_parquet
from realsyn.readers.warc import read_warc
from realsyn.storage import Storage, StorageError

FILE_FORMATS = {
    ".parquet": "obelics_parquet",
    ".jsonl": "jsonl",
    ".jsonl.gz": "jsonl",
    ".json.gz": "jsonl",
    ".warc": "warc",
    ".warc.gz": "warc",
    ".arc": "warc",
    ".arc.gz": "warc",
}


@dataclass(frozen=True)
class RawDocumentsParams:
    """Reader limits. ``max_embedded_image_bytes``: WARC image payloads kept per shard."""

    max_embedded_image_bytes: int = 256 * 1024 * 1024
    parquet_batch_rows: int = 1024


def _file_format(key: str) -> str | None:
    lower = key.lower()
    for suffix in sorted(FILE_FORMATS, key=len, reverse=True):
        if lower.endswith(suffix):
            return FILE_FORMATS[suffix]
    return None


def discover_shards(corpus: Storage, prefix: str = "") -> list[ShardRef]:
    """Every shard under ``prefix``; ``jsonl`` formats are refined when read."""
    keys = corpus.list_keys(prefix)
    shards: list[ShardRef] = []
    html_dirs: set[str] = set()
    for key in keys:
        if any(part.startswith((".", "_")) for part in key.split("/")):
            continue  # hidden files and folders, and _-prefixed ones (e.g. a world's _world/ truth)
        fmt = _file_format(key)
        if fmt:
            shards.append(ShardRef(key, fmt))
        elif key.lower().endswith(HTML_SUFFIXES):
            html_dirs.add(posixpath.dirname(key))
    for d in sorted(html_dirs):
        parents = [d[:i] for i in range(len(d)) if d[i] == "/"]
        if not any(p in html_dirs for p in parents) and "" not in html_dirs - {d}:
            shards.append(ShardRef(d, "html_folder"))
    return sorted(shards, key=lambda s: s.key)


def detect_format(corpus: Storage, key: str) -> str:
    fmt = _file_format(key)
    if fmt:
        return fmt
    if any(k.lower().endswith(HTML_SUFFIXES) for k in corpus.list_keys(key)):
        return "html_folder"
    if corpus.exists(key):
        raise ShardError(f"{corpus.uri(key)}: unknown shard format (by file name)")
    raise ShardError(f"{corpus.uri(key)}: no such shard in the corpus")


def read_shard(corpus: Storage, key: str, params: RawDocumentsParams | None = None) -> ShardResult:
    """Read one shard into the normalized model. Raises :class:`ShardError` only when the
    shard as a whole cannot be read; bad records become ``rejected`` rows."""
    params = params or RawDocumentsParams()
    started = time.perf_counter()
    fmt = detect_format(corpus, key)
    if fmt == "html_folder":
        result = ShardResult(shard=key, source_format=fmt)
        read_html_folder(corpus, key, result)
    else:
        try:
            with corpus.local_path(key) as path:
                if fmt == "jsonl":
                    fmt = sniff_jsonl_format(path) or ""
                    if not fmt:
                        raise ShardError(
                            f"{corpus.uri(key)}: unrecognised JSON lines: no record among the "
                            "first 50 has 'text_list' (MMC4) or 'texts' (OBELICS)"
                        )
                result = ShardResult(shard=key, source_format=fmt)
                if fmt in ("mmc4_jsonl", "obelics_jsonl"):
                    read_jsonl(path, key, fmt, result)
                elif fmt == "obelics_parquet":
                    read_obelics_parquet(path, key, result, params.parquet_batch_rows)
                else:
                    read_warc(path, key, result, params.max_embedded_image_bytes)
        except StorageError as err:
            raise ShardError(f"{corpus.uri(key)}: cannot open ({err})") from err
    result.notes["read_ms"] = int((time.perf_counter() - started) * 1000)
    return result
