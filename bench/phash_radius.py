"""Choosing the pHash Hamming radius for near-duplicate images, on real photos.

    python bench/phash_radius.py

For the 28 real images in ../shared/data/images (scikit-image samples, CLIPScore photos) we make
the copies a crawl really contains (JPEG re-encodes, downscales, small crops, brightness and
contrast shifts, thumbnails with a border) and measure the 64-bit pHash Hamming distance of each
copy to its original, against the distance between every pair of *different* originals and
their copies. The radius should catch nearly all copies while merging no different images.
"""

from __future__ import annotations

import io
import itertools
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance, ImageOps

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from realsyn.image_decode import inspect_image  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "images"


def jpeg(img: Image.Image, q: int) -> bytes:
    buf = io.BytesIO()
    img.convert("RGB").save(buf, "JPEG", quality=q)
    return buf.getvalue()


def variants(img: Image.Image) -> dict[str, bytes]:
    w, h = img.size
    rgb = img.convert("RGB")
    out = {f"jpeg_q{q}": jpeg(rgb, q) for q in (95, 75, 50, 30)}
    for s in (0.75, 0.5, 0.25):
        out[f"resize_{s}"] = jpeg(rgb.resize((max(8, int(w * s)), max(8, int(h * s)))), 85)
    for c in (0.02, 0.05, 0.10):
        dx, dy = int(w * c), int(h * c)
        out[f"crop_{c}"] = jpeg(rgb.crop((dx, dy, w - dx, h - dy)), 85)
    out["brighter_1.2"] = jpeg(ImageEnhance.Brightness(rgb).enhance(1.2), 85)
    out["contrast_0.8"] = jpeg(ImageEnhance.Contrast(rgb).enhance(0.8), 85)
    out["border_10px"] = jpeg(ImageOps.expand(rgb, 10, fill="white"), 85)
    out["grayscale"] = jpeg(ImageOps.grayscale(rgb), 85)
    return out


def main() -> None:
    paths = sorted(p for p in SHARED.rglob("*") if p.suffix.lower() in (".png", ".jpg"))
    originals, copies = {}, {}
    for p in paths:
        img = Image.open(p)
        originals[p.stem] = inspect_image(p.read_bytes()).phash
        copies[p.stem] = {k: inspect_image(v).phash for k, v in variants(img).items()}
    kinds = list(next(iter(copies.values())))
    same = {
        k: np.array([bin(originals[n] ^ copies[n][k]).count("1") for n in originals]) for k in kinds
    }
    diff = []
    names = list(originals)
    for a, b in itertools.combinations(names, 2):
        pool_a = [originals[a], *copies[a].values()]
        pool_b = [originals[b], *copies[b].values()]
        diff.append(min(bin(x ^ y).count("1") for x in pool_a for y in pool_b))
    diff = np.array(diff)
    print(f"{len(names)} images, {len(kinds)} copy kinds, {len(diff)} pairs of different images\n")
    print(f"{'copy kind':<14} {'median':>6} {'p90':>5} {'max':>5}")
    for k in kinds:
        d = same[k]
        print(f"{k:<14} {np.median(d):>6.1f} {np.percentile(d, 90):>5.0f} {d.max():>5}")
    allsame = np.concatenate(list(same.values()))
    print(
        f"\ndifferent images (closest copy of each pair): min {diff.min()}, p1 {np.percentile(diff, 1):.0f}, "
        f"median {np.median(diff):.0f}"
    )
    closest = sorted(zip(diff, itertools.combinations(names, 2), strict=True))[:5]
    print("closest different pairs:", [(int(d), f"{a}~{b}") for d, (a, b) in closest])
    print(f"\n{'radius':>6} {'copies caught':>14} {'different pairs merged':>23}")
    for r in (4, 6, 8, 10, 12, 14, 16, 18):
        print(f"{r:>6} {np.mean(allsame <= r):>14.1%} {int((diff <= r).sum()):>16} / {len(diff)}")


if __name__ == "__main__":
    main()
