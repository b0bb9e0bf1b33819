"""Build the bundled demo corpus (demo/corpus) from scikit-image's CC0/public-domain images.

Run once from the repo root with ``../shared/data`` beside it; the output is committed, so the
README's demo needs nothing outside the repo. Deterministic: the same inputs give the same
bytes (fixed JPEG settings, fixed WARC dates, gzip mtime 0).

Formats written, one shard each (plus a second HTML site):
  html/museum/        HTML pages with local images (the "folder of HTML" reader)
  obelics/demo-00000.parquet   OBELICS parquet (images as corpus-relative paths)
  mmc4/demo-00000.jsonl        MMC4 JSON lines, with two deliberately malformed records
  warc/demo-00000.warc.gz      a WARC crawl whose image responses are inside the archive
"""

from __future__ import annotations

import gzip
import io
import json
import sys
from pathlib import Path

import polars as pl
from PIL import Image

SRC = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/images/skimage")
OUT = Path("demo/corpus")

# image name -> (source file, licence note, sentences we wrote about it)
IMAGES = {
    "astronaut": (
        "astronaut.png",
        "NASA, public domain",
        [
            "Astronaut Eileen Collins poses in her orange flight suit in front of an American flag.",
            "The official NASA portrait shows the commander smiling beside a model of the shuttle.",
            "Collins became the first woman to command a Space Shuttle mission in 1999.",
        ],
    ),
    "chelsea": (
        "chelsea.png",
        "CC0, Stefan van der Walt",
        [
            "A tabby cat named Chelsea stares into the camera with bright amber eyes.",
            "The striped cat rests on a wooden floor and watches the photographer closely.",
            "Tabby cats carry a distinctive M-shaped marking on their forehead.",
        ],
    ),
    "coffee": (
        "coffee.png",
        "CC0, Rachel Michetti",
        [
            "A cup of coffee sits on a saucer next to a silver spoon.",
            "The white porcelain cup holds a dark espresso topped with a thin layer of crema.",
            "Baristas pour the espresso slowly so the crema forms on the surface.",
        ],
    ),
    "rocket": (
        "rocket.jpg",
        "SpaceX, public domain (CC0)",
        [
            "A Falcon 9 rocket lifts off from the launch pad carrying the DSCOVR satellite.",
            "Bright exhaust flames light up the evening sky as the rocket climbs away from Florida.",
            "The satellite now observes solar wind from a point a million miles from Earth.",
        ],
    ),
    "hubble": (
        "hubble_deep_field.jpg",
        "NASA/ESA, public domain",
        [
            "The Hubble eXtreme Deep Field shows thousands of distant galaxies in a tiny patch of sky.",
            "Each faint smudge of light in the image is a galaxy billions of light years away.",
            "Astronomers combined ten years of telescope exposures to build the picture.",
        ],
    ),
    "coins": (
        "coins.png",
        "Brooklyn Museum, no known copyright restrictions",
        [
            "Greek coins excavated at Pompeii lie in rows on a dark museum tray.",
            "The worn bronze coins show the profiles of rulers stamped on their faces.",
            "Archaeologists catalogued the coins after they were recovered from the ash.",
        ],
    ),
    "horse": (
        "horse.png",
        "public domain (openclipart)",
        [
            "A black silhouette of a horse gallops across a plain white background.",
            "The horse raises its front legs high while its tail streams behind it.",
        ],
    ),
    "camera": (
        "camera.png",
        "CC0, Lav Varshney",
        [
            "A photographer in a dark coat adjusts a camera mounted on a tripod.",
            "The man looks through the viewfinder while a building stands in the distance.",
        ],
    ),
}
BOILERPLATE = [
    "We use cookies to improve your experience. Accept all cookies?",
    "Share this page on social media: https://example.org/share 😀",
    "Home | About | Contact",
    "Copyright 2026 Demo Museum. All rights reserved.",
]


def save_jpeg(name: str, src: str, max_side: int = 384) -> bytes:
    img = Image.open(SRC / src).convert("RGB")
    img.thumbnail((max_side, max_side))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=85, optimize=True)
    data = buf.getvalue()
    (OUT / "images" / f"{name}.jpg").write_bytes(data)
    return data


def make_variants() -> list[tuple[str, str]]:
    """Derived images for the gallery page: (file name, sentence about it)."""
    chelsea = Image.open(OUT / "images" / "chelsea.jpg")
    coffee = Image.open(OUT / "images" / "coffee.jpg")
    w, h = coffee.size
    out = {
        "chelsea-small.jpg": (
            chelsea.resize((chelsea.width * 2 // 3, chelsea.height * 2 // 3)),
            70,
            "A smaller copy of the photo of the tabby cat resting on the floor.",
        ),
        "coffee-crop.jpg": (
            coffee.crop((w // 50, h // 50, w - w // 50, h - h // 50)),
            80,
            "A cropped view of the coffee cup on its saucer.",
        ),
        "thumb.jpg": (chelsea.resize((64, 43)), 85, "A tiny thumbnail of the cat."),
        "banner.jpg": (coffee.resize((600, 120)), 85, "A wide banner made from the coffee photo."),
    }
    names = []
    for name, (img, quality, text) in out.items():
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=quality)
        (OUT / "images" / name).write_bytes(buf.getvalue())
        names.append((name, text))
    whole = (OUT / "images" / "rocket.jpg").read_bytes()
    (OUT / "images" / "broken.jpg").write_bytes(whole[: len(whole) // 3])
    names.append(("broken.jpg", "This photo of the launch failed to upload completely."))
    return names


def html_page(title: str, blocks: list[tuple[str, str]], img_prefix: str) -> str:
    body = []
    for kind, value in blocks:
        if kind == "text":
            body.append(f"<p>{value}</p>")
        else:
            alt = IMAGES[value][2][0].split(" with ")[0]
            body.append(
                f'<figure><img src="{img_prefix}{value}.jpg" alt="{alt}">'
                f"<figcaption>{IMAGES[value][2][1]}</figcaption></figure>"
            )
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>" + title + "</title></head>"
        "<body><nav><a href='/'>Home</a> | <a href='/about'>About</a></nav><main><h1>"
        + title
        + "</h1>"
        + "\n".join(body)
        + "</main><footer>"
        + BOILERPLATE[3]
        + "</footer></body></html>\n"
    )


def page_blocks(names: list[str]) -> list[tuple[str, str]]:
    blocks: list[tuple[str, str]] = [("text", BOILERPLATE[0])]
    for name in names:
        blocks.append(("image", name))
        blocks += [("text", s) for s in IMAGES[name][2][1:]]
    return blocks


def warc_record(headers: dict[str, str], payload: bytes) -> bytes:
    head = "WARC/1.0\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    head += f"Content-Length: {len(payload)}\r\n\r\n"
    raw = head.encode() + payload + b"\r\n\r\n"
    return gzip.compress(raw, mtime=0)


def http_response(ctype: str, body: bytes) -> bytes:
    return (
        f"HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        + body
    )


def main() -> None:
    (OUT / "images").mkdir(parents=True, exist_ok=True)
    jpegs = {name: save_jpeg(name, src) for name, (src, _lic, _s) in IMAGES.items()}

    # 1. HTML folder: two pages sharing the corpus images folder.
    site = OUT / "html" / "museum"
    site.mkdir(parents=True, exist_ok=True)
    pages = {"space.html": ["astronaut", "rocket", "hubble"], "collection.html": ["coins", "horse"]}
    for fname, names in pages.items():
        html = html_page(fname.split(".")[0].title(), page_blocks(names), "../../images/")
        (site / fname).write_text(html)
    # A gallery of copies a crawl really contains: a downscaled re-encode and a 2% crop
    # (near duplicates), a thumbnail (too small), a banner (bad aspect) and a truncated file.
    variants = make_variants()
    gallery = "".join(
        f'<p>{text}</p><img src="../../images/{name}" alt="{text}">' for name, text in variants
    )
    (site / "gallery.html").write_text(
        "<!doctype html><html><head><meta charset='utf-8'><title>Gallery</title></head><body>"
        f"<main><h1>Gallery</h1>{gallery}</main></body></html>\n"
    )
    escape = html_page("Broken", [("text", "This page links outside the corpus.")], "")
    escape = escape.replace("</main>", '<img src="../../../../etc/passwd" alt="escape"></main>')
    (site / "broken.html").write_text(escape)

    # 2. OBELICS parquet: texts/images null-padded, metadata/general_metadata as JSON strings.
    rows = []
    for n, names in enumerate([["chelsea", "coffee"], ["camera"], ["astronaut", "coins"]]):
        texts, images, meta = [], [], []
        for kind, value in page_blocks(names):
            texts.append(value if kind == "text" else None)
            images.append(f"../images/{value}.jpg" if kind == "image" else None)
            meta.append(
                {"src": images[-1], "alt_text": IMAGES[value][2][0]} if kind == "image" else None
            )
        rows.append(
            {
                "texts": texts,
                "images": images,
                "metadata": json.dumps(meta),
                "general_metadata": json.dumps(
                    {"url": f"https://demo.realsyn.invalid/obelics/{n}"}
                ),
            }
        )
    rows.append(
        {"texts": ["only text", None], "images": [None], "metadata": "[]", "general_metadata": "{}"}
    )  # length mismatch: rejected with a reason
    (OUT / "obelics").mkdir(parents=True, exist_ok=True)
    pl.DataFrame(rows).write_parquet(OUT / "obelics" / "demo-00000.parquet", statistics=False)

    # 3. MMC4 JSON lines, plus an invalid-JSON line and a record with a bad match index.
    lines = []
    for n, names in enumerate([["rocket", "chelsea"], ["coffee", "hubble"], ["horse"]]):
        texts = [BOILERPLATE[1]]
        infos = []
        for name in names:
            infos.append(
                {
                    "image_name": f"{name}.jpg",
                    "raw_url": f"../images/{name}.jpg",
                    "matched_text_index": len(texts),
                    "matched_sim": 0.31,
                }
            )
            texts += IMAGES[name][2]
        lines.append(
            json.dumps(
                {
                    "url": f"https://demo.realsyn.invalid/mmc4/{n}",
                    "text_list": texts,
                    "image_info": infos,
                }
            )
        )
    lines.append('{"url": "https://demo.realsyn.invalid/broken", "text_list": ["unterminated')
    lines.append(
        json.dumps(
            {
                "url": "https://demo.realsyn.invalid/bad-index",
                "text_list": ["a"],
                "image_info": [{"raw_url": "x.jpg", "matched_text_index": 7}],
            }
        )
    )
    (OUT / "mmc4").mkdir(parents=True, exist_ok=True)
    (OUT / "mmc4" / "demo-00000.jsonl").write_text("\n".join(lines) + "\n")

    # 4. WARC: HTML responses with absolute image URLs, and those images' responses.
    base = "https://demo.realsyn.invalid/warc/"
    out = io.BytesIO()
    date = "2026-01-01T00:00:00Z"
    out.write(
        warc_record(
            {
                "WARC-Type": "warcinfo",
                "WARC-Date": date,
                "WARC-Record-ID": "<urn:uuid:00000000-0000-0000-0000-000000000000>",
                "Content-Type": "application/warc-fields",
            },
            b"software: realsyn demo\r\n",
        )
    )
    rec = 1
    for n, names in enumerate([["chelsea", "camera"], ["rocket", "coffee"]]):
        html = html_page(f"Crawled page {n}", page_blocks(names), base + "img/").encode()
        for uri, ctype, body in [(f"{base}page{n}.html", "text/html; charset=utf-8", html)] + [
            (f"{base}img/{name}.jpg", "image/jpeg", jpegs[name]) for name in names
        ]:
            out.write(
                warc_record(
                    {
                        "WARC-Type": "response",
                        "WARC-Date": date,
                        "WARC-Record-ID": f"<urn:uuid:00000000-0000-0000-0000-{rec:012d}>",
                        "WARC-Target-URI": uri,
                        "Content-Type": "application/http; msgtype=response",
                    },
                    http_response(ctype, body),
                )
            )
            rec += 1
    (OUT / "warc").mkdir(parents=True, exist_ok=True)
    (OUT / "warc" / "demo-00000.warc.gz").write_bytes(out.getvalue())

    credits = [
        "# Demo corpus: image credits",
        "",
        "Images from scikit-image's `skimage.data` (BSD-3 package; images CC0 or public "
        "domain as listed). Sentences written for this project (CC0).",
        "",
    ]
    credits += [f"- `images/{n}.jpg` (from `{src}`): {lic}" for n, (src, lic, _) in IMAGES.items()]
    (OUT.parent / "CREDITS.md").write_text("\n".join(credits) + "\n")


if __name__ == "__main__":
    main()
