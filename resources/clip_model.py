"""ClipModelResource: one open_clip model per process for every embedding asset."""

from __future__ import annotations

import dagster as dg
from pydantic import PrivateAttr

from realsyn.clip import ClipBundle, load_clip, resolve_device
from realsyn.storage import PartitionNotFound, partition_file_key, read_manifest
from resources.storage import StorageResource

TRAINED = "asset:clip_training"
RANDOM = "random"


class ClipModelResource(dg.ConfigurableResource):
    """An open_clip model: ``model_name`` plus a ``pretrained`` tag (network or hub cache) or a
    ``checkpoint_path``, which is a local file, ``asset:clip_training`` (the checkpoint the
    ``clip_training`` asset last wrote to ``storage``: the demo's default), or ``random``
    (seeded random weights: every code path real, retrieval meaningless; for tests).

    ``device="auto"`` takes CUDA when present. ``precision`` is open_clip's (fp32, fp16, bf16,
    amp). The model loads once per process and is reloaded only when the trained checkpoint
    it names has changed.
    """

    model_name: str = "realsyn-tiny"
    pretrained: str | None = None
    checkpoint_path: str | None = None
    storage: StorageResource | None = None
    device: str = "auto"
    precision: str = "fp32"
    image_batch_size: int = 64
    text_batch_size: int = 256
    seed: int = 0

    _bundle: ClipBundle | None = PrivateAttr(default=None)
    _loaded_from: str | None = PrivateAttr(default=None)

    def _load(self, checkpoint: str | None) -> ClipBundle:
        return load_clip(
            self.model_name,
            None if checkpoint else self.pretrained,
            checkpoint,
            resolve_device(self.device),
            self.precision,
            self.seed,
        )

    def get(self) -> ClipBundle:
        if self.checkpoint_path != TRAINED:
            if self._bundle is None:
                ckpt = None if self.checkpoint_path in (None, RANDOM) else self.checkpoint_path
                self._bundle = self._load(ckpt)
            return self._bundle
        if self.storage is None:
            raise ValueError(f"checkpoint_path={TRAINED!r} needs the storage it was written to")
        store = self.storage.get()
        try:
            manifest = read_manifest(store, "clip_training", None)
        except PartitionNotFound as exc:
            raise RuntimeError(
                "the CLIP model is the clip_training asset's checkpoint, which is not materialized: "
                "materialize clip_training first, or set REALSYN_CLIP_PRETRAINED / "
                "REALSYN_CLIP_CHECKPOINT"
            ) from exc
        if manifest["info"].get("model_name", self.model_name) != self.model_name:
            raise ValueError(
                f"clip_training holds a {manifest['info']['model_name']} checkpoint, "
                f"not {self.model_name}"
            )
        key = partition_file_key("clip_training", None, manifest["version"], "checkpoint.pt")
        if self._bundle is None or self._loaded_from != key:
            with store.local_path(key) as path:
                self._bundle = self._load(str(path))
            self._loaded_from = key
        return self._bundle
