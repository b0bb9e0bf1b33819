"""Partitions: one dynamic partition per input shard (file or HTML folder) of the corpus."""

import dagster as dg

shard_partitions = dg.DynamicPartitionsDefinition(name="shards")
