"""The single Definitions object; the deployment profile is read here, once."""

import os

import dagster as dg

from realsyn_assets.alerting import check_alert_sensor
from realsyn_assets.automation import nightly_refresh
from realsyn_assets.clean_images import CleanImagesConfig, clean_images
from realsyn_assets.embeddings import image_embeddings, sentence_embeddings
from realsyn_assets.evaluation import clip_evaluation, pipeline_evaluation
from realsyn_assets.executors import executor_from_env
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
    ]
    return dg.Definitions(
        assets=with_param_versions(assets, settings.stage_params or {}),
        jobs=JOBS,
        sensors=[new_shard_sensor, check_alert_sensor, nightly_refresh],
        resources=settings.resources(),
        executor=executor_from_env(env),
    )


settings = Settings.from_env(os.environ)
defs = build_definitions(settings)
