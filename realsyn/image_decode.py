"""Safe, reduced-size image decoding and perceptual hashing with Pillow.

What a crawl serves as "an image" is often not one: zero bytes, HTML error pages, SVG,
truncated files, decompression bombs. :func:`inspect_image` never raises for bad bytes; it
returns a :class:`DecodedImage` with ``error`` set to a specific reason.

Speed: the header gives the size without decoding; JPEGs are then decoded at a reduced scale
(``Image.draft``: libjpeg's DCT scaling, 1/2 to 1/8) because the perceptual hash needs only a
32x32 grayscale view. Sizes are reported in the upright orientation (EXIF applied).
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass

import imagehash
import numpy as np
from PIL import Image, UnidentifiedImageError

# EXIF orientation -> the transpose that makes the image upright (as ImageOps.exif_transpose);
# orientations 5..8 swap width and height.
_ORIENT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_TRANSPOSED = {5, 6, 7, 8}
_HASH_VIEW = 64  # decode at least this many pixels per side for the 32x32 pHash input


@dataclass(frozen=True)
class DecodeParams:
    """``max_pixels``: refuse canvases above this many pixels before decoding (bomb guard)."""

    max_pixels: int = 64_000_000
    max_bytes: int = 32 * 1024 * 1024
    hash_size: int = 8  # 8x8 = 64-bit pHash


@dataclass
class DecodedImage:
    sha256: str
    n_bytes: int
    format: str | None = None
    mode: str | None = None
    width: int | None = None
    height: int | None = None
    n_frames: int | None = None
    exif_orientation: int | None = None
    phash: int | None = None  # 64-bit, as an unsigned int
    error: str | None = None
    error_detail: str | None = None


def _sniff_non_image(data: bytes) -> str | None:
    head = data[:512].lstrip().lower()
    if head.startswith(b"<svg") or (head.startswith(b"<?xml") and b"<svg" in data[:4096].lower()):
        return "svg_unsupported"
    if head.startswith((b"<!doctype html", b"<html", b"<head", b"<body", b"<?xml", b"<")):
        return "not_an_image"
    return None


def _to_gray(img: Image.Image) -> Image.Image:
    """Any mode -> 8-bit grayscale, with transparency composited onto white."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(img, dtype=np.uint32)
        scale = 257.0 if arr.max(initial=0) > 255 else 1.0
        return Image.fromarray(np.clip(arr / scale, 0, 255).astype(np.uint8), "L")
    if img.mode == "F":
        arr = np.asarray(img, dtype=np.float32)
        lo, hi = float(arr.min(initial=0)), float(arr.max(initial=1))
        return Image.fromarray(((arr - lo) / max(hi - lo, 1e-6) * 255).astype(np.uint8), "L")
    if img.mode == "P" or "A" in img.mode or "transparency" in img.info:
        rgba = img.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(canvas, rgba).convert("L")
    return img.convert("L")


def inspect_image(data: bytes, params: DecodeParams | None = None) -> DecodedImage:
    """Decode ``data`` safely; report size, format, hashes, or why it is not a usable image."""
    params = params or DecodeParams()
    out = DecodedImage(sha256=hashlib.sha256(data).hexdigest(), n_bytes=len(data))
    if not data:
        out.error, out.error_detail = "empty_payload", "zero bytes"
        return out
    if len(data) > params.max_bytes:
        out.error, out.error_detail = "too_many_bytes", f"{len(data)} > {params.max_bytes} bytes"
        return out
    sniffed = _sniff_non_image(data)
    if sniffed:
        out.error, out.error_detail = sniffed, repr(data[:40])
        return out
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            out.format, out.mode = img.format, img.mode
            w, h = img.size
            if w * h > params.max_pixels:
                out.error = "decompression_bomb"
                out.error_detail = f"{w}x{h} = {w * h} pixels > {params.max_pixels}"
                return out
            out.n_frames = getattr(img, "n_frames", 1)
            orientation = img.getexif().get(0x0112, 1)
            out.exif_orientation = orientation if orientation != 1 else None
            out.width, out.height = (h, w) if orientation in _TRANSPOSED else (w, h)
            if img.format == "JPEG":
                img.draft("L", (_HASH_VIEW, _HASH_VIEW))  # DCT-domain downscale: cheap
            img.seek(0)
            img.load()
            gray = _to_gray(img)
            if orientation in _ORIENT:
                gray = gray.transpose(_ORIENT[orientation])
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        out.error, out.error_detail = "decompression_bomb", str(err)[:200]
        return out
    except UnidentifiedImageError:
        out.error, out.error_detail = "not_an_image", f"no image format recognised in {data[:16]!r}"
        return out
    except (OSError, SyntaxError, ValueError, EOFError) as err:
        # Pillow reports truncated/corrupt streams as OSError ("image file is truncated",
        # "broken data stream") or SyntaxError (bad PNG chunks).
        out.error, out.error_detail = "truncated_or_corrupt", f"{type(err).__name__}: {err}"[:200]
        return out
    out.phash = phash64(gray, params.hash_size)
    return out


def phash64(gray: Image.Image, hash_size: int = 8) -> int:
    """The DCT perceptual hash (imagehash) as an unsigned integer of hash_size**2 bits."""
    bits = imagehash.phash(gray, hash_size=hash_size).hash.flatten()
    return int("".join("1" if b else "0" for b in bits), 2)


def hamming(a: int, b: int) -> int:
    return (a ^ b).bit_count()
