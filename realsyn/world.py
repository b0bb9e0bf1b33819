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

``realsyn.world_render`` draws scenes; ``realsyn.world_docs`` turns a world into interleaved documents (OBELICS parquet, HTML folder)
with distractors, boilerplate, duplicates and malformed records.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

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


def describes(
    sentence_concepts: frozenset[str] | set[str] | list[str],
    image_concepts: frozenset[str] | set[str] | list[str],
) -> bool:
    """The ground-truth relation: a non-empty set of stated concepts, all true of the image."""
    stated = set(sentence_concepts)
    return bool(stated) and stated <= set(image_concepts)
