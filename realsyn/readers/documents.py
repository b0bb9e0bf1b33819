"""A folder of a company's own documents (PDF, DOCX, PPTX, EPUB, Markdown, HTML): one shard.

Each file under the folder (recursively, sorted by key) whose name ends in one of
:data:`~realsyn.readers.sniff.DOCUMENT_SUFFIXES` or an HTML suffix is one document; its record
index is its rank in that order. The format comes from the file's first bytes
(:mod:`realsyn.readers.sniff`), never its name, and each document is its own ``source_format``
row value (``pdf``, ``docx``, ...).

Parsers of these formats are native code (pdfium, libxml2) fed hostile input, so every document
is parsed in a worker process (:mod:`realsyn.isolation`) under an address-space limit and a
time limit: a document that kills its worker is a ``reader_crashed`` row, one that overruns is
``reader_timeout`` (a load-dependent outcome, so it is also counted in the notes and warned
about), one that exhausts the memory limit ``reader_out_of_memory``; the shard goes on.
"""

from __future__ import annotations

import contextlib
import posixpath
import re
import warnings
from collections import Counter
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

from realsyn.readers.base import (
    RecordRejected,
    ShardError,
    ShardResult,
    resolve_image_ref,
)
from realsyn.readers.charset import decode_html
from realsyn.readers.sniff import DOCUMENT_SUFFIXES
from realsyn.storage import Storage, StorageError

HTML_PAGE_SUFFIXES = (".html", ".htm", ".xhtml")
_WINDOW = 32  # documents whose local copies exist at once (S3 downloads them to temp files)


@dataclass(frozen=True)
class DocumentLimits:
    """Per-document bounds: what a single file may cost, and what happens past each bound.

    Past a cap the rest is dropped and counted in the shard's notes (``<what>_over_cap``).
    """

    max_pages: int = 300
    max_images_per_page: int = 40
    max_images_per_document: int = 400
    max_extract_pixels: int = 4_000_000  # decoded as stored up to this; rendered above
    max_image_pixels: int = 64_000_000  # declared larger: never decoded (an image bomb)
    max_render_pixels: int = 1_000_000  # a rendered crop's pixel budget
    max_render_scale: float = 2.0  # 144 dpi
    max_part_bytes: int = 64 * 1024 * 1024  # one zip part (declared size), DOCX/PPTX/EPUB
    max_package_bytes: int = 512 * 1024 * 1024  # all parts together (declared)
    max_path_objects: int = 20_000  # vector paths considered per page
    timeout_s: float = 120.0
    memory_limit_bytes: int = 3 * 1024**3
    workers: int = 2


_CORPUS_NOTES = re.compile(r"^(readme|license|licence|changelog|credits|contributing)\b", re.I)


def is_document_file(key: str) -> bool:
    """A document by its name; a corpus's own notes (README.md, LICENSE.md, ...) are not."""
    name = key.rsplit("/", 1)[-1]
    if name.lower().endswith((".md", ".markdown")) and _CORPUS_NOTES.match(name):
        return False
    return key.lower().endswith(DOCUMENT_SUFFIXES)


def document_files(corpus: Storage, shard: str) -> list[str]:
    """The files of a document folder shard, sorted (their ranks are the record indexes)."""
    return [
        k
        for k in corpus.list_keys(shard)
        if (is_document_file(k) or k.lower().endswith(HTML_PAGE_SUFFIXES))
        and not any(part.startswith((".", "_")) for part in k.split("/"))
    ]


def _html_blocks(raw: bytes, key: str) -> list[dict]:
    from realsyn.readers.html import extract_blocks

    _canonical, raw_blocks = extract_blocks(decode_html(raw).text)
    base_dir = posixpath.dirname(key)
    return [
        {**b, "ref": resolve_image_ref(b["src"], base_dir)} if b["kind"] == "image" else b
        for b in raw_blocks
    ]


def parse_document(task: tuple[str, str, DocumentLimits]) -> dict:
    """Parse one file (runs in a worker). Returns ``{"format", "blocks", "notes"}`` or
    ``{"format", "reason", "detail"}``; a rejection is a value (exceptions with custom
    constructors do not survive pickling)."""
    path_str, key, limits = task
    path = Path(path_str)
    notes: Counter = Counter()
    fmt = "unknown"
    try:
        from realsyn.readers.sniff import sniff_document

        fmt = sniff_document(path, key)
        if fmt == "pdf":
            from realsyn.readers.pdf import read_pdf

            blocks = read_pdf(path, limits, notes)
        elif fmt in ("docx", "pptx"):
            from realsyn.readers.office import read_docx, read_pptx

            blocks = (read_docx if fmt == "docx" else read_pptx)(path, limits, notes)
        elif fmt == "epub":
            from realsyn.readers.epub import read_epub

            blocks = read_epub(path, limits, notes)
        elif fmt == "markdown":
            from realsyn.readers.epub import markdown_blocks

            blocks = markdown_blocks(path.read_bytes(), key)
        else:
            blocks = _html_blocks(path.read_bytes(), key)
    except RecordRejected as rej:
        return {"format": fmt, "reason": rej.reason, "detail": rej.detail}
    except ImportError as err:
        if "failed to map segment" in str(err):  # a native library past the address-space limit
            raise MemoryError(f"cannot load a parser library: {err}") from err
        raise
    return {"format": fmt, "blocks": blocks, "notes": notes}


def _failure_row(outcome) -> tuple[str, str]:
    if outcome.kind == "crashed":
        return "reader_crashed", outcome.message
    if outcome.kind == "timed_out":
        return "reader_timeout", outcome.message
    if outcome.kind == "out_of_memory":
        return "reader_out_of_memory", outcome.message
    return "document_parse_error", outcome.message.splitlines()[0] if outcome.message else ""


def read_documents_folder(
    corpus: Storage, shard: str, result: ShardResult, limits: DocumentLimits
) -> None:
    """Read every document of a folder shard into ``result`` (one document per file)."""
    from realsyn.isolation import IsolatedPool

    keys = document_files(corpus, shard)
    if not keys:
        return
    folder_format = result.source_format
    with IsolatedPool(
        parse_document,
        workers=max(1, min(limits.workers, len(keys))),
        chunksize=1,
        memory_limit_bytes=limits.memory_limit_bytes,
        timeout_s=limits.timeout_s,
    ) as pool:
        for start in range(0, len(keys), _WINDOW):
            window = list(enumerate(keys))[start : start + _WINDOW]
            with contextlib.ExitStack() as stack:
                tasks, indexes = [], []
                for index, key in window:
                    try:
                        path = stack.enter_context(corpus.local_path(key))
                    except StorageError as err:
                        result.reject_record(index, "record_error", f"{key}: {err}")
                        continue
                    tasks.append((str(path), key, limits))
                    indexes.append(index)
                try:
                    outcomes = pool.map(tasks)
                except BrokenProcessPool as err:  # no worker could even start: configuration
                    raise ShardError(
                        f"{corpus.uri(shard)}: document reader workers die on start ({err}): "
                        f"is memory_limit_bytes={limits.memory_limit_bytes} too small to load "
                        "the parsers, or can the worker not import its code (see its traceback)?"
                    ) from err
            for index, (_path, key, _limits), outcome in zip(indexes, tasks, outcomes, strict=True):
                _add_outcome(result, index, key, outcome)
    result.source_format = folder_format


def _add_outcome(result: ShardResult, index: int, key: str, outcome) -> None:
    if not outcome.ok:
        reason, detail = _failure_row(outcome)
        result.notes[reason] += 1
        if reason == "reader_timeout":
            warnings.warn(f"{key}: {detail}; recorded as reader_timeout", stacklevel=2)
        result.reject_record(index, reason, f"{key}: {detail}")
        return
    parsed = outcome.value
    if "reason" in parsed:
        result.reject_record(index, parsed["reason"], f"{key}: {parsed['detail']}")
        return
    result.notes.update(parsed["notes"])
    result.source_format = parsed["format"]  # the document row's format: what the file is
    try:
        result.add_document(index, key, parsed["blocks"])
    except RecordRejected as rej:
        result.reject_record(index, rej.reason, f"{key}: {rej.detail}")
