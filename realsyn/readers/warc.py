"""WARC / WARC.gz crawls (FastWARC): HTML responses become documents.

Lenient parsing (FastWARC's quirks mode) accepts real crawls' deviations, e.g. ClueWeb09's
WARC/0.18 records. A record whose payload is shorter than its declared length is rejected as
``warc_truncated``; a stream that stops parsing mid-file is recorded as ``warc_bad_record``
with the offset, and the records before it are kept. ARC files (the pre-WARC format) are
refused for the whole shard with a message, as is a file that is not WARC at all.

Image responses inside the same WARC are embedded into the page's image items (up to a byte
budget), so crawls that fetched their images need no second fetch.
"""

from __future__ import annotations

import gzip
from pathlib import Path

from fastwarc.warc import ArchiveIterator, WarcRecordType

from realsyn.readers.base import RecordRejected, ShardError, ShardResult, resolve_image_ref
from realsyn.readers.charset import decode_html, note_decoding
from realsyn.readers.html import extract_blocks

HTML_TYPES = ("text/html", "application/xhtml+xml")


def _sniff(path: Path) -> bytes:
    with open(path, "rb") as fh:
        head = fh.read(512)
    if head[:2] == b"\x1f\x8b":
        try:
            with gzip.open(path, "rb") as gz:
                head = gz.read(512)
        except (OSError, EOFError) as err:
            raise ShardError(f"{path.name}: gzip header unreadable ({err})") from err
    return head


def read_warc(path: Path, shard: str, result: ShardResult, max_embedded_bytes: int) -> None:
    head = _sniff(path)
    if head.startswith(b"filedesc://"):
        raise ShardError(
            f"{shard}: ARC (pre-WARC) format is not supported; convert it to WARC first "
            "(e.g. warcio's `warcio recompress` or `arc2warc`)"
        )
    if not head.lstrip().startswith(b"WARC/"):
        raise ShardError(f"{shard}: not a WARC file (starts with {head[:20]!r})")

    pages: list[tuple[int, str, str]] = []  # (record index, url, html)
    images: dict[str, bytes] = {}
    budget = max_embedded_bytes
    index = -1
    wanted = WarcRecordType.response | WarcRecordType.resource
    try:
        with open(path, "rb") as fh:
            for index, rec in enumerate(
                ArchiveIterator(fh, record_types=wanted, parse_http=True, quirks_mode=True)
            ):
                url = rec.headers.get("WARC-Target-URI") or ""
                body = rec.reader.read()
                if len(body) < rec.content_length or rec.headers.get("WARC-Truncated"):
                    result.reject_record(
                        index,
                        "warc_truncated",
                        f"{url}: payload {len(body)} of {rec.content_length} bytes",
                    )
                    continue
                ctype = (
                    rec.http_content_type
                    if rec.is_http_parsed
                    else rec.headers.get("Content-Type", "")
                ) or ""
                ctype = ctype.split(";")[0].strip().lower()
                status = rec.http_headers.status_code if rec.is_http_parsed else 200
                if ctype in HTML_TYPES and status == 200:
                    try:
                        decoded = decode_html(body, rec.http_charset)
                    except RecordRejected as rej:
                        result.reject_record(index, rej.reason, f"{url}: {rej.detail}")
                        continue
                    note_decoding(result, decoded)
                    pages.append((index, url, decoded.text))
                elif ctype.startswith("image/") and status == 200:
                    if len(body) <= budget:
                        images[url] = body
                        budget -= len(body)
                    else:
                        result.notes["warc_images_over_budget"] += 1
                else:
                    result.notes["warc_records_not_html"] += 1
    except OSError as err:
        result.reject_record(index + 1, "warc_bad_record", f"parsing stopped: {err}")

    for rec_index, url, html in pages:
        try:
            canonical, raw_blocks = extract_blocks(html)
        except Exception as err:  # a parser failure on one page must not sink the shard
            result.reject_record(rec_index, "html_parse_error", f"{url}: {err}")
            continue
        blocks = []
        for block in raw_blocks:
            if block["kind"] == "image":
                ref = resolve_image_ref(block["src"], "", base_url=url or None)
                if ref.url and ref.url in images:
                    ref.data, ref.url = images[ref.url], None
                    result.notes["warc_images_embedded"] += 1
                block = {**block, "ref": ref}
            blocks.append(block)
        try:
            result.add_document(rec_index, url or canonical, blocks)
        except RecordRejected as rej:
            result.reject_record(rec_index, rej.reason, f"{url}: {rej.detail}", html[:200])
