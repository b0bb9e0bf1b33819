"""EPUB and Markdown -> blocks through the HTML reader (:func:`realsyn.readers.html.extract_blocks`).

EPUB: ``META-INF/container.xml`` names the OPF package; its spine lists the XHTML documents in
reading order (manifest ``href``s may carry a ``#fragment``: the file is read once). Images
are resolved inside the zip and kept as bytes; one that is not in the package is an item with
``ref_error`` ``missing_file``. Package XML is parsed with entities unresolved, no DTD
and no network, after :func:`realsyn.readers.office.check_package` (declared sizes, entity
declarations). Markdown: markdown-it-py (CommonMark + tables) to HTML; images relative to the
file, like an HTML page's.
"""

from __future__ import annotations

import posixpath
import zipfile
from collections import Counter
from pathlib import Path
from urllib.parse import unquote

from realsyn.readers.base import ImageRef, RecordRejected, resolve_image_ref
from realsyn.readers.charset import decode_html
from realsyn.readers.html import extract_blocks
from realsyn.readers.office import check_package

_CONTAINER_NS = "{urn:oasis:names:tc:opendocument:xmlns:container}"
_OPF_NS = "{http://www.idpf.org/2007/opf}"
_HTML_TYPES = ("application/xhtml+xml", "text/html")


def _xml(raw: bytes, what: str):
    from lxml import etree

    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    try:
        return etree.fromstring(raw, parser)
    except etree.XMLSyntaxError as err:
        raise RecordRejected("epub_broken", f"{what}: {err}") from err


def _spine(zf: zipfile.ZipFile) -> list[str]:
    try:
        container = _xml(zf.read("META-INF/container.xml"), "container.xml")
    except KeyError as err:
        raise RecordRejected("epub_broken", "no META-INF/container.xml") from err
    rootfile = container.find(f".//{_CONTAINER_NS}rootfile")
    if rootfile is None or not rootfile.get("full-path"):
        raise RecordRejected("epub_broken", "container.xml names no package document")
    opf_name = rootfile.get("full-path")
    try:
        opf = _xml(zf.read(opf_name), opf_name)
    except KeyError as err:
        raise RecordRejected("epub_broken", f"package document {opf_name} is missing") from err
    base = posixpath.dirname(opf_name)
    manifest = {item.get("id"): item for item in opf.iter(f"{_OPF_NS}item")}
    names: list[str] = []
    for ref in opf.iter(f"{_OPF_NS}itemref"):
        item = manifest.get(ref.get("idref"))
        if item is None or item.get("media-type") not in _HTML_TYPES:
            continue
        href = unquote((item.get("href") or "").split("#")[0])
        name = posixpath.normpath(posixpath.join(base, href))
        if href and (not names or names[-1] != name):
            names.append(name)
    return names


def _image(zf: zipfile.ZipFile, page: str, src: str, notes: Counter) -> ImageRef:
    ref = resolve_image_ref(src, posixpath.dirname(page))
    if ref.path is None:
        return ref  # a URL, data: URI, or an unusable reference
    name = unquote(ref.path)
    try:
        return ImageRef(raw=name, data=zf.read(name))
    except KeyError:
        notes["epub_image_missing"] += 1
        return ImageRef(raw=name, error="missing_file")


def read_epub(path: Path, limits, notes: Counter) -> list[dict]:
    check_package(path, limits, allow_doctype=True)
    blocks: list[dict] = []
    with zipfile.ZipFile(path) as zf:
        names = _spine(zf)
        if not names:
            raise RecordRejected("epub_broken", "the spine lists no XHTML document")
        for page in names[: limits.max_pages]:
            try:
                raw = zf.read(page)
            except KeyError:
                notes["epub_page_missing"] += 1
                continue
            _canonical, raw_blocks = extract_blocks(decode_html(raw).text)
            for block in raw_blocks:
                if block["kind"] == "image":
                    block = {**block, "ref": _image(zf, page, block.pop("src"), notes)}
                blocks.append(block)
        if len(names) > limits.max_pages:
            notes["epub_pages_over_cap"] += len(names) - limits.max_pages
    return blocks


def markdown_blocks(raw: bytes, key: str) -> list[dict]:
    """A Markdown file's blocks; image paths resolve relative to the file (corpus keys)."""
    from markdown_it import MarkdownIt

    html = MarkdownIt("commonmark").enable("table").render(decode_html(raw).text)
    _canonical, raw_blocks = extract_blocks(f"<html><body>{html}</body></html>")
    base_dir = posixpath.dirname(key)
    return [
        {**b, "ref": resolve_image_ref(b["src"], base_dir)} if b["kind"] == "image" else b
        for b in raw_blocks
    ]
