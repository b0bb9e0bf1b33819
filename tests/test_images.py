"""clean_images on every kind of bad input: each image ends as a row with a specific reason."""

from __future__ import annotations

import polars as pl
import pytest

from realsyn.fetch import FetchParams, SafeFetcher
from realsyn.images import ImageFilterParams, curate_images, decide_images, image_stats
from realsyn.readers import read_shard
from realsyn.storage import LocalStorage
from tests.http_fixtures import http_server
from tests.image_fixtures import bad_payloads, encode, jpeg, photo


@pytest.fixture
def corpus(tmp_path):
    """An HTML-folder shard referencing every fixture, plus escapes and URLs."""
    images = tmp_path / "site" / "img"
    images.mkdir(parents=True)
    payloads = bad_payloads()
    ext = {"html_as_jpg": "jpg", "text_as_png": "png", "svg": "svg", "bomb": "png"}
    tags = []
    for name, (data, _) in sorted(payloads.items()):
        fname = (
            f"{name}.{ext.get(name, 'jpg' if 'jpeg' in name or name == 'exif_rotated' else 'png')}"
        )
        (images / fname).write_bytes(data)
        tags.append(f"<img src='img/{fname}' alt='{name}'>")
    (images / "good.jpg").write_bytes(jpeg(seed=5))
    (images / "thumb.jpg").write_bytes(encode(photo(80, 60), "JPEG"))
    tags += [
        "<img src='img/good.jpg'>",
        "<img src='img/thumb.jpg'>",
        "<img src='img/missing.jpg'>",
        "<img src='../../../etc/passwd'>",
        "<img src='file:///etc/passwd'>",
        "<img src='http://127.0.0.1:9/x.jpg'>",
    ]
    (tmp_path / "site" / "page.html").write_text(
        f"<html><body><p>text</p>{''.join(tags)}</body></html>"
    )
    storage = LocalStorage(tmp_path)
    items = read_shard(storage, "site").tables()["items"]
    return storage, items, payloads


def _by_alt(result, items):
    alts = items.select(pl.col("item_id").alias("image_id"), "alt_text", "image_ref")
    return result.table.join(alts, on="image_id")


def test_every_bad_input_has_a_row_with_a_specific_reason(corpus):
    storage, items, payloads = corpus
    result = curate_images(items, "site", storage, SafeFetcher(FetchParams(retries=0)))
    table = _by_alt(result, items)
    assert table.height == items.filter(pl.col("kind") == "image").height == len(payloads) + 6
    by_alt = {r["alt_text"]: r for r in table.to_dicts() if r["alt_text"]}
    for name, (_, expected) in payloads.items():
        row = by_alt[name]
        if expected is None:
            assert row["error"] is None, (name, row["error_detail"])
        else:
            assert row["reason"] == expected and row["decision"] == "drop", name
    assert by_alt["strip_1x5000"]["reason"] == "too_small"  # 1 px wide: fails the size rule first
    assert by_alt["exif_rotated"]["reason"] is None and by_alt["exif_rotated"]["height"] == 300
    by_ref = {r["image_ref"]: r for r in table.to_dicts()}
    assert by_ref["img/good.jpg"]["decision"] == "keep"
    assert by_ref["img/thumb.jpg"]["reason"] == "too_small"
    assert by_ref["img/missing.jpg"]["reason"] == "missing_file"
    assert by_ref["../../../etc/passwd"]["reason"] == "path_escapes_root"
    assert by_ref["file:///etc/passwd"]["reason"] == "unsupported_scheme"
    assert by_ref["http://127.0.0.1:9/x.jpg"]["reason"] == "blocked_address"
    assert table["reason"].is_null().sum() == table.filter(pl.col("decision") == "keep").height
    # bytes are kept for every decodable image, keyed by content hash
    assert set(result.blobs) == set(table.filter(pl.col("error").is_null())["sha256"])


def test_offline_run_records_urls_as_not_fetched(corpus):
    storage, items, _ = corpus
    result = curate_images(items, "site", storage, fetcher=None)
    table = _by_alt(result, items)
    row = table.filter(pl.col("image_ref") == "http://127.0.0.1:9/x.jpg").row(0, named=True)
    assert row["reason"] == "not_fetched"


def test_funnel_adds_up(corpus):
    storage, items, _ = corpus
    stats = curate_images(items, "site", storage, None).stats
    assert stats["total"] >= stats["fetched"] >= stats["decoded"] >= stats["kept"]
    assert stats["decoded"] - stats["too_small"] - stats["bad_aspect"] == stats["kept"]
    dropped = sum(v for k, v in stats.items() if k.startswith("dropped_"))
    assert dropped + stats["kept"] == stats["total"]


def test_thresholds_change_without_redecoding(corpus):
    storage, items, _ = corpus
    table = curate_images(items, "site", storage, None).table
    looser = decide_images(table, ImageFilterParams(min_side=50, max_aspect=3.0))
    stricter = decide_images(table, ImageFilterParams(min_side=200, max_aspect=1.5))
    assert image_stats(looser)["kept"] > image_stats(table)["kept"] > image_stats(stricter)["kept"]
    assert (
        looser.filter(
            pl.col("image_id").is_in(
                table.filter(pl.col("reason") == "too_small")["image_id"].implode()
            )
        )["decision"]
        .to_list()
        .count("keep")
        >= 1
    )


def test_url_images_are_fetched_when_a_fetcher_is_enabled(tmp_path):
    with http_server() as (base, handler):
        page = f"<html><body><p>x</p><img src='{base}/ok.jpg'><img src='{base}/missing.jpg'></body></html>"
        (tmp_path / "s").mkdir()
        (tmp_path / "s" / "p.html").write_text(page)
        storage = LocalStorage(tmp_path)
        items = read_shard(storage, "s").tables()["items"]
        fetcher = SafeFetcher(FetchParams(allowed_networks=("127.0.0.1/32",), retries=0))
        table = curate_images(items, "s", storage, fetcher).table.sort("position")
    assert table["reason"].to_list() == [None, "http_error"]
    assert table["fetch_status"].to_list() == [200, 404]
    assert table["source"].to_list() == ["url", "url"]
