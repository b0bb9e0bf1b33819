"""PDF images as bytes (a JPEG as stored, small images decoded, others rendered from their box
at a capped scale, bombs never decoded) and their alt texts from a tagged PDF's structure tree.
"""

from __future__ import annotations

import ctypes
import io
from collections import Counter

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
from PIL import Image


def _png(pil_image) -> bytes:
    buf = io.BytesIO()
    if pil_image.mode not in ("RGB", "RGBA", "L"):
        pil_image = pil_image.convert("RGB")
    pil_image.save(buf, "PNG", compress_level=1)  # lossless; speed over size
    return buf.getvalue()


def render_box(page, box: dict, page_box: tuple, limits, notes: Counter) -> bytes | None:
    left, bottom, right, top = page_box
    w, h = box["x1"] - box["x0"], box["y1"] - box["y0"]
    if w < 1 or h < 1:
        return None
    scale = min(limits.max_render_scale, (limits.max_render_pixels / (w * h)) ** 0.5)
    # crop = what to cut from each side of the page box (PDF points)
    crop = (
        max(0.0, box["x0"]),
        max(0.0, (top - bottom) - box["y1"]),
        max(0.0, (right - left) - box["x1"]),
        max(0.0, box["y0"]),
    )
    bitmap = page.render(scale=scale, crop=crop)
    notes["pdf_images_rendered"] += 1
    buf = io.BytesIO()
    bitmap.to_pil().convert("RGB").save(buf, "JPEG", quality=90)
    return buf.getvalue()


def image_bytes(obj, page, box: dict, page_box: tuple, limits, notes: Counter) -> bytes | None:
    px_w, px_h = obj.get_px_size()
    if px_w * px_h > limits.max_image_pixels:
        notes["pdf_image_bomb_skipped"] += 1
        return None
    if px_w * px_h <= limits.max_extract_pixels:
        filters = obj.get_filters()
        if filters == ["DCTDecode"]:
            return bytes(obj.get_data(decode_simple=False))  # the JPEG as stored
        try:
            return _png(obj.get_bitmap(render=False).to_pil())
        except (pdfium.PdfiumError, ValueError, OSError, Image.DecompressionBombError):
            notes["pdf_image_decode_fallback"] += 1  # e.g. JBIG2, masks: render the box
    return render_box(page, box, page_box, limits, notes)


_MAX_STRUCT_ELEMENTS = 5000  # per page: a hostile structure tree costs no more


def _struct_text(getter, element) -> str:
    size = getter(element, None, 0)
    if size <= 2:
        return ""
    buf = ctypes.create_string_buffer(size)
    getter(element, buf, size)
    return buf.raw[: size - 2].decode("utf-16-le", "replace").strip()


def alt_texts(page) -> dict[int, str]:
    """Alt text by marked-content id, from a tagged PDF's structure tree (empty if untagged)."""
    tree = pdfium_c.FPDF_StructTree_GetForPage(page.raw)
    if not tree:
        return {}
    out: dict[int, str] = {}
    try:
        stack = [
            pdfium_c.FPDF_StructTree_GetChildAtIndex(tree, i)
            for i in range(pdfium_c.FPDF_StructTree_CountChildren(tree))
        ]
        seen = 0
        while stack and seen < _MAX_STRUCT_ELEMENTS:
            element = stack.pop()
            seen += 1
            if not element:
                continue
            alt = _struct_text(pdfium_c.FPDF_StructElement_GetAltText, element)
            if alt:
                for i in range(pdfium_c.FPDF_StructElement_GetMarkedContentIdCount(element)):
                    mcid = pdfium_c.FPDF_StructElement_GetMarkedContentIdAtIndex(element, i)
                    if mcid >= 0:
                        out.setdefault(mcid, alt)
            stack.extend(
                pdfium_c.FPDF_StructElement_GetChildAtIndex(element, i)
                for i in range(pdfium_c.FPDF_StructElement_CountChildren(element))
            )
    finally:
        pdfium_c.FPDF_StructTree_Close(tree)
    return out
