"""Bytes of an HTML page -> text, the way a browser picks the encoding, with invalid bytes
replaced (and counted) instead of the page rejected.

The encoding comes from, in order: a byte-order mark; the charset the transport declared (a
WARC's HTTP ``Content-Type``); a ``<meta charset>`` / ``http-equiv`` declaration in the first
``PRESCAN_BYTES``; else the bytes themselves: UTF-8 when they hold at least as many valid
multi-byte sequences as invalid bytes, else the best of charset-normalizer's candidates. Labels
map as in the WHATWG Encoding standard where Python's codec of the same name is narrower
(``Shift_JIS`` -> cp932, ``ISO-8859-1``/``ASCII`` -> cp1252, ``GBK`` -> gb18030). A declaration
whose decoding replaces more than ``SUSPECT_SHARE`` of the bytes is checked against the detected
encoding, and the one with fewer replacements wins (mislabelled pages are common). Each
undecodable byte becomes U+FFFD and is counted.

Binary data is still refused: NUL bytes (over ``MAX_NUL_SHARE`` of the page) in a page that is
not UTF-16/32, or more than ``MAX_REPLACED_SHARE`` of the bytes undecodable, raise
``RecordRejected("unsupported_content")``.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

from realsyn.readers.base import RecordRejected, ShardResult

PRESCAN_BYTES = 4096  # the WHATWG prescan reads 1024; real pages put long heads before <meta>
SUSPECT_SHARE = 0.01
MAX_REPLACED_SHARE = 0.2
MAX_NUL_SHARE = 0.01  # real pages carry a stray NUL now and then; binary files are full of them
DETECT_BYTES = 256 * 1024  # charset-normalizer looks at this much of a page at most
DETECTABLE = (  # legacy encodings still common on the web, most common first
    "cp1252",
    "cp932",
    "euc_jp",
    "gb18030",
    "cp949",
    "big5",
    "cp1251",
    "cp1250",
    "koi8_r",
    "cp1253",
    "cp1254",
    "cp1255",
    "cp1256",
    "cp1257",
    "cp1258",
    "cp874",
)

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),  # before UTF-16 LE: it starts with the same two bytes
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_META = re.compile(rb"<meta\b[^>]*?charset\s*=\s*[\"']?\s*([A-Za-z0-9_.:+-]+)", re.IGNORECASE)
_LABELS = {"x-sjis": "cp932", "windows-31j": "cp932", "x-euc-jp": "euc_jp", "x-gbk": "gb18030"}
_WHATWG = {  # Python codec -> the wider one browsers use for its labels
    "shift_jis": "cp932",
    "iso8859_1": "cp1252",
    "ascii": "cp1252",
    "iso8859_9": "cp1254",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "euc_kr": "cp949",
    "tis_620": "cp874",
}
_ESCAPED = re.compile("[\udc80-\udcff]")


@dataclass(frozen=True)
class Decoded:
    """A page's text and how it was obtained."""

    text: str
    encoding: str  # Python codec name
    source: str  # bom / declared / meta / utf8 / detected
    replaced_bytes: int


def codec_for(label: str | None) -> str | None:
    """Python codec for an encoding label (WHATWG widenings applied), or None if unknown."""
    label = (label or "").strip().strip("\"'").lower()
    if not label:
        return None
    try:
        name = codecs.lookup(_LABELS.get(label, label)).name.replace("-", "_")
    except LookupError:
        return None
    return _WHATWG.get(name, name).replace("_", "-")


def _decode(raw: bytes, encoding: str) -> tuple[str, int]:
    """Decode with every undecodable byte replaced by U+FFFD; (text, bytes replaced)."""
    text = raw.decode(encoding, "surrogateescape")  # one lone surrogate per undecodable byte
    bad = len(_ESCAPED.findall(text))
    return (_ESCAPED.sub("\ufffd", text) if bad else text), bad


def _detect(raw: bytes) -> str | None:
    """The likeliest web encoding of undeclared bytes: charset-normalizer's candidates among
    ``DETECTABLE``, least chaos first; ties (common on short pages) go to the earlier entry of
    ``DETECTABLE``, and a decoding full of isolated Hangul jamo (EUC-JP read as EUC-KR) loses."""
    from charset_normalizer import from_bytes

    def rank(match) -> tuple:
        text = str(match)
        jamo = sum(0x3130 <= ord(c) <= 0x318F for c in text)
        wide = max(1, sum(ord(c) > 0x2FF for c in text))
        order = DETECTABLE.index(match.encoding) if match.encoding in DETECTABLE else 99
        return jamo > 0.05 * wide, round(match.chaos, 2), order

    matches = list(from_bytes(raw[:DETECT_BYTES], cp_isolation=list(DETECTABLE)))
    return codec_for(min(matches, key=rank).encoding) if matches else None


def _declared(raw: bytes, transport: str | None) -> tuple[str | None, str]:
    for bom, encoding in _BOMS:
        if raw.startswith(bom):
            return encoding, "bom"
    if codec_for(transport):
        return codec_for(transport), "declared"
    match = _META.search(raw[:PRESCAN_BYTES])
    meta = codec_for(match.group(1).decode("ascii")) if match else None
    if meta and meta.startswith(("utf-16", "utf-32")):
        meta = "utf-8"  # a meta tag readable as ASCII cannot be in UTF-16 (WHATWG)
    return meta, "meta"


def decode_html(raw: bytes, transport_charset: str | None = None) -> Decoded:
    """Text of an HTML page's bytes (see the module docstring for the order of evidence)."""
    encoding, source = _declared(raw, transport_charset)
    wide = encoding is not None and encoding.startswith(("utf-16", "utf-32"))
    nul = raw.count(b"\x00")
    if nul > MAX_NUL_SHARE * len(raw) and not wide:
        raise RecordRejected("unsupported_content", f"binary data, not text: {nul} NUL bytes")
    if source == "bom":
        raw = raw[len(next(b for b, e in _BOMS if e == encoding)) :]
    if encoding is None:
        text, bad = _decode(raw, "utf-8")
        multibyte = len(text) - len(text.encode("ascii", "ignore")) - bad
        if multibyte >= bad:  # valid UTF-8 sequences (legacy bytes rarely form them) win
            return Decoded(text, "utf-8", "utf8", bad)
        encoding, source = _detect(raw) or "utf-8", "detected"
    text, bad = _decode(raw, encoding)
    if bad > SUSPECT_SHARE * len(raw) and source in ("declared", "meta"):
        guess = _detect(raw)
        if guess and guess != encoding:
            other, other_bad = _decode(raw, guess)
            if other_bad < bad:
                text, bad, encoding, source = other, other_bad, guess, "detected"
    if bad > MAX_REPLACED_SHARE * len(raw):
        raise RecordRejected(
            "unsupported_content",
            f"binary data, not text: {bad} of {len(raw)} bytes undecodable as {encoding}",
        )
    return Decoded(text, encoding, source, bad)


def note_decoding(result: ShardResult, decoded: Decoded) -> None:
    """Count what decoding a kept page took: bytes replaced, encodings not declared."""
    if decoded.replaced_bytes:
        result.notes["html_pages_with_replaced_bytes"] += 1
        result.notes["html_replaced_bytes"] += decoded.replaced_bytes
    if decoded.source == "detected":
        result.notes["html_pages_charset_detected"] += 1
