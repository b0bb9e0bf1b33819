"""GPU check of the embedding path (run on a CUDA machine; not part of CI).

    python bench/gpu_check.py [--images 4096] [--texts 20000]

1. ``device="auto"`` (``realsyn.clip.resolve_device``, used by ClipModelResource) picks CUDA.
2. realsyn-tiny (fp32) gives the same unit vectors on CUDA as on CPU for the demo images and
   some texts (max |difference| printed).
3. Throughput of ViT-B-32 (random weights, fp16 and fp32) on CUDA: images/s through
   ``encode_images`` (JPEG decode on CPU threads overlapping GPU encoding) and texts/s.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from realsyn.clip import encode_images, encode_texts, load_clip, resolve_device  # noqa: E402

DEMO = Path(__file__).resolve().parents[1] / "demo" / "corpus" / "images"
NAMES = ["astronaut", "chelsea", "coffee", "rocket", "hubble", "coins", "camera", "horse"]
TEXTS = ["a tabby cat on a wooden floor", "a rocket lifting off at dusk", "a cup of coffee"]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--images", type=int, default=4096)
    p.add_argument("--texts", type=int, default=20000)
    args = p.parse_args()
    out: dict = {"torch": torch.__version__, "cuda": torch.cuda.is_available()}
    out["device_name"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    out["auto_device"] = resolve_device("auto")  # what ClipModelResource(device="auto") uses
    payloads = [(DEMO / f"{n}.jpg").read_bytes() for n in NAMES]
    cpu = load_clip("realsyn-tiny", device="cpu")
    gpu = load_clip("realsyn-tiny", device="cuda")
    out["tiny_image_max_abs_diff"] = float(
        np.abs(encode_images(cpu, payloads) - encode_images(gpu, payloads)).max()
    )
    out["tiny_text_max_abs_diff"] = float(
        np.abs(encode_texts(cpu, TEXTS) - encode_texts(gpu, TEXTS)).max()
    )
    many = (payloads * (args.images // len(payloads) + 1))[: args.images]
    texts = (TEXTS * (args.texts // len(TEXTS) + 1))[: args.texts]
    for precision in ("fp16", "fp32"):
        model = load_clip("ViT-B-32", device="cuda", precision=precision)
        encode_images(model, many[:512], batch_size=256, decode_workers=14)  # warm-up
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        vecs = encode_images(model, many, batch_size=256, decode_workers=14)
        torch.cuda.synchronize()
        out[f"vitb32_{precision}_images_per_s"] = round(len(many) / (time.perf_counter() - t0), 1)
        out[f"vitb32_{precision}_norm_error"] = float(
            np.abs(np.linalg.norm(vecs, axis=1) - 1).max()
        )
        encode_texts(model, texts[:2048], batch_size=1024)
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        encode_texts(model, texts, batch_size=1024)
        torch.cuda.synchronize()
        out[f"vitb32_{precision}_texts_per_s"] = round(len(texts) / (time.perf_counter() - t0), 1)
        # the GPU alone, without decoding: pre-decoded pixels, encode only
        pixels = torch.randn(
            256,
            3,
            224,
            224,
            device="cuda",
            dtype=torch.float16 if precision == "fp16" else torch.float32,
        )
        with torch.inference_mode():
            model.model.encode_image(pixels)
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            for _ in range(10):
                model.model.encode_image(pixels)
            torch.cuda.synchronize()
        out[f"vitb32_{precision}_encode_only_images_per_s"] = round(
            2560 / (time.perf_counter() - t0), 1
        )
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
