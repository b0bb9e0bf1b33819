"""open_clip models: loading (pretrained tag, local checkpoint, or seeded random init), identity,
and batched L2-normalised encoding of images and texts.

``realsyn-tiny`` (model_configs/realsyn-tiny.json: timm's ResNet-10-T on 64 px inputs, randomly
initialised, with a 2-layer text tower of width 64 and 64-d embeddings, 8.2M parameters) is
registered for tests and the demo, which trains it on CPU in minutes (``realsyn.train``): on
the generated world a CNN learned shapes far faster than a ViT of the same cost (held-out
image->text R@1 0.89 against 0.18, each after about three minutes). Real runs name any open_clip
architecture with a pretrained tag (needs network or the hub cache) or a local checkpoint path.

The *identity* recorded with every vector is ``<model>@<weights>``: the pretrained tag, the first
16 hex chars of the checkpoint file's SHA-256, or ``random-seed<N>``.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

CONFIG_DIR = Path(__file__).parent / "model_configs"
_REGISTER_LOCK = threading.Lock()
_registered = False


def register_model_configs() -> None:
    """Make the bundled architectures (``realsyn-tiny``) known to open_clip (idempotent)."""
    global _registered
    with _REGISTER_LOCK:
        if not _registered:
            import open_clip

            open_clip.add_model_config(CONFIG_DIR)
            _registered = True


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when a GPU is visible, else ``cpu``; anything else unchanged."""
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


@dataclass
class ClipBundle:
    model: object
    preprocess: Callable
    tokenizer: Callable
    identity: str
    device: str
    embed_dim: int
    precision: str = "fp32"
    _pool: ProcessPoolExecutor | None = None

    def decode_pool(self, workers: int, geometry) -> ProcessPoolExecutor:
        """Decode worker processes, started once per model (spawn: safe beside CUDA)."""
        import multiprocessing

        if self._pool is None or self._pool._max_workers != workers:  # noqa: SLF001
            self._pool = ProcessPoolExecutor(
                workers,
                multiprocessing.get_context("spawn"),
                initializer=_init_decoder,
                initargs=(geometry,),
            )
        return self._pool


def load_clip(
    model_name: str,
    pretrained: str | None = None,
    checkpoint_path: str | None = None,
    device: str = "cpu",
    precision: str = "fp32",
    seed: int = 0,
) -> ClipBundle:
    """Load an open_clip model for inference. ``checkpoint_path`` wins over ``pretrained``;
    neither gives seeded random weights (tests, or before a model is trained)."""
    import open_clip
    import torch

    from realsyn.clip_tokens import get_tokenizer

    register_model_configs()
    if checkpoint_path:
        weights = f"sha256:{file_sha256(checkpoint_path)[:16]}"
        source = checkpoint_path
    elif pretrained:
        weights, source = pretrained, pretrained
    else:
        weights, source = f"random-seed{seed}", None
        torch.manual_seed(seed)
    model, _, preprocess = open_clip.create_model_and_transforms(
        model_name, pretrained=source, device=device, precision=precision
    )
    model.eval()
    tokenizer = get_tokenizer(model_name)
    embed_dim = (
        int(model.text_projection.shape[1])
        if hasattr(model, "text_projection") and model.text_projection is not None
        else int(open_clip.get_model_config(model_name)["embed_dim"])
    )
    return ClipBundle(
        model, preprocess, tokenizer, f"{model_name}@{weights}", device, embed_dim, precision
    )


def input_dtype(bundle: ClipBundle):
    """The pixel dtype the model takes: half/bfloat16 for open_clip's fp16/bf16 precisions."""
    import torch

    if bundle.precision in ("fp16", "pure_fp16"):
        return torch.float16
    if bundle.precision in ("bf16", "pure_bf16"):
        return torch.bfloat16
    return torch.float32


def _open_rgb(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    img.draft("RGB", (448, 448))  # JPEG DCT downscale: the model needs ~224 px
    return img.convert("RGB")


def _split_preprocess(preprocess: Callable):
    """open_clip's Compose -> (geometric part on PIL images, Normalize), when it has the usual
    [..., to-tensor, Normalize] tail; else None."""
    steps = list(getattr(preprocess, "transforms", []))
    if (
        len(steps) < 3
        or type(steps[-1]).__name__ != "Normalize"
        or "ToTensor" not in type(steps[-2]).__name__
    ):
        return None
    from torchvision.transforms import Compose

    return Compose(steps[:-2]), steps[-1]


_GEOMETRY = None  # set in decode worker processes


def _init_decoder(geometry) -> None:
    global _GEOMETRY
    _GEOMETRY = geometry


def _decode_uint8(data: bytes) -> np.ndarray:
    """In a worker process: decode, resize and crop; uint8 HWC (4x smaller to send than floats)."""
    return _decode_with(_GEOMETRY, data)


def _decode_with(geometry, data: bytes) -> np.ndarray:
    return np.asarray(geometry(_open_rgb(data)), dtype=np.uint8)


def decode_at_model_resolution(
    preprocess: Callable, payloads: Sequence[bytes], workers: int = 1
) -> tuple[np.ndarray, object]:
    """Decode, resize and crop every image once, as the model's preprocess does.

    Args:
        preprocess: an open_clip preprocess ending in ``[..., ToTensor, Normalize]``.
        payloads: encoded images.
        workers: decoding threads; 1 decodes in the calling thread. Seeded CPU training that
            followed a threaded decode was not reproducible here (same pixels, different
            weights), so ``realsyn.train`` keeps 1 (about 1 s for the demo's 1,100 images).

    Returns:
        (uint8 NHWC crops at the model's resolution, the preprocess's ``Normalize`` step to
        apply per batch).
    """
    split = _split_preprocess(preprocess)
    if split is None:
        raise ValueError("the model's preprocess has no [..., ToTensor, Normalize] tail")
    geometry, normalize = split
    if workers <= 1:
        return np.stack([_decode_with(geometry, p) for p in payloads]), normalize
    with ThreadPoolExecutor(max_workers=workers) as pool:
        crops = list(pool.map(lambda p: _decode_with(geometry, p), payloads))
    return np.stack(crops), normalize


def encode_images(
    bundle: ClipBundle,
    payloads: Sequence[bytes],
    batch_size: int = 64,
    progress: Callable[[int, int], None] | None = None,
    decode_workers: int = 2,
    decode_processes: bool | None = None,
) -> np.ndarray:
    """Unit-norm float32 image embeddings; decoding of batch i+1 overlaps encoding of batch i.

    On a GPU (or with ``decode_processes=True``) images are decoded, resized and cropped in
    ``decode_workers`` processes that return uint8 crops; scaling and normalisation run on the
    device. Elsewhere threads run open_clip's whole preprocess. Both give the same pixels.
    """
    import torch

    out = np.zeros((len(payloads), bundle.embed_dim), dtype=np.float32)
    if not payloads:
        return out
    batches = [
        range(i, min(i + batch_size, len(payloads))) for i in range(0, len(payloads), batch_size)
    ]
    split = _split_preprocess(bundle.preprocess)
    use_processes = (bundle.device != "cpu") if decode_processes is None else decode_processes
    use_processes = use_processes and split is not None and decode_workers > 1
    if use_processes:
        geometry, normalize = split
        mean = torch.tensor(normalize.mean, device=bundle.device).view(1, 3, 1, 1)
        std = torch.tensor(normalize.std, device=bundle.device).view(1, 3, 1, 1)
        pool = bundle.decode_pool(decode_workers, geometry)

        def prepare(rows: Iterable[int]):
            crops = np.stack(
                list(pool.map(_decode_uint8, [payloads[i] for i in rows], chunksize=8))
            )
            return torch.from_numpy(crops)

        def to_pixels(batch):
            x = batch.to(bundle.device).permute(0, 3, 1, 2).float().div_(255.0)
            return ((x - mean) / std).to(input_dtype(bundle))
    else:
        pool = ThreadPoolExecutor(max_workers=max(1, decode_workers))

        def prepare(rows: Iterable[int]):
            return torch.stack(
                list(pool.map(lambda i: bundle.preprocess(_open_rgb(payloads[i])), rows))
            )

        def to_pixels(batch):
            return batch.to(bundle.device, dtype=input_dtype(bundle))

    owned = pool if not use_processes else contextlib.nullcontext()  # the process pool persists
    with owned, ThreadPoolExecutor(max_workers=1) as prefetch, torch.inference_mode():
        pending = prefetch.submit(prepare, batches[0])
        for n, rows in enumerate(batches):
            batch = pending.result()
            if n + 1 < len(batches):
                pending = prefetch.submit(prepare, batches[n + 1])
            feats = bundle.model.encode_image(to_pixels(batch))
            feats = torch.nn.functional.normalize(feats.float(), dim=-1)
            out[rows.start : rows.stop] = feats.cpu().numpy()
            if progress:
                progress(rows.stop, len(payloads))
    return out


def encode_texts(
    bundle: ClipBundle,
    texts: Sequence[str],
    batch_size: int = 256,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """Unit-norm float32 text embeddings (open_clip tokenizer; long texts are truncated)."""
    import torch

    out = np.zeros((len(texts), bundle.embed_dim), dtype=np.float32)
    with torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            tokens = bundle.tokenizer(list(texts[start : start + batch_size])).to(bundle.device)
            feats = torch.nn.functional.normalize(bundle.model.encode_text(tokens).float(), dim=-1)
            out[start : start + len(feats)] = feats.cpu().numpy()
            if progress:
                progress(start + len(feats), len(texts))
    return out
