"""Vector figures: charts and diagrams drawn as paths, found beside their captions.

Reports, slides exported to PDF and LaTeX manuals draw most figures as vector paths, not
images. Path objects (at most ``max_path_objects`` a page; the rest counted) are clustered by
their boxes (touching within a few points); a cluster becomes a figure when a caption-like
block ("Figure 2", "Fig. 3", "図4", ...) that no raster image took sits right below or above
it and overlaps it horizontally. The figure is the cluster's box rendered at the capped scale;
text blocks inside that box (axis labels, legends) are part of the picture and leave the text
flow. Paths covering most of the page (backgrounds, frames) and hairlines alone take no part.
Figures without a caption are not looked for.
"""

from __future__ import annotations

from collections import Counter

import pypdfium2.raw as pdfium_c

_MARGIN = 6.0  # points: paths closer than this belong to one drawing
_REACH = 5.0  # line heights between a figure and its caption, at most
_LABEL_CHARS = 24  # a text block this short touching a drawing is one of its labels
_MIN_AREA = 900.0  # square points (30 x 30): smaller clusters are rules and bullets


def path_boxes(page, page_box: tuple, limits, notes: Counter) -> list[dict]:
    """Top-down boxes of the page's path objects, capped, without page-sized backgrounds."""
    left, bottom, right, top = page_box
    page_area = (right - left) * (top - bottom)
    boxes = []
    for n, obj in enumerate(page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_PATH], max_depth=15)):
        if n >= limits.max_path_objects:
            notes["pdf_paths_over_cap"] += 1
            continue
        x0, y0, x1, y1 = obj.get_bounds()
        w, h = x1 - x0, y1 - y0
        if w * h > 0.8 * page_area:
            continue
        boxes.append({"x0": x0 - left, "x1": x1 - left, "y0": top - y1, "y1": top - y0})
    return boxes


def clusters(boxes: list[dict]) -> list[dict]:
    """Union of boxes that touch within ``_MARGIN`` (a sweep over x, union-find)."""
    parent = list(range(len(boxes)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    order = sorted(range(len(boxes)), key=lambda i: boxes[i]["x0"])
    active: list[int] = []
    for i in order:
        b = boxes[i]
        active = [j for j in active if boxes[j]["x1"] + _MARGIN >= b["x0"]]
        for j in active:
            o = boxes[j]
            if o["y0"] - _MARGIN <= b["y1"] and b["y0"] - _MARGIN <= o["y1"]:
                parent[find(i)] = find(j)
        active.append(i)
    groups: dict[int, dict] = {}
    for i, b in enumerate(boxes):
        g = groups.setdefault(find(i), {**b, "n": 0})
        g["x0"], g["x1"] = min(g["x0"], b["x0"]), max(g["x1"], b["x1"])
        g["y0"], g["y1"] = min(g["y0"], b["y0"]), max(g["y1"], b["y1"])
        g["n"] += 1
    return [g for g in groups.values() if (g["x1"] - g["x0"]) * (g["y1"] - g["y0"]) >= _MIN_AREA]


def _overlaps(a: dict, b: dict) -> bool:
    return min(a["x1"], b["x1"]) > max(a["x0"], b["x0"]) and min(a["y1"], b["y1"]) > max(
        a["y0"], b["y0"]
    )


def _take_labels(figure: dict, text_blocks: list[dict]) -> None:
    """Grow the figure's box over the short text blocks that touch it (axis labels)."""
    grown = True
    while grown:
        grown = False
        for block in text_blocks:
            if block is figure["caption"] or block.get("inside_figure"):
                continue
            if len(block["text"]) > _LABEL_CHARS or block.get("caption_like"):
                continue
            near = (
                block["x0"] - _MARGIN * 2 <= figure["x1"]
                and figure["x0"] <= block["x1"] + _MARGIN * 2
                and block["y0"] - _MARGIN * 2 <= figure["y1"]
                and figure["y0"] <= block["y1"] + _MARGIN * 2
            )
            if near:
                block["inside_figure"] = True
                figure["x0"], figure["x1"] = (
                    min(figure["x0"], block["x0"]),
                    max(figure["x1"], block["x1"]),
                )
                figure["y0"], figure["y1"] = (
                    min(figure["y0"], block["y0"]),
                    max(figure["y1"], block["y1"]),
                )
                grown = True


def vector_figures(boxes: list[dict], text_blocks: list[dict], images: list[dict]) -> list[dict]:
    """Figure boxes with their captions; marks the caption blocks and the blocks inside."""
    found = []
    candidates = [c for c in clusters(boxes) if not any(_overlaps(c, image) for image in images)]
    for block in text_blocks:
        if not block.get("caption_like") or block.get("captions_image"):
            continue
        best = None
        for c in candidates:
            if min(c["x1"], block["x1"]) <= max(c["x0"], block["x0"]):
                continue
            gap = max(block["y0"] - c["y1"], c["y0"] - block["y1"])
            if -0.5 * block["h"] <= gap <= _REACH * block["h"] and (best is None or gap < best[0]):
                best = (gap, c)
        if best is None:
            continue
        figure = best[1]
        candidates.remove(figure)
        block["captions_image"] = True
        found.append({**{k: figure[k] for k in ("x0", "x1", "y0", "y1")}, "caption": block})
    for figure in found:
        _take_labels(figure, text_blocks)
        for block in text_blocks:
            cx, cy = (block["x0"] + block["x1"]) / 2, (block["y0"] + block["y1"]) / 2
            inside = figure["x0"] <= cx <= figure["x1"] and figure["y0"] <= cy <= figure["y1"]
            if inside and block is not figure["caption"]:
                block["inside_figure"] = True
        figure["caption"] = figure["caption"]["text"][:500]
    return found
