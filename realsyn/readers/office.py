"""DOCX and PPTX -> ordered text and image blocks (python-docx / python-pptx, in a worker).

Both libraries load every part of the package on open, so the zip directory is judged first
(:func:`check_package`): a part or a package whose *declared* size passes the limits is
``part_too_large`` (zipfile never inflates past a declared size), and an XML part declaring
entities (billion laughs) or, in OOXML, any DTD at all, is ``unsafe_xml``.

DOCX: the body in order: paragraphs (text, then their inline or floating pictures), tables
(one text block per row, cells joined by `` | ``; pictures in cells after the row). A picture's
alt text is its ``descr`` unless that is just a file name or a default name ("Picture 3"). A
caption is the paragraph right after (else right before) the picture whose style *name* is a
caption style ("Caption", Japanese Word's "図表番号"; ids differ by language) or whose text
starts like one.

PPTX: slides in order; shapes (groups flattened) in reading order by position; a picture's
caption is the nearest caption-like text box, else the nearest short text box below or above it
that overlaps it; the slide's speaker notes come last.
"""

from __future__ import annotations

import re
import zipfile
from collections import Counter
from pathlib import Path

from realsyn.readers.base import ImageRef, RecordRejected
from realsyn.readers.layout import attach_captions, is_caption, reading_order

_XML_SUFFIXES = (".xml", ".rels", ".opf", ".ncx", ".xhtml", ".html", ".htm", ".svg")
_FILE_NAME = re.compile(
    r"^[^/\\]{0,200}\.(png|jpe?g|gif|bmp|tiff?|emf|wmf|svg|webp|heic)$", re.IGNORECASE
)
_DEFAULT_NAME = re.compile(r"^(picture|image|graphic|図|画像|グラフィックス)\s*\d*$", re.IGNORECASE)
CAPTION_STYLES = ("caption", "図表番号", "beschriftung", "légende", "didascalia", "leyenda")


def check_package(path: Path, limits, allow_doctype: bool = False) -> None:
    """Reject a zip package by its declared sizes and its XML parts' DTDs, before any parser."""
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            total = 0
            for info in infos:
                total += info.file_size
                if info.file_size > limits.max_part_bytes:
                    raise RecordRejected(
                        "part_too_large",
                        f"{info.filename} declares {info.file_size} bytes "
                        f"(limit {limits.max_part_bytes})",
                    )
            if total > limits.max_package_bytes:
                raise RecordRejected(
                    "part_too_large",
                    f"the parts declare {total} bytes together (limit {limits.max_package_bytes})",
                )
            for info in infos:
                if info.filename.lower().endswith(_XML_SUFFIXES):
                    with zf.open(info) as fh:
                        head = fh.read(64 * 1024)
                    if b"<!ENTITY" in head or (not allow_doctype and b"<!DOCTYPE" in head):
                        raise RecordRejected(
                            "unsafe_xml", f"{info.filename} declares a DTD or entities"
                        )
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError) as err:
        raise RecordRejected("corrupt_archive", f"zip: {err}") from err


def clean_alt(descr: str | None) -> str | None:
    text = " ".join((descr or "").split())
    if not text or _FILE_NAME.match(text) or _DEFAULT_NAME.match(text):
        return None
    return text


# --- DOCX ------------------------------------------------------------------------------------


def _docx_pictures(element, part, notes: Counter) -> list[dict]:
    out = []
    for drawing in element.xpath(".//w:drawing"):
        doc_pr = drawing.xpath(".//wp:docPr")
        descr = doc_pr[0].get("descr") if doc_pr else None
        for blip in drawing.xpath(".//a:blip"):
            rid = blip.get(
                "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}embed"
            )
            target = part.related_parts.get(rid) if rid else None
            if target is None:
                notes["docx_picture_unresolved"] += 1
                continue
            out.append(
                {
                    "kind": "image",
                    "ref": ImageRef(raw=target.partname, data=target.blob),
                    "alt_text": clean_alt(descr),
                }
            )
    return out


def _style_names(document) -> dict[str, str]:
    """Paragraph style id -> lower-case name, read once (python-docx's per-paragraph lookup
    scans every style)."""
    from docx.oxml.ns import qn

    names = {}
    for style in document.styles.element.iterchildren(qn("w:style")):
        name = style.find(qn("w:name"))
        if name is not None:
            names[style.get(qn("w:styleId"))] = (name.get(qn("w:val")) or "").lower()
    return names


def _is_caption_paragraph(paragraph, style_names: dict[str, str]) -> bool:
    text = paragraph.text.strip()
    if not text or len(text) > 400:
        return False
    name = style_names.get(paragraph._p.style or "", "")
    return any(c in name for c in CAPTION_STYLES) or is_caption(text)


def _docx_captions(blocks: list[dict]) -> None:
    """A caption paragraph next to a picture: the one after it first, else the one before."""
    used: set[int] = set()
    for i, block in enumerate(blocks):
        if block["kind"] != "image":
            continue
        for j in (i + 1, i - 1):
            if 0 <= j < len(blocks) and j not in used and blocks[j].get("caption_like"):
                block["caption"] = blocks[j]["text"]
                used.add(j)
                break
    for block in blocks:
        block.pop("caption_like", None)


def read_docx(path: Path, limits, notes: Counter) -> list[dict]:
    check_package(path, limits)
    import docx
    from docx.table import Table

    try:
        document = docx.Document(str(path))
    except (KeyError, ValueError, zipfile.BadZipFile) as err:
        raise RecordRejected(
            "office_parse_error", f"python-docx: {type(err).__name__}: {err}"
        ) from err
    part = document.part
    style_names = _style_names(document)
    blocks: list[dict] = []
    for inner in document.iter_inner_content():
        if isinstance(inner, Table):
            for row in inner.rows:
                cells: list[str] = []
                for cell in row.cells:
                    text = " ".join(cell.text.split())
                    if text and (not cells or cells[-1] != text):  # merged cells repeat
                        cells.append(text)
                if cells:
                    blocks.append({"kind": "text", "text": " | ".join(cells)})
                blocks.extend(_docx_pictures(row._tr, part, notes))
            continue
        text = inner.text.strip()
        if text:
            blocks.append(
                {
                    "kind": "text",
                    "text": text,
                    "caption_like": _is_caption_paragraph(inner, style_names),
                }
            )
        blocks.extend(_docx_pictures(inner._p, part, notes))
    _docx_captions(blocks)
    return _cap_images(blocks, limits, notes, "docx")


def _cap_images(blocks: list[dict], limits, notes: Counter, fmt: str) -> list[dict]:
    n_images = sum(b["kind"] == "image" for b in blocks)
    if n_images <= limits.max_images_per_document:
        return blocks
    notes[f"{fmt}_images_over_cap"] += n_images - limits.max_images_per_document
    kept, out = 0, []
    for block in blocks:
        if block["kind"] == "image":
            kept += 1
            if kept > limits.max_images_per_document:
                continue
        out.append(block)
    return out


# --- PPTX ------------------------------------------------------------------------------------


def _flat_shapes(shapes):
    from pptx.enum.shapes import MSO_SHAPE_TYPE

    for shape in shapes:
        if shape.shape_type == MSO_SHAPE_TYPE.GROUP:
            yield from _flat_shapes(shape.shapes)
        else:
            yield shape


def _box(shape) -> dict:
    x0, y0 = shape.left or 0, shape.top or 0
    return {"x0": x0, "y0": y0, "x1": x0 + (shape.width or 0), "y1": y0 + (shape.height or 0)}


def _slide_elements(slide, notes: Counter) -> list[dict]:
    elements = []
    for shape in _flat_shapes(slide.shapes):
        box = _box(shape)
        if getattr(shape, "has_table", False) and shape.has_table:
            rows = [
                " | ".join(t for t in (" ".join(c.text.split()) for c in row.cells) if t)
                for row in shape.table.rows
            ]
            elements.extend({"kind": "text", "text": r, "h": 1, **box} for r in rows if r)
            continue
        image = None
        try:
            image = shape.image  # pictures and picture placeholders
        except (AttributeError, ValueError, KeyError):
            image = None
        if image is not None:
            descr = shape._element.xpath(".//p:cNvPr")
            elements.append(
                {
                    "kind": "image",
                    "ref": ImageRef(raw=f"{slide.part.partname}:{shape.name}", data=image.blob),
                    "alt_text": clean_alt(descr[0].get("descr") if descr else None),
                    **box,
                }
            )
            continue
        if getattr(shape, "has_text_frame", False) and shape.has_text_frame:
            paras = [" ".join(p.text.split()) for p in shape.text_frame.paragraphs]
            text = "\n".join(p for p in paras if p)  # one text block per paragraph
            if text:
                is_title = (
                    shape.is_placeholder and "title" in str(shape.placeholder_format.type).lower()
                )
                elements.append(
                    {
                        "kind": "text",
                        "text": text,
                        "title": is_title,
                        "h": max(box["y1"] - box["y0"], 1),
                        **box,
                    }
                )
    return elements


def _slide_captions(elements: list[dict], slide_h: int) -> None:
    images = [e for e in elements if e["kind"] == "image"]
    texts = [e for e in elements if e["kind"] == "text" and not e.get("title")]
    attach_captions(images, texts, reach=slide_h)  # caption-like text boxes first
    used = {e["caption"] for e in images if e.get("caption")}
    for image in images:
        if image.get("caption"):
            continue
        best = None
        for text in texts:
            if text["text"] in used or len(text["text"]) > 200:
                continue
            if min(image["x1"], text["x1"]) <= max(image["x0"], text["x0"]):
                continue
            gap = max(text["y0"] - image["y1"], image["y0"] - text["y1"])
            if gap <= 0.15 * slide_h and (best is None or gap < best[0]):
                best = (gap, text)
        if best is not None:
            image["caption"] = best[1]["text"].replace("\n", " ")
            used.add(best[1]["text"])


def read_pptx(path: Path, limits, notes: Counter) -> list[dict]:
    check_package(path, limits)
    import pptx

    try:
        prs = pptx.Presentation(str(path))
    except (KeyError, ValueError, zipfile.BadZipFile) as err:
        raise RecordRejected(
            "office_parse_error", f"python-pptx: {type(err).__name__}: {err}"
        ) from err
    slide_w, slide_h = prs.slide_width or 9144000, prs.slide_height or 6858000
    blocks: list[dict] = []
    slides = list(prs.slides)
    if len(slides) > limits.max_pages:
        notes["pptx_slides_over_cap"] += len(slides) - limits.max_pages
    for slide in slides[: limits.max_pages]:
        elements = _slide_elements(slide, notes)
        _slide_captions(elements, slide_h)
        for e in reading_order(elements, slide_w):
            if e["kind"] == "text":
                blocks.extend({"kind": "text", "text": t} for t in e["text"].split("\n"))
            else:
                blocks.append(
                    {
                        "kind": "image",
                        "ref": e["ref"],
                        "alt_text": e.get("alt_text"),
                        "caption": e.get("caption"),
                    }
                )
        if slide.has_notes_slide:
            text = " ".join(slide.notes_slide.notes_text_frame.text.split())
            if text:
                blocks.append({"kind": "text", "text": text})
    return _cap_images(blocks, limits, notes, "pptx")
