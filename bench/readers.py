"""Documents/s for each reader on the shared samples, beside a baseline on the same bytes.

    python bench/readers.py [--repeat N]

Samples are replicated N times (default 20) into a temp corpus so timings are not noise.
Baselines are what a quick script would do instead: ``json.loads`` per line (MMC4 / OBELICS
jsonl, no validation or normalization), ``polars.read_parquet().to_dicts()`` (OBELICS parquet),
and FastWARC + Resiliparse ``extract_plain_text(main_content=True)`` (WARC and HTML pages: a
common main-content extractor that, unlike ours, yields no ordered image references).
ratio = ours / baseline throughput (above 1: ours is faster).

Document folders (``--documents N``, 0 to skip): N generated PDFs (``--pages`` pages each: two
columns, two images with captions per page), DOCX and PPTX files, plus EPUB and Markdown copies,
read three ways: the bare library loop (pypdfium2 page text + every image object's bitmap;
python-docx paragraph walk + picture blobs; python-pptx shape walk + picture blobs; EPUB spine
pages through Resiliparse; markdown-it render), our parser in this process (layout, captions,
limits: ``parse_document``), and ``read_shard`` (the same in isolated worker processes, the
pool's start-up included). Pages/s counts PDF pages and PPTX slides.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import polars as pl
from fastwarc.warc import ArchiveIterator, WarcRecordType
from resiliparse.extract.html2text import extract_plain_text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from realsyn.readers import read_shard  # noqa: E402
from realsyn.storage import LocalStorage  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def timed(fn, rounds: int = 3) -> float:
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def build_corpus(root: Path, repeat: int) -> dict[str, int]:
    """Write replicated shards; return the number of documents in each."""
    mmc4 = (SHARED / "mmc4/docs_no_face_shard_151_v3.partial.jsonl").read_bytes()
    (root / "mmc4.jsonl").write_bytes(mmc4 * repeat)
    docs = [json.loads(line) for line in mmc4.splitlines() if line.strip()]
    rows = []
    for d in docs:  # the same documents in OBELICS layout
        texts, images = [], []
        for i, t in enumerate(d["text_list"]):
            for info in d["image_info"]:
                if info["matched_text_index"] == i:
                    texts.append(None)
                    images.append(info["raw_url"])
            texts.append(t)
            images.append(None)
        rows.append(
            {
                "texts": texts,
                "images": images,
                "metadata": None,
                "general_metadata": json.dumps({"url": d["url"]}),
            }
        )
    pl.DataFrame(rows * repeat).write_parquet(root / "obelics.parquet")
    warc = (SHARED / "warc/resiliparse/warcfile.warc.gz").read_bytes()
    (root / "crawl.warc.gz").write_bytes(warc * repeat)  # gzip members concatenate
    site = root / "site"
    site.mkdir()
    n = 0
    with open(SHARED / "warc/resiliparse/warcfile.warc.gz", "rb") as fh:
        pages = [
            r.reader.read()
            for r in ArchiveIterator(fh, record_types=WarcRecordType.response, parse_http=True)
        ]
    for _ in range(repeat):
        for page in pages:
            (site / f"p{n:05d}.html").write_bytes(page.decode("utf-8", "replace").encode())
            n += 1
    return {
        "mmc4.jsonl": len(docs) * repeat,
        "obelics.parquet": len(docs) * repeat,
        "crawl.warc.gz": 16 * repeat,
        "site": n,
    }


def baseline(root: Path, key: str) -> None:
    path = root / key
    if key.endswith(".jsonl"):
        with open(path, "rb") as fh:
            for line in fh:
                json.loads(line)
    elif key.endswith(".parquet"):
        pl.read_parquet(path).to_dicts()
    elif key.endswith(".warc.gz"):
        with open(path, "rb") as fh:
            for rec in ArchiveIterator(fh, record_types=WarcRecordType.response, parse_http=True):
                extract_plain_text(rec.reader.read().decode("utf-8", "replace"), main_content=True)
    else:
        for page in sorted(path.iterdir()):
            extract_plain_text(page.read_text(), main_content=True)


def build_documents(root: Path, n: int, pages: int) -> dict[str, tuple[list[Path], int]]:
    """``n`` files per format under ``root/<format>/``; returns paths and pages per format."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    import office_fixtures as fx

    made = {
        "pdf": (fx.pdf_pages(pages), pages),
        "docx": (fx.docx_report(), 0),
        "pptx": (fx.pptx_deck(), 2),
        "epub": (fx.epub_book(), 0),
        "md": (fx.MARKDOWN, 0),
    }
    out = {}
    for fmt, (data, n_pages) in made.items():
        folder = root / fmt
        folder.mkdir()
        paths = []
        for i in range(n):
            path = folder / f"doc{i:04d}.{fmt}"
            path.write_bytes(data)
            paths.append(path)
        out[fmt] = (paths, n_pages * n)
    return out


def bare_loop(fmt: str, paths: list[Path]) -> None:
    """What a quick script does with the library alone: no layout, captions or limits."""
    if fmt == "pdf":
        import pypdfium2 as pdfium
        import pypdfium2.raw as pdfium_c

        for path in paths:
            doc = pdfium.PdfDocument(path)
            for page in doc:
                page.get_textpage().get_text_range()
                for obj in page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE]):
                    obj.get_bounds()
                    obj.get_bitmap().to_pil()
            doc.close()
    elif fmt == "docx":
        import docx

        for path in paths:
            d = docx.Document(str(path))
            [p.text for p in d.paragraphs]
            [r.target_part.blob for r in d.part.rels.values() if "image" in r.reltype]
    elif fmt == "pptx":
        import pptx

        for path in paths:
            for slide in pptx.Presentation(str(path)).slides:
                for shape in slide.shapes:
                    if shape.has_text_frame:
                        _ = shape.text_frame.text
                    elif hasattr(shape, "image"):
                        _ = shape.image.blob
    elif fmt == "epub":
        import zipfile

        for path in paths:
            with zipfile.ZipFile(path) as zf:
                for name in zf.namelist():
                    if name.endswith(".xhtml"):
                        extract_plain_text(zf.read(name).decode(), main_content=True)
    else:
        from markdown_it import MarkdownIt

        md = MarkdownIt("commonmark")
        for path in paths:
            md.render(path.read_text())


def bench_documents(root: Path, n: int, pages: int) -> None:
    from realsyn.readers.documents import DocumentLimits, parse_document

    made = build_documents(root, n, pages)
    storage = LocalStorage(root)
    limits = DocumentLimits()
    print(
        f"\n{'format':<6} {'docs':>5} {'pages':>6} {'bare docs/s':>12} {'ours in-proc':>13} "
        f"{'ratio':>6} {'read_shard':>11} {'ratio':>6} {'pages/s':>8}"
    )
    for fmt, (paths, n_pages) in made.items():

        def ours(ps=paths):
            for p in ps:
                out = parse_document((str(p), p.relative_to(root).as_posix(), limits))
                assert "blocks" in out, out

        got = read_shard(storage, fmt)
        assert got.stats()["documents"] == len(paths), got.rejected[:1]
        base = timed(lambda f=fmt, ps=paths: bare_loop(f, ps), rounds=2)
        mine = timed(ours, rounds=2)
        shard = timed(lambda f=fmt: read_shard(storage, f), rounds=2)
        pages_s = f"{n_pages / shard:>8,.0f}" if n_pages else f"{'-':>8}"
        print(
            f"{fmt:<6} {len(paths):>5} {n_pages:>6} {len(paths) / base:>12,.1f} "
            f"{len(paths) / mine:>13,.1f} {base / mine:>6.2f} {len(paths) / shard:>11,.1f} "
            f"{base / shard:>6.2f} {pages_s}"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--documents", type=int, default=20, help="files per document format")
    parser.add_argument("--pages", type=int, default=10, help="pages per generated PDF")
    parser.add_argument("--skip-web", action="store_true", help="only the document folders")
    args = parser.parse_args()
    if args.documents:
        with tempfile.TemporaryDirectory() as tmp:
            bench_documents(Path(tmp), args.documents, args.pages)
    if args.skip_web:
        return
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        counts = build_corpus(root, args.repeat)
        storage = LocalStorage(root)
        print(f"{'shard':<16} {'docs':>7} {'ours docs/s':>12} {'base docs/s':>12} {'ratio':>6}")
        for key, n in counts.items():
            got = read_shard(storage, key).stats()["documents"]
            assert got == n, (key, got, n)
            ours = timed(lambda k=key: read_shard(storage, k))
            base = timed(lambda k=key: baseline(root, k))
            print(f"{key:<16} {n:>7} {n / ours:>12,.0f} {n / base:>12,.0f} {base / ours:>6.2f}")
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
