"""A folder of HTML pages with local images: one shard per folder.

Each ``*.html``/``*.htm`` file under the shard folder (recursively, sorted by key) is one
document; its record index is its rank in that order. Image paths resolve relative to the page
and must stay inside the corpus root (not merely the shard folder, so pages may share an
``images/`` folder beside them). Pages decode by their BOM, ``<meta charset>`` or detected
encoding with undecodable bytes replaced and counted (``realsyn.readers.charset``).
"""

from __future__ import annotations

import posixpath

from realsyn.readers.base import RecordRejected, ShardResult, resolve_image_ref
from realsyn.readers.charset import decode_html, note_decoding
from realsyn.readers.html import extract_blocks
from realsyn.storage import Storage, StorageError

HTML_SUFFIXES = (".html", ".htm", ".xhtml")


def html_pages(corpus: Storage, shard: str) -> list[str]:
    return [k for k in corpus.list_keys(shard) if k.lower().endswith(HTML_SUFFIXES)]


def read_html_folder(corpus: Storage, shard: str, result: ShardResult) -> None:
    for index, key in enumerate(html_pages(corpus, shard)):
        try:
            raw = corpus.read_bytes(key)
        except StorageError as err:
            result.reject_record(index, "record_error", str(err))
            continue
        try:
            decoded = decode_html(raw)
            canonical, raw_blocks = extract_blocks(decoded.text)
            base_dir = posixpath.dirname(key)
            blocks = [
                {**b, "ref": resolve_image_ref(b["src"], base_dir)} if b["kind"] == "image" else b
                for b in raw_blocks
            ]
            result.add_document(index, canonical or key, blocks)
            note_decoding(result, decoded)
        except RecordRejected as rej:
            result.reject_record(
                index, rej.reason, f"{key}: {rej.detail}", raw[:200].decode("utf-8", "replace")
            )
        except Exception as err:  # a parser failure on one page must not sink the shard
            result.reject_record(index, "html_parse_error", f"{key}: {type(err).__name__}: {err}")
