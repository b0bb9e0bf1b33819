"""Shard discovery and format dispatch.

A shard is one input file (``.parquet``, ``.jsonl[.gz]``, ``.warc[.gz]``, ``.arc[.gz]``) or one
folder: the top-most folder that directly holds HTML pages or documents (PDF, DOCX, PPTX, EPUB,
Markdown, ...), which takes every such file below it. A folder with documents is a
``documents_folder`` (:mod:`realsyn.readers.documents`: one file = one document, formats sniffed
from the bytes); one with HTML pages only stays an ``html_folder``. A corpus's own notes
(``README.md``, ``LICENSE.md``, ...) are no documents: they make no folder a shard. Keys are relative to the
corpus root and become partition keys.
"""

from __future__ import annotations

import posixpath
import time
from dataclasses import dataclass

from realsyn.readers.base import ShardError, ShardRef, ShardResult
from realsyn.readers.documents import DocumentLimits, is_document_file, read_documents_folder
from realsyn.readers.html_folder import HTML_SUFFIXES, read_html_folder
from realsyn.readers.jsonl import read_jsonl, sniff_jsonl_format
from realsyn.readers.obelics import read_obelics_parquet
from realsyn.readers.sniff import DOCUMENT_SUFFIXES, SUPPORTED_HELP
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
    """Reader limits. ``max_embedded_image_bytes``: WARC image payloads kept per shard;
    ``document_*``: per-document bounds of document folders (the rest of
    :class:`~realsyn.readers.documents.DocumentLimits` keeps its defaults)."""

    max_embedded_image_bytes: int = 256 * 1024 * 1024
    parquet_batch_rows: int = 1024
    document_timeout_s: float = DocumentLimits.timeout_s
    document_memory_limit_bytes: int = DocumentLimits.memory_limit_bytes
    document_workers: int = DocumentLimits.workers
    document_max_pages: int = DocumentLimits.max_pages
    document_max_images_per_page: int = DocumentLimits.max_images_per_page
    document_max_render_pixels: int = DocumentLimits.max_render_pixels

    def document_limits(self) -> DocumentLimits:
        return DocumentLimits(
            timeout_s=self.document_timeout_s,
            memory_limit_bytes=self.document_memory_limit_bytes,
            workers=self.document_workers,
            max_pages=self.document_max_pages,
            max_images_per_page=self.document_max_images_per_page,
            max_render_pixels=self.document_max_render_pixels,
        )


def _file_format(key: str) -> str | None:
    lower = key.lower()
    for suffix in sorted(FILE_FORMATS, key=len, reverse=True):
        if lower.endswith(suffix):
            return FILE_FORMATS[suffix]
    return None


def discover_shards(corpus: Storage, prefix: str = "") -> list[ShardRef]:
    """Every shard under ``prefix``; ``jsonl`` formats are refined when read."""
    return _discover(corpus.list_keys(prefix))[0]


def unread_files(corpus: Storage, prefix: str = "") -> list[str]:
    """Files under ``prefix`` that belong to no shard (hidden and ``_`` paths aside): what a
    corpus with no shard should name. Images beside HTML pages are listed too."""
    return _discover(corpus.list_keys(prefix))[1]


def no_shard_message(corpus: Storage, prefix: str = "", show: int = 20) -> str:
    """What to tell a user whose corpus holds nothing readable: the formats and the files."""
    unread = unread_files(corpus, prefix)
    listed = "".join(f"\n  {k}" for k in unread[:show])
    more = f"\n  ... and {len(unread) - show} more" if len(unread) > show else ""
    return (
        f"no readable shard in {corpus.uri(prefix)}: realsyn reads OBELICS/MMC4 (.parquet, "
        f".jsonl[.gz]), WARC/ARC (.warc[.gz], .arc[.gz]) and folders of documents ({SUPPORTED_HELP}"
        f": {', '.join(DOCUMENT_SUFFIXES + HTML_SUFFIXES)}); hidden and _-prefixed paths are "
        f"ignored. Skipped {len(unread)} file(s):{listed or ' none'}{more}"
    )


def _discover(keys: list[str]) -> tuple[list[ShardRef], list[str]]:
    shards: list[ShardRef] = []
    html_dirs: set[str] = set()
    doc_dirs: set[str] = set()
    unread: list[str] = []
    for key in keys:
        if any(part.startswith((".", "_")) for part in key.split("/")):
            continue  # hidden files and folders, and _-prefixed ones (e.g. a world's _world/ truth)
        fmt = _file_format(key)
        if fmt:
            shards.append(ShardRef(key, fmt))
        elif key.lower().endswith(HTML_SUFFIXES):
            html_dirs.add(posixpath.dirname(key))
        elif is_document_file(key):
            doc_dirs.add(posixpath.dirname(key))
        else:
            unread.append(key)
    folders = html_dirs | doc_dirs
    for d in sorted(folders):
        parents = [d[:i] for i in range(len(d)) if d[i] == "/"]
        if not any(p in folders for p in parents) and "" not in folders - {d}:
            has_docs = any(x == d or d == "" or x.startswith(d + "/") for x in doc_dirs)
            shards.append(ShardRef(d, "documents_folder" if has_docs else "html_folder"))
    return sorted(shards, key=lambda s: s.key), unread


def detect_format(corpus: Storage, key: str) -> str:
    fmt = _file_format(key)
    if fmt:
        return fmt
    keys = corpus.list_keys(key)
    if any(is_document_file(k) for k in keys):
        return "documents_folder"
    if any(k.lower().endswith(HTML_SUFFIXES) for k in keys):
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
    elif fmt == "documents_folder":
        result = ShardResult(shard=key, source_format=fmt)
        read_documents_folder(corpus, key, result, params.document_limits())
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
