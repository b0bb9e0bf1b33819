"""A generated world with ground truth: concepts, rendered images and the sentences about them.

Every image is drawn with Pillow from composable concepts, and every sentence states a known
set of concepts, so what the pipeline should find is known. Concepts are strings
``<kind>:<value>``:

* ``shape`` (10 objects, **long-tailed**: Zipf weights, so ``circle`` is ~12x as frequent as
  ``diamond``), ``colour`` (8), ``count`` (1-3), ``size`` (small/large), ``bg`` (plain,
  striped, dotted, checkered), ``pos`` (where a single object sits) and, rarely, ``text``
  (a word painted on a sign in the image).

A sentence is a *true description* of an image when it states at least one concept and every
concept it states holds for the image (:func:`describes`); that is the retrieval ground truth.
Everything is a pure function of the seed (``random.Random`` only, no global state).

``realsyn.world_docs`` turns a world into interleaved documents (OBELICS parquet, HTML folder)
with distractors, boilerplate, duplicates and malformed records.
"""

from __future__ import annotations

import io
import math
import random
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw, ImageFont

SHAPES = tuple("circle square triangle star heart cross ring arrow crescent diamond".split())
ZIPF_EXPONENT = 1.1
COLOURS = {
    "red": (215, 38, 38),
    "green": (34, 150, 60),
    "blue": (40, 80, 215),
    "yellow": (240, 200, 20),
    "purple": (130, 55, 175),
    "orange": (245, 125, 15),
    "pink": (240, 115, 185),
    "black": (25, 25, 25),
}
BACKGROUNDS = ("plain", "striped", "dotted", "checkered")
SIZES = ("small", "large")
POSITIONS = ("left", "right", "top", "bottom", "centre")
SIGN_WORDS = ("OPEN", "SALE", "EXIT", "STOP")
NUMBER_WORDS = {1: "one", 2: "two", 3: "three"}


def shape_weights(exponent: float = ZIPF_EXPONENT) -> list[float]:
    raw = [1.0 / (rank + 1) ** exponent for rank in range(len(SHAPES))]
    total = sum(raw)
    return [w / total for w in raw]


def plural(shape: str) -> str:
    return shape + ("es" if shape.endswith(("s", "x")) else "s")


@dataclass(frozen=True)
class Scene:
    """What one image shows."""

    shape: str
    colour: str
    count: int
    size: str
    bg: str
    pos: str | None = None  # only for a single object
    sign: str | None = None

    @property
    def concepts(self) -> frozenset[str]:
        out = {
            f"shape:{self.shape}",
            f"colour:{self.colour}",
            f"count:{self.count}",
            f"size:{self.size}",
            f"bg:{self.bg}",
        }
        if self.pos:
            out.add(f"pos:{self.pos}")
        if self.sign:
            out.add(f"text:{self.sign}")
        return frozenset(out)

    @property
    def alt_concepts(self) -> frozenset[str]:
        """What :meth:`alt_text` states (everything but size and position)."""
        return frozenset(c for c in self.concepts if not c.startswith(("size:", "pos:")))

    def alt_text(self, style: int = 0) -> str:
        """Alt text as sites write it: terse (``two red circles, striped background``, style 0)
        or a phrase (``Two red circles on a striped background``, style 1); both state the
        same concepts (:attr:`alt_concepts`)."""
        noun = self.shape if self.count == 1 else plural(self.shape)
        head = f"{NUMBER_WORDS[self.count]} {self.colour} {noun}"
        sign = (
            (f", sign {self.sign}" if style == 0 else f" with a sign reading {self.sign}")
            if self.sign
            else ""
        )
        if style == 0:
            return f"{head}, {self.bg} background{sign}"
        return f"{head.capitalize()} on a {self.bg} background{sign}"


def sample_scene(rng: random.Random, sign_rate: float = 0.06) -> Scene:
    shape = rng.choices(SHAPES, weights=shape_weights())[0]
    count = rng.choices((1, 2, 3), weights=(0.5, 0.3, 0.2))[0]
    return Scene(
        shape=shape,
        colour=rng.choice(list(COLOURS)),
        count=count,
        size=rng.choice(SIZES),
        bg=rng.choice(BACKGROUNDS),
        pos=rng.choice(POSITIONS) if count == 1 else None,
        sign=rng.choice(SIGN_WORDS) if rng.random() < sign_rate else None,
    )


# --- sentences -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sentence:
    text: str
    label: str  # description | narrative | boilerplate
    concepts: frozenset[str] = field(default_factory=frozenset)


def _np(scene: Scene, with_size: bool) -> tuple[str, bool]:
    """Noun phrase (``two small red circles``) and whether it is plural."""
    size = f"{scene.size} " if with_size else ""
    if scene.count == 1:
        words = f"{size}{scene.colour} {scene.shape}"
        return ("an " if words[0] in "aeiou" else "a ") + words, False
    return f"{NUMBER_WORDS[scene.count]} {size}{scene.colour} {plural(scene.shape)}", True


def describe(scene: Scene, rng: random.Random) -> Sentence:
    """One true sentence about ``scene``, from templates of varying specificity (some partial)."""
    c = scene.concepts
    base = {f"shape:{scene.shape}", f"colour:{scene.colour}", f"count:{scene.count}"}
    sized = base | {f"size:{scene.size}"}
    options = []
    np_sized, many = _np(scene, True)
    np_plain, _ = _np(scene, False)
    sit, float_ = ("sit", "float") if many else ("sits", "floats")
    options.append(
        (f"{np_sized.capitalize()} {sit} on a {scene.bg} background.", sized | {f"bg:{scene.bg}"})
    )
    options.append(
        (f"The picture shows {np_plain} on a {scene.bg} background.", base | {f"bg:{scene.bg}"})
    )
    options.append((f"Someone painted {np_plain} on {scene.bg} paper.", base | {f"bg:{scene.bg}"}))
    options.append((f"This photo shows {np_sized}.", sized))
    options.append((f"The artist drew {np_plain} for the poster.", base))
    shape_np = (
        f"{'an' if scene.shape[0] in 'aeiou' else 'a'} {scene.shape}"
        if scene.count == 1
        else f"{NUMBER_WORDS[scene.count]} {plural(scene.shape)}"
    )
    options.append(
        (f"We spotted {shape_np} in this image.", {f"shape:{scene.shape}", f"count:{scene.count}"})
    )
    if scene.pos:
        where = "middle" if scene.pos == "centre" else f"{scene.pos} side"
        options.append(
            (
                f"{np_plain.capitalize()} {float_} near the {where} of the frame.",
                base | {f"pos:{scene.pos}"},
            )
        )
    if scene.sign:
        them = "them" if many else "it"
        options.append(
            (f"A sign reading {scene.sign} hangs beside {np_plain}.", base | {f"text:{scene.sign}"})
        )
        options.append(
            (
                f"The word {scene.sign} appears above {them} in large letters.",
                {f"text:{scene.sign}"},
            )
        )
    text, stated = rng.choice(options)
    assert stated <= c, (text, stated, c)
    return Sentence(text, "description", frozenset(stated))


_SUBJECTS = (
    "Our class",
    "The teacher",
    "My neighbour",
    "The museum guide",
    "A young student",
    "The workshop team",
    "Grandma",
    "The school choir",
    "A local painter",
    "The librarian",
)
_VERBS = (
    "visited the studio",
    "cleaned the brushes",
    "sorted the paper",
    "opened the windows",
    "collected old magazines",
    "carried the easels",
    "painted the fence",
    "borrowed three books",
    "planted some tulips",
    "fixed the printer",
    "baked fresh bread",
    "repaired the bicycle",
)
_TIMES = (
    "on a rainy Tuesday",
    "after lunch",
    "before the exhibition",
    "during the holidays",
    "early in the morning",
    "last weekend",
    "in late autumn",
    "after the concert",
)


def narrative(rng: random.Random) -> Sentence:
    """A well-formed sentence about nothing visual (passes text filters; describes no image)."""
    return Sentence(
        f"{rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} {rng.choice(_TIMES)}.", "narrative"
    )


BOILERPLATE = (
    "Home | Gallery | Shop | Contact",
    "We use cookies to improve your experience on this site.",
    "Visit https://shapes.example.com/shop for more prints.",
    "Love these colours so much \U0001f60d\U0001f525",
    "Click here!",
    "Share on Facebook Twitter Email",
    "© 2026 Shape Studio. All rights reserved.",
    "Subscribe to our newsletter at news@shapes.example.com today.",
    "Next page »",
    "Posted in Art, Shapes",
)


def boilerplate(rng: random.Random) -> Sentence:
    return Sentence(rng.choice(BOILERPLATE), "boilerplate")


# --- rendering -----------------------------------------------------------------------------------


def _polygon(shape: str, cx: float, cy: float, r: float, rot: float) -> list[tuple[float, float]]:
    def ring(n: int, radius: float, offset: float = 0.0) -> list[tuple[float, float]]:
        return [
            (
                cx + radius * math.cos(rot + offset + 2 * math.pi * k / n),
                cy + radius * math.sin(rot + offset + 2 * math.pi * k / n),
            )
            for k in range(n)
        ]

    if shape == "square":
        return ring(4, r, math.pi / 4)
    if shape == "diamond":
        return [(cx, cy - r), (cx + 0.65 * r, cy), (cx, cy + r), (cx - 0.65 * r, cy)]
    if shape == "triangle":
        return ring(3, r, -math.pi / 2)
    if shape == "pentagon":
        return ring(5, r, -math.pi / 2)
    if shape == "hexagon":
        return ring(6, r)
    if shape == "star":
        outer, inner = ring(5, r, -math.pi / 2), ring(5, 0.42 * r, -math.pi / 2 + math.pi / 5)
        return [p for pair in zip(outer, inner, strict=True) for p in pair]
    if shape == "cross":
        w = 0.33 * r
        pts = [
            (-w, -r),
            (w, -r),
            (w, -w),
            (r, -w),
            (r, w),
            (w, w),
            (w, r),
            (-w, r),
            (-w, w),
            (-r, w),
            (-r, -w),
            (-w, -w),
        ]
        return [(cx + x, cy + y) for x, y in pts]
    if shape == "arrow":
        pts = [
            (-r, -0.3 * r),
            (0.1 * r, -0.3 * r),
            (0.1 * r, -0.75 * r),
            (r, 0),
            (0.1 * r, 0.75 * r),
            (0.1 * r, 0.3 * r),
            (-r, 0.3 * r),
        ]
        c, s = math.cos(rot), math.sin(rot)
        return [(cx + x * c - y * s, cy + x * s + y * c) for x, y in pts]
    raise ValueError(f"no polygon for shape {shape!r}")


def _draw_shape(
    img: Image.Image,
    shape: str,
    cx: float,
    cy: float,
    r: float,
    rot: float,
    fill: tuple[int, int, int],
) -> None:
    draw = ImageDraw.Draw(img)
    box = (cx - r, cy - r, cx + r, cy + r)
    if shape == "circle":
        draw.ellipse(box, fill=fill)
    elif shape == "ring":
        draw.ellipse(box, outline=fill, width=max(3, int(r * 0.3)))
    elif shape == "heart":
        h = r * 0.55
        draw.ellipse((cx - r, cy - r * 0.8, cx, cy - r * 0.8 + 2 * h), fill=fill)
        draw.ellipse((cx, cy - r * 0.8, cx + r, cy - r * 0.8 + 2 * h), fill=fill)
        draw.polygon(
            [(cx - r * 0.97, cy - r * 0.1), (cx + r * 0.97, cy - r * 0.1), (cx, cy + r)], fill=fill
        )
    elif shape == "crescent":
        mask = Image.new("L", img.size, 0)
        mdraw = ImageDraw.Draw(mask)
        mdraw.ellipse(box, fill=255)
        dx, dy = 0.45 * r * math.cos(rot), 0.45 * r * math.sin(rot)
        mdraw.ellipse((cx - r + dx, cy - r + dy, cx + r + dx, cy + r + dy), fill=0)
        img.paste(fill, mask=mask)
    else:
        draw.polygon(_polygon(shape, cx, cy, r, rot), fill=fill)


def _background(rng: random.Random, kind: str, w: int, h: int) -> Image.Image:
    base = tuple(rng.randint(205, 245) for _ in range(3))
    ink = tuple(max(0, v - rng.randint(30, 45)) for v in base)
    img = Image.new("RGB", (w, h), base)
    draw = ImageDraw.Draw(img)
    step = rng.randint(14, 22)
    if kind == "striped":
        for x in range(-h, w, step):
            draw.line([(x, 0), (x + h, h)], fill=ink, width=max(2, step // 3))
    elif kind == "dotted":
        for y in range(step // 2, h, step):
            for x in range(step // 2, w, step):
                draw.ellipse((x - 2, y - 2, x + 2, y + 2), fill=ink)
    elif kind == "checkered":
        for y in range(0, h, step):
            for x in range(0, w, step):
                if (x // step + y // step) % 2:
                    draw.rectangle((x, y, x + step - 1, y + step - 1), fill=ink)
    return img


def _centres(
    rng: random.Random, scene: Scene, w: int, h: int, r: float
) -> list[tuple[float, float]]:
    if scene.count == 1:
        fx, fy = {
            "left": (0.28, 0.5),
            "right": (0.72, 0.5),
            "top": (0.5, 0.28),
            "bottom": (0.5, 0.72),
            "centre": (0.5, 0.5),
        }[scene.pos or "centre"]
        return [(fx * w + rng.uniform(-4, 4), fy * h + rng.uniform(-4, 4))]
    slots = [(0.25, 0.3), (0.72, 0.32), (0.3, 0.72), (0.7, 0.7)]
    rng.shuffle(slots)
    return [
        (fx * w + rng.uniform(-5, 5), fy * h + rng.uniform(-5, 5))
        for fx, fy in slots[: scene.count]
    ]


def _lighting(img: Image.Image, rng: random.Random) -> Image.Image:
    """Uneven illumination (a smooth random field, +-60 levels) and sensor noise, as photos
    have. Flat renders of the same layout otherwise share a perceptual hash whatever their
    colours (measured: 824 distinct pairs within 10 bits among 500 flat renders, 3 with this)."""
    w, h = img.size
    gen = np.random.default_rng(rng.getrandbits(32))
    field = Image.fromarray(gen.uniform(0, 255, (6, 6)).astype(np.uint8)).resize(
        (w, h), Image.BICUBIC
    )
    light = (np.asarray(field, dtype=np.float32) - 128.0) / 128.0 * 60.0
    noise = gen.normal(0, 6, (h, w, 1))
    pixels = np.asarray(img, dtype=np.float32) + light[..., None] + noise
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def render(scene: Scene, rng: random.Random, quality: int = 90) -> bytes:
    """JPEG bytes of ``scene``: a square of 128-192 px (passes the paper's >= 100 px rule)."""
    w = h = rng.randint(128, 192)  # square: CLIP's centre crop would cut objects off the sides
    img = _background(rng, scene.bg, w, h)
    side = min(w, h)
    scale = (0.15, 0.19) if scene.size == "small" else (0.25, 0.3)
    if scene.count > 1:  # room for three objects
        scale = (scale[0] * 0.8, scale[1] * 0.7)
    fill = COLOURS[scene.colour]
    for cx, cy in _centres(rng, scene, w, h, side):
        r = side * rng.uniform(*scale)
        _draw_shape(img, scene.shape, cx, cy, r, rng.uniform(0, 2 * math.pi) * 0.15, fill)
    img = _lighting(img, rng)
    if scene.sign:
        draw = ImageDraw.Draw(img)
        font = ImageFont.load_default(size=max(14, side // 9))
        box = draw.textbbox((0, 0), scene.sign, font=font)
        tw, th = box[2] - box[0], box[3] - box[1]
        x0, y0 = (w - tw) // 2, h - th - 14
        draw.rectangle(
            (x0 - 6, y0 - 4, x0 + tw + 6, y0 + th + 8), fill=(250, 250, 250), outline=(0, 0, 0)
        )
        draw.text((x0 - box[0], y0 - box[1]), scene.sign, fill=(0, 0, 0), font=font)
    return encode_jpeg(img, quality)


def encode_jpeg(img: Image.Image, quality: int) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def near_duplicate(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """A copy a crawl really contains: re-encoded, downscaled or slightly cropped."""
    img = Image.open(io.BytesIO(data)).convert("RGB")
    kind = rng.choice(("reencode", "resize", "crop"))
    if kind == "resize":
        img = img.resize((max(110, int(img.width * 0.8)), max(110, int(img.height * 0.8))))
    elif kind == "crop":
        dx, dy = max(2, img.width // 30), max(2, img.height // 30)
        img = img.crop((dx, dy, img.width - dx, img.height - dy))
    return encode_jpeg(img, 70 if kind == "reencode" else 88), kind


def describes(
    sentence_concepts: frozenset[str] | set[str] | list[str],
    image_concepts: frozenset[str] | set[str] | list[str],
) -> bool:
    """The ground-truth relation: a non-empty set of stated concepts, all true of the image."""
    stated = set(sentence_concepts)
    return bool(stated) and stated <= set(image_concepts)
