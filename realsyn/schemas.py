"""The data contract: table schemas, id scheme and on-disk layout.

Every asset partition is a *versioned folder* under the data root::

    <asset>/<partition_dir>/v-<version>/<table>.parquet
    <asset>/<partition_dir>/_manifest.json

``partition_dir`` is :func:`realsyn.storage.partition_dir` of the partition key (a readable,
filesystem-safe slug plus a short hash, so two keys never collide). ``version`` is a hash of the
tables' bytes, so re-materializing unchanged input rewrites identical files. The manifest is
written last, in one atomic step: a partition whose manifest is absent does not exist, which is
how a crash mid-write stays invisible.

Ids are stable across runs and machines:

* ``doc_id``  = blake2b-64 of ``<shard key> NUL <record index>`` (16 hex chars). The shard key is
  the input file's path relative to the corpus root, so moving the corpus keeps the ids.
* ``item_id`` = ``<doc_id>:<position>``.

Great Expectations suites (``checks/``) and the readers build on the constants below.
"""

from __future__ import annotations

import hashlib

import polars as pl

# --- raw_documents --------------------------------------------------------------------------

SOURCE_FORMATS = ("obelics_parquet", "obelics_jsonl", "mmc4_jsonl", "warc", "html_folder")
ITEM_KINDS = ("text", "image")

DOCUMENTS_SCHEMA: dict[str, pl.DataType] = {
    "doc_id": pl.String(),
    "shard": pl.String(),
    "record_index": pl.Int64(),
    "source_format": pl.String(),
    "url": pl.String(),
    "n_texts": pl.Int32(),
    "n_images": pl.Int32(),
}
"""One row per accepted document."""

ITEMS_SCHEMA: dict[str, pl.DataType] = {
    "doc_id": pl.String(),
    "item_id": pl.String(),
    "position": pl.Int32(),
    "kind": pl.String(),
    "text": pl.String(),
    "image_ref": pl.String(),
    "image_url": pl.String(),
    "image_path": pl.String(),
    "image_bytes": pl.Binary(),
    "ref_error": pl.String(),
    "alt_text": pl.String(),
    "caption": pl.String(),
    "matched_text_index": pl.Int32(),
    "matched_sim": pl.Float32(),
}
"""One row per text block or image reference, in document order.

Text items carry ``text``. Image items carry ``image_ref`` (the reference as the source wrote
it) and exactly one of ``image_url`` (http/https or other scheme), ``image_path``
(corpus-root-relative path, already confined to the root), ``image_bytes`` (embedded: a
``data:`` URI or a WARC response record) or ``ref_error`` (why the reference is unusable, e.g.
``path_escapes_root``; the item is kept so the image stage reports it), plus ``alt_text`` /
``caption`` when the source has them. ``matched_text_index``/``matched_sim`` keep MMC4's own
image-sentence assignment as provenance (the position of the matched text item, and its score).
"""

REJECTED_SCHEMA: dict[str, pl.DataType] = {
    "shard": pl.String(),
    "record_index": pl.Int64(),
    "doc_id": pl.String(),
    "reason": pl.String(),
    "detail": pl.String(),
    "excerpt": pl.String(),
}
"""One row per rejected record: the shard, its position in the shard, a reason code, details."""

REJECT_REASONS = (
    "invalid_json",
    "invalid_utf8",
    "not_an_object",
    "missing_field",
    "bad_field_type",
    "length_mismatch",
    "empty_document",
    "warc_bad_record",
    "warc_truncated",
    "stream_truncated",
    "html_parse_error",
    "unsupported_content",
    "record_error",
)

RAW_DOCUMENTS_TABLES = ("documents", "items", "rejected")


def stable_id(*parts: str | int, n_hex: int = 16) -> str:
    """A short, stable hex id from ordered parts (blake2b, not Python's salted ``hash``)."""
    h = hashlib.blake2b(digest_size=max(4, n_hex // 2))
    for part in parts:
        h.update(str(part).encode("utf-8", "surrogatepass"))
        h.update(b"\x00")
    return h.hexdigest()[:n_hex]


def doc_id_for(shard: str, record_index: int) -> str:
    """The stable document id: a hash of the shard key and the record's position in it."""
    return stable_id(shard, record_index)


def empty_frame(schema: dict[str, pl.DataType]) -> pl.DataFrame:
    return pl.DataFrame(schema=schema)


def frame_from_rows(rows: list[dict], schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """Rows (dicts, missing keys are null) to a frame with exactly ``schema``'s columns."""
    if not rows:
        return empty_frame(schema)
    columns = {name: [row.get(name) for row in rows] for name in schema}
    return pl.DataFrame(columns, schema=schema)
