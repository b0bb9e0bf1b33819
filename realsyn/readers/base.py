"""The normalized document model shared by every reader.

A reader turns one shard into rows of three tables (:mod:`realsyn.schemas`): documents, items
in document order, and rejected records/items with a specific reason. A bad record is a row in
``rejected``; only a shard that cannot be opened at all raises :class:`ShardError`.
"""

from __future__ import annotations

import base64
import binascii
import posixpath
import re
from collections import Counter
from dataclasses import dataclass, field

import polars as pl

from realsyn.schemas import (
    DOCUMENTS_SCHEMA,
    ITEMS_SCHEMA,
    REJECTED_SCHEMA,
    doc_id_for,
    frame_from_rows,
)

_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*):")
EXCERPT_CHARS = 200


class ShardError(RuntimeError):
    """The shard cannot be read at all; the message names the file and the cause."""


@dataclass(frozen=True)
class ShardRef:
    """An input shard: its key relative to the corpus root and its format."""

    key: str
    format: str


class RecordRejected(Exception):
    """Raised inside a reader for one record; becomes a ``rejected`` row."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass
class ImageRef:
    """A resolved image reference: exactly one of url/path/data, or an error reason."""

    raw: str
    url: str | None = None
    path: str | None = None
    data: bytes | None = None
    error: str | None = None


def resolve_image_ref(raw: str | None, base_dir: str, base_url: str | None = None) -> ImageRef:
    """Classify an image reference as written in a document.

    - ``data:`` URIs are decoded to embedded bytes;
    - references with a scheme (http, https, file, ...) stay URLs; scheme checks are the
      fetcher's job. A scheme-less reference is resolved against ``base_url`` when the page
      has one (WARC), else it is a path relative to ``base_dir`` (corpus-root-relative) and
      must stay inside the corpus root.
    """
    text = (raw or "").strip()
    if not text:
        return ImageRef(raw=raw or "", error="bad_image_ref")
    if text.startswith("data:"):
        header, sep, payload = text.partition(",")
        if not sep:
            return ImageRef(raw=text[:64], error="bad_image_ref")
        try:
            data = (
                base64.b64decode(payload, validate=False)
                if ";base64" in header
                else payload.encode()
            )
        except (binascii.Error, ValueError):
            return ImageRef(raw=text[:64], error="bad_image_ref")
        return ImageRef(raw=text[:64], data=data)
    if _SCHEME.match(text) or text.startswith("//"):
        return ImageRef(raw=text, url=("https:" + text) if text.startswith("//") else text)
    if base_url:
        from urllib.parse import urljoin

        return ImageRef(raw=text, url=urljoin(base_url, text))
    if text.startswith("/"):
        return ImageRef(raw=text, error="path_escapes_root")
    joined = posixpath.normpath(posixpath.join(base_dir, text.split("#")[0].split("?")[0]))
    if joined == ".." or joined.startswith("../") or joined.startswith("/"):
        return ImageRef(raw=text, error="path_escapes_root")
    return ImageRef(raw=text, path=joined)


@dataclass
class ShardResult:
    """Rows of one shard plus its counts; ``tables()`` gives the typed frames."""

    shard: str
    source_format: str
    documents: list[dict] = field(default_factory=list)
    items: list[dict] = field(default_factory=list)
    rejected: list[dict] = field(default_factory=list)
    notes: Counter = field(default_factory=Counter)

    def reject_record(self, record_index: int, reason: str, detail: str, excerpt: str = "") -> None:
        self.rejected.append(
            {
                "shard": self.shard,
                "record_index": record_index,
                "doc_id": None,
                "reason": reason,
                "detail": detail[:500],
                "excerpt": excerpt[:EXCERPT_CHARS],
            }
        )

    def add_document(
        self,
        record_index: int,
        url: str | None,
        blocks: list[dict],
    ) -> None:
        """Add one document from ordered blocks.

        Each block is ``{"kind": "text", "text": ...}`` or ``{"kind": "image", "ref": ImageRef,
        "alt_text": ..., "caption": ..., "matched_text_index": ..., "matched_sim": ...}``.
        Empty text blocks are dropped before positions are assigned; an image whose reference
        is unusable stays as an item with ``ref_error`` set, so the image stage can report it.
        """
        doc_id = doc_id_for(self.shard, record_index)
        blocks = [b for b in blocks if b["kind"] != "text" or (b.get("text") or "").strip()]
        if not blocks:
            raise RecordRejected("empty_document", "no text and no image after parsing")
        n_texts = n_images = 0
        for position, block in enumerate(blocks):
            row = {"doc_id": doc_id, "item_id": f"{doc_id}:{position}", "position": position}
            if block["kind"] == "text":
                n_texts += 1
                row.update(kind="text", text=block["text"])
            else:
                n_images += 1
                ref: ImageRef = block["ref"]
                row.update(
                    kind="image",
                    image_ref=ref.raw,
                    image_url=ref.url,
                    image_path=ref.path,
                    image_bytes=ref.data,
                    ref_error=ref.error,
                    alt_text=block.get("alt_text") or None,
                    caption=block.get("caption") or None,
                    matched_text_index=block.get("matched_text_index"),
                    matched_sim=block.get("matched_sim"),
                )
                if ref.error:
                    self.notes[f"image_ref_{ref.error}"] += 1
            self.items.append(row)
        self.documents.append(
            {
                "doc_id": doc_id,
                "shard": self.shard,
                "record_index": record_index,
                "source_format": self.source_format,
                "url": url,
                "n_texts": n_texts,
                "n_images": n_images,
            }
        )

    def tables(self) -> dict[str, pl.DataFrame]:
        return {
            "documents": frame_from_rows(self.documents, DOCUMENTS_SCHEMA),
            "items": frame_from_rows(self.items, ITEMS_SCHEMA),
            "rejected": frame_from_rows(self.rejected, REJECTED_SCHEMA),
        }

    def stats(self) -> dict[str, int]:
        """Counts that add up across shards: the funnel of this stage."""
        reasons = Counter(r["reason"] for r in self.rejected)
        out = {
            "documents": len(self.documents),
            "text_items": sum(d["n_texts"] for d in self.documents),
            "image_refs": sum(d["n_images"] for d in self.documents),
            "rejected_records": len(self.rejected),
        }
        out.update({f"rejected_{reason}": n for reason, n in sorted(reasons.items())})
        out.update(dict(sorted(self.notes.items())))
        return out


def decode_utf8(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise RecordRejected("invalid_utf8", f"byte {err.start}: {err.reason}") from err


def excerpt_of(raw: bytes | str) -> str:
    if isinstance(raw, bytes):
        raw = raw[: EXCERPT_CHARS * 4].decode("utf-8", "replace")
    return raw[:EXCERPT_CHARS]
