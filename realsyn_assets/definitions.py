"""The single Definitions object; the deployment profile is read here, once."""

import os

import dagster as dg

from realsyn_assets.clean_images import clean_images
from realsyn_assets.embeddings import image_embeddings, sentence_embeddings
from realsyn_assets.evaluation import clip_evaluation, pipeline_evaluation
from realsyn_assets.executors import executor_from_env
from realsyn_assets.image_dedup import image_dedup
from realsyn_assets.jobs import JOBS
from realsyn_assets.raw_documents import raw_documents
from realsyn_assets.release import balanced_pool, build_release_assets
from realsyn_assets.retrieval import retrieval_pairs, sentence_clusters
from realsyn_assets.sensors import new_shard_sensor
from realsyn_assets.sentences import sentences
from realsyn_assets.settings import Settings
from realsyn_assets.synthetic import synthetic_texts
from realsyn_assets.text_corpus import sentence_dedup, sentence_semantics, word_frequencies
from realsyn_assets.training import clip_training

settings = Settings.from_env(os.environ)

defs = dg.Definitions(
    assets=[
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
    ],
    jobs=JOBS,
    sensors=[new_shard_sensor],
    resources=settings.resources(),
    executor=executor_from_env(os.environ),
)
