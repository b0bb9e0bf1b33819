"""realsyn.plots: SVG plots that stay small enough for Dagster's inline Markdown, and thumbnails."""

import base64
import io
import random
import re
import xml.etree.ElementTree as ET

import pytest
from PIL import Image

from realsyn.plots import (
    INLINE_LIMIT,
    MAX_BINS,
    MAX_POINTS,
    bin_counts,
    even_edges,
    histogram_markdown_svg,
    histogram_svg,
    line_svg,
    svg_markdown,
    thumbnail_data_uri,
)
from realsyn.report import preview_markdown, shares

SVG = "{http://www.w3.org/2000/svg}"


def _decode(md: str) -> ET.Element:
    m = re.fullmatch(r"!\[[^\]]*\]\(data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)\)", md)
    assert m, md[:120]
    return ET.fromstring(base64.b64decode(m.group(1)))


def test_bin_counts_half_open_bins_last_closed_and_outside_ignored():
    assert bin_counts([0, 0.5, 1, 1.999, 2, 3, -1, 3.5, float("nan"), None], [0, 1, 2, 3]) == [
        2,
        2,
        2,
    ]
    with pytest.raises(ValueError, match="increasing"):
        bin_counts([1], [0, 0])


def test_even_edges_span_the_values_and_survive_a_constant():
    assert even_edges([2, 4], bins=2) == [2.0, 3.0, 4.0]
    assert even_edges([5, 5, 5], bins=2) == [4.5, 5.0, 5.5]
    assert len(even_edges(list(range(1000)), bins=500)) == MAX_BINS + 1
    assert even_edges([]) == pytest.approx([i / 20 for i in range(21)])


def test_histogram_bars_are_proportional_to_counts():
    root = ET.fromstring(histogram_svg([1, 4, 2], [0, 1, 2, 3], "t"))
    d = root.find(f"{SVG}path[@fill]").get("d")
    heights = [int(v) for v in re.findall(r"V(\d+)H", d)]  # y of each bar's top, one per bin
    bottom = int(re.match(r"M\d+ (\d+)", d).group(1))
    bars = [bottom - y for y in heights]
    assert bars[1] > bars[2] > bars[0] > 0
    assert bars[1] == pytest.approx(2 * bars[2], abs=1)
    assert bars[1] == pytest.approx(4 * bars[0], abs=2)  # integer pixels
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "t" in texts and "4" in texts  # title and the peak count on the y axis


def test_histogram_rejects_mismatched_or_too_many_bins():
    with pytest.raises(ValueError, match="edges"):
        histogram_svg([1, 2], [0, 1], "t")
    with pytest.raises(ValueError, match="bins"):
        histogram_svg([1] * (MAX_BINS + 1), list(range(MAX_BINS + 2)), "t")


@pytest.mark.parametrize("scale", [1, 1e-4, 1e9])
def test_worst_case_plots_stay_under_dagsters_inline_limit(scale):
    rng = random.Random(0)
    long_title = "a very long title <with> & markup that goes on and on"
    values = [rng.gauss(0, 1) * scale for _ in range(5000)]
    hist = histogram_markdown_svg(values, long_title, even_edges(values, MAX_BINS))
    line = svg_markdown(
        line_svg(
            list(range(10_000)), [rng.random() * scale * 1e6 for _ in range(10_000)], long_title
        ),
        long_title,
    )
    for md in (hist, line):
        assert len(md) < INLINE_LIMIT, len(md)
        root = _decode(md)  # well-formed XML despite <, > and & in the title
        assert root.tag == f"{SVG}svg"
    polyline = _decode(line).find(f"{SVG}polyline").get("points").split()
    assert len(polyline) <= MAX_POINTS + 1


def test_line_keeps_first_and_last_point_and_rejects_bad_input():
    root = ET.fromstring(line_svg([0, 1, 2, 3], [4.0, 3.0, 2.0, 1.0], "loss"))
    points = [
        tuple(map(int, p.split(","))) for p in root.find(f"{SVG}polyline").get("points").split()
    ]
    assert len(points) == 4
    assert points[0][0] < points[-1][0] and points[0][1] < points[-1][1]  # falling: y grows down
    with pytest.raises(ValueError, match="as many"):
        line_svg([0, 1], [1.0], "x")


def test_thumbnail_is_a_small_jpeg_and_none_for_garbage():
    buf = io.BytesIO()
    Image.new("RGB", (640, 320), (200, 30, 30)).save(buf, "PNG")
    uri = thumbnail_data_uri(buf.getvalue(), side=48)
    assert uri.startswith("data:image/jpeg;base64,")
    raw = base64.b64decode(uri.split(",", 1)[1])
    with Image.open(io.BytesIO(raw)) as im:
        assert im.format == "JPEG" and im.size == (48, 24)
    assert len(uri) < 2000
    assert thumbnail_data_uri(b"not an image") is None


def test_preview_markdown_keeps_raw_columns_uncut():
    image = "![x](data:image/jpeg;base64," + "A" * 200 + ")"
    md = preview_markdown(
        [{"thumbnail": image, "text": "a|b" + "c" * 100}],
        ["thumbnail", "text"],
        width=10,
        raw=["thumbnail"],
    )
    assert image in md
    assert "| a\\|bccccc… |" in md  # escaped, then cut to 10 characters


def test_shares_divide_by_the_total_and_are_zero_without_one():
    assert shares({"total": 4, "kept": 3, "dropped_x": 1}, "total", ["kept", "dropped_x"]) == {
        "kept_share": 0.75,
        "dropped_x_share": 0.25,
    }
    assert shares({"total": 0, "kept": 0}, "total", ["kept"]) == {"kept_share": 0.0}
