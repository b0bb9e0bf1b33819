"""PDF -> ordered text blocks and images with captions (pypdfium2; runs in a worker process).

Per page: pdfium's text segments are merged into lines and lines into blocks (a block breaks at
a wide vertical gap, a change of font size, or a line that starts like a caption). Images come
with their boxes. Blocks and images are ordered columns-then-rows: the page is cut into bands
at every element wider than most of the page, and each band reads column by column (columns
are the unions of overlapping horizontal extents), top to bottom inside a column.

An image's caption is the nearest block above or below it that overlaps it horizontally and
starts like a caption ("Figure 3", "Fig. 2", "Table 1", "図1", "写真", ...). Its alt text is the
``/Alt`` of the structure element (tagged PDFs) whose marked content holds it. Image bytes: a
JPEG stream as stored; other images decoded as stored when at most ``max_extract_pixels``,
else the image's box rendered at a scale capped by ``max_render_pixels``; images declaring
more than ``max_image_pixels`` (bombs) are never decoded. A file pdfium cannot open is retried
once after a pikepdf (qpdf) repair pass; a password-protected one is ``encrypted``.
"""

from __future__ import annotations

import io
import re
from collections import Counter
from pathlib import Path

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from realsyn.readers.base import ImageRef, RecordRejected
from realsyn.readers.layout import attach_captions, is_caption, reading_order
from realsyn.readers.pdf_figures import path_boxes, vector_figures
from realsyn.readers.pdf_images import alt_texts, image_bytes, render_box

_ASTRAL = re.compile("[\U00010000-\U0010ffff]")


def _segments(textpage, page_h: float) -> list[dict]:
    """Text runs with their boxes: pdfium's lines (its text split at the ``\r\n`` it
    generates), boxed from the rectangles of each line's character range. A line whose
    rectangles lie far apart, or a page with characters outside the BMP (the UTF-16 text no
    longer indexes characters), falls back to asking pdfium for the text inside each
    rectangle (a scan of the page per rectangle, hence not the default)."""
    n = textpage.count_chars()
    full = textpage.get_text_range(0, n) if n else ""
    runs: list[tuple[str, list[tuple]]] = []
    if len(full) == n and not _ASTRAL.search(full):
        start = 0
        for line in full.split("\r\n"):
            count = textpage.count_rects(start, len(line)) if line else 0
            rects = [textpage.get_rect(i) for i in range(count)]
            start += len(line) + 2
            if rects and _spread(rects):
                runs.extend((textpage.get_text_bounded(*r), [r]) for r in rects)
            elif rects:
                runs.append((line, rects))
    else:
        rects = [textpage.get_rect(i) for i in range(textpage.count_rects())]
        runs = [(textpage.get_text_bounded(*r), [r]) for r in rects]
    segs = []
    for text, rects in runs:
        text = text.strip()
        if text:
            left = min(r[0] for r in rects)
            bottom = min(r[1] for r in rects)
            right = max(r[2] for r in rects)
            top = max(r[3] for r in rects)
            segs.append(
                {"x0": left, "x1": right, "y0": page_h - top, "y1": page_h - bottom, "text": text}
            )
    return segs


def _spread(rects: list[tuple]) -> bool:
    """Rectangles of one pdfium line that are not one run (a gap, or another baseline)."""
    ordered = sorted(rects, key=lambda r: r[0])
    for a, b in zip(ordered, ordered[1:], strict=False):
        h = max(a[3] - a[1], b[3] - b[1], 1.0)
        if b[0] - a[2] > 1.5 * h or min(a[3], b[3]) - max(a[1], b[1]) < 0.3 * h:
            return True
    return False


def _lines(textpage, page_h: float) -> list[dict]:
    """Text segments merged into lines; boxes are top-down (``y0`` top, ``y1`` bottom)."""
    segs = _segments(textpage, page_h)
    segs.sort(key=lambda s: (round((s["y0"] + s["y1"]) / 2), s["x0"]))
    lines: list[dict] = []
    for seg in segs:
        last = lines[-1] if lines else None
        h = seg["y1"] - seg["y0"]
        if (
            last is not None
            and min(last["y1"], seg["y1"]) - max(last["y0"], seg["y0"]) > 0.5 * min(h, last["h"])
            and 0 <= seg["x0"] - last["x1"] < 1.5 * max(h, 1.0)
        ):
            last["text"] += " " + seg["text"]
            last["x1"] = max(last["x1"], seg["x1"])
            last["y0"], last["y1"] = min(last["y0"], seg["y0"]), max(last["y1"], seg["y1"])
        else:
            lines.append({**seg, "h": max(h, 1.0)})
    return lines


def _blocks(lines: list[dict]) -> list[dict]:
    """Lines into blocks: a line joins the block whose last line sits right above it."""
    blocks: list[dict] = []
    for line in sorted(lines, key=lambda ln: (ln["y0"], ln["x0"])):
        home = None
        if not is_caption(line["text"]):
            for block in reversed(blocks):
                last = block["last"]
                gap = line["y0"] - last["y1"]
                if (
                    -0.3 * line["h"] <= gap < 0.9 * line["h"]
                    and min(block["x1"], line["x1"]) > max(block["x0"], line["x0"])
                    and 0.7 < line["h"] / last["h"] < 1.4
                ):
                    home = block
                    break
        if home is None:
            blocks.append({"kind": "text", "lines": [line], "last": line, **_box(line)})
        else:
            home["lines"].append(line)
            home["last"] = line
            home.update(_union(home, line))
    for block in blocks:
        block["text"] = " ".join(ln["text"] for ln in block.pop("lines"))
        block["h"] = block.pop("last")["h"]
    return blocks


def _box(e: dict) -> dict:
    return {"x0": e["x0"], "x1": e["x1"], "y0": e["y0"], "y1": e["y1"]}


def _union(a: dict, b: dict) -> dict:
    return {
        "x0": min(a["x0"], b["x0"]),
        "x1": max(a["x1"], b["x1"]),
        "y0": min(a["y0"], b["y0"]),
        "y1": max(a["y1"], b["y1"]),
    }


def _open(path: Path, notes: Counter) -> pdfium.PdfDocument:
    try:
        return pdfium.PdfDocument(path)
    except pdfium.PdfiumError as err:
        if getattr(err, "err_code", None) == pdfium_c.FPDF_ERR_PASSWORD:
            raise RecordRejected("encrypted", "the PDF needs a password to open") from err
        first = err
    import pikepdf  # repair pass: qpdf rebuilds a damaged cross-reference table

    try:
        with pikepdf.open(path) as repaired:
            buf = io.BytesIO()
            repaired.save(buf)
    except pikepdf.PasswordError as err:
        raise RecordRejected("encrypted", "the PDF needs a password to open") from err
    except (pikepdf.PdfError, ValueError, OSError) as err:
        raise RecordRejected("pdf_broken", f"pdfium: {first}; pikepdf: {err}") from err
    try:
        doc = pdfium.PdfDocument(buf.getvalue())
    except pdfium.PdfiumError as err:
        raise RecordRejected("pdf_broken", f"pdfium after repair: {err}") from err
    notes["pdf_repaired"] += 1
    return doc


def read_pdf(path: Path, limits, notes: Counter) -> list[dict]:
    """Ordered blocks of one PDF (see the module docstring)."""
    doc = _open(path, notes)
    try:
        n_pages = len(doc)
        if n_pages > limits.max_pages:
            notes["pdf_pages_over_cap"] += n_pages - limits.max_pages
        blocks: list[dict] = []
        chars = images_kept = 0
        for index in range(min(n_pages, limits.max_pages)):
            page = doc[index]
            try:
                page_blocks, n_chars = _read_page(page, index, limits, notes, images_kept)
            finally:
                page.close()
            chars += n_chars
            images_kept += sum(1 for b in page_blocks if b["kind"] == "image")
            blocks.extend(page_blocks)
    finally:
        doc.close()
    if chars == 0:
        notes["no_text_layer"] += 1
    return blocks


def _vector_figures(page, page_index, page_box, text_blocks, images, limits, notes) -> list[dict]:
    """Caption-anchored figures drawn as paths, rendered from their boxes (pdf_figures)."""
    for block in text_blocks:
        block["caption_like"] = is_caption(block["text"])
    if not any(b["caption_like"] and not b.get("captions_image") for b in text_blocks):
        return []  # no caption left to anchor a figure: skip the path scan
    boxes = path_boxes(page, page_box, limits, notes)
    out = []
    for k, figure in enumerate(vector_figures(boxes, text_blocks, images)):
        pad = {  # a little room around the drawing, inside the page
            "x0": max(0.0, figure["x0"] - 2),
            "x1": min(page_box[2] - page_box[0], figure["x1"] + 2),
            "y0": max(0.0, figure["y0"] - 2),
            "y1": min(page_box[3] - page_box[1], figure["y1"] + 2),
        }
        data = render_box(page, pad, page_box, limits, notes)
        if data is None:
            continue
        notes["pdf_vector_figures"] += 1
        ref = ImageRef(raw=f"page {page_index + 1} figure {k + 1}", data=data)
        out.append({"kind": "image", "ref": ref, "caption": figure["caption"], **pad})
    return out


def _read_page(
    page, page_index: int, limits, notes: Counter, images_before: int
) -> tuple[list[dict], int]:
    page_box = page.get_bbox()
    left, bottom, right, top = page_box
    page_w, page_h = right - left, top - bottom
    textpage = page.get_textpage()
    try:
        n_chars = textpage.count_chars()
        lines = _lines(textpage, top)
    finally:
        textpage.close()
    for line in lines:
        line["x0"] -= left
        line["x1"] -= left
    text_blocks = _blocks(lines)
    images = []
    objs = list(page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE], max_depth=15))
    room = limits.max_images_per_document - images_before
    cap = max(0, min(limits.max_images_per_page, room))
    if len(objs) > cap:
        notes["pdf_images_over_cap"] += len(objs) - cap
    alts = alt_texts(page) if objs else {}
    for n, obj in enumerate(objs[:cap]):
        x0, y0, x1, y1 = obj.get_bounds()
        box = {"x0": x0 - left, "x1": x1 - left, "y0": top - y1, "y1": top - y0}
        box = {  # clipped to the page
            "x0": max(0.0, box["x0"]),
            "x1": min(page_w, box["x1"]),
            "y0": max(0.0, box["y0"]),
            "y1": min(page_h, box["y1"]),
        }
        if box["x1"] <= box["x0"] or box["y1"] <= box["y0"]:
            notes["pdf_image_off_page"] += 1
            continue
        data = image_bytes(obj, page, box, page_box, limits, notes)
        if data is None:
            continue
        images.append(
            {
                "kind": "image",
                "ref": ImageRef(raw=f"page {page_index + 1} image {n + 1}", data=data),
                "alt_text": alts.get(pdfium_c.FPDFPageObj_GetMarkedContentID(obj.raw)),
                **box,
            }
        )
    attach_captions(images, text_blocks)
    images.extend(_vector_figures(page, page_index, page_box, text_blocks, images, limits, notes))
    inside = sum(1 for b in text_blocks if b.get("inside_figure"))
    if inside:
        notes["pdf_figure_text_blocks"] += inside
        text_blocks = [b for b in text_blocks if not b.get("inside_figure")]
    ordered = reading_order(text_blocks + images, page_w)
    out = []
    for e in ordered:
        if e["kind"] == "text":
            out.append({"kind": "text", "text": e["text"]})
        else:
            out.append(
                {
                    "kind": "image",
                    "ref": e["ref"],
                    "alt_text": e.get("alt_text"),
                    "caption": e.get("caption"),
                }
            )
    return out, n_chars
