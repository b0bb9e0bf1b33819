"""What a CLIP model and the pipeline's output are worth, measured against known answers.

* :func:`evaluate_clip`: on held-out world images, zero-shot classification of shape and colour
  (prompt ensembles, as CLIP evaluates), per-shape accuracy split into head and tail of the
  long-tailed shape distribution, and image->text / text->image retrieval R@1/5/10. A retrieved
  text counts when it truly describes the image (``realsyn.world.describes``), because many
  held-out images share a description.
* :func:`evaluate_pairs`: on captioned real images (e.g. ``../shared/data/images``), the plain
  one-caption-per-image retrieval R@1/5.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

from realsyn import world as w
from realsyn.clip import ClipBundle, encode_images, encode_texts

SHAPE_PROMPTS = ("a {}.", "one {}.", "a picture of a {}.", "someone painted a {}.")
COLOUR_PROMPTS = ("a {} shape.", "one {} shape.", "something {}.", "the artist drew a {} shape.")
# The same prompts in Japanese, for a world whose texts are Japanese (realsyn.world_ja): class
# names are the world's own words (SHAPES_JA nouns, COLOURS_JA adjectives), in w.SHAPES order.
SHAPE_PROMPTS_JA = ("{}。", "一つの{}。", "{}の絵。", "誰かが{}を描いた。")
COLOUR_PROMPTS_JA = ("{}図形。", "一つの{}図形。", "何か{}もの。", "画家は{}図形を描いた。")
HEAD_SHAPES = w.SHAPES[:3]  # the most frequent of the Zipf-distributed shapes
TAIL_SHAPES = w.SHAPES[-4:]


def _class_embeddings(
    bundle: ClipBundle, classes: Sequence[str], prompts: Sequence[str]
) -> np.ndarray:
    """Mean of the prompt embeddings per class, re-normalised (CLIP's prompt ensembling)."""
    texts = [p.format(c) for c in classes for p in prompts]
    emb = encode_texts(bundle, texts).reshape(len(classes), len(prompts), -1).mean(axis=1)
    return emb / np.linalg.norm(emb, axis=1, keepdims=True)


def recall_at(hits: np.ndarray, ks: Sequence[int]) -> dict[int, float]:
    """``hits``: bool [queries, ranked candidates]; share of queries with a hit in the top k."""
    return {k: float(hits[:, :k].any(axis=1).mean()) if len(hits) else 0.0 for k in ks}


def zero_shot_prompts(lang: str = "en") -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
    """Per kind (shape, colour): (class names as the world's ``lang`` texts write them, in the
    order of ``w.SHAPES`` / ``w.COLOURS``; prompt templates)."""
    if lang == "ja":
        from realsyn.world_ja import COLOURS_JA, SHAPES_JA

        return {
            "shape": (tuple(SHAPES_JA[s] for s in w.SHAPES), SHAPE_PROMPTS_JA),
            "colour": (tuple(COLOURS_JA[c] for c in w.COLOURS), COLOUR_PROMPTS_JA),
        }
    return {"shape": (w.SHAPES, SHAPE_PROMPTS), "colour": (tuple(w.COLOURS), COLOUR_PROMPTS)}


def evaluate_clip(
    bundle: ClipBundle, held_out: pl.DataFrame, ks: Sequence[int] = (1, 5, 10), lang: str = "en"
) -> dict:
    """Zero-shot metrics on the world's held-out split (columns image, concepts, shape, colour,
    alt_text); prompts in the world's language ``lang`` (:func:`zero_shot_prompts`). Returns a
    flat dict of floats plus ``per_shape`` accuracy."""
    img = encode_images(bundle, held_out["image"].to_list())
    out: dict = {"images": held_out.height, "model": bundle.identity}
    prompts_for = zero_shot_prompts(lang)
    for kind, classes in (("shape", w.SHAPES), ("colour", tuple(w.COLOURS))):
        names, prompts = prompts_for[kind]
        pred = (img @ _class_embeddings(bundle, names, prompts).T).argmax(axis=1)
        truth = np.array([classes.index(v) for v in held_out[kind].to_list()])
        out[f"{kind}_accuracy"] = float((pred == truth).mean())
        if kind == "shape":
            per = {
                s: float((pred[truth == i] == i).mean())
                for i, s in enumerate(classes)
                if (truth == i).any()
            }
            out["per_shape"] = per
            out["head_shape_accuracy"] = _mean_over(per, HEAD_SHAPES)
            out["tail_shape_accuracy"] = _mean_over(per, TAIL_SHAPES)
    alts = held_out.unique("alt_text", maintain_order=True)
    texts = alts["alt_text"].to_list()
    text_concepts = [frozenset(c) for c in alts["alt_concepts"].to_list()]
    txt = encode_texts(bundle, texts)
    sims = img @ txt.T
    concepts = [set(c) for c in held_out["concepts"].to_list()]
    k_max = max(ks)
    i2t = np.argsort(-sims, axis=1)[:, :k_max]
    hits = np.array(
        [[w.describes(text_concepts[j], concepts[i]) for j in row] for i, row in enumerate(i2t)]
    )
    for k, v in recall_at(hits, ks).items():
        out[f"image_to_text_r{k}"] = v
    t2i = np.argsort(-sims.T, axis=1)[:, :k_max]
    hits = np.array(
        [[w.describes(text_concepts[j], concepts[i]) for i in row] for j, row in enumerate(t2i)]
    )
    for k, v in recall_at(hits, ks).items():
        out[f"text_to_image_r{k}"] = v
    return out


def _mean_over(per: dict[str, float], shapes: Sequence[str]) -> float:
    present = [s for s in shapes if s in per]
    return float(np.mean([per[s] for s in present])) if present else float("nan")


def evaluate_pairs(bundle: ClipBundle, images: Sequence[bytes], captions: Sequence[str]) -> dict:
    """One caption per image: image->text and text->image R@1 and R@5."""
    sims = encode_images(bundle, list(images)) @ encode_texts(bundle, list(captions)).T
    eye = np.arange(len(captions))
    i2t = np.argsort(-sims, axis=1) == eye[:, None]
    t2i = np.argsort(-sims.T, axis=1) == eye[:, None]
    out = {"pairs": len(captions)}
    for k in (1, 5):
        out[f"image_to_text_r{k}"] = float(i2t[:, :k].any(axis=1).mean())
        out[f"text_to_image_r{k}"] = float(t2i[:, :k].any(axis=1).mean())
    return out
