"""Page layout shared by the PDF and slide readers: caption-like text, reading order, and
which caption belongs to which image. Boxes are dicts with ``x0, x1`` and top-down ``y0, y1``.
"""

from __future__ import annotations

import re

CAPTION_START = re.compile(
    r"^\s*(?:(?:Figure|Fig\.?|Table|Tab\.|Chart|Diagram|Photo|Plate|Exhibit|Illustration|"
    r"Abbildung|Abb\.|Image)\s*[0-9IVX][0-9.\-IVX]*\b|(?:図|表|写真|画像|イラスト|グラフ)\s*[0-9０-９]*)",
    re.IGNORECASE,
)
_WIDE = 0.6  # of the page width: an element this wide spans the columns
_CAPTION_REACH = 3.5  # line heights between an image and its caption, at most


def is_caption(text: str) -> bool:
    return bool(CAPTION_START.match(text or ""))


def reading_order(elements: list[dict], page_w: float) -> list[dict]:
    """Columns, then rows: bands split at wide elements; each band column by column."""
    ordered: list[dict] = []
    band: list[dict] = []

    def flush() -> None:
        spans: list[list[float]] = []
        for e in sorted(band, key=lambda e: e["x0"]):
            if spans and e["x0"] < spans[-1][1]:
                spans[-1][1] = max(spans[-1][1], e["x1"])
            else:
                spans.append([e["x0"], e["x1"]])
        for lo, hi in spans:
            column = [e for e in band if lo <= e["x0"] < hi or (e["x0"] == lo == hi)]
            ordered.extend(sorted(column, key=lambda e: (e["y0"], e["x0"])))
        band.clear()

    for e in sorted(elements, key=lambda e: (e["y0"], e["x0"])):
        if e["x1"] - e["x0"] > _WIDE * page_w:
            flush()
            ordered.append(e)
        else:
            band.append(e)
    flush()
    return ordered


def attach_captions(images: list[dict], blocks: list[dict], reach: float = _CAPTION_REACH) -> None:
    """Give each image the nearest caption-like block above or below it that overlaps it
    horizontally, within ``reach`` line heights (``block["h"]``); a block captions one image."""
    taken: set[int] = set()
    for image in images:
        best = None
        for i, block in enumerate(blocks):
            if i in taken or not is_caption(block["text"]):
                continue
            if min(image["x1"], block["x1"]) <= max(image["x0"], block["x0"]):
                continue
            gap = max(block["y0"] - image["y1"], image["y0"] - block["y1"])
            if gap <= reach * block["h"] and (best is None or gap < best[0]):
                best = (gap, i)
        if best is not None:
            taken.add(best[1])
            image["caption"] = blocks[best[1]]["text"].replace("\n", " ")[:500]
            blocks[best[1]]["captions_image"] = True
