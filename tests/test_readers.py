from __future__ import annotations

import codecs
import gzip
import json
import shutil

import polars as pl
import pytest

from realsyn.readers import ShardError, discover_shards, read_shard
from realsyn.readers.base import RecordRejected, resolve_image_ref
from realsyn.schemas import (
    DOCUMENTS_SCHEMA,
    ITEMS_SCHEMA,
    REJECT_REASONS,
    REJECTED_SCHEMA,
    doc_id_for,
)
from realsyn.storage import LocalStorage


@pytest.fixture
def corpus(tmp_path):
    return tmp_path, LocalStorage(tmp_path)


def _copy(shared_data, rel, root, name=None):
    dst = root / (name or rel.split("/")[-1])
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(shared_data / rel, dst)
    return dst.relative_to(root).as_posix()


def test_mmc4_sample_counts(shared_data):
    corpus = LocalStorage(shared_data)
    result = read_shard(corpus, "mmc4/docs_no_face_shard_151_v3.partial.jsonl")
    stats = result.stats()
    assert result.source_format == "mmc4_jsonl"
    assert (stats["documents"], stats["image_refs"], stats["text_items"]) == (107, 417, 2072)
    assert stats["rejected_records"] == 0
    tables = result.tables()
    assert dict(tables["documents"].schema) == DOCUMENTS_SCHEMA
    assert dict(tables["items"].schema) == ITEMS_SCHEMA
    items = tables["items"]
    images = items.filter(pl.col("kind") == "image")
    assert images["image_url"].str.starts_with("http").all()
    # mmc4's own matches survive as provenance and point at the matched text item
    matched = images.join(
        items.select(
            "doc_id", pl.col("position").alias("matched_text_index"), pl.col("kind").alias("mk")
        ),
        on=["doc_id", "matched_text_index"],
    )
    assert matched.height == 417 and (matched["mk"] == "text").all()
    assert images["matched_sim"].is_not_null().all()
    # The first document's first image sits right before its matched sentence.
    first = json.loads(
        (shared_data / "mmc4/docs_no_face_shard_151_v3.partial.jsonl").open().readline()
    )
    doc = items.filter(
        pl.col("doc_id") == doc_id_for("mmc4/docs_no_face_shard_151_v3.partial.jsonl", 0)
    )
    info = first["image_info"][0]
    img = doc.filter(pl.col("image_url") == info["raw_url"]).row(0, named=True)
    assert (
        doc.filter(pl.col("position") == img["matched_text_index"])["text"][0]
        == first["text_list"][info["matched_text_index"]]
    )


def test_doc_ids_are_stable_across_runs(shared_data):
    corpus = LocalStorage(shared_data)
    a = read_shard(corpus, "mmc4/docs_no_face_shard_151_v3.partial.jsonl").tables()
    b = read_shard(corpus, "mmc4/docs_no_face_shard_151_v3.partial.jsonl").tables()
    assert a["documents"]["doc_id"].to_list() == b["documents"]["doc_id"].to_list()
    assert a["documents"]["doc_id"].n_unique() == 107


def test_common_crawl_warc_pages_and_images(shared_data):
    result = read_shard(LocalStorage(shared_data), "warc/resiliparse/warcfile.warc.gz")
    stats = result.stats()
    assert stats["documents"] == 16 and stats["rejected_records"] == 0
    items = result.tables()["items"]
    images = items.filter(pl.col("kind") == "image")
    assert images.height > 100  # main-content <img> tags (navigation/footer images are dropped)
    assert images["image_url"].str.contains(r"^https?://").all()
    docs = result.tables()["documents"]
    assert docs["url"].str.starts_with("http").all()


def test_clueweb_warc_quirks_are_read(shared_data):
    stats = read_shard(LocalStorage(shared_data), "warc/resiliparse/clueweb-quirk.warc.gz").stats()
    assert stats["documents"] == 29 and stats["image_refs"] > 500


def test_truncated_warc_record_is_rejected(shared_data):
    result = read_shard(LocalStorage(shared_data), "warc/resiliparse/clipped.warc.gz")
    assert [r["reason"] for r in result.rejected] == ["warc_truncated"]
    assert "88038" in result.rejected[0]["detail"]


@pytest.mark.parametrize(
    "name",
    [
        "example-bad-non-chunked.warc.gz",
        "example-bad.warc.gz.bad",
        "example-wrong-chunks.warc.gz",
        "example-trunc.warc",
        "example-space-in-target-uri.warc.gz",
        "example-wget-bad-target-uri.warc.gz",
    ],
)
def test_broken_warcs_never_crash(shared_data, corpus, name):
    root, storage = corpus
    key = _copy(shared_data, f"warc/warcio/{name}", root, name.replace(".bad", ""))
    result = read_shard(storage, key)
    assert all(r["reason"] in REJECT_REASONS for r in result.rejected)
    assert result.stats()["documents"] <= 2


@pytest.mark.parametrize(
    "name", ["example.arc", "example.arc.gz", "bad.arc", "example-space-in-url.arc"]
)
def test_arc_files_fail_with_a_named_reason(shared_data, corpus, name):
    root, storage = corpus
    key = _copy(shared_data, f"warc/warcio/{name}", root)
    with pytest.raises(ShardError, match=rf"{name}: ARC \(pre-WARC\) format is not supported"):
        read_shard(storage, key)


def test_not_a_warc_fails_naming_the_file(corpus):
    root, storage = corpus
    (root / "x.warc").write_bytes(b"<html>nope</html>")
    with pytest.raises(ShardError, match="x.warc: not a WARC file"):
        read_shard(storage, "x.warc")


def test_mmc4_bad_records_are_rejected_with_reasons(corpus):
    root, storage = corpus
    good = {
        "url": "u",
        "text_list": ["a b c", "d e f"],
        "image_info": [{"raw_url": "http://x/1.jpg", "matched_text_index": 1, "matched_sim": 0.3}],
    }
    lines = [
        json.dumps(good).encode(),
        b'{"url": "u", "text_list": ["oops"',
        b"[1, 2, 3]",
        json.dumps({"url": "u", "image_info": []}).encode(),
        json.dumps({"url": "u", "text_list": "not a list", "image_info": []}).encode(),
        json.dumps({**good, "image_info": [{"raw_url": "x", "matched_text_index": 5}]}).encode(),
        json.dumps({"url": "u", "text_list": ["  "], "image_info": []}).encode(),
        b'{"url": "caf\xe9", "text_list": ["x"], "image_info": []}',
        b"",
        json.dumps(good).encode(),
    ]
    (root / "s.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    result = read_shard(storage, "s.jsonl")
    reasons = {r["record_index"]: r["reason"] for r in result.rejected}
    assert reasons == {
        1: "invalid_json",
        2: "not_an_object",
        3: "missing_field",
        4: "bad_field_type",
        5: "length_mismatch",
        6: "empty_document",
        7: "invalid_utf8",
    }
    assert result.stats()["documents"] == 2 and result.stats()["blank_lines"] == 1
    assert all(r["excerpt"] for r in result.rejected)
    assert dict(result.tables()["rejected"].schema) == REJECTED_SCHEMA


def test_truncated_gzip_jsonl_keeps_what_was_read(corpus):
    root, storage = corpus
    import random

    rng = random.Random(0)
    recs = [
        json.dumps(
            {
                "url": "u",
                "text_list": [" ".join(str(rng.random()) for _ in range(20))],
                "image_info": [],
            }
        )
        for _ in range(2000)
    ]
    blob = gzip.compress(("\n".join(recs) + "\n").encode())
    (root / "t.jsonl.gz").write_bytes(blob[: len(blob) // 2])
    result = read_shard(storage, "t.jsonl.gz")
    assert result.stats()["documents"] > 0
    assert result.rejected[-1]["reason"] == "stream_truncated"


def test_obelics_parquet_and_jsonl(corpus):
    root, storage = corpus
    rows = [
        {
            "texts": ["Intro text.", None, "After."],
            "images": [None, "https://x/a.jpg", None],
            "metadata": json.dumps([None, {"src": "https://x/a.jpg", "alt_text": "a cat"}, None]),
            "general_metadata": json.dumps({"url": "https://page/1"}),
        },
        {"texts": ["x", None], "images": [None], "metadata": "[]", "general_metadata": "{}"},
        {
            "texts": ["x", "y"],
            "images": [None, "https://x/b.jpg"],
            "metadata": None,
            "general_metadata": None,
        },
        {"texts": ["x"], "images": [None], "metadata": "{not json", "general_metadata": None},
        {"texts": [None], "images": ["local/b.png"], "metadata": None, "general_metadata": None},
    ]
    (root / "sub").mkdir()
    pl.DataFrame(rows).write_parquet(root / "sub" / "o.parquet")
    (root / "sub" / "o.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    for key, fmt in [("sub/o.parquet", "obelics_parquet"), ("sub/o.jsonl", "obelics_jsonl")]:
        result = read_shard(storage, key)
        assert result.source_format == fmt
        reasons = {r["record_index"]: r["reason"] for r in result.rejected}
        assert reasons == {1: "length_mismatch", 2: "bad_field_type", 3: "invalid_json"}
        items = result.tables()["items"]
        first = items.filter(pl.col("doc_id") == doc_id_for(key, 0))
        assert first["kind"].to_list() == ["text", "image", "text"]
        assert first["alt_text"][1] == "a cat" and first["image_url"][1] == "https://x/a.jpg"
        assert result.tables()["documents"]["url"][0] == "https://page/1"
        local = items.filter(pl.col("doc_id") == doc_id_for(key, 4))
        assert local["image_path"].to_list() == ["sub/local/b.png"]


def test_obelics_parquet_without_required_columns_fails_clearly(corpus):
    root, storage = corpus
    pl.DataFrame({"foo": [1]}).write_parquet(root / "bad.parquet")
    with pytest.raises(ShardError, match=r"bad.parquet: not an OBELICS shard, missing column"):
        read_shard(storage, "bad.parquet")
    (root / "garbage.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(ShardError, match="garbage.parquet: not a readable parquet file"):
        read_shard(storage, "garbage.parquet")


def test_html_folder_confines_paths_and_tolerates_bad_pages(corpus):
    root, storage = corpus
    site = root / "site" / "pages"
    site.mkdir(parents=True)
    (root / "site" / "img").mkdir()
    (site / "a.html").write_text(
        "<html><body><nav>Menu</nav><p>First paragraph.</p>"
        "<figure><img src='../img/cat.jpg' alt='cat'><figcaption>A cat.</figcaption></figure>"
        "<img src='../../../etc/passwd'><img src='/etc/passwd'>"
        "<img src='data:image/png;base64,iVBORw0KGgo='><img src='file:///etc/passwd'>"
        "<p>Last <b>one</b>.</p><script>var x</script></body></html>"
    )
    (site / "b.html").write_bytes(b"<p>caf\xe9 bytes</p>")
    (site / "c.html").write_text("<html><body>   </body></html>")
    (site / "d.htm").write_text("<p>unclosed <div><span>tags everywhere")
    shards = discover_shards(storage)
    assert [(s.key, s.format) for s in shards] == [("site/pages", "html_folder")]
    result = read_shard(storage, "site/pages")
    reasons = {r["record_index"]: r["reason"] for r in result.rejected}
    assert reasons == {2: "empty_document"}  # b.html's one non-UTF-8 byte no longer rejects it
    items = result.tables()["items"].filter(pl.col("doc_id") == doc_id_for("site/pages", 0))
    assert items["kind"].to_list() == [
        "text",
        "image",
        "text",
        "image",
        "image",
        "image",
        "image",
        "text",
    ]
    imgs = items.filter(pl.col("kind") == "image").to_dicts()
    assert imgs[0]["image_path"] == "site/img/cat.jpg" and imgs[0]["caption"] == "A cat."
    assert imgs[1]["ref_error"] == "path_escapes_root" and imgs[1]["image_path"] is None
    assert imgs[2]["ref_error"] == "path_escapes_root"
    assert imgs[3]["image_bytes"].startswith(b"\x89PNG")
    assert imgs[4]["image_url"] == "file:///etc/passwd"  # the fetcher refuses non-http schemes
    assert "Menu" not in " ".join(items["text"].drop_nulls())
    assert result.stats()["image_ref_path_escapes_root"] == 2


@pytest.mark.parametrize(
    "raw,base,expect",
    [
        ("a/b.jpg", "x/y", ("path", "x/y/a/b.jpg")),
        ("../b.jpg", "x/y", ("path", "x/b.jpg")),
        ("../../../b.jpg", "x/y", ("error", "path_escapes_root")),
        ("//cdn.example/i.png", "", ("url", "https://cdn.example/i.png")),
        ("HTTP://A/b", "", ("url", "HTTP://A/b")),
        ("", "", ("error", "bad_image_ref")),
    ],
)
def test_resolve_image_ref(raw, base, expect):
    ref = resolve_image_ref(raw, base)
    kind, value = expect
    assert getattr(ref, kind) == value


def test_discover_and_read_demo_corpus():
    from tests.conftest import DEMO_CORPUS

    storage = LocalStorage(DEMO_CORPUS)
    shards = discover_shards(storage)
    formats = {s.format for s in shards}
    assert formats == {"html_folder", "jsonl", "obelics_parquet", "warc"}
    seen = set()
    for shard in shards:
        result = read_shard(storage, shard.key)
        seen.add(result.source_format)
        assert result.stats()["documents"] >= 2
    assert seen == {"html_folder", "mmc4_jsonl", "obelics_parquet", "warc"}
    warc = read_shard(storage, "warc/demo-00000.warc.gz").tables()["items"]
    assert warc.filter(pl.col("kind") == "image")["image_bytes"].is_not_null().all()


def test_unknown_shard_and_missing_shard(corpus):
    root, storage = corpus
    (root / "notes.txt").write_text("x")
    with pytest.raises(ShardError, match="unknown shard format"):
        read_shard(storage, "notes.txt")
    with pytest.raises(ShardError, match="no such shard"):
        read_shard(storage, "nope")
    (root / "z.jsonl").write_text('{"foo": 1}\n')
    with pytest.raises(ShardError, match="unrecognised JSON lines"):
        read_shard(storage, "z.jsonl")
    (root / "y.jsonl.gz").write_bytes(b"\x1f\x8b\x08garbage")
    with pytest.raises(ShardError, match="y.jsonl.gz: cannot decompress"):
        read_shard(storage, "y.jsonl.gz")


JA = "吾輩は猫である。名前はまだ無い。どこで生れたかとんと見当がつかぬ。①"  # ① is cp932 only
FR = "Le café était déjà fermé — « voilà » dit-il, naïf, à l’œil."


@pytest.mark.parametrize(
    "raw,encoding,source",
    [
        (
            f'<html><head><meta charset="Shift_JIS"></head><body><p>{JA}</p>'.encode("cp932"),
            "cp932",
            "meta",
        ),
        (
            (
                '<meta http-equiv="Content-Type" content="text/html; charset=EUC-JP">'
                f"<p>{JA[:-1]}</p>"
            ).encode("euc_jp"),
            "euc-jp",
            "meta",
        ),
        (f"<p>{FR}</p>".encode("cp1252"), "cp1252", "detected"),
        (f'<meta charset="iso-8859-1"><p>{FR}</p>'.encode("cp1252"), "cp1252", "meta"),
        (codecs.BOM_UTF8 + f"<p>{JA}</p>".encode(), "utf-8", "bom"),
        (codecs.BOM_UTF16_LE + f"<p>{FR}</p>".encode("utf-16-le"), "utf-16-le", "bom"),
    ],
)
def test_html_pages_decode_by_their_declared_or_detected_charset(raw, encoding, source):
    from realsyn.readers.charset import decode_html

    decoded = decode_html(raw)
    assert (decoded.encoding, decoded.source, decoded.replaced_bytes) == (encoding, source, 0)
    expected = JA if "猫" in decoded.text else FR
    assert (expected if encoding != "euc-jp" else JA[:-1]) in decoded.text


def test_one_invalid_byte_is_replaced_and_counted_not_the_page_rejected(corpus):
    from realsyn.readers.charset import decode_html

    page = f"<p>{JA}</p><p>{FR}</p>".encode()
    broken = page[:30] + b"\xff" + page[30:]  # one stray byte inside UTF-8 text
    decoded = decode_html(broken)
    assert decoded.replaced_bytes == 1 and decoded.text.count("\ufffd") == 1
    assert decoded.text.replace("\ufffd", "") == page.decode()
    # the transport's declaration wins over the page's, and a wrong one is caught
    assert decode_html(f"<p>{FR}</p>".encode("cp1252"), "windows-1252").source == "declared"
    sjis = f'<meta charset="utf-8"><p>{JA * 3}</p>'.encode("cp932")  # mislabelled page
    assert decode_html(sjis).encoding == "cp932" and JA in decode_html(sjis).text
    # binary data is still refused, with its reason
    for junk in (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" * 20, bytes(range(128, 256)) * 40):
        with pytest.raises(RecordRejected, match="binary data"):
            decode_html(junk)
    # through the reader: the page is a document, the replaced byte a shard note
    root, storage = corpus
    (root / "site").mkdir()
    (root / "site" / "a.html").write_bytes(broken)
    (root / "site" / "b.html").write_bytes(f"<p>{FR}</p>".encode("cp1252"))
    (root / "site" / "c.html").write_bytes(b"\x00\x01\x02 binary \x00" * 50)
    result = read_shard(storage, "site")
    assert [r["reason"] for r in result.rejected] == ["unsupported_content"]
    stats = result.stats()
    assert stats["documents"] == 2 and stats["html_replaced_bytes"] == 1
    assert (
        stats["html_pages_with_replaced_bytes"] == 1 and stats["html_pages_charset_detected"] == 1
    )
    texts = " ".join(result.tables()["items"]["text"].drop_nulls())
    assert texts.count(FR) == 2 and texts.count("\ufffd") == 1
    assert texts.replace("\ufffd", "").startswith(JA)


def _warc_response(number: int, ctype: str, body: bytes) -> bytes:
    payload = f"HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\n\r\n".encode() + body
    head = (
        "WARC/1.0\r\nWARC-Type: response\r\n"
        f"WARC-Target-URI: http://example.test/{number}\r\n"
        "WARC-Date: 2024-01-01T00:00:00Z\r\n"
        f"WARC-Record-ID: <urn:uuid:00000000-0000-0000-0000-{number:012d}>\r\n"
        "Content-Type: application/http; msgtype=response\r\n"
        f"Content-Length: {len(payload)}\r\n\r\n"
    )
    return head.encode() + payload + b"\r\n\r\n"


def test_warc_pages_decode_by_the_http_charset_then_the_page(corpus):
    root, storage = corpus
    zh = "这是一个简体中文的句子，用来测试编码。"
    records = [
        _warc_response(1, "text/html; charset=Shift_JIS", f"<p>{JA}</p>".encode("cp932")),
        _warc_response(2, "text/html", f'<meta charset="gbk"><p>{zh}</p>'.encode("gb18030")),
        _warc_response(3, "text/html", f"<p>{FR}</p>".encode()[:-9] + b"\xff</p>"),
        _warc_response(4, "text/html", b"\x00\x01\x02\x03 binary " * 40),
    ]
    (root / "x.warc").write_bytes(b"".join(records))
    result = read_shard(storage, "x.warc")
    texts = " ".join(result.tables()["items"]["text"].drop_nulls())
    assert JA in texts and zh in texts and FR[:-5] in texts
    assert [r["reason"] for r in result.rejected] == ["unsupported_content"]
    assert result.stats()["html_replaced_bytes"] == 1


def test_a_corrupt_parquet_row_group_costs_its_rows_not_the_shard(corpus):
    from tests.hostile_fixtures import obelics_rows, parquet_with_corrupt_row_group

    root, storage = corpus
    (root / "images").mkdir()
    (root / "obelics").mkdir()
    data = parquet_with_corrupt_row_group(obelics_rows(40), rows_per_group=10, bad_group=2)
    (root / "obelics" / "bad.parquet").write_bytes(data)
    result = read_shard(storage, "obelics/bad.parquet")
    assert result.stats()["documents"] == 30  # groups 0, 1 and 3 (was 0: one batch spanned all)
    [rej] = result.rejected
    assert rej["reason"] == "parquet_row_group_corrupt" and rej["record_index"] == 20
    assert rej["detail"].startswith("row group 2: 10 of 10 rows unreadable")
    assert rej["reason"] in REJECT_REASONS
