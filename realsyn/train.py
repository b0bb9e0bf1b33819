"""Train an open_clip model on image-text pairs, on CPU in minutes (the demo's bootstrap).

The recipe is the paper's (AdamW with beta2 0.98 and eps 1e-6, weight decay 0.2 except on gains,
biases and the temperature, warm-up then cosine decay, temperature initialised at 0.07 and
learned) scaled down to a few hundred steps. Each sample may carry several texts; every step
draws one of them per sample, as RealSyn trains on its 4 texts. Loss is open_clip's own
``ClipLoss``. Images are decoded and resized once (uint8 at the model's resolution); a step
crops each sample at random (``jitter``: the demo sees its ~1,100 images for 80 epochs, which
without crops only over-fits) and normalises its batch, so an epoch costs only the forward and
backward passes.

The checkpoint is an open_clip state dict (``{"state_dict": ...}``) that
``open_clip.create_model_and_transforms(name, pretrained=<file>)`` loads unchanged.
"""

from __future__ import annotations

import io
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import polars as pl

from realsyn.clip import decode_at_model_resolution, register_model_configs

TEMPERATURE_INIT = 0.07


@dataclass(frozen=True)
class TrainParams:
    """Scaled-down version of the paper's optimiser recipe."""

    epochs: int = 80
    batch_size: int = 128
    lr: float = 5e-3
    weight_decay: float = 0.2
    beta2: float = 0.98
    eps: float = 1e-6
    warmup_fraction: float = 0.1
    seed: int = 0
    max_seconds: float | None = None  # stop early (cosine still completes its schedule shape)
    # Random resized crops (scale in [1 - jitter, 1]) per sample and step regularise the longer
    # run: on the demo world (bench/p_at_1_sweep.py, brute-force precision@1) 80 epochs gave
    # 0.84 (mean of 3 seeds) with crops, 0.74 without; 40 epochs without 0.75.
    jitter: float = 0.3
    device: str = "cpu"


def lr_at(step: int, total: int, params: TrainParams) -> float:
    """Linear warm-up, then cosine decay to 0."""
    warm = max(1, int(total * params.warmup_fraction))
    if step < warm:
        return params.lr * (step + 1) / warm
    progress = (step - warm) / max(1, total - warm)
    return 0.5 * params.lr * (1 + math.cos(math.pi * progress))


def _param_groups(model, weight_decay: float) -> list[dict]:
    """No decay on gains, biases, embeddings' scale and the temperature (open_clip_train's rule)."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        exclude = (
            p.ndim < 2 or "bn" in name or "ln" in name or "bias" in name or "logit_scale" in name
        )
        (no_decay if exclude else decay).append(p)
    return [
        {"params": no_decay, "weight_decay": 0.0},
        {"params": decay, "weight_decay": weight_decay},
    ]


def jitter_crops(x, jitter: float, gen):
    """Random resized crops of a batch (N, C, H, W), one affine warp each: scale in
    [1 - jitter, 1], shifted so that the crop stays inside the image. No flips: a flip would
    turn a stated position (``left``) false."""
    import torch

    n = x.shape[0]
    scale = 1.0 - jitter * torch.rand(n, generator=gen)
    shift = (1.0 - scale)[:, None] * (2 * torch.rand(n, 2, generator=gen) - 1)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0], theta[:, 1, 1] = scale, scale
    theta[:, :, 2] = shift
    grid = torch.nn.functional.affine_grid(theta.to(x.device), list(x.shape), align_corners=False)
    return torch.nn.functional.grid_sample(x, grid, mode="bilinear", align_corners=False)


def train_clip(
    model_name: str,
    images: Sequence[bytes],
    texts: Sequence[Sequence[str]],
    params: TrainParams | None = None,
    progress: Callable[[int, int, float], None] | None = None,
) -> tuple[bytes, dict]:
    """Train ``model_name`` from seeded random init on (image, one-of-texts) pairs.

    Args:
        images: encoded image bytes, one per sample.
        texts: per sample, the texts to draw from (at least one each).
        progress: called as ``progress(step, total_steps, loss)`` every few steps.

    Returns:
        (checkpoint bytes, stats: steps, epochs, losses, final temperature, seconds).
    """
    import open_clip
    import torch

    params = params or TrainParams()
    if len(images) != len(texts) or not images:
        raise ValueError(f"need matching non-empty images/texts, got {len(images)}/{len(texts)}")
    if any(not t for t in texts):
        raise ValueError("every sample needs at least one text")
    register_model_configs()
    torch.manual_seed(params.seed)
    rng = random.Random(params.seed)
    model, preprocess, _ = open_clip.create_model_and_transforms(model_name, output_dict=True)
    tokenizer = open_clip.get_tokenizer(model_name)
    init_temp = 1.0 / float(model.logit_scale.detach().exp())
    assert abs(init_temp - TEMPERATURE_INIT) < 1e-4, init_temp
    started = time.perf_counter()
    pixels, normalize = decode_at_model_resolution(preprocess, images)
    device = params.device
    model.to(device)
    mean = torch.tensor(normalize.mean, device=device).view(1, 3, 1, 1)
    std = torch.tensor(normalize.std, device=device).view(1, 3, 1, 1)
    gen = torch.Generator(device="cpu").manual_seed(params.seed)
    decode_s = time.perf_counter() - started
    n = len(images)
    batch = min(params.batch_size, n)
    per_epoch = max(1, n // batch)
    total = per_epoch * params.epochs
    opt = torch.optim.AdamW(
        _param_groups(model, params.weight_decay),
        lr=params.lr,
        betas=(0.9, params.beta2),
        eps=params.eps,
    )
    loss_fn = open_clip.ClipLoss()
    model.train()
    losses, step = [], 0
    for _epoch in range(params.epochs):
        order = list(range(n))
        rng.shuffle(order)
        for b in range(per_epoch):
            rows = order[b * batch : (b + 1) * batch]
            for group in opt.param_groups:
                group["lr"] = lr_at(step, total, params)
            x = torch.from_numpy(pixels[rows]).to(device).permute(0, 3, 1, 2).float().div_(255.0)
            if params.jitter > 0:
                x = jitter_crops(x, params.jitter, gen)
            x = (x - mean) / std
            tokens = tokenizer([rng.choice(texts[i]) for i in rows]).to(device)
            out = model(x, tokens)
            loss = loss_fn(out["image_features"], out["text_features"], out["logit_scale"])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            with torch.no_grad():  # open_clip_train clamps the learned temperature the same way
                model.logit_scale.clamp_(0, math.log(100))
            losses.append(loss.item())
            step += 1
            if progress and (step % 10 == 0 or step == total):
                progress(step, total, losses[-1])
            if params.max_seconds and time.perf_counter() - started > params.max_seconds:
                break
        else:
            continue
        break
    model.eval().to("cpu")
    buf = io.BytesIO()
    torch.save({"state_dict": model.state_dict(), "epoch": params.epochs, "name": model_name}, buf)
    stats = {
        "samples": n,
        "steps": step,
        "planned_steps": total,
        "batch_size": batch,
        "first_loss": round(losses[0], 4),
        "final_loss": round(float(np.mean(losses[-max(1, per_epoch) :])), 4),
        "temperature": round(1.0 / model.logit_scale.exp().item(), 4),
        "decode_seconds": round(decode_s, 2),
        "seconds": round(time.perf_counter() - started, 2),
        "params": asdict(params),
    }
    return buf.getvalue(), stats


def alt_text_pairs(
    items: pl.DataFrame,
    images: pl.DataFrame,
    sentences: pl.DataFrame | None = None,
    window: int = 1,
) -> pl.DataFrame:
    """Bootstrap pairs from a corpus: each kept image with the texts its page puts beside it,
    as web-scale CLIPs were first trained: its alt text, and (when ``sentences`` is given) the
    kept sentences of the text items within ``window`` positions of it in its document.

    Args:
        items: ``raw_documents`` items (``item_id``, ``alt_text``).
        images: ``clean_images`` rows (``image_id``, ``doc_id``, ``position``, ``sha256``,
            ``decision``).
        sentences: ``sentences`` rows (``doc_id``, ``position``, ``text``, ``decision``).

    Returns:
        One row per distinct kept image (``sha256``) with ``texts``: its distinct texts.
    """
    kept = images.filter(pl.col("decision") == "keep").select(
        "image_id", "doc_id", "position", "sha256"
    )
    alt = items.filter(pl.col("alt_text").str.strip_chars().str.len_chars() > 0).select(
        pl.col("item_id").alias("image_id"), pl.col("alt_text").str.strip_chars().alias("text")
    )
    texts = [kept.join(alt, on="image_id").select("sha256", "text")]
    if sentences is not None and window > 0:
        near = (
            kept.join(
                sentences.filter(pl.col("decision") == "keep").select(
                    "doc_id", pl.col("position").alias("text_position"), "text"
                ),
                on="doc_id",
            )
            .filter((pl.col("text_position") - pl.col("position")).abs() <= window)
            .select("sha256", "text")
        )
        texts.append(near)
    return (
        pl.concat(texts)
        .group_by("sha256")
        .agg(pl.col("text").unique(maintain_order=True).alias("texts"))
        .sort("sha256")
    )


def subset_pairs(subset: pl.DataFrame) -> pl.DataFrame:
    """Pairs from a ``scaled_subsets`` partition: each image with its (up to) 4 texts, of which a
    training step draws one, as RealSyn trains."""
    cols = [c for c in ("text1", "text2", "text3", "syn_text") if c in subset.columns]
    return (
        subset.select("sha256", pl.concat_list(cols).list.drop_nulls().alias("texts"))
        .filter(pl.col("texts").list.len() > 0)
        .unique("sha256", keep="first", maintain_order=True)
        .sort("sha256")
    )
