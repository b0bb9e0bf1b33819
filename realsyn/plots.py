"""Small plots for the Dagster UI: SVG histograms and line charts as Markdown images.

Dagster 1.13's UI renders a Markdown metadata value inline only while the whole string is
shorter than ``INLINE_LIMIT`` characters (longer ones sit behind a "[Show Markdown]" dialog),
and of the image sources it accepts only ``data:`` URIs draw (raw HTML, ``file://`` and
Vega-Lite JSON show as text). So each plot is a compact SVG (one filled outline for the bars,
integer coordinates, three labels) base64-encoded into a ``data:image/svg+xml`` URI, sized so
that the Markdown image stays under the limit whatever the data.
"""

import base64
import io
import math
from collections.abc import Sequence

INLINE_LIMIT = 1000
"""Dagster 1.13 renders Markdown metadata inline when ``len(md) < 1000``."""

MAX_BINS = 24
MAX_POINTS = 32
_W, _H, _TOP, _LEFT = 320, 120, 14, 30  # canvas, title band, y-label band (pixels)
_LABEL = 28  # longest title / axis label kept (characters)


def _esc(text: str) -> str:
    text = text if len(text) <= _LABEL else text[: _LABEL - 1] + "…"
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _num(value: float) -> str:
    if value == 0 or (1e-3 <= abs(value) < 1e5):
        return f"{value:.3g}"
    return f"{value:.1e}"


def _svg(title: str, body: str, x_lo: str, x_hi: str, y_hi: str) -> str:
    bottom = _H - 12
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{_H}" '
        f'font-family="sans-serif" font-size="9" fill="#555">'
        f'<text x="{_LEFT}" y="9" font-weight="bold">{_esc(title)}</text>'
        f'<text x="0" y="{_TOP + 8}">{_esc(y_hi)}</text>'
        f'<text x="0" y="{bottom}">0</text>'
        f'<path d="M{_LEFT} {bottom}H{_W}" stroke="#999"/>'
        f"{body}"
        f'<text x="{_LEFT}" y="{_H - 2}">{_esc(x_lo)}</text>'
        f'<text x="{_W}" y="{_H - 2}" text-anchor="end">{_esc(x_hi)}</text></svg>'
    )


def bin_counts(values: Sequence[float], edges: Sequence[float]) -> list[int]:
    """Counts of ``values`` per bin ``[edges[i], edges[i+1])``; the last bin is closed."""
    if len(edges) < 2 or any(b <= a for a, b in zip(edges, edges[1:], strict=False)):
        raise ValueError(f"edges must be at least 2 increasing numbers, got {list(edges)}")
    counts = [0] * (len(edges) - 1)
    last = len(counts) - 1
    for v in values:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            continue
        if v == edges[-1]:
            counts[last] += 1
            continue
        lo, hi = 0, len(edges) - 1  # binary search: edges[lo] <= v < edges[hi]
        if not edges[0] <= v < edges[-1]:
            continue
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if v < edges[mid]:
                hi = mid
            else:
                lo = mid
        counts[lo] += 1
    return counts


def even_edges(values: Sequence[float], bins: int = 20) -> list[float]:
    """``bins`` equal-width bins spanning the finite values (one unit wide when all are equal)."""
    finite = [float(v) for v in values if v is not None and math.isfinite(v)]
    lo, hi = (min(finite), max(finite)) if finite else (0.0, 1.0)
    if hi <= lo:
        lo, hi = lo - 0.5, lo + 0.5
    bins = max(1, min(bins, MAX_BINS))
    return [lo + (hi - lo) * i / bins for i in range(bins)] + [hi]


def histogram_svg(counts: Sequence[int], edges: Sequence[float], title: str) -> str:
    """An SVG histogram of precomputed ``counts`` over ``edges`` (at most ``MAX_BINS`` bins).

    Bars are equal-width (bin index, not value, on the x axis), so uneven edges such as
    ``[0, 5, 10, 20, 50]`` read as categories; the axis shows the first and last edge.
    """
    if len(edges) != len(counts) + 1:
        raise ValueError(f"{len(counts)} counts need {len(counts) + 1} edges, got {len(edges)}")
    if not 1 <= len(counts) <= MAX_BINS:
        raise ValueError(f"1..{MAX_BINS} bins can be drawn, got {len(counts)}")
    bottom, height = _H - 12, _H - 12 - _TOP
    peak = max(max(counts), 1)
    step = (_W - _LEFT) / len(counts)
    d = [f"M{_LEFT} {bottom}"]
    for i, n in enumerate(counts):
        d.append(f"V{bottom - round(height * n / peak)}H{round(_LEFT + step * (i + 1))}")
    d.append(f"V{bottom}z")
    body = f'<path fill="#4f7ec2" d="{"".join(d)}"/>'
    return _svg(title, body, _num(edges[0]), _num(edges[-1]), f"{max(counts):,}")


def line_svg(xs: Sequence[float], ys: Sequence[float], title: str) -> str:
    """An SVG line chart of ``ys`` over ``xs``, evenly thinned to at most ``MAX_POINTS`` points."""
    if len(xs) != len(ys) or not xs:
        raise ValueError(f"need as many xs as ys (at least one), got {len(xs)} and {len(ys)}")
    every = math.ceil(len(xs) / MAX_POINTS)
    idx = list(range(0, len(xs), every))
    if idx[-1] != len(xs) - 1:
        idx[-1] = len(xs) - 1  # always end on the last point
    x_lo, x_hi = float(xs[0]), float(xs[-1])
    y_hi = max(float(ys[i]) for i in idx)
    y_lo = min(0.0, min(float(ys[i]) for i in idx))
    bottom, height = _H - 12, _H - 12 - _TOP
    xspan, yspan = (x_hi - x_lo) or 1.0, (y_hi - y_lo) or 1.0
    points = " ".join(
        f"{round(_LEFT + (_W - _LEFT) * (float(xs[i]) - x_lo) / xspan)},"
        f"{round(bottom - height * (float(ys[i]) - y_lo) / yspan)}"
        for i in idx
    )
    body = f'<polyline fill="none" stroke="#4f7ec2" stroke-width="1.5" points="{points}"/>'
    return _svg(title, body, _num(x_lo), _num(x_hi), _num(y_hi))


def svg_markdown(svg: str, alt: str) -> str:
    """A Markdown image of ``svg`` as a base64 data URI (no spaces or brackets to escape)."""
    alt = (
        (alt if len(alt) <= _LABEL else alt[: _LABEL - 1] + "…").replace("[", "(").replace("]", ")")
    )
    uri = "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode("ascii")
    return f"![{alt}]({uri})"


def histogram_markdown_svg(
    values: Sequence[float], title: str, edges: Sequence[float] | None = None
) -> str:
    """A histogram of ``values`` as an inline Markdown image (under ``INLINE_LIMIT`` characters)."""
    edges = list(edges) if edges is not None else even_edges(values)
    return svg_markdown(histogram_svg(bin_counts(values, edges), edges, title), title)


def thumbnail_data_uri(data: bytes, side: int = 48, quality: int = 60) -> str | None:
    """A JPEG thumbnail (longest side ``side`` pixels) of encoded image ``data`` as a data URI.

    Returns None when Pillow cannot decode ``data`` (the caller shows the reason instead).
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as im:
            im.draft("RGB", (side, side))  # JPEG: decode at a reduced scale
            im = im.convert("RGB")
            im.thumbnail((side, side))
            out = io.BytesIO()
            im.save(out, "JPEG", quality=quality, optimize=True)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        return None
    return "data:image/jpeg;base64," + base64.b64encode(out.getvalue()).decode("ascii")
