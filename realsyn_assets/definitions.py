"""The single Definitions object; the deployment profile is read here, once."""

import os

import dagster as dg

from realsyn.balance import BalanceParams
from realsyn.dedup import DedupParams
from realsyn.image_decode import DecodeParams
from realsyn.images import ImageFilterParams
from realsyn.readers.dispatch import RawDocumentsParams
from realsyn.retrieval import ClusterParams, RetrievalParams
from realsyn.scope import ScopeParams
from realsyn.semantic import SemanticParams
from realsyn.sentences import SentenceParams
from realsyn.train import TrainParams
from realsyn_assets.alerting import check_alert_sensor
from realsyn_assets.automation import nightly_refresh
from realsyn_assets.bias import build_bias_assets
from realsyn_assets.clean_images import CleanImagesConfig, clean_images
from realsyn_assets.embeddings import image_embeddings, sentence_embeddings
from realsyn_assets.evaluation import clip_evaluation, pipeline_evaluation
from realsyn_assets.executors import executor_from_env
from realsyn_assets.finetune import build_finetune_assets
from realsyn_assets.image_dedup import ImageDedupConfig, image_dedup
from realsyn_assets.jobs import JOBS
from realsyn_assets.raw_documents import RawDocumentsConfig, raw_documents
from realsyn_assets.release import BalancedPoolConfig, balanced_pool, build_release_assets
from realsyn_assets.retrieval import (
    RetrievalConfig,
    SentenceClustersConfig,
    retrieval_pairs,
    sentence_clusters,
)
from realsyn_assets.review import review_sample
from realsyn_assets.review_labels import human_validation, review_labels, review_labels_sensor
from realsyn_assets.sensors import new_shard_sensor
from realsyn_assets.sentences import SentencesConfig, sentences
from realsyn_assets.settings import Settings
from realsyn_assets.synthetic import synthetic_texts
from realsyn_assets.text_corpus import (
    SentenceDedupConfig,
    SentenceSemanticsConfig,
    sentence_dedup,
    sentence_semantics,
    word_frequencies,
)
from realsyn_assets.training import ClipTrainingConfig, clip_training
from resources.engine import engine_from_env
from resources.stage_params import validate_stage_params, with_param_versions

# Assets whose parameters the deployment may set in REALSYN_PARAMS (tracked in code versions).
TUNABLE = {
    "raw_documents": RawDocumentsConfig,
    "clean_images": CleanImagesConfig,
    "image_dedup": ImageDedupConfig,
    "sentences": SentencesConfig,
    "sentence_semantics": SentenceSemanticsConfig,
    "sentence_dedup": SentenceDedupConfig,
    "sentence_clusters": SentenceClustersConfig,
    "retrieval_pairs": RetrievalConfig,
    "balanced_pool": BalancedPoolConfig,
    "clip_training": ClipTrainingConfig,
}

# The pure stage's params dataclass(es) behind each tunable asset: they own the defaults, which
# the asset's Config mirrors field by field (tests/test_config_defaults.py compares them). A Config
# field named differently from its params field is listed in CONFIG_ALIASES; a Config field no
# params class has (e.g. ``decode_workers``, ``use_embeddings``) is wiring the asset owns alone.
CORE_PARAMS: dict[str, tuple[type, ...]] = {
    "raw_documents": (RawDocumentsParams,),
    "clean_images": (ImageFilterParams, DecodeParams),
    "image_dedup": (DedupParams,),
    "sentences": (SentenceParams,),
    "sentence_semantics": (SemanticParams,),
    "sentence_dedup": (),
    "sentence_clusters": (ClusterParams,),
    "retrieval_pairs": (RetrievalParams, ScopeParams),
    "balanced_pool": (BalanceParams,),
    "clip_training": (TrainParams,),
}
CONFIG_ALIASES: dict[tuple[str, str], str] = {  # (asset, Config field) -> params field
    ("image_dedup", "hamming_radius"): "radius",
    ("clip_training", "bootstrap_epochs"): "epochs",  # round 1's epochs; the same default
}


def build_definitions(settings: Settings, env=os.environ) -> dg.Definitions:
    """The Definitions for one deployment profile (``defs`` below is the environment's)."""
    validate_stage_params(settings.stage_params or {}, TUNABLE)
    assets = [
        raw_documents,
        clean_images,
        image_dedup,
        sentences,
        word_frequencies,
        sentence_semantics,
        sentence_dedup,
        image_embeddings,
        sentence_embeddings,
        sentence_clusters,
        retrieval_pairs,
        synthetic_texts,
        balanced_pool,
        *build_release_assets(settings.scales),
        clip_training,
        clip_evaluation,
        pipeline_evaluation,
        # the pilot's loop: review rounds and the release's bias report
        review_sample,
        review_labels,
        human_validation,
        *build_bias_assets(settings.scales),
        # the measured gain: fine-tune on a scale, before vs after (job `gain`)
        *build_finetune_assets(settings.scales),
    ]
    return dg.Definitions(
        assets=with_param_versions(assets, settings.stage_params or {}),
        jobs=JOBS,
        sensors=[new_shard_sensor, check_alert_sensor, nightly_refresh, review_labels_sensor],
        resources={**settings.resources(), "engine": engine_from_env(env)},
        executor=executor_from_env(env),
    )


settings = Settings.from_env(os.environ)
defs = build_definitions(settings)
