"""Which kind of document a file is, from its first bytes and zip directory (never its name).

A ``.docx`` that is really an HTML page is read as HTML; a legacy binary Office file (OLE
compound document) is ``unsupported_format``, or ``encrypted`` when it wraps an encrypted
OOXML package (Office saves password-protected .docx/.pptx that way). Zip packages are judged
by their part names: ``word/document.xml`` (DOCX), ``ppt/presentation.xml`` (PPTX), a
``mimetype`` entry reading ``application/epub+zip`` (EPUB).
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from realsyn.readers.base import RecordRejected

DOCUMENT_FORMATS = ("pdf", "docx", "pptx", "epub", "markdown", "html")
"""What a document folder can hold and read (``source_format`` of its documents)."""

DOCUMENT_SUFFIXES = (
    ".pdf",
    ".docx",
    ".docm",
    ".pptx",
    ".pptm",
    ".epub",
    ".md",
    ".markdown",
    # Not readable, but listed so a folder of them says why instead of skipping them silently.
    ".doc",
    ".ppt",
    ".rtf",
    ".odt",
    ".odp",
)
SUPPORTED_HELP = "PDF, DOCX, PPTX, EPUB, Markdown (.md) and HTML"

_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_OLE_ENCRYPTION = "EncryptionInfo".encode("utf-16-le")
_HEAD = 4096


def _sniff_zip(path: Path) -> str:
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
            if "mimetype" in names:
                info = zf.getinfo("mimetype")
                if info.file_size < 100 and zf.read(info).strip() == b"application/epub+zip":
                    return "epub"
            if "[Content_Types].xml" in names:
                if "word/document.xml" in names:
                    return "docx"
                if "ppt/presentation.xml" in names:
                    return "pptx"
                raise RecordRejected(
                    "unsupported_format", "an Office Open XML package that is not DOCX or PPTX"
                )
            if "META-INF/container.xml" in names:
                return "epub"  # EPUBs whose mimetype entry is missing still name their OPF
    except (zipfile.BadZipFile, OSError, EOFError) as err:
        raise RecordRejected("corrupt_archive", f"zip: {err}") from err
    raise RecordRejected("unsupported_format", "a zip archive that is not DOCX, PPTX or EPUB")


def _looks_like_html(head: bytes) -> bool:
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith((b"<!doctype html", b"<html")):
        return True
    if text.startswith(b"<?xml") and b"<html" in text:
        return True
    return b"<html" in text[:1024] and b"<body" in text


def sniff_document(path: Path, name: str) -> str:
    """The document format of ``path`` (one of :data:`DOCUMENT_FORMATS`).

    ``name`` (the key) only decides between Markdown and an unknown text file. Raises
    :class:`RecordRejected` (``unsupported_format``, ``encrypted``, ``corrupt_archive``,
    ``empty_file``) for anything else.
    """
    with open(path, "rb") as fh:
        head = fh.read(_HEAD)
    if not head:
        raise RecordRejected("empty_file", "0 bytes")
    if b"%PDF-" in head[:1024]:
        return "pdf"
    if head.startswith(b"PK\x03\x04"):
        return _sniff_zip(path)
    if head.startswith(_OLE):
        with open(path, "rb") as fh:
            if _OLE_ENCRYPTION in fh.read(1 << 20):
                raise RecordRejected("encrypted", "a password-protected Office document")
        raise RecordRejected(
            "unsupported_format",
            "a legacy binary Office file (.doc/.ppt/.xls); save it as .docx/.pptx",
        )
    if head.startswith(b"{\\rtf"):
        raise RecordRejected("unsupported_format", "an RTF file; save it as .docx")
    if _looks_like_html(head):
        return "html"
    if name.lower().endswith((".md", ".markdown")):
        return "markdown"
    raise RecordRejected("unsupported_format", f"not {SUPPORTED_HELP} (first bytes {head[:16]!r})")
