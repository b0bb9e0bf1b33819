"""Train an open_clip model on image-text pairs, on CPU in minutes (the demo's bootstrap).

The recipe is the paper's (AdamW with beta2 0.98 and eps 1e-6, weight decay 0.2 except on gains,
biases and the temperature, warm-up then cosine decay, temperature initialised at 0.07 and
learned) scaled down to a few hundred steps. Each sample may carry several texts; every step
draws one of them per sample, as RealSyn trains on its 4 texts. Loss is open_clip's own
``ClipLoss`` (in fp32; the forward pass runs under bfloat16 autocast where the hardware does
bf16). Images are decoded and resized once (uint8 at the model's resolution); a step crops each
sample at random (``jitter``: the demo sees its ~1,100 images for 50 epochs per round, which
without crops only over-fits) and normalises its batch, so an epoch costs only the forward and
backward passes.

The bootstrap's rounds choose what to train on in :mod:`realsyn.bootstrap` (the pairs); this
module only trains on them.

The checkpoint is an open_clip state dict (``{"state_dict": ...}``) that
``open_clip.create_model_and_transforms(name, pretrained=<file>)`` loads unchanged.
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from realsyn.clip import decode_at_model_resolution, register_model_configs

TEMPERATURE_INIT = 0.07


@dataclass(frozen=True)
class TrainParams:
    """Scaled-down version of the paper's optimiser recipe."""

    epochs: int = 50  # per round; the demo's value (README: the p@1 sweep)
    batch_size: int = 128
    lr: float = 5e-3
    weight_decay: float = 0.2
    beta2: float = 0.98
    eps: float = 1e-6
    warmup_fraction: float = 0.1
    seed: int = 0
    # A safety net, not a budget: training is bounded by its steps (epochs), so the same seed and
    # data give the same checkpoint on a quiet or a busy machine. Hitting this limit stops early
    # and says so (``stats["stopped_early"]``); callers must treat that model as incomplete.
    max_seconds: float | None = 4 * 3600.0
    # Random resized crops (scale in [1 - jitter, 1]) per sample and step regularise the longer
    # run: on the demo world (bench/p_at_1_sweep.py, brute-force precision@1, one round on alt
    # texts) 80 epochs gave 0.84 (mean of 3 seeds) with crops, 0.74 without; 40 without 0.75.
    jitter: float = 0.3
    device: str = "cpu"
    # "auto": bfloat16 autocast (the loss stays fp32) on CUDA and on CPUs with bf16 arithmetic
    # (avx512_bf16 / amx_bf16), where a demo step costs ~0.35 s instead of ~0.65 s; else fp32.
    precision: str = "auto"


@contextlib.contextmanager
def _no_random_init_warning():
    """Drop open_clip's "No pretrained weights loaded" warning (root logger) while it lasts."""

    def keep(record: logging.LogRecord) -> bool:
        return "No pretrained weights loaded" not in record.getMessage()

    root = logging.getLogger()
    root.addFilter(keep)
    try:
        yield
    finally:
        root.removeFilter(keep)


def cpu_has_bf16() -> bool:
    """Whether this CPU does bfloat16 arithmetic natively (else autocast would emulate it)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def use_bf16(params: TrainParams) -> bool:
    if params.precision not in ("auto", "bf16", "fp32"):
        raise ValueError(f"precision must be auto, bf16 or fp32, got {params.precision!r}")
    if params.precision != "auto":
        return params.precision == "bf16"
    return params.device.startswith("cuda") or (params.device == "cpu" and cpu_has_bf16())


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


def negative_clip_loss(image_features, text_features, logit_scale):
    """CLIP's symmetric loss when ``text_features`` holds the batch's n positives followed by
    extra negative texts: image->text cross-entropy over all texts, text->image over the
    positives' n x n logits (NegCLIP's objective)."""
    import torch
    import torch.nn.functional as F

    n = image_features.shape[0]
    labels = torch.arange(n, device=image_features.device)
    per_image = logit_scale * image_features @ text_features.T
    per_text = logit_scale * text_features[:n] @ image_features.T
    return (F.cross_entropy(per_image, labels) + F.cross_entropy(per_text, labels)) / 2


def train_clip(
    model_name: str,
    images: Sequence[bytes],
    texts: Sequence[Sequence[str]],
    params: TrainParams | None = None,
    progress: Callable[[int, int, float], None] | None = None,
    init_checkpoint: bytes | None = None,
    negatives: Sequence[Sequence[str]] | None = None,
) -> tuple[bytes, dict]:
    """Train ``model_name`` from seeded random init (or ``init_checkpoint``) on
    (image, one-of-texts) pairs.

    Args:
        images: encoded image bytes, one per sample.
        texts: per sample, the texts to draw from (at least one each).
        progress: called as ``progress(step, total_steps, loss)`` every few steps.
        init_checkpoint: a checkpoint of the same architecture (as this function returns) to
            start from instead of random weights; the schedule starts afresh.
        negatives: per sample, texts known *not* to describe it (may be empty). Each step
            draws one per sample that has any and adds them to the batch's texts as extra
            columns of the image->text softmax, as NegCLIP adds hard-negative captions; the
            text->image direction is unchanged.

    Returns:
        (checkpoint bytes, stats: steps, epochs, losses, final temperature, seconds).
    """
    import open_clip
    import torch

    from realsyn.clip_tokens import get_tokenizer

    params = params or TrainParams()
    if len(images) != len(texts) or not images:
        raise ValueError(f"need matching non-empty images/texts, got {len(images)}/{len(texts)}")
    if any(not t for t in texts):
        raise ValueError("every sample needs at least one text")
    if negatives is not None and len(negatives) != len(texts):
        raise ValueError(f"{len(negatives)} negative lists for {len(texts)} samples")
    register_model_configs()
    torch.manual_seed(params.seed)
    rng = random.Random(params.seed)
    with _no_random_init_warning():  # random init is what training starts from
        model, preprocess, _ = open_clip.create_model_and_transforms(model_name, output_dict=True)
    tokenizer = get_tokenizer(model_name)
    init_temp = 1.0 / float(model.logit_scale.detach().exp())
    assert abs(init_temp - TEMPERATURE_INIT) < 1e-4, init_temp
    if init_checkpoint is not None:
        state = torch.load(io.BytesIO(init_checkpoint), map_location="cpu", weights_only=True)
        model.load_state_dict(state["state_dict"])
    started = time.perf_counter()
    pixels, normalize = decode_at_model_resolution(preprocess, images)
    device = params.device
    bf16 = use_bf16(params)
    # channels-last convolutions are ~15% faster on CPU; the saved weights are the same
    model.to(device=device, memory_format=torch.channels_last)
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
    losses, step, stop_reason = [], 0, None
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
            x = ((x - mean) / std).contiguous(memory_format=torch.channels_last)
            drawn = [rng.choice(texts[i]) for i in rows]
            extra = [rng.choice(negatives[i]) for i in rows if negatives[i]] if negatives else []
            tokens = tokenizer(drawn + extra).to(device)
            with torch.autocast(device.split(":")[0], dtype=torch.bfloat16, enabled=bf16):
                out = model(x, tokens)
            image_f, text_f = out["image_features"].float(), out["text_features"].float()
            if extra:
                loss = negative_clip_loss(image_f, text_f, out["logit_scale"])
            else:
                loss = loss_fn(image_f, text_f, out["logit_scale"])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            with torch.no_grad():  # open_clip_train clamps the learned temperature the same way
                model.logit_scale.clamp_(0, math.log(100))
            losses.append(loss.item())
            step += 1
            if progress and (step % 10 == 0 or step == total):
                progress(step, total, losses[-1])
            if step < total and params.max_seconds:
                elapsed = time.perf_counter() - started
                if elapsed > params.max_seconds:
                    stop_reason = (
                        f"wall-clock safety net max_seconds={params.max_seconds:g} reached after "
                        f"{elapsed:.0f} s: {step} of {total} steps"
                    )
                    break
        else:
            continue
        break
    model.eval().to("cpu", memory_format=torch.contiguous_format)
    buf = io.BytesIO()
    torch.save({"state_dict": model.state_dict(), "epoch": params.epochs, "name": model_name}, buf)
    stats = {
        "samples": n,
        "steps": step,
        "planned_steps": total,
        "stopped_early": stop_reason is not None,
        "stop_reason": stop_reason,
        "batch_size": batch,
        "first_loss": round(losses[0], 4),
        "final_loss": round(float(np.mean(losses[-max(1, per_epoch) :])), 4),
        "temperature": round(1.0 / model.logit_scale.exp().item(), 4),
        "decode_seconds": round(decode_s, 2),
        "bf16": bf16,
        "seconds": round(time.perf_counter() - started, 2),
        "params": asdict(params),
    }
    return buf.getvalue(), stats
