"""CLIP training on CPU: the recipe, its safety net, and a checkpoint open_clip loads (the pairs
it trains on: tests/test_bootstrap.py)."""

from __future__ import annotations

import random

import numpy as np
import pytest

from realsyn import world as w
from realsyn.clip import decode_at_model_resolution, encode_images, encode_texts, load_clip
from realsyn.train import (
    TrainParams,
    jitter_crops,
    lr_at,
    negative_clip_loss,
    train_clip,
    use_bf16,
)
from realsyn.world_render import render


def test_lr_warms_up_then_decays_to_zero():
    p = TrainParams(lr=1e-3, warmup_fraction=0.1)
    lrs = [lr_at(s, 100, p) for s in range(100)]
    assert lrs[0] == pytest.approx(1e-4) and lrs[9] == pytest.approx(1e-3)
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:], strict=False))
    assert lrs[-1] < 1e-5  # decays to ~0


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


def test_the_wall_clock_safety_net_stops_loudly():
    """Training is bounded by steps; the max_seconds safety net, when it fires, says so."""
    rng = random.Random(3)
    scenes = [w.sample_scene(rng) for _ in range(32)]
    images = [render(s, rng) for s in scenes]
    texts = [[f"a {s.colour} {s.shape}"] for s in scenes]
    _, full = train_clip("realsyn-tiny", images, texts, TrainParams(epochs=2, batch_size=16))
    assert full["steps"] == full["planned_steps"] == 4
    assert full["stopped_early"] is False and full["stop_reason"] is None
    params = TrainParams(epochs=2, batch_size=16, max_seconds=1e-9)
    _, cut = train_clip("realsyn-tiny", images, texts, params)
    assert cut["steps"] == 1 < cut["planned_steps"] == 4
    assert cut["stopped_early"] is True
    assert "max_seconds" in cut["stop_reason"] and "1 of 4 steps" in cut["stop_reason"]


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


def test_training_can_start_from_a_checkpoint():
    import io

    import torch

    rng = random.Random(3)
    scenes = [w.sample_scene(rng) for _ in range(32)]
    images = [render(s, rng) for s in scenes]
    texts = [[f"a {s.colour} {s.shape}"] for s in scenes]
    first, _ = train_clip("realsyn-tiny", images, texts, TrainParams(epochs=1, batch_size=16))
    # lr 0: nothing moves, so the result is the starting checkpoint's weights, not a fresh init
    still, _ = train_clip(
        "realsyn-tiny", images, texts, TrainParams(epochs=1, batch_size=16, lr=0.0), None, first
    )
    fresh, _ = train_clip(
        "realsyn-tiny", images, texts, TrainParams(epochs=1, batch_size=16, lr=0.0, seed=5)
    )

    def state(ckpt: bytes) -> dict:
        return torch.load(io.BytesIO(ckpt))["state_dict"]

    a, b, c = state(first), state(still), state(fresh)
    assert all(torch.equal(a[k], b[k]) for k in a if "num_batches" not in k and "running" not in k)
    assert not torch.equal(a["visual.trunk.conv1.0.weight"], c["visual.trunk.conv1.0.weight"])


def test_precision_choice():
    assert use_bf16(TrainParams(precision="bf16")) and not use_bf16(TrainParams(precision="fp32"))
    assert use_bf16(TrainParams(precision="auto", device="cuda"))
    with pytest.raises(ValueError, match="precision"):
        use_bf16(TrainParams(precision="fp16"))


def test_negative_clip_loss_is_clip_loss_plus_harder_image_to_text_terms():
    import open_clip
    import torch

    gen = torch.Generator().manual_seed(0)
    img = torch.nn.functional.normalize(torch.randn(6, 8, generator=gen), dim=1)
    txt = torch.nn.functional.normalize(torch.randn(6, 8, generator=gen), dim=1)
    neg = torch.nn.functional.normalize(torch.randn(3, 8, generator=gen), dim=1)
    scale = torch.tensor(10.0)
    plain = open_clip.ClipLoss()(img, txt, scale)
    assert torch.allclose(negative_clip_loss(img, txt, scale), plain)
    with_neg = negative_clip_loss(img, torch.cat([txt, neg]), scale)
    assert with_neg > plain  # more columns in every image's softmax
    # a negative equal to an image's own text makes it much harder than a random one
    hard = negative_clip_loss(img, torch.cat([txt, txt[:3]]), scale)
    assert hard > with_neg


def test_training_takes_negatives_per_sample():
    rng = random.Random(5)
    scenes = [w.sample_scene(rng) for _ in range(32)]
    images = [render(s, rng) for s in scenes]
    texts = [[f"a {s.colour} {s.shape}"] for s in scenes]
    negatives = [["Our class visited the studio."] if i % 2 else [] for i in range(32)]
    _, stats = train_clip(
        "realsyn-tiny", images, texts, TrainParams(epochs=1, batch_size=16), negatives=negatives
    )
    assert stats["steps"] == 2
    with pytest.raises(ValueError, match="negative lists"):
        train_clip("realsyn-tiny", images, texts, negatives=negatives[:3])
