"""New-shard sensor: adds a partition per newly found corpus shard and requests its run."""

import dagster as dg

from realsyn.readers import discover_shards
from realsyn_assets.jobs import ingest_job
from realsyn_assets.partitions import shard_partitions
from resources.storage import StorageResource


@dg.sensor(
    job=ingest_job,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.STOPPED,
)
def new_shard_sensor(context: dg.SensorEvaluationContext, corpus: StorageResource):
    """Discover shards under the corpus root; register and ingest the new ones."""
    known = set(context.instance.get_dynamic_partitions(shard_partitions.name))
    new = [s.key for s in discover_shards(corpus.get()) if s.key not in known]
    if not new:
        return dg.SkipReason(f"no new shards ({len(known)} known) under {corpus.get().uri()}")
    return dg.SensorResult(
        run_requests=[dg.RunRequest(partition_key=key, run_key=key) for key in new],
        dynamic_partitions_requests=[shard_partitions.build_add_request(new)],
    )
