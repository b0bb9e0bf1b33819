"""ClipModelResource: one open_clip model per process for every embedding asset."""

from __future__ import annotations

import dagster as dg
from pydantic import PrivateAttr

from realsyn.clip import ClipBundle, load_clip, resolve_device


class ClipModelResource(dg.ConfigurableResource):
    """An open_clip model: ``model_name`` plus a ``pretrained`` tag (network or hub cache) or a
    local ``checkpoint_path`` (wins when both are set); neither gives seeded random weights,
    which keeps every code path real but makes retrieval meaningless (the demo trains one).

    ``device="auto"`` takes CUDA when present. ``precision`` is open_clip's (fp32, fp16, bf16,
    amp). The model loads once per process, on first use.
    """

    model_name: str = "realsyn-tiny"
    pretrained: str | None = None
    checkpoint_path: str | None = None
    device: str = "auto"
    precision: str = "fp32"
    image_batch_size: int = 64
    text_batch_size: int = 256
    seed: int = 0

    _bundle: ClipBundle | None = PrivateAttr(default=None)

    def get(self) -> ClipBundle:
        if self._bundle is None:
            self._bundle = load_clip(
                self.model_name,
                self.pretrained,
                self.checkpoint_path,
                resolve_device(self.device),
                self.precision,
                self.seed,
            )
        return self._bundle
