"""CLIP training on CPU: the recipe, the pairs it trains on, and a checkpoint open_clip loads."""

from __future__ import annotations

import random

import numpy as np
import polars as pl
import pytest

from realsyn import world as w
from realsyn.clip import decode_at_model_resolution, encode_images, encode_texts, load_clip
from realsyn.train import (
    TrainParams,
    alt_text_pairs,
    jitter_crops,
    lr_at,
    subset_pairs,
    train_clip,
)
from realsyn.world_render import render


def test_lr_warms_up_then_decays_to_zero():
    p = TrainParams(lr=1e-3, warmup_fraction=0.1)
    lrs = [lr_at(s, 100, p) for s in range(100)]
    assert lrs[0] == pytest.approx(1e-4) and lrs[9] == pytest.approx(1e-3)
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:], strict=False))
    assert lrs[-1] < 1e-5  # decays to ~0


def test_alt_text_pairs_take_alt_text_and_neighbouring_kept_sentences():
    items = pl.DataFrame({"item_id": ["i1", "i2", "i3"], "alt_text": ["red circle", "  ", None]})
    images = pl.DataFrame(
        {
            "image_id": ["i1", "i2", "i3"],
            "doc_id": ["d", "d", "e"],
            "position": [1, 3, 0],
            "sha256": ["a", "b", "a"],
            "decision": ["keep", "keep", "drop"],
        }
    )
    sentences = pl.DataFrame(
        {
            "doc_id": ["d", "d", "d", "d"],
            "position": [0, 2, 2, 5],
            "text": ["Before.", "Between.", "Dropped.", "Far away."],
            "decision": ["keep", "keep", "drop", "keep"],
        }
    )
    out = alt_text_pairs(items, images, sentences, window=1)
    got = {sha: sorted(t) for sha, t in out.iter_rows()}
    assert got == {"a": ["Before.", "Between.", "red circle"], "b": ["Between."]}
    only_alt = alt_text_pairs(items, images)
    assert {sha: t for sha, t in only_alt.iter_rows()} == {"a": ["red circle"]}


def test_subset_pairs_draw_from_all_four_texts():
    subset = pl.DataFrame(
        {
            "sha256": ["a", "b", "a"],
            "text1": ["t1", "u1", "x"],
            "text2": ["t2", None, "x"],
            "text3": ["t3", None, "x"],
            "syn_text": [None, "u-syn", "x"],
        }
    )
    out = {sha: t for sha, t in subset_pairs(subset).iter_rows()}
    assert out == {"a": ["t1", "t2", "t3"], "b": ["u1", "u-syn"]}


def test_jitter_crops_zoom_in_without_flipping():
    import torch

    gen = torch.Generator().manual_seed(0)
    x = torch.zeros(8, 3, 32, 32)
    x[:, :, :, :16] = 1.0  # left half bright
    assert torch.allclose(jitter_crops(x, 0.0, gen), x, atol=1e-5)
    y = jitter_crops(x, 0.3, gen)
    assert y.shape == x.shape
    # a crop of at least 70% keeps the left side bright and the right side dark: no flips
    assert bool((y[:, :, :, :4].mean(dim=(1, 2, 3)) > 0.9).all())
    assert bool((y[:, :, :, -4:].mean(dim=(1, 2, 3)) < 0.1).all())
    assert not torch.allclose(y, x)


def test_decode_at_model_resolution_matches_the_preprocess():
    rng = random.Random(1)
    images = [render(w.sample_scene(rng), rng) for _ in range(3)]
    model = load_clip("realsyn-tiny", seed=0)
    pixels, normalize = decode_at_model_resolution(model.preprocess, images)
    assert pixels.shape == (3, 64, 64, 3) and pixels.dtype == np.uint8
    import io

    import torch
    from PIL import Image

    ref = model.preprocess(Image.open(io.BytesIO(images[0])).convert("RGB"))
    ours = (torch.from_numpy(pixels[:1]).permute(0, 3, 1, 2).float() / 255.0)[0]
    assert torch.allclose(normalize(ours), ref, atol=1e-5)


def test_seeded_training_is_reproducible():
    import io

    import torch

    rng = random.Random(2)
    scenes = [w.sample_scene(rng) for _ in range(48)]
    images = [render(s, rng) for s in scenes]
    texts = [[f"a {s.colour} {s.shape}"] for s in scenes]

    def weights() -> list:
        ckpt, _ = train_clip("realsyn-tiny", images, texts, TrainParams(epochs=1, batch_size=16))
        return list(torch.load(io.BytesIO(ckpt))["state_dict"].values())

    first, second = weights(), weights()
    assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))


def test_training_rejects_mismatched_inputs():
    with pytest.raises(ValueError, match="matching"):
        train_clip("realsyn-tiny", [b"x"], [])
    with pytest.raises(ValueError, match="at least one text"):
        train_clip("realsyn-tiny", [b"x"], [[]])


@pytest.mark.slow
def test_a_short_cpu_training_learns_colours(tmp_path):
    rng = random.Random(0)
    scenes = [w.sample_scene(rng) for _ in range(320)]
    images = [render(s, rng) for s in scenes]
    texts = [[f"a {s.colour} {s.shape}", f"something {s.colour}"] for s in scenes]
    ckpt, stats = train_clip(
        "realsyn-tiny", images[:256], texts[:256], TrainParams(epochs=12, batch_size=64)
    )
    assert stats["steps"] == 48 and stats["final_loss"] < stats["first_loss"]
    assert 0.03 < stats["temperature"] < 0.1
    path = tmp_path / "ckpt.pt"
    path.write_bytes(ckpt)
    model = load_clip("realsyn-tiny", checkpoint_path=str(path))
    assert model.identity.startswith("realsyn-tiny@sha256:")
    colours = list(w.COLOURS)
    prompts = encode_texts(model, [f"something {c}" for c in colours])
    pred = (encode_images(model, images[256:]) @ prompts.T).argmax(axis=1)
    truth = np.array([colours.index(s.colour) for s in scenes[256:]])
    accuracy = float((pred == truth).mean())
    random_model = load_clip("realsyn-tiny", seed=0)
    random_pred = (
        encode_images(random_model, images[256:])
        @ encode_texts(random_model, [f"something {c}" for c in colours]).T
    ).argmax(axis=1)
    assert accuracy > 0.5 > float((random_pred == truth).mean())  # chance is 1/8
