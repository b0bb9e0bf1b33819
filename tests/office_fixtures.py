"""Documents built in the tests (reportlab, pikepdf, python-docx, python-pptx, zipfile): good
ones with known layout and captions, and the hostile ones each reader must reject or bound."""

from __future__ import annotations

import io
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


def pdf_image_bomb(side: int = 10_000) -> bytes:
    """A page with a ``side`` x ``side`` grey image (100 M pixels by default) whose stream is a
    few hundred KB of deflated zeros, plus one line of text."""
    import pikepdf

    pdf = pikepdf.new()
    packer, zeros = zlib.compressobj(9), b"\x00" * side
    data = b"".join(packer.compress(zeros) for _ in range(side)) + packer.flush()
    image = pikepdf.Stream(pdf, data)
    image.Type, image.Subtype = pikepdf.Name.XObject, pikepdf.Name.Image
    image.Width, image.Height = side, side
    image.ColorSpace, image.BitsPerComponent = pikepdf.Name.DeviceGray, 8
    image.Filter = pikepdf.Name.FlateDecode
    font = pdf.make_indirect(
        pikepdf.Dictionary(
            Type=pikepdf.Name.Font, Subtype=pikepdf.Name.Type1, BaseFont=pikepdf.Name.Helvetica
        )
    )
    content = (
        b"q 400 0 0 400 100 200 cm /Im0 Do Q BT /F1 12 Tf 100 700 Td (A page with a bomb.) Tj ET"
    )
    page = pikepdf.Dictionary(
        Type=pikepdf.Name.Page,
        MediaBox=[0, 0, 612, 792],
        Resources=pikepdf.Dictionary(
            XObject=pikepdf.Dictionary(Im0=image), Font=pikepdf.Dictionary(F1=font)
        ),
        Contents=pikepdf.Stream(pdf, content),
    )
    pdf.pages.append(pikepdf.Page(page))
    buf = io.BytesIO()
    pdf.save(buf)
    return buf.getvalue()


def ole_doc() -> bytes:
    """The first sector of a legacy binary Word file (OLE compound document header)."""
    return b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 16 + b"\x3e\x00\x03\x00" + b"\x00" * 484
