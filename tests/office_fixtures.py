"""Documents built in the tests (reportlab, pikepdf, python-docx, python-pptx, zipfile): good
ones with known layout and captions, and the hostile ones each reader must reject or bound."""

from __future__ import annotations

import io
import math
import zlib

from PIL import Image


def png(color=(200, 30, 30), size=(64, 48)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "PNG")
    return buf.getvalue()


def jpeg(color=(30, 90, 200), size=(80, 60)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def _canvas(buf, **kwargs):
    from reportlab.pdfgen import canvas

    return canvas.Canvas(buf, pagesize=(612, 792), **kwargs)


def _image(data: bytes):
    from reportlab.lib.utils import ImageReader

    return ImageReader(io.BytesIO(data))


def pdf_two_columns(**canvas_kwargs) -> bytes:
    """Page 1: two columns; the left one has a red image with 'Figure 1' below it, the right
    one a blue JPEG with a caption above it. Page 2: a full-width title and a Japanese
    figure (図1) with its caption below."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont

    pdfmetrics.registerFont(UnicodeCIDFont("HeiseiMin-W3"))
    buf = io.BytesIO()
    c = _canvas(buf, **canvas_kwargs)
    c.setFont("Helvetica-Bold", 16)
    c.drawString(50, 760, "A report on shapes and colours across the whole page width")
    c.setFont("Helvetica", 11)
    y = 730
    for i in range(4):
        c.drawString(50, y, f"Left column sentence {i} about the red square."[:60])
        y -= 14
    c.drawImage(_image(png()), 50, 540, width=200, height=120)
    c.drawString(50, 522, "Figure 1: A red square on a white ground.")
    c.drawString(50, 490, "Left column text after the figure.")
    y = 730
    for i in range(4):
        c.drawString(320, y, f"Right column sentence {i}.")
        y -= 14
    c.drawString(320, 640, "Fig. 2 A blue rectangle.")
    c.drawImage(_image(jpeg()), 320, 500, width=200, height=130)
    c.drawString(320, 470, "Right column text after the figure.")
    c.showPage()
    c.setFont("HeiseiMin-W3", 12)
    c.drawString(50, 740, "日本語の報告書です。赤い円が描かれています。")
    c.drawImage(_image(png((220, 40, 40))), 50, 560, width=180, height=150)
    c.drawString(50, 540, "図1 赤い円の写真")
    c.showPage()
    c.save()
    return buf.getvalue()


def pdf_encrypted(user: str, owner: str) -> bytes:
    from reportlab.lib.pdfencrypt import StandardEncryption

    enc = StandardEncryption(user, ownerPassword=owner, canPrint=0, canCopy=0, canModify=0)
    buf = io.BytesIO()
    c = _canvas(buf, encrypt=enc)
    c.setFont("Helvetica", 11)
    c.drawString(50, 740, "A confidential sentence about the green triangle.")
    c.drawImage(_image(png((20, 160, 40))), 50, 500, width=200, height=150)
    c.showPage()
    c.save()
    return buf.getvalue()


def pdf_scanned() -> bytes:
    """Two pages that are nothing but one page-sized image each (no text layer)."""
    buf = io.BytesIO()
    c = _canvas(buf)
    for color in ((240, 240, 230), (230, 230, 240)):
        c.drawImage(_image(jpeg(color, (300, 400))), 0, 0, width=612, height=792)
        c.showPage()
    c.save()
    return buf.getvalue()


def pdf_many_images(n: int = 10_000) -> bytes:
    """One page with ``n`` tiny images (one image XObject drawn ``n`` times)."""
    buf = io.BytesIO()
    c = _canvas(buf)
    img = _image(png((10, 10, 10), (16, 16)))
    for i in range(n):
        x, y = 10 + (i % 100) * 5.9, 10 + (i // 100) * 7.5
        c.drawImage(img, x, y, width=5, height=5)
    c.drawString(50, 770, "A page of tiny dots.")
    c.showPage()
    c.save()
    return buf.getvalue()


def _pikepdf_page(content: bytes, xobjects: dict | None = None) -> bytes:
    """A one-page PDF (US letter) with ``content``, Helvetica as /F1 and the given images."""
    import pikepdf

    pdf = pikepdf.new()
    font = pdf.make_indirect(
        pikepdf.Dictionary(
            Type=pikepdf.Name.Font, Subtype=pikepdf.Name.Type1, BaseFont=pikepdf.Name.Helvetica
        )
    )
    resources = pikepdf.Dictionary(Font=pikepdf.Dictionary(F1=font))
    if xobjects:
        resources.XObject = pikepdf.Dictionary(
            {f"/{name}": make(pdf) for name, make in xobjects.items()}
        )
    page = pikepdf.Dictionary(
        Type=pikepdf.Name.Page,
        MediaBox=[0, 0, 612, 792],
        Resources=resources,
        Contents=pikepdf.Stream(pdf, content),
    )
    pdf.pages.append(pikepdf.Page(page))
    buf = io.BytesIO()
    pdf.save(buf)
    return buf.getvalue()


def pdf_image_bomb(side: int = 10_000) -> bytes:
    """A page with a ``side`` x ``side`` grey image (100 M pixels by default) whose stream is a
    few hundred KB of deflated zeros, plus one line of text."""
    import pikepdf

    def image(pdf):
        packer, zeros = zlib.compressobj(9), b"\x00" * side
        data = b"".join(packer.compress(zeros) for _ in range(side)) + packer.flush()
        stream = pikepdf.Stream(pdf, data)
        stream.Type, stream.Subtype = pikepdf.Name.XObject, pikepdf.Name.Image
        stream.Width, stream.Height = side, side
        stream.ColorSpace, stream.BitsPerComponent = pikepdf.Name.DeviceGray, 8
        stream.Filter = pikepdf.Name.FlateDecode
        return stream

    content = (
        b"q 400 0 0 400 100 200 cm /Im0 Do Q BT /F1 12 Tf 100 700 Td (A page with a bomb.) Tj ET"
    )
    return _pikepdf_page(content, {"Im0": image})


def pdf_flate_bomb(mib: int = 2048) -> bytes:
    """A page whose content stream is ``mib`` MiB of spaces deflated to about 1/1000 of that:
    pdfium inflates it whole when it loads the page (and aborts its process when the memory
    limit stops it)."""
    import pikepdf

    pdf = pikepdf.new()
    packer, chunk = zlib.compressobj(9), b" " * (1 << 20)
    body = b"".join(packer.compress(chunk) for _ in range(mib)) + packer.flush()
    stream = pikepdf.Stream(pdf, body)
    stream.Filter = pikepdf.Name.FlateDecode
    page = pikepdf.Dictionary(
        Type=pikepdf.Name.Page,
        MediaBox=[0, 0, 612, 792],
        Resources=pikepdf.Dictionary(),
        Contents=stream,
    )
    pdf.pages.append(pikepdf.Page(page))
    buf = io.BytesIO()
    pdf.save(buf, compress_streams=False)
    return buf.getvalue()


def pdf_many_points(points: int = 200_000) -> bytes:
    """One stroked path of ``points`` segments (a dense wave) captioned 'Figure 3'."""
    coords = " ".join(
        f"{100 + 400 * i / points:.2f} {550 + 100 * math.sin(i / 40):.2f} l" for i in range(points)
    )
    content = (
        f"1 j 0.5 w 100 550 m {coords} S "
        "BT /F1 10 Tf 100 430 Td (Figure 3: A wave of many points.) Tj ET"
    ).encode()
    return _pikepdf_page(content)


def ole_doc() -> bytes:
    """The first sector of a legacy binary Word file (OLE compound document header)."""
    return b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 16 + b"\x3e\x00\x03\x00" + b"\x00" * 484


def docx_report(japanese: bool = False) -> bytes:
    """Heading, paragraphs, a picture with alt text and a caption paragraph after it, a
    picture whose alt text is its file name, a table. ``japanese``: the caption style is
    named 図表番号 (as in Japanese Word) and the texts are Japanese."""
    import docx
    from docx.enum.style import WD_STYLE_TYPE
    from docx.shared import Inches

    d = docx.Document()
    if japanese:
        d.add_heading("赤い円についての報告", level=1)
        d.add_paragraph("この報告書は赤い円について説明します。")
        d.add_picture(io.BytesIO(png((220, 40, 40))), width=Inches(2))
        d.styles.add_style("図表番号", WD_STYLE_TYPE.PARAGRAPH)
        d.add_paragraph("赤い円が白い背景にある様子", style="図表番号")
        d.add_paragraph("本文の続きです。")
    else:
        d.add_heading("Shapes report", level=1)
        d.add_paragraph("This report describes a red square.")
        d.add_picture(io.BytesIO(png()), width=Inches(2))
        d.inline_shapes[0]._inline.docPr.set("descr", "A red square on white")
        d.add_paragraph("The red square, seen from above", style="Caption")
        d.add_paragraph("A blue rectangle follows.")
        d.add_picture(io.BytesIO(jpeg()), width=Inches(2))
        d.inline_shapes[1]._inline.docPr.set("descr", "IMG_2041.JPG")
        table = d.add_table(rows=2, cols=2)
        for r, row in enumerate((("Shape", "Colour"), ("square", "red"))):
            for c, text in enumerate(row):
                table.cell(r, c).text = text
        d.add_paragraph("The end.")
    buf = io.BytesIO()
    d.save(buf)
    return buf.getvalue()


def pptx_deck() -> bytes:
    """Slide 1: title, a picture (alt text = its file name, the PowerPoint default) with a
    text box under it, speaker notes. Slide 2: two pictures side by side, each captioned by
    the box under it, and a body text box on top."""
    import pptx
    from pptx.util import Inches, Pt

    prs = pptx.Presentation()
    s1 = prs.slides.add_slide(prs.slide_layouts[5])  # title only
    s1.shapes.title.text = "Quarterly shapes"
    pic = s1.shapes.add_picture(io.BytesIO(png()), Inches(1), Inches(2), width=Inches(3))
    pic._element.xpath(".//p:cNvPr")[0].set("descr", "red.png")
    box = s1.shapes.add_textbox(Inches(1), Inches(4.4), Inches(3), Inches(0.5))
    box.text_frame.text = "A red square in the corner"
    s1.notes_slide.notes_text_frame.text = "Say that the square is red."
    s2 = prs.slides.add_slide(prs.slide_layouts[6])  # blank
    body = s2.shapes.add_textbox(Inches(0.5), Inches(0.5), Inches(9), Inches(1))
    body.text_frame.text = "Two shapes side by side."
    body.text_frame.paragraphs[0].runs[0].font.size = Pt(24)
    left = s2.shapes.add_picture(
        io.BytesIO(png((20, 160, 40))), Inches(0.5), Inches(2), width=Inches(4)
    )
    left._element.xpath(".//p:cNvPr")[0].set("descr", "A green square")
    s2.shapes.add_picture(io.BytesIO(jpeg()), Inches(5.5), Inches(2), width=Inches(4))
    for x, text in ((0.5, "Figure 1: green"), (5.5, "The blue one")):
        cap = s2.shapes.add_textbox(Inches(x), Inches(5.2), Inches(4), Inches(0.5))
        cap.text_frame.text = text
    buf = io.BytesIO()
    prs.save(buf)
    return buf.getvalue()


def zip_with_extra_part(package: bytes, name: str, size: int) -> bytes:
    """``package`` plus one part of ``size`` zero bytes (deflated: a zip bomb's shape)."""
    import zipfile

    buf = io.BytesIO(package)
    with zipfile.ZipFile(buf, "a", zipfile.ZIP_DEFLATED) as zf:
        with zf.open(name, "w", force_zip64=True) as fh:
            chunk = b"\x00" * (1 << 20)
            for _ in range(size >> 20):
                fh.write(chunk)
    return buf.getvalue()


def zip_replace_part(package: bytes, name: str, data: bytes) -> bytes:
    import zipfile

    src = zipfile.ZipFile(io.BytesIO(package))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for info in src.infolist():
            zf.writestr(info.filename, data if info.filename == name else src.read(info))
    return buf.getvalue()


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>
<w:p><w:r><w:t>&lol9;</w:t></w:r></w:p></w:body></w:document>"""


def epub_book() -> bytes:
    """Two chapters; the manifest's hrefs carry #fragments (ch1 listed twice through them);
    chapter 1 has a figure whose image lives in the zip, chapter 2 an image that is missing."""
    import zipfile

    opf = """<?xml version="1.0" encoding="utf-8"?>
<package xmlns="http://www.idpf.org/2007/opf" version="3.0" unique-identifier="id">
 <metadata xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>Shapes</dc:title></metadata>
 <manifest>
  <item id="c1" href="text/ch1.xhtml#start" media-type="application/xhtml+xml"/>
  <item id="c1b" href="text/ch1.xhtml#later" media-type="application/xhtml+xml"/>
  <item id="c2" href="text/ch2.xhtml" media-type="application/xhtml+xml"/>
  <item id="img" href="images/red%20square.png" media-type="image/png"/>
 </manifest>
 <spine><itemref idref="c1"/><itemref idref="c1b"/><itemref idref="c2"/></spine>
</package>"""
    page = """<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE html>
<html xmlns="http://www.w3.org/1999/xhtml"><head><title>t</title></head><body>{}</body></html>"""
    ch1 = page.format(
        '<h1 id="start">Chapter one</h1><p>The red square sits alone.</p>'
        '<figure><img src="../images/red%20square.png" alt="A red square"/>'
        "<figcaption>Figure 1. The red square.</figcaption></figure>"
        '<p id="later">Later in chapter one.</p>'
    )
    ch2 = page.format('<h1>Chapter two</h1><p>Nothing here.</p><img src="../images/gone.png"/>')
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(zipfile.ZipInfo("mimetype"), "application/epub+zip")
        zf.writestr(
            "META-INF/container.xml",
            '<?xml version="1.0"?><container version="1.0" '
            'xmlns="urn:oasis:names:tc:opendocument:xmlns:container"><rootfiles>'
            '<rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/>'
            "</rootfiles></container>",
        )
        zf.writestr("OEBPS/content.opf", opf)
        zf.writestr("OEBPS/text/ch1.xhtml", ch1)
        zf.writestr("OEBPS/text/ch2.xhtml", ch2)
        zf.writestr("OEBPS/images/red square.png", png())
    return buf.getvalue()


MARKDOWN = b"""# Notes on shapes

The red square is described below.

![A red square](img/red.png)

| shape | colour |
|-------|--------|
| square | red |
"""


def pdf_pages(pages: int) -> bytes:
    """A longer report: each page has two columns of text and one captioned image in each."""
    buf = io.BytesIO()
    c = _canvas(buf)
    red, blue = _image(png()), _image(jpeg((30, 90, 200), (320, 240)))
    for page in range(pages):
        c.setFont("Helvetica-Bold", 14)
        c.drawString(50, 760, f"Section {page + 1}: shapes and colours seen across the page")
        c.setFont("Helvetica", 10)
        for col, (x, img) in enumerate(((50, red), (320, blue))):
            y = 735
            for i in range(12):
                c.drawString(x, y, f"Sentence {i} of column {col} on page {page + 1}.")
                y -= 13
            c.drawImage(img, x, 420, width=220, height=150)
            c.drawString(x, 405, f"Figure {2 * page + col + 1}: a shape in column {col}.")
            y = 385
            for i in range(14):
                c.drawString(x, y, f"More text {i} below the figure in column {col}.")
                y -= 13
        c.showPage()
    c.save()
    return buf.getvalue()


def pdf_vector_figures() -> bytes:
    """Page 1: body text, a bar chart drawn as paths (axes, bars, axis labels as text) with
    'Figure 1' under it, and a ruled line under the title that no caption claims. Page 2: a
    diagram of circles and arrows with a Japanese caption 図2 above it."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont

    pdfmetrics.registerFont(UnicodeCIDFont("HeiseiMin-W3"))
    buf = io.BytesIO()
    c = _canvas(buf)
    c.setFont("Helvetica-Bold", 14)
    c.drawString(50, 750, "Quarterly report")
    c.line(50, 742, 560, 742)
    c.setFont("Helvetica", 10)
    c.drawString(50, 720, "Sales grew in every quarter, as the chart shows.")
    c.line(100, 450, 100, 650)  # y axis
    c.line(100, 450, 400, 450)  # x axis
    for i, h in enumerate((60, 110, 150, 190)):
        c.setFillColorRGB(0.2, 0.3 + 0.1 * i, 0.7)
        c.rect(130 + i * 65, 450, 40, h, fill=1, stroke=0)
        c.setFillColorRGB(0, 0, 0)
        c.drawString(138 + i * 65, 438, f"Q{i + 1}")
    c.drawString(78, 640, "200")
    c.drawString(50, 410, "Figure 1: Sales by quarter.")
    c.drawString(50, 380, "The text goes on after the figure.")
    c.showPage()
    c.setFont("HeiseiMin-W3", 11)
    c.drawString(50, 700, "図2 処理の流れ")
    for i in range(3):
        c.circle(120 + i * 150, 640, 40, stroke=1, fill=0)
        if i < 2:
            c.line(160 + i * 150, 640, 230 + i * 150, 640)
    c.drawString(50, 560, "流れの説明が続きます。")
    c.showPage()
    c.save()
    return buf.getvalue()


def pdf_tagged() -> bytes:
    """A tagged PDF: one image inside a /Figure structure element whose /Alt is its alt text,
    and a text line after it."""
    import pikepdf

    def image(pdf):
        stream = pikepdf.Stream(pdf, jpeg((200, 40, 40), (60, 40)))
        stream.Type, stream.Subtype = pikepdf.Name.XObject, pikepdf.Name.Image
        stream.Width, stream.Height, stream.BitsPerComponent = 60, 40, 8
        stream.ColorSpace, stream.Filter = pikepdf.Name.DeviceRGB, pikepdf.Name.DCTDecode
        return stream

    content = (
        b"/Figure <</MCID 0>> BDC q 240 0 0 160 100 500 cm /Im0 Do Q EMC "
        b"BT /F1 12 Tf 100 460 Td (A paragraph after the figure.) Tj ET"
    )
    pdf = pikepdf.open(io.BytesIO(_pikepdf_page(content, {"Im0": image})))
    page = pdf.pages[0].obj
    figure = pdf.make_indirect(
        pikepdf.Dictionary(
            Type=pikepdf.Name.StructElem,
            S=pikepdf.Name.Figure,
            Alt=pikepdf.String("A red rectangle, tagged"),
            Pg=page,
            K=0,
        )
    )
    root = pdf.make_indirect(
        pikepdf.Dictionary(
            Type=pikepdf.Name.StructTreeRoot,
            K=figure,
            ParentTree=pikepdf.Dictionary(Nums=[0, pikepdf.Array([figure])]),
        )
    )
    figure.P = root
    page.StructParents = 0
    pdf.Root.StructTreeRoot = root
    pdf.Root.MarkInfo = pikepdf.Dictionary(Marked=True)
    buf = io.BytesIO()
    pdf.save(buf)
    return buf.getvalue()


def ole_encrypted_docx() -> bytes:
    """What Word writes for a password-protected .docx: an OLE compound file whose directory
    names an EncryptionInfo stream (header and directory entry only)."""
    name = "EncryptionInfo".encode("utf-16-le")
    entry = name + b"\x00" * (64 - len(name)) + b"\x1e\x00\x02\x01" + b"\x00" * 60
    return ole_doc() + entry


def docx_floating() -> bytes:
    """The report with its pictures floating (``wp:anchor``) instead of inline."""
    import zipfile

    package = docx_report()
    body = zipfile.ZipFile(io.BytesIO(package)).read("word/document.xml")
    return zip_replace_part(package, "word/document.xml", body.replace(b"wp:inline", b"wp:anchor"))
