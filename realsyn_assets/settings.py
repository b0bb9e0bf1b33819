"""The deployment profile, read once by ``definitions.py`` from the environment.

``REALSYN_DATA_ROOT``   where outputs go: a folder (default ``./data``) or ``s3://bucket/prefix``
``REALSYN_CORPUS``      the input documents: a folder (default: the bundled demo corpus) or S3
``REALSYN_S3_ENDPOINT_URL``, ``REALSYN_S3_REGION``  for S3-compatible services
``REALSYN_S3_ACCESS_KEY_ID``, ``REALSYN_S3_SECRET_ACCESS_KEY``  passed as ``dg.EnvVar`` (never
stored in config); unset means boto3's default credential chain.
``REALSYN_FETCH_IMAGES``  ``1`` to fetch URL images over the network (off: recorded not_fetched)
``REALSYN_LANGUAGE_MODEL``  causal LM for the perplexity filter: a name (``gpt2-large``) or a
local directory; unset: the filter is not applied (and reported so)
``REALSYN_CLIP_MODEL``, ``REALSYN_CLIP_PRETRAINED``, ``REALSYN_CLIP_CHECKPOINT``  the open_clip
model (default ``realsyn-tiny``), a pretrained tag, or a checkpoint: a local file,
``asset:clip_training`` (the default when no pretrained tag is set: the model the
``clip_training`` asset trained on the corpus's alt texts) or ``random`` (seeded random weights)
``REALSYN_SCALES``  per-cluster caps t of the nested subsets (default ``20,35,180`` as the paper)
``REALSYN_CAPTIONER_URL``, ``REALSYN_CAPTION_MODEL``, ``REALSYN_FUSION_MODEL``,
``REALSYN_CAPTIONER_API_KEY``  OpenAI-compatible endpoint(s) for syn_text; unset: no syn_text
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

from resources.captioner import CaptionerResource
from resources.clip_model import TRAINED, ClipModelResource
from resources.fetcher import ImageFetcherResource
from resources.storage import StorageResource
from resources.text_models import CatParserResource, LanguageModelResource

REPO_ROOT = Path(__file__).resolve().parents[1]
DEMO_CORPUS = REPO_ROOT / "demo"  # real sample shards in corpus/, the generated world in world/


@dataclass(frozen=True)
class Settings:
    data_root: str
    corpus_root: str
    s3_endpoint_url: str | None
    s3_region: str | None
    s3_keys_from_env: bool
    fetch_images: bool
    language_model: str | None
    clip_model: str
    clip_pretrained: str | None
    clip_checkpoint: str | None
    scales: tuple[int, ...]
    captioner_url: str | None
    caption_model: str
    fusion_model: str
    captioner_key_from_env: bool

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        return cls(
            data_root=env.get("REALSYN_DATA_ROOT") or str(Path("data").resolve()),
            corpus_root=env.get("REALSYN_CORPUS") or str(DEMO_CORPUS),
            s3_endpoint_url=env.get("REALSYN_S3_ENDPOINT_URL") or None,
            s3_region=env.get("REALSYN_S3_REGION") or None,
            s3_keys_from_env=bool(env.get("REALSYN_S3_ACCESS_KEY_ID")),
            fetch_images=env.get("REALSYN_FETCH_IMAGES", "").lower() in ("1", "true", "yes"),
            language_model=env.get("REALSYN_LANGUAGE_MODEL") or None,
            clip_model=env.get("REALSYN_CLIP_MODEL") or "realsyn-tiny",
            clip_pretrained=env.get("REALSYN_CLIP_PRETRAINED") or None,
            clip_checkpoint=env.get("REALSYN_CLIP_CHECKPOINT")
            or (None if env.get("REALSYN_CLIP_PRETRAINED") else TRAINED),
            scales=tuple(int(t) for t in (env.get("REALSYN_SCALES") or "20,35,180").split(",")),
            captioner_url=env.get("REALSYN_CAPTIONER_URL") or None,
            caption_model=env.get("REALSYN_CAPTION_MODEL") or "",
            fusion_model=env.get("REALSYN_FUSION_MODEL") or "",
            captioner_key_from_env=bool(env.get("REALSYN_CAPTIONER_API_KEY")),
        )

    def storage_resource(self, root: str) -> StorageResource:
        keys = {}
        if self.s3_keys_from_env:
            keys = {
                "access_key_id": dg.EnvVar("REALSYN_S3_ACCESS_KEY_ID"),
                "secret_access_key": dg.EnvVar("REALSYN_S3_SECRET_ACCESS_KEY"),
            }
        return StorageResource(
            root=root, endpoint_url=self.s3_endpoint_url, region_name=self.s3_region, **keys
        )

    def resources(self) -> dict:
        return {
            "storage": self.storage_resource(self.data_root),
            "corpus": self.storage_resource(self.corpus_root),
            "fetcher": ImageFetcherResource(enabled=self.fetch_images),
            "cat_parser": CatParserResource(),
            "language_model": LanguageModelResource(model=self.language_model),
            "captioner": CaptionerResource(
                base_url=self.captioner_url,
                caption_model=self.caption_model,
                fusion_model=self.fusion_model,
                **(
                    {"api_key": dg.EnvVar("REALSYN_CAPTIONER_API_KEY")}
                    if self.captioner_key_from_env
                    else {}
                ),
            ),
            "clip_model": ClipModelResource(
                model_name=self.clip_model,
                pretrained=self.clip_pretrained,
                checkpoint_path=self.clip_checkpoint,
                storage=self.storage_resource(self.data_root),
            ),
        }
