"""The single Definitions object; the deployment profile is read here, once."""

import os

import dagster as dg

from realsyn_assets.jobs import ingest_job
from realsyn_assets.raw_documents import raw_documents
from realsyn_assets.sensors import new_shard_sensor
from realsyn_assets.settings import Settings

settings = Settings.from_env(os.environ)

defs = dg.Definitions(
    assets=[raw_documents],
    jobs=[ingest_job],
    sensors=[new_shard_sensor],
    resources=settings.resources(),
)
