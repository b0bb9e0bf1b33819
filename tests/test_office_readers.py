"""Document folders: PDF, DOCX, PPTX, EPUB, Markdown and HTML files, each one document, read in
worker processes; every hostile file ends as a row with its own reason."""

from __future__ import annotations

import io

import office_fixtures as fx
import polars as pl
import pytest
from PIL import Image

from realsyn.readers import ShardError, discover_shards, read_shard
from realsyn.readers.base import ShardResult
from realsyn.readers.dispatch import RawDocumentsParams, unread_files
from realsyn.readers.documents import DocumentLimits, read_documents_folder
from realsyn.schemas import DOCUMENTS_SCHEMA, ITEMS_SCHEMA, REJECT_REASONS
from realsyn.storage import LocalStorage


def _write(root, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def _doc(result, key: str) -> list[dict]:
    """The items of the document read from ``key``, in order."""
    docs = [d for d in result.documents if d["url"] == key]
    assert docs, f"{key} was not read: {[r for r in result.rejected if key in r['detail']]}"
    return [i for i in result.items if i["doc_id"] == docs[0]["doc_id"]]


def _read(storage, shard: str, limits: DocumentLimits) -> ShardResult:
    """A documents folder read with limits beyond those RawDocumentsParams exposes."""
    result = ShardResult(shard=shard, source_format="documents_folder")
    read_documents_folder(storage, shard, result, limits)
    return result


def _reason(result, key: str) -> str:
    rows = [r for r in result.rejected if r["detail"].startswith(key + ":")]
    assert len(rows) == 1, (key, result.rejected)
    return rows[0]["reason"]


@pytest.fixture(scope="module")
def pdf_shard(tmp_path_factory):
    root = tmp_path_factory.mktemp("pdfs")
    good = fx.pdf_two_columns()
    _write(
        root,
        {
            "docs/report.pdf": good,
            "docs/locked.pdf": fx.pdf_encrypted("user-pw", "owner-pw"),
            "docs/owner_only.pdf": fx.pdf_encrypted("", "owner-pw"),
            "docs/truncated_tail.pdf": good[: int(len(good) * 0.9)],
            "docs/truncated_half.pdf": good[: len(good) // 2],
            "docs/scan.pdf": fx.pdf_scanned(),
            "docs/dots.pdf": fx.pdf_many_images(10_000),
            "docs/bomb.pdf": fx.pdf_image_bomb(),
            "docs/charts.pdf": fx.pdf_vector_figures(),
            "docs/wave.pdf": fx.pdf_many_points(200_000),
            "docs/tagged.pdf": fx.pdf_tagged(),
            "docs/renamed_html.pdf": b"<!doctype html><html><body><p>Just a page.</p></body></html>",
        },
    )
    storage = LocalStorage(root)
    return storage, read_shard(storage, "docs")


def test_pdf_folder_is_one_documents_shard(pdf_shard):
    storage, result = pdf_shard
    assert [(s.key, s.format) for s in discover_shards(storage)] == [("docs", "documents_folder")]
    tables = result.tables()
    assert dict(tables["documents"].schema) == DOCUMENTS_SCHEMA
    assert dict(tables["items"].schema) == ITEMS_SCHEMA
    assert all(r["reason"] in REJECT_REASONS for r in result.rejected)
    assert result.source_format == "documents_folder"
    formats = {d["url"]: d["source_format"] for d in result.documents}
    assert formats["docs/report.pdf"] == "pdf"
    assert formats["docs/renamed_html.pdf"] == "html"  # sniffed, not trusted from the name
    # record indexes are the ranks of the sorted file keys, documents and rejections alike
    indexes = sorted(
        [d["record_index"] for d in result.documents] + [r["record_index"] for r in result.rejected]
    )
    assert indexes == list(range(12))


def test_pdf_reading_order_columns_then_rows_and_captions(pdf_shard):
    _storage, result = pdf_shard
    items = _doc(result, "docs/report.pdf")
    seq = [i["text"] if i["kind"] == "text" else ("IMAGE", i["caption"]) for i in items]
    assert seq[0].startswith("A report on shapes")  # full-width title first
    left = seq.index(("IMAGE", "Figure 1: A red square on a white ground."))
    right = seq.index(("IMAGE", "Fig. 2 A blue rectangle."))
    assert seq[1].startswith("Left column sentence 0") and "sentence 3" in seq[1]  # one block
    assert (
        left
        < seq.index("Left column text after the figure.")
        < seq.index(
            "Right column sentence 0. Right column sentence 1. Right column sentence 2. Right column sentence 3."
        )
        < right
        < seq.index("Right column text after the figure.")
    )
    # Japanese page: the caption 図1 below the image
    assert ("IMAGE", "図1 赤い円の写真") in seq
    assert "日本語の報告書です。赤い円が描かれています。" in seq
    for item in items:
        if item["kind"] == "image":
            with Image.open(io.BytesIO(item["image_bytes"])) as im:
                im.load()
                assert im.size[0] > 10


def test_pdf_bad_inputs_have_their_reasons(pdf_shard):
    _storage, result = pdf_shard
    assert _reason(result, "docs/locked.pdf") == "encrypted"
    assert _reason(result, "docs/truncated_half.pdf") == "pdf_broken"
    owner_only = _doc(result, "docs/owner_only.pdf")
    assert owner_only[0]["text"] == "A confidential sentence about the green triangle."
    repaired = _doc(result, "docs/truncated_tail.pdf")  # pdfium fails; pikepdf repairs it
    assert any(i["kind"] == "image" for i in repaired)
    assert result.notes["pdf_repaired"] == 1
    scan = _doc(result, "docs/scan.pdf")
    assert [i["kind"] for i in scan] == ["image", "image"]
    assert result.notes["no_text_layer"] == 1
    dots = _doc(result, "docs/dots.pdf")
    cap = DocumentLimits().max_images_per_page
    assert sum(i["kind"] == "image" for i in dots) == cap
    assert result.notes["pdf_images_over_cap"] == 10_000 - cap
    bomb = _doc(result, "docs/bomb.pdf")  # never decoded: its text survives
    assert [i["kind"] for i in bomb] == ["text"]
    assert result.notes["pdf_image_bomb_skipped"] == 1


def test_tagged_pdf_alt_text(pdf_shard):
    _storage, result = pdf_shard
    tagged = _doc(result, "docs/tagged.pdf")
    assert [(i["kind"], i.get("alt_text") or i.get("text")) for i in tagged] == [
        ("image", "A red rectangle, tagged"),
        ("text", "A paragraph after the figure."),
    ]
    assert tagged[0]["image_bytes"] == fx.jpeg((200, 40, 40), (60, 40))  # the JPEG as stored
    report = _doc(result, "docs/report.pdf")  # untagged: no alt text
    assert all(i.get("alt_text") is None for i in report if i["kind"] == "image")


def test_vector_figures_are_rendered_with_their_captions(pdf_shard):
    _storage, result = pdf_shard
    seq = [
        i["text"] if i["kind"] == "text" else ("IMAGE", i["caption"])
        for i in _doc(result, "docs/charts.pdf")
    ]
    assert seq == [
        "Quarterly report",  # the rule under the title is claimed by no caption: no figure
        "Sales grew in every quarter, as the chart shows.",
        ("IMAGE", "Figure 1: Sales by quarter."),  # axis labels (200, Q1..Q4) are in the picture
        "Figure 1: Sales by quarter.",
        "The text goes on after the figure.",
        "図2 処理の流れ",
        ("IMAGE", "図2 処理の流れ"),  # caption above the drawing
        "流れの説明が続きます。",
    ]
    chart = [i for i in _doc(result, "docs/charts.pdf") if i["kind"] == "image"][0]
    with Image.open(io.BytesIO(chart["image_bytes"])) as im:
        assert im.size[0] * im.size[1] <= DocumentLimits().max_render_pixels
        assert im.size[0] > im.size[1]  # the chart's box: wider than tall
        colours = {c for _n, c in im.convert("RGB").getcolors(1 << 16)}
        assert any(b > r + 60 for r, _g, b in colours)  # the blue bars are there
    # a single path of 200,000 points: bounded work, still a figure
    wave = _doc(result, "docs/wave.pdf")
    assert [i["kind"] for i in wave] == ["image", "text"]
    assert wave[0]["caption"] == "Figure 3: A wave of many points."
    assert result.notes["pdf_vector_figures"] == 3


def test_same_input_same_output(pdf_shard):
    storage, result = pdf_shard
    again = read_shard(storage, "docs", RawDocumentsParams(document_workers=1))
    for name in ("documents", "items", "rejected"):
        assert again.tables()[name].equals(result.tables()[name])


def test_timeout_is_a_loud_rejected_row(tmp_path):
    """The per-document time limit is a safety net: a hit is a reader_timeout row, counted and
    warned about, never a failed shard. 10,000 image objects cannot be parsed within 1 ms on any
    machine, so this hit does not depend on the machine's speed or load."""
    _write(tmp_path, {"docs/b.pdf": fx.pdf_many_images(10_000)})
    storage = LocalStorage(tmp_path)
    limits = DocumentLimits(
        timeout_s=0.001,
        max_extract_pixels=0,
        max_images_per_page=100_000,
        max_images_per_document=100_000,
    )
    with pytest.warns(UserWarning, match="reader_timeout"):
        result = _read(storage, "docs", limits)
    assert _reason(result, "docs/b.pdf") == "reader_timeout"
    assert result.notes["reader_timeout"] == 1
    assert not result.documents


def test_a_memory_limit_too_small_to_load_the_parsers_is_a_clear_shard_error(tmp_path):
    _write(tmp_path, {"docs/a.pdf": fx.pdf_two_columns()})
    with pytest.raises(ShardError, match="memory_limit_bytes=67108864 too small"):
        read_shard(
            LocalStorage(tmp_path),
            "docs",
            RawDocumentsParams(document_memory_limit_bytes=64 * 1024**2, document_workers=1),
        )


def test_images_past_the_extract_cap_are_rendered_at_a_capped_scale(tmp_path):
    _write(tmp_path, {"docs/report.pdf": fx.pdf_two_columns()})
    limits = DocumentLimits(max_extract_pixels=1_000, max_render_pixels=5_000)
    result = _read(LocalStorage(tmp_path), "docs", limits)
    images = [i for i in _doc(result, "docs/report.pdf") if i["kind"] == "image"]
    assert len(images) == 3 and result.notes["pdf_images_rendered"] == 3
    for image in images:
        with Image.open(io.BytesIO(image["image_bytes"])) as im:
            assert im.format == "JPEG" and im.size[0] * im.size[1] <= 5_000
            assert im.getpixel((im.size[0] // 2, im.size[1] // 2)) != (255, 255, 255)


def test_discovery_mixed_folders_and_unread_files(tmp_path):
    _write(
        tmp_path,
        {
            "site/index.html": b"<html><body><p>x</p></body></html>",
            "mixed/a.html": b"<html><body><p>x</p></body></html>",
            "mixed/sub/b.pdf": fx.pdf_scanned(),
            "notes/readme.txt": b"plain text is not a document format",
            "notes/photo.jpg": fx.jpeg(),
            "README.md": b"# About this corpus",  # the corpus's notes, not a document
        },
    )
    storage = LocalStorage(tmp_path)
    shards = [(s.key, s.format) for s in discover_shards(storage)]
    assert shards == [("mixed", "documents_folder"), ("site", "html_folder")]
    assert unread_files(storage) == ["README.md", "notes/photo.jpg", "notes/readme.txt"]
    result = read_shard(storage, "mixed")
    assert [d["source_format"] for d in result.documents] == ["html", "pdf"]
    assert pl.DataFrame(result.documents)["record_index"].to_list() == [0, 1]


@pytest.fixture(scope="module")
def office_shard(tmp_path_factory):
    root = tmp_path_factory.mktemp("office")
    docx_bytes = fx.docx_report()
    pptx_bytes = fx.pptx_deck()
    _write(
        root,
        {
            "office/report.docx": docx_bytes,
            "office/report_ja.docx": fx.docx_report(japanese=True),
            "office/deck.pptx": pptx_bytes,
            "office/book.epub": fx.epub_book(),
            "office/notes.md": fx.MARKDOWN,
            "office/img/red.png": fx.png(),
            "office/page_saved_as.docx": b"<html><body><p>An HTML page.</p></body></html>",
            "office/legacy.doc": fx.ole_doc(),
            "office/bomb.docx": fx.zip_with_extra_part(docx_bytes, "word/media/x.bin", 80 << 20),
            "office/bomb.pptx": fx.zip_with_extra_part(pptx_bytes, "ppt/media/x.bin", 80 << 20),
            "office/laughs.docx": fx.zip_replace_part(
                docx_bytes, "word/document.xml", fx.BILLION_LAUGHS
            ),
            "office/not_a_package.docx": b"PK\x03\x04 truncated zip",
            "office/locked.docx": fx.ole_encrypted_docx(),
            "office/floating.docx": fx.docx_floating(),
            "office/laughs.epub": fx.zip_replace_part(
                fx.epub_book(), "OEBPS/content.opf", fx.BILLION_LAUGHS
            ),
        },
    )
    storage = LocalStorage(root)
    return storage, read_shard(storage, "office")


def _seq(items):
    return [
        i["text"] if i["kind"] == "text" else ("IMAGE", i.get("alt_text"), i.get("caption"))
        for i in items
    ]


def test_docx_body_order_alt_text_captions_and_tables(office_shard):
    _storage, result = office_shard
    items = _doc(result, "office/report.docx")
    assert _seq(items) == [
        "Shapes report",
        "This report describes a red square.",
        ("IMAGE", "A red square on white", "The red square, seen from above"),
        "The red square, seen from above",
        "A blue rectangle follows.",
        ("IMAGE", None, None),  # its alt text was a file name (IMG_2041.JPG): dropped
        "Shape | Colour",
        "square | red",
        "The end.",
    ]
    assert items[2]["image_bytes"] == fx.png()
    floating = _seq(_doc(result, "office/floating.docx"))  # wp:anchor instead of wp:inline
    assert ("IMAGE", "A red square on white", "The red square, seen from above") in floating
    ja = _seq(_doc(result, "office/report_ja.docx"))
    assert ("IMAGE", None, "赤い円が白い背景にある様子") in ja  # caption style named 図表番号


def test_pptx_slides_shapes_captions_and_notes_last(office_shard):
    _storage, result = office_shard
    assert _seq(_doc(result, "office/deck.pptx")) == [
        "Quarterly shapes",
        ("IMAGE", None, "A red square in the corner"),  # alt text "red.png" is the default
        "A red square in the corner",
        "Say that the square is red.",  # speaker notes after the slide's shapes
        "Two shapes side by side.",
        ("IMAGE", "A green square", "Figure 1: green"),
        "Figure 1: green",
        ("IMAGE", None, "The blue one"),
        "The blue one",
    ]


def test_epub_spine_with_fragments_and_markdown(office_shard):
    _storage, result = office_shard
    book = _doc(result, "office/book.epub")
    assert _seq(book)[:4] == [
        "Chapter one",
        "The red square sits alone.",
        ("IMAGE", "A red square", "Figure 1. The red square."),
        "Figure 1. The red square.",
    ]
    assert [i.get("text") for i in book].count("Chapter one") == 1  # ch1 read once
    assert book[2]["image_bytes"] == fx.png()
    assert book[-1]["ref_error"] == "missing_file"
    assert result.notes["epub_image_missing"] == 1
    notes = _doc(result, "office/notes.md")
    assert _seq(notes)[:3] == [
        "Notes on shapes",
        "The red square is described below.",
        ("IMAGE", "A red square", None),
    ]
    assert notes[2]["image_path"] == "office/img/red.png"
    assert "square red" in " ".join(i.get("text") or "" for i in notes)


def test_office_bad_inputs_have_their_reasons(office_shard):
    _storage, result = office_shard
    formats = {d["url"]: d["source_format"] for d in result.documents}
    assert formats["office/page_saved_as.docx"] == "html"
    assert _reason(result, "office/legacy.doc") == "unsupported_format"
    assert _reason(result, "office/bomb.docx") == "part_too_large"
    assert _reason(result, "office/bomb.pptx") == "part_too_large"
    assert _reason(result, "office/laughs.docx") == "unsafe_xml"
    assert _reason(result, "office/not_a_package.docx") == "corrupt_archive"
    assert _reason(result, "office/locked.docx") == "encrypted"
    assert _reason(result, "office/laughs.epub") == "unsafe_xml"
    assert all(r["reason"] in REJECT_REASONS for r in result.rejected)
    assert len(result.documents) + len(result.rejected) == 14  # the .png is no document


def test_realsyn_run_on_a_corpus_with_nothing_readable_stops_before_any_step(
    tmp_path, monkeypatch, capsys
):
    corpus = tmp_path / "corpus"
    _write(corpus, {"a/sheet.xlsx": b"PK\x03\x04", "a/readme.txt": b"hi", "b/photo.jpg": fx.jpeg()})
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("REALSYN_CORPUS", str(corpus))
    monkeypatch.setenv("REALSYN_DATA_ROOT", str(tmp_path / "out"))
    from realsyn_assets.cli import run_main_job

    rc = run_main_job(["--corpus", str(corpus), "--data-root", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc == 2
    assert "no readable shard" in err and "PDF, DOCX, PPTX, EPUB" in err
    assert "a/readme.txt" in err and "a/sheet.xlsx" in err and "b/photo.jpg" in err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_a_mixed_documents_folder_through_raw_documents_and_clean_images(dagster_home, tmp_path):
    import dagster as dg

    from realsyn.storage import read_partition_table
    from realsyn_assets.clean_images import clean_images
    from realsyn_assets.partitions import shard_partitions
    from realsyn_assets.raw_documents import raw_documents
    from resources.drift import DriftResource
    from resources.fetcher import ImageFetcherResource
    from resources.stage_params import StageParamsResource
    from resources.storage import StorageResource

    corpus = tmp_path / "corpus"
    _write(
        corpus,
        {
            "pilot/report.pdf": fx.pdf_two_columns(),
            "pilot/report.docx": fx.docx_report(),
            "pilot/deck.pptx": fx.pptx_deck(),
            "pilot/book.epub": fx.epub_book(),
            "pilot/notes.md": fx.MARKDOWN,
            "pilot/img/red.png": fx.png(),
            "pilot/page.html": b"<html><body><p>A page.</p><img src='img/red.png'></body></html>",
            "pilot/legacy.doc": fx.ole_doc(),
        },
    )
    instance = dg.DagsterInstance.get()
    instance.add_dynamic_partitions(shard_partitions.name, ["pilot"])
    out = tmp_path / "out"
    resources = {
        "corpus": StorageResource(root=str(corpus)),
        "storage": StorageResource(root=str(out)),
        "drift": DriftResource(),
        "stage_params": StageParamsResource(),
        "fetcher": ImageFetcherResource(),
    }
    result = dg.materialize(
        [raw_documents, clean_images], partition_key="pilot", instance=instance, resources=resources
    )
    assert result.success
    checks = result.get_asset_check_evaluations()
    assert checks and all(c.passed for c in checks), [c for c in checks if not c.passed]
    mat = result.asset_materializations_for_node("raw_documents")[0]
    assert mat.metadata["documents"].value == 6
    assert mat.metadata["rejected_unsupported_format"].value == 1
    docs = read_partition_table(LocalStorage(out), "raw_documents", "pilot", "documents")
    assert sorted(docs["source_format"].to_list()) == [
        "docx",
        "epub",
        "html",
        "markdown",
        "pdf",
        "pptx",
    ]
    images = read_partition_table(LocalStorage(out), "clean_images", "pilot", "images")
    decoded = images.filter(pl.col("width").is_not_null())
    # PDF 3, DOCX 2, PPTX 3, EPUB 2, Markdown 1, HTML 1: all decode but the EPUB's missing one
    assert (images.height, decoded.height) == (12, 11)


def test_the_world_as_office_documents_reads_back_to_its_truth(tmp_path):
    import hashlib

    from realsyn.world_docs import WorldParams, write_world
    from realsyn.world_office import OFFICE_DIR, build_office_world

    params = WorldParams(documents=12, eval_images=8)
    world = build_office_world(params)
    assert build_office_world(params).files == world.files  # same seed, same bytes
    write_world(world, tmp_path)
    storage = LocalStorage(tmp_path)
    assert [(s.key, s.format) for s in discover_shards(storage)] == [
        (OFFICE_DIR, "documents_folder")
    ]
    result = read_shard(storage, OFFICE_DIR)
    assert not result.rejected and len(result.documents) == 12
    for n, doc in enumerate(world.documents):
        key = f"{OFFICE_DIR}/doc-{n:04d}.{('pdf', 'docx', 'pptx')[n % 3]}"
        want = [("text", doc["nav"])]
        for block in doc["blocks"]:
            if block[0] == "text":
                want.append(("text", block[1]))
            else:
                data = world.files[block[1]["file"]]
                want.append(("image", hashlib.sha256(data).hexdigest(), block[2]))  # PDFs: tagged
        want += [("text", t) for t in doc["footer"]]
        got = [
            ("text", i["text"])
            if i["kind"] == "text"
            else ("image", hashlib.sha256(i["image_bytes"]).hexdigest(), i.get("alt_text"))
            for i in _doc(result, key)
        ]
        if key.endswith(".pdf"):  # Helvetica/WinAnsi: characters past Latin-1 are '?'
            want = [
                ("text", w[1].encode("latin-1", "replace").decode("latin-1"))
                if w[0] == "text"
                else w
                for w in want
            ]
        assert got == want, key


def test_legacy_encoded_markdown_and_html_pages_in_a_documents_folder(tmp_path):
    """HTML and Markdown inside a documents folder decode by declared or detected charset
    (Shift_JIS, cp1252), like an HTML folder's pages, instead of being rejected as invalid_utf8."""
    ja = "取扱説明書\n\n本製品の電源を入れる前に、必ず安全上の注意をお読みください。\n"
    page = (
        '<html><head><meta charset="shift_jis"></head><body>'
        "<p>このマニュアルについて説明します。</p></body></html>"
    )
    _write(
        tmp_path,
        {
            "pilot/manual.md": ja.encode("shift_jis"),
            "pilot/page.html": page.encode("shift_jis"),
            "pilot/cafe.md": "Caf\u00e9 cr\u00e8me costs \u20ac3.\n".encode("cp1252"),
        },
    )
    storage = LocalStorage(tmp_path)
    result = _read(storage, "pilot", DocumentLimits())
    texts = {
        key: " ".join(i.get("text") or "" for i in _doc(result, key))
        for key in ("pilot/manual.md", "pilot/page.html", "pilot/cafe.md")
    }
    assert "安全上の注意" in texts["pilot/manual.md"]
    assert "このマニュアル" in texts["pilot/page.html"]
    assert "Café crème costs €3." in texts["pilot/cafe.md"]
    assert not [r for r in result.rejected if r["reason"] == "invalid_utf8"]


def _pilot_env(monkeypatch, tmp_path, **extra: str) -> None:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    for var in ("REALSYN_CORPUS", "REALSYN_CAPTIONER_URL", "REALSYN_PARAMS"):
        monkeypatch.delenv(var, raising=False)
    for var in ("REALSYN_CLIP_CHECKPOINT", "REALSYN_CLIP_PRETRAINED", "REALSYN_CLIP_MODEL"):
        monkeypatch.delenv(var, raising=False)
    for var, value in extra.items():
        monkeypatch.setenv(var, value)


@pytest.mark.slow  # realsyn run: ingest, then clip_bootstrap (about 20 s)
def test_a_pilot_without_alt_texts_or_a_model_stops_at_clip_bootstrap_saying_what_to_do(
    tmp_path, monkeypatch, capsys
):
    """A folder of untagged PDFs has images but no alt texts, so the bootstrap CLIP model cannot
    train. Without a configured model the run stops there with one reason (the counts, the
    minimum, the settings that supply a model) and runs nothing that reads the model (was:
    every later step ran, and failed)."""
    corpus = tmp_path / "corpus"
    _write(
        corpus,
        {"pilot/report.pdf": fx.pdf_pages(2), "pilot/charts.pdf": fx.pdf_vector_figures()},
    )
    _pilot_env(monkeypatch, tmp_path)
    from realsyn_assets.cli import run_main_job

    out_root = tmp_path / "out"
    rc = run_main_job(["--corpus", str(corpus), "--data-root", str(out_root)])
    out, err = capsys.readouterr()
    assert rc == 1
    assert "1/11 ingest_shards[pilot]: ok" in out
    assert "2/11 clip_bootstrap: FAILED" in out
    assert "\n1/11 run(s) succeeded" in out
    reason = next(line for line in err.splitlines() if "clip_bootstrap failed:" in line)
    assert "0 of the corpus's 2 kept images (1 shard(s)) have one, at least 2" in reason
    assert "REALSYN_CLIP_CHECKPOINT=" in reason and "REALSYN_CLIP_PRETRAINED=" in reason
    ours = [line for line in err.splitlines() if "too few images with an alt text" in line]
    assert [line for line in ours if line.startswith("[realsyn]")] == [reason]  # once; the
    # other copies are Dagster's error log of the step (with its trace), as for any failure
    later = ["embed_images[pilot]", "corpus_stats", "semantic_shards[pilot]", "sentence_pool"]
    assert not [step for step in later if step in out]
    skipped = next(line for line in err.splitlines() if line.startswith("not run, as they read"))
    assert all(repr(step) in skipped for step in later + ["release_scales[t180]"]), skipped
    assert not (out_root / "image_embeddings").exists()


# The hostile and odd files of issue 21 beside good ones: name -> how each must end.
MIXED_BAD = {
    "locked.pdf": (lambda: fx.pdf_encrypted("user-pw", "owner-pw"), "encrypted"),
    "truncated.pdf": (lambda: fx.pdf_two_columns()[:2000], "pdf_broken"),
    "bomb.docx": (
        lambda: fx.zip_with_extra_part(fx.docx_report(), "word/media/x.bin", 80 << 20),
        "part_too_large",
    ),
    "bomb.pptx": (
        lambda: fx.zip_with_extra_part(fx.pptx_deck(), "ppt/media/x.bin", 80 << 20),
        "part_too_large",
    ),
    "laughs.docx": (
        lambda: fx.zip_replace_part(fx.docx_report(), "word/document.xml", fx.BILLION_LAUGHS),
        "unsafe_xml",
    ),
    "legacy.doc": (fx.ole_doc, "unsupported_format"),
    # 2 GiB of content stream: pdfium aborts its worker when the memory limit (1.5 GiB here)
    # stops the inflation, whatever else the worker holds
    "flate_bomb.pdf": (fx.pdf_flate_bomb, "reader_crashed"),
}
MIXED_ODD = {  # read, each with its note where the issue names one
    "owner_only.pdf": fx.pdf_encrypted("", "owner-pw"),
    "scan.pdf": fx.pdf_scanned(),
    "dots.pdf": fx.pdf_many_images(10_000),
    "image_bomb.pdf": fx.pdf_image_bomb(),
    "wave.pdf": fx.pdf_many_points(200_000),
    "page_saved_as.docx": b"<html><body><p>An HTML page saved with a Word name.</p></body></html>",
    "book.epub": fx.epub_book(),  # manifest links with #fragments
    "report_ja.docx": fx.docx_report(japanese=True),  # the 図表番号 caption style
}


@pytest.mark.slow  # the main job over 23 files: about a minute
def test_the_main_job_over_a_mixed_folder_with_bad_inputs_and_a_configured_model(tmp_path):
    """Issue 21's pilot: a folder of PDF/DOCX/PPTX/EPUB/Markdown/HTML files, a third of them
    hostile, through ``realsyn run`` with a local checkpoint (so no bootstrap from alt texts):
    every bad file is one rejected row with its own reason (a parser that aborts its worker
    included), the odd ones are read with their notes, the good ones reach retrieval and the
    release, and every step succeeds within the time limit."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    import torch

    from realsyn.clip import load_clip
    from realsyn.storage import read_manifest, read_partition_table

    corpus = tmp_path / "corpus"
    good = {
        "report.pdf": fx.pdf_two_columns(),
        "long.pdf": fx.pdf_pages(3),
        "charts.pdf": fx.pdf_vector_figures(),
        "report.docx": fx.docx_report(),
        "deck.pptx": fx.pptx_deck(),
        "notes.md": fx.MARKDOWN,
        "img/red.png": fx.png(),
        "img/photo.jpg": fx.jpeg((40, 150, 60), (320, 240)),
        "page.html": b"<html><body><p>A green field lies under a pale sky.</p>"
        b"<img src='img/photo.jpg' alt='A green field'></body></html>",
    }
    _write(corpus, {f"pilot/{k}": v for k, v in good.items()})
    _write(corpus, {f"pilot/odd/{k}": v for k, v in MIXED_ODD.items()})
    _write(corpus, {f"pilot/bad/{k}": make() for k, (make, _reason) in MIXED_BAD.items()})
    checkpoint = tmp_path / "tiny.pt"  # the pilot's own model (seeded weights: any will do)
    torch.save({"state_dict": load_clip("realsyn-tiny", seed=0).model.state_dict()}, checkpoint)
    # A memory limit the flate bomb's inflation overruns whatever else its worker holds, with
    # room for every other file (a reader worker maps ~720 MB before it opens a document)
    params = tmp_path / "params.toml"
    params.write_text(f"[raw_documents]\ndocument_memory_limit_bytes = {1536 << 20}\n")
    env = {
        **os.environ,
        "DAGSTER_HOME": str(tmp_path / "home"),
        "REALSYN_DATA_ROOT": str(tmp_path / "data"),
        "REALSYN_PARAMS": str(params),
        "REALSYN_CLIP_CHECKPOINT": str(checkpoint),
    }
    for var in ("REALSYN_CORPUS", "REALSYN_CAPTIONER_URL", "REALSYN_CLIP_PRETRAINED"):
        env.pop(var, None)
    cmd = [str(Path(sys.executable).parent / "realsyn"), "run", "--corpus", str(corpus)]
    repo = Path(__file__).resolve().parents[1]
    proc = subprocess.run(
        cmd + ["--no-world"], cwd=repo, env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert "skipping clip_bootstrap: a pretrained/local model is configured" in proc.stdout
    assert "\n10/10 run(s) succeeded" in proc.stdout

    store = LocalStorage(tmp_path / "data")
    rejected = read_partition_table(store, "raw_documents", "pilot", "rejected")
    reasons = {r["detail"].split(":")[0]: r["reason"] for r in rejected.iter_rows(named=True)}
    assert reasons == {f"pilot/bad/{k}": reason for k, (_m, reason) in MIXED_BAD.items()}
    docs = read_partition_table(store, "raw_documents", "pilot", "documents")
    formats = dict(zip(docs["url"], docs["source_format"], strict=True))
    read = [f"pilot/{k}" for k in good if "/" not in k] + [f"pilot/odd/{k}" for k in MIXED_ODD]
    assert sorted(formats) == sorted(read)
    assert formats["pilot/odd/page_saved_as.docx"] == "html"
    assert formats["pilot/odd/book.epub"] == "epub"
    stats = read_manifest(store, "raw_documents", "pilot")["info"]["stats"]
    assert stats["no_text_layer"] == 1  # the scan: its images kept, no text
    assert stats["pdf_images_over_cap"] == 10_000 - DocumentLimits().max_images_per_page
    assert stats["pdf_image_bomb_skipped"] == 1
    assert stats["pdf_vector_figures"] == 3  # the chart, the diagram, the 200,000-point wave
    items = read_partition_table(store, "raw_documents", "pilot", "items")
    ja = docs.filter(pl.col("url") == "pilot/odd/report_ja.docx")["doc_id"][0]
    captions = items.filter((pl.col("doc_id") == ja) & (pl.col("kind") == "image"))["caption"]
    assert captions.to_list() == ["赤い円が白い背景にある様子"]

    # The configured model made every vector; the good documents' images reach the release.
    model = read_manifest(store, "image_embeddings", "pilot")["info"]["model"]
    assert model.startswith("realsyn-tiny@sha256:"), model
    pairs = read_partition_table(store, "retrieval_pairs", "pilot", "pairs")
    assert pairs.height > 0
    release = pl.read_parquet(tmp_path / "data" / "release" / "t180" / "release.parquet")
    assert release.height > 0 and release["text1"].is_not_null().all()
