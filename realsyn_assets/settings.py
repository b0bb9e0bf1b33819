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
``REALSYN_PARAMS``  a TOML file of tracked stage parameters, one ``[asset]`` table each (e.g.
``[sentences] max_words = 60``); changing it marks exactly those assets stale
``REALSYN_ALERT_WEBHOOK_URL``  failed checks are POSTed there as JSON by ``check_alert_sensor``
(always logged)
``REALSYN_DRIFT_WARN``, ``REALSYN_DRIFT_ERROR``  Jensen-Shannon distance thresholds of the drift
checks (default 0.10 / 0.25)
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

from resources.alerts import AlertSinkResource
from resources.captioner import CaptionerResource
from resources.clip_model import TRAINED, ClipModelResource
from resources.drift import DriftResource
from resources.fetcher import ImageFetcherResource
from resources.stage_params import StageParamsResource, load_stage_params
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
    alert_webhook_url: str | None = None
    stage_params: dict | None = None
    drift_warn: float | None = None
    drift_error: float | None = None

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
            alert_webhook_url=env.get("REALSYN_ALERT_WEBHOOK_URL") or None,
            stage_params=load_stage_params(env["REALSYN_PARAMS"])
            if env.get("REALSYN_PARAMS")
            else {},
            drift_warn=float(env["REALSYN_DRIFT_WARN"]) if env.get("REALSYN_DRIFT_WARN") else None,
            drift_error=float(env["REALSYN_DRIFT_ERROR"])
            if env.get("REALSYN_DRIFT_ERROR")
            else None,
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
            "stage_params": StageParamsResource(
                values_json=json.dumps(self.stage_params or {}, sort_keys=True)
            ),
            "alerts": AlertSinkResource(webhook_url=self.alert_webhook_url),
            "drift": DriftResource(
                **({"warn_distance": self.drift_warn} if self.drift_warn is not None else {}),
                **({"error_distance": self.drift_error} if self.drift_error is not None else {}),
            ),
            "clip_model": ClipModelResource(
                model_name=self.clip_model,
                pretrained=self.clip_pretrained,
                checkpoint_path=self.clip_checkpoint,
                storage=self.storage_resource(self.data_root),
            ),
        }
