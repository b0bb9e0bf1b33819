"""Crafted bad and awkward image payloads, made in memory (a few KB each)."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from PIL import Image


def encode(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def photo(w: int = 320, h: int = 240, seed: int = 0) -> Image.Image:
    """A smooth random scene (pHash-stable, unlike white noise)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 255, (6, 8, 3), dtype=np.uint8)
    return Image.fromarray(small).resize((w, h), Image.Resampling.BICUBIC)


def jpeg(w=320, h=240, seed=0, **kw) -> bytes:
    return encode(photo(w, h, seed), "JPEG", quality=90, **kw)


def bomb_png(width: int = 60000, height: int = 60000) -> bytes:
    """A tiny PNG whose header claims a huge canvas (IHDR patched, CRC fixed)."""
    data = bytearray(encode(Image.new("L", (8, 8)), "PNG"))
    ihdr = data.index(b"IHDR")
    data[ihdr + 4 : ihdr + 12] = struct.pack(">II", width, height)
    crc = zlib.crc32(bytes(data[ihdr : ihdr + 17])) & 0xFFFFFFFF
    data[ihdr + 17 : ihdr + 21] = struct.pack(">I", crc)
    return bytes(data)


def exif_rotated_jpeg() -> bytes:
    """Stored 300x150 landscape with EXIF orientation 6: upright it is 150x300."""
    exif = Image.Exif()
    exif[0x0112] = 6
    return encode(photo(300, 150), "JPEG", exif=exif.tobytes())


def sixteen_bit_png() -> bytes:
    arr = (np.linspace(0, 65535, 200 * 150).reshape(150, 200)).astype(np.uint16)
    return encode(Image.fromarray(arr), "PNG")


def palette_png_with_transparency() -> bytes:
    img = photo(200, 200).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    return encode(img, "PNG", transparency=0)


def animated_gif() -> bytes:
    frames = [photo(160, 120, seed=s).convert("P") for s in range(3)]
    return encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)


def cmyk_jpeg() -> bytes:
    return encode(photo(200, 160).convert("CMYK"), "JPEG")


SVG = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="200" height="200"><rect width="200" height="200"/></svg>'
HTML = b"<!DOCTYPE html><html><body>404 Not Found</body></html>"


def bad_payloads() -> dict[str, tuple[bytes, str | None]]:
    """name -> (bytes, expected error or None when the image must decode)."""
    good_jpeg, good_png = jpeg(), encode(photo(), "PNG")
    return {
        "zero_byte": (b"", "empty_payload"),
        "truncated_jpeg": (good_jpeg[: len(good_jpeg) // 2], "truncated_or_corrupt"),
        "truncated_png": (good_png[: len(good_png) // 2], "truncated_or_corrupt"),
        "html_as_jpg": (HTML, "not_an_image"),
        "text_as_png": (b"just some text, not pixels", "not_an_image"),
        "svg": (SVG, "svg_unsupported"),
        "bomb": (bomb_png(), "decompression_bomb"),
        "strip_1x5000": (encode(Image.new("RGB", (1, 5000), "red"), "PNG"), None),
        "cmyk_jpeg": (cmyk_jpeg(), None),
        "png_16bit": (sixteen_bit_png(), None),
        "palette_transparency": (palette_png_with_transparency(), None),
        "animated_gif": (animated_gif(), None),
        "exif_rotated": (exif_rotated_jpeg(), None),
    }
