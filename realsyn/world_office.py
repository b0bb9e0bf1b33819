"""The generated world published as office documents: PDF, DOCX and PPTX (the pilot's shape).

:func:`build_office_world` takes the world of :func:`realsyn.world_docs.build_world` (same
seed: same images, same sentences, same truth under ``_world/``) and writes every one of its
documents as one file under ``world/office/``, the formats in turn, instead of OBELICS rows and
HTML pages. Images are embedded as their very JPEG bytes (so their SHA-256 matches the truth):
a PDF image is a DCT stream, a DOCX/PPTX picture part the file itself. Alt texts become the
pictures' ``descr`` in DOCX/PPTX and, in PDFs, the ``/Alt`` of each image's ``/Figure``
structure element (a tagged PDF, as Word's PDF export writes with its accessibility tags; an
untagged PDF has no alt texts: a third fewer bootstrap pairs in this world). The page furniture
(navigation line, footer sentences) opens and closes each document as plain text, as it does
in the OBELICS rows.

PDFs are written with pikepdf's content streams in Helvetica (WinAnsi: characters outside
Latin-1 become ``?``; only boilerplate sentences carry such characters), wrapped by a fixed
character count.
"""

from __future__ import annotations

import io
import textwrap
import zipfile
from dataclasses import replace
from datetime import UTC, datetime

from realsyn.world_docs import PREFIX, TRUTH_DIR, World, WorldParams, build_world

OFFICE_DIR = f"{PREFIX}/office"
FORMATS = ("pdf", "docx", "pptx")
_PAGE_W, _PAGE_H, _MARGIN = 612, 792, 56
_FONT, _LEADING, _WRAP = 10, 13, 95
_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)  # fixed document dates: same seed, same bytes


def _blocks(doc: dict) -> list[tuple]:
    return [("text", doc["nav"]), *doc["blocks"], *[("text", t) for t in doc["footer"]]]


def _pdf_string(text: str) -> bytes:
    raw = text.encode("latin-1", "replace")
    return b"(" + raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)") + b")"


def write_pdf(doc: dict, files: dict[str, bytes]) -> bytes:
    """One column of wrapped paragraphs with the images between them, new pages as needed."""
    import pikepdf
    from PIL import Image

    pdf = pikepdf.new()
    font = pdf.make_indirect(
        pikepdf.Dictionary(
            Type=pikepdf.Name.Font,
            Subtype=pikepdf.Name.Type1,
            BaseFont=pikepdf.Name.Helvetica,
            Encoding=pikepdf.Name.WinAnsiEncoding,
        )
    )
    pages: list[tuple[list[bytes], dict]] = [([], {})]
    y = _PAGE_H - _MARGIN

    def room(height: float) -> None:
        nonlocal y
        if y - height < _MARGIN:
            pages.append(([], {}))
            y = _PAGE_H - _MARGIN

    for block in _blocks(doc):
        if block[0] == "text":
            for line in textwrap.wrap(block[1], _WRAP) or [""]:
                room(_LEADING)
                y -= _LEADING
                pages[-1][0].append(
                    b"BT /F1 %d Tf %d %.1f Td %s Tj ET" % (_FONT, _MARGIN, y, _pdf_string(line))
                )
            y -= _LEADING / 2
            continue
        data = files[block[1]["file"]]
        with Image.open(io.BytesIO(data)) as im:
            px_w, px_h = im.size
        w = 220.0
        h = min(260.0, w * px_h / px_w)
        w = h * px_w / px_h
        room(h + _LEADING)
        y -= h + _LEADING / 2
        name = f"Im{len(pages[-1][1])}"
        stream = pikepdf.Stream(pdf, data)
        stream.Type, stream.Subtype = pikepdf.Name.XObject, pikepdf.Name.Image
        stream.Width, stream.Height, stream.BitsPerComponent = px_w, px_h, 8
        stream.ColorSpace, stream.Filter = pikepdf.Name.DeviceRGB, pikepdf.Name.DCTDecode
        pages[-1][1][name] = (stream, block[2])
        mcid = len(pages[-1][1]) - 1
        pages[-1][0].append(
            b"/Figure <</MCID %d>> BDC q %.1f 0 0 %.1f %d %.1f cm /%s Do Q EMC"
            % (mcid, w, h, _MARGIN, y, name.encode())
        )
        y -= _LEADING / 2
    figures, parents = [], []  # structure elements; per page, its figures by MCID
    for n, (content, images) in enumerate(pages):
        resources = pikepdf.Dictionary(Font=pikepdf.Dictionary(F1=font))
        if images:
            resources.XObject = pikepdf.Dictionary({f"/{k}": v for k, (v, _a) in images.items()})
        page = pikepdf.Dictionary(
            Type=pikepdf.Name.Page,
            MediaBox=[0, 0, _PAGE_W, _PAGE_H],
            Resources=resources,
            Contents=pikepdf.Stream(pdf, b"\n".join(content)),
            StructParents=n,
        )
        pdf.pages.append(pikepdf.Page(page))
        mine = []
        for mcid, (_stream, alt) in enumerate(images.values()):
            element = pikepdf.Dictionary(
                Type=pikepdf.Name.StructElem, S=pikepdf.Name.Figure, Pg=pdf.pages[-1].obj, K=mcid
            )
            if alt:
                element.Alt = pikepdf.String(alt)
            mine.append(pdf.make_indirect(element))
        figures += mine
        parents += [n, pikepdf.Array(mine)]
    root = pdf.make_indirect(
        pikepdf.Dictionary(
            Type=pikepdf.Name.StructTreeRoot,
            K=pikepdf.Array(figures),
            ParentTree=pikepdf.Dictionary(Nums=pikepdf.Array(parents)),
        )
    )
    for element in figures:
        element.P = root
    pdf.Root.StructTreeRoot = root
    pdf.Root.MarkInfo = pikepdf.Dictionary(Marked=True)
    buf = io.BytesIO()
    pdf.save(buf, deterministic_id=True)
    return buf.getvalue()


def write_docx(doc: dict, files: dict[str, bytes]) -> bytes:
    import docx
    from docx.shared import Inches

    d = docx.Document()
    for block in _blocks(doc):
        if block[0] == "text":
            d.add_paragraph(block[1])
            continue
        d.add_picture(io.BytesIO(files[block[1]["file"]]), width=Inches(3))
        d.inline_shapes[-1]._inline.docPr.set("descr", block[2] or "")
    d.core_properties.created = d.core_properties.modified = _EPOCH
    buf = io.BytesIO()
    d.save(buf)
    return _fixed_zip(buf.getvalue())


def write_pptx(doc: dict, files: dict[str, bytes]) -> bytes:
    """A slide per image: the texts before it in a box on top, the picture, the texts after it
    (up to the next image) in a box below; reading the slide by position keeps the order."""
    import pptx
    from pptx.util import Inches, Pt

    prs = pptx.Presentation()
    slides: list[list[tuple]] = [[]]
    for block in _blocks(doc):
        if block[0] == "image" and any(b[0] == "image" for b in slides[-1]):
            slides.append([])
        slides[-1].append(block)
    for content in slides:
        slide = prs.slides.add_slide(prs.slide_layouts[6])  # blank
        split = next((i for i, b in enumerate(content) if b[0] == "image"), len(content))
        for texts, top in ((content[:split], 0.2), (content[split + 1 :], 5.6)):
            if not texts:
                continue
            box = slide.shapes.add_textbox(Inches(0.5), Inches(top), Inches(9), Inches(1.6))
            box.text_frame.word_wrap = True
            for i, (_kind, text) in enumerate(texts):
                para = box.text_frame.paragraphs[0] if i == 0 else box.text_frame.add_paragraph()
                para.text = text
                para.runs[0].font.size = Pt(10)
        if split < len(content):
            block = content[split]
            pic = slide.shapes.add_picture(
                io.BytesIO(files[block[1]["file"]]), Inches(3), Inches(1.9), height=Inches(3.6)
            )
            pic._element.xpath(".//p:cNvPr")[0].set("descr", block[2] or "")
    prs.core_properties.created = prs.core_properties.modified = _EPOCH
    buf = io.BytesIO()
    prs.save(buf)
    return _fixed_zip(buf.getvalue())


def _fixed_zip(package: bytes) -> bytes:
    """The package re-zipped with fixed entry times (the libraries stamp the clock's)."""
    src = zipfile.ZipFile(io.BytesIO(package))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as out:
        for info in src.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=(2026, 1, 1, 0, 0, 0))
            fixed.compress_type = zipfile.ZIP_DEFLATED
            out.writestr(fixed, src.read(info))
    return buf.getvalue()


WRITERS = {"pdf": write_pdf, "docx": write_docx, "pptx": write_pptx}


def build_office_world(params: WorldParams | None = None, formats=FORMATS) -> World:
    """The world with every document as an office file (formats in turn), plus images and truth."""
    world = build_world(params or WorldParams())
    files = {
        k: v
        for k, v in world.files.items()
        if k.startswith((f"{PREFIX}/images/", f"{TRUTH_DIR}/")) and not k.endswith("truncated.jpg")
    }
    for n, doc in enumerate(world.documents):
        fmt = formats[n % len(formats)]
        files[f"{OFFICE_DIR}/doc-{n:04d}.{fmt}"] = WRITERS[fmt](doc, world.files)
    stats = {**world.stats, "office_documents": len(world.documents)}
    return replace(world, files=files, stats=stats)
