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
# A documents_folder shard's document rows carry the format of each file.
DOCUMENT_SOURCE_FORMATS = ("pdf", "docx", "pptx", "epub", "markdown", "html")
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
    "parquet_row_group_corrupt",
    "html_parse_error",
    "unsupported_content",
    "record_error",
    # documents folders (realsyn.readers.documents)
    "unsupported_format",
    "encrypted",
    "empty_file",
    "corrupt_archive",
    "part_too_large",
    "unsafe_xml",
    "pdf_broken",
    "office_parse_error",
    "epub_broken",
    "document_parse_error",
    "reader_crashed",
    "reader_timeout",
    "reader_out_of_memory",
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


# --- clean_images ------------------------------------------------------------------------------

IMAGE_SOURCES = ("bytes", "path", "url", "ref_error")

CLEAN_IMAGES_SCHEMA: dict[str, pl.DataType] = {
    "image_id": pl.String(),
    "doc_id": pl.String(),
    "position": pl.Int32(),
    "shard": pl.String(),
    "source": pl.String(),
    "raw_image_url": pl.String(),
    "fetch_status": pl.Int32(),
    "sha256": pl.String(),
    "n_bytes": pl.Int64(),
    "format": pl.String(),
    "mode": pl.String(),
    "width": pl.Int32(),
    "height": pl.Int32(),
    "aspect": pl.Float64(),
    "n_frames": pl.Int32(),
    "exif_orientation": pl.Int32(),
    "phash": pl.UInt64(),
    "error": pl.String(),
    "error_detail": pl.String(),
    "decision": pl.String(),
    "reason": pl.String(),
}
"""One row per image item of ``raw_documents`` (``image_id`` = its ``item_id``).

``source`` says where the bytes came from; ``raw_image_url`` is the reference as published (the
URL, or the corpus path, or ``data:`` for embedded bytes). ``error`` is why no usable image came
out of fetching/decoding (see ``IMAGE_ERRORS``). ``width``/``height`` are upright (EXIF applied)
and ``aspect`` = width / height, kept as scores so size thresholds change without re-decoding.
``decision`` is ``keep`` or ``drop``; ``reason`` is the first failing rule (an error, then
``too_small``, then ``bad_aspect``).
"""

FETCH_ERRORS = (
    "path_escapes_root",
    "bad_image_ref",
    "missing_file",
    "not_fetched",
    "unsupported_scheme",
    "bad_url",
    "dns_failed",
    "blocked_address",
    "timeout",
    "connection_failed",
    "tls_error",
    "too_large",
    "too_many_redirects",
    "robots_noai",
    "http_error",
)
"""Why no bytes were obtained for an image (reference, file or network)."""
DECODE_ERRORS = (
    "empty_payload",
    "too_many_bytes",
    "svg_unsupported",
    "not_an_image",
    "decompression_bomb",
    "truncated_or_corrupt",
)
"""Why the bytes are not a usable image."""
IMAGE_ERRORS = FETCH_ERRORS + DECODE_ERRORS
IMAGE_FILTER_REASONS = ("too_small", "bad_aspect")
IMAGE_DECISIONS = ("keep", "drop")

# --- image_dedup -------------------------------------------------------------------------------

IMAGE_DEDUP_SCHEMA: dict[str, pl.DataType] = {
    "image_id": pl.String(),
    "shard": pl.String(),
    "sha256": pl.String(),
    "group_id": pl.String(),
    "duplicate_of": pl.String(),
    "survives": pl.Boolean(),
    "reason": pl.String(),
}
"""For every image of every shard: does it survive quality and redundancy filtering?

``reason`` is null for survivors, else the clean_images reason, ``exact_dup`` (same SHA-256 as
its representative), ``near_dup`` (pHash within the Hamming radius of it) or ``semantic_dup``
(joined through embedding similarity); groups are transitive over all three kinds of edge.
``group_id`` is the representative's ``image_id`` for every member of a duplicate group.
"""

IMAGE_DEDUP_REASONS = ("exact_dup", "near_dup", "semantic_dup")


def image_blob_key(sha256: str) -> str:
    """Content-addressed image bytes: stored once however often an image occurs."""
    return f"image_blobs/{sha256[:2]}/{sha256}"


# --- sentences ---------------------------------------------------------------------------------

SENTENCES_SCHEMA: dict[str, pl.DataType] = {
    "sentence_id": pl.String(),
    "doc_id": pl.String(),
    "position": pl.Int32(),
    "sentence_index": pl.Int32(),
    "shard": pl.String(),
    "text": pl.String(),
    "lang": pl.String(),
    "n_words": pl.Int32(),
    "n_chars": pl.Int32(),
    "has_url": pl.Boolean(),
    "has_emoji": pl.Boolean(),
    "n_objects": pl.Int16(),
    "n_relations": pl.Int16(),
    "has_action": pl.Boolean(),
    "null_words": pl.Int16(),
    "parse_status": pl.String(),
    "decision": pl.String(),
    "reason": pl.String(),
}
"""One row per sentence split from a text item of ``raw_documents``.

``sentence_id`` = blake2b of (doc_id, item position, sentence index): stable across runs.
Scores are stored for every sentence (the parse for those up to ``parse_max_words`` words), so
thresholds re-decide without re-scoring. ``parse_status``: ``parsed``, ``parsed_clauses`` (no
linkage for the whole sentence; its clauses were scored, see ``realsyn.cat``), ``no_linkage``,
``parser_crashed`` (link-grammar killed its worker process on this sentence),
``parse_timeout`` (the wall-clock safety net; ``timeout`` in partitions written before it),
``too_long`` (over ``parse_max_words``: not parsed), ``unavailable`` (no parser installed: the
CAT rule is not applied); not parsed because an earlier rule rejects the sentence:
``not_parsed`` (URL, emoji, word count), ``code_like``, ``repeated`` (a copy beyond the
document's repetition limit). Every status but ``parsed``/``parsed_clauses``/``unavailable``
fails CAT, with its own reason where it has one.
"""

SENTENCE_REASONS = (
    "has_url",
    "has_emoji",
    "code_like",
    "too_few_words",
    "too_many_words",
    "repeated_in_document",
    "too_long_to_parse",
    "parser_crashed",
    "parse_timeout",
    "cat_low_complexity",
    "cat_no_action",
)
PARSE_STATUSES = (
    "parsed",
    "parsed_clauses",
    "no_linkage",
    "timeout",
    "too_long",
    "unavailable",
    "not_parsed",
    "code_like",
    "repeated",
    "parser_crashed",
    "parse_timeout",
    "no_parser_for_language",
)

SENTENCE_SEMANTICS_SCHEMA: dict[str, pl.DataType] = {
    "sentence_id": pl.String(),
    "shard": pl.String(),
    "text": pl.String(),
    "entropy": pl.Float64(),
    "perplexity": pl.Float64(),
    "decision": pl.String(),
    "reason": pl.String(),
}
"""The semantic filter over the quality-kept sentences of a shard: word-frequency entropy
(natural log, frequencies over the whole corpus) and language-model perplexity (null when no
model is configured: that filter is then not applied, and says so)."""

SEMANTIC_REASONS = ("low_entropy", "perplexity_too_low", "perplexity_too_high")

SENTENCE_DEDUP_SCHEMA: dict[str, pl.DataType] = {
    "sentence_id": pl.String(),
    "shard": pl.String(),
    "norm_key": pl.String(),
    "duplicate_of": pl.String(),
    "survives": pl.Boolean(),
    "reason": pl.String(),
}
"""Exact duplicates (after normalising case, whitespace and punctuation) and, when sentence
embeddings exist, semantic duplicates (cosine >= threshold, transitively) across all shards,
among sentences that passed the quality and semantic filters."""

SENTENCE_DEDUP_REASONS = ("exact_dup", "semantic_dup")


# --- retrieval ---------------------------------------------------------------------------------

RELEASE_TEXTS = 3  # the release's realistic texts per image: text1..text3 (the paper's top-3)
MAX_TOP_K = 5  # retrieval_pairs keeps at most this many (text4, text5 beyond the release's 3)


def retrieval_schema(top_k: int = RELEASE_TEXTS) -> dict[str, pl.DataType]:
    """``retrieval_pairs``' columns for ``top_k`` texts per image.

    text1..text3 (with their sentence ids and scores) are always there, because the release
    publishes three; ``top_k`` < 3 leaves the ones beyond ``top_k`` null, ``top_k`` > 3 adds
    text4.. (up to :data:`MAX_TOP_K`), which the release does not publish.
    """
    if not 1 <= top_k <= MAX_TOP_K:
        raise ValueError(f"top_k must be in 1..{MAX_TOP_K}, got {top_k}")
    n = range(1, max(top_k, RELEASE_TEXTS) + 1)
    return {
        "image_id": pl.String(),
        "shard": pl.String(),
        "sha256": pl.String(),
        "raw_image_url": pl.String(),
        "doc_id": pl.String(),
        "position": pl.Int32(),
        **{f"text{j}": pl.String() for j in n},
        **{f"sentence_id{j}": pl.String() for j in n},
        **{f"score{j}": pl.Float32() for j in n},
        "cluster_id": pl.Int64(),
        "n_candidates": pl.Int64(),
        "short_reason": pl.String(),
        "model": pl.String(),
        "scope": pl.String(),
    }


RETRIEVAL_SCHEMA: dict[str, pl.DataType] = retrieval_schema(RELEASE_TEXTS)
"""One row per surviving image of a shard: its ``top_k`` most similar realistic sentences (text1
best) from the whole corpus by hierarchical retrieval, their cosine scores, the nearest sentence
cluster, how many sentences were scored, the model identity and the retrieval ``scope`` the texts
came from (``corpus``, ``document`` or ``hybrid``: :mod:`realsyn.scope`). ``short_reason`` is set
when fewer than ``top_k`` sentences were available (``cluster_too_small``; in document scope
``document_too_small``, and ``cluster_id`` is null: no cluster is searched); a ``top_k`` below 3
is a choice, not a shortage, and records no reason (see :func:`retrieval_schema`)."""


def decide(table: pl.DataFrame, reason: pl.Expr) -> pl.DataFrame:
    """Score, then decide: set ``reason`` (null = keep) and ``decision`` (keep/drop) from it."""
    return table.with_columns(reason.alias("reason")).with_columns(
        pl.when(pl.col("reason").is_null())
        .then(pl.lit("keep"))
        .otherwise(pl.lit("drop"))
        .alias("decision")
    )


# --- release -----------------------------------------------------------------------------------

RELEASE_COLUMNS = ("raw_image_url", "text1", "text2", "text3", "syn_text")
"""RealSyn's published parquet schema; provenance columns follow these."""

RELEASE_SCHEMA: dict[str, pl.DataType] = {
    "raw_image_url": pl.String(),
    "text1": pl.String(),
    "text2": pl.String(),
    "text3": pl.String(),
    "syn_text": pl.String(),
    "image_id": pl.String(),
    "sha256": pl.String(),
    "doc_id": pl.String(),
    "position": pl.Int32(),
    "shard": pl.String(),
    "sentence_id1": pl.String(),
    "sentence_id2": pl.String(),
    "sentence_id3": pl.String(),
    "score1": pl.Float32(),
    "score2": pl.Float32(),
    "score3": pl.Float32(),
    "pair_cosine": pl.Float32(),
    "sentence_cluster": pl.Int64(),
    "image_cluster": pl.Int64(),
    "cluster_rank": pl.Int64(),
    "short_reason": pl.String(),
    "model": pl.String(),
    "scope": pl.String(),
}
