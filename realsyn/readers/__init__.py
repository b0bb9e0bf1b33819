"""Readers: one input shard in any supported format -> the normalized document model."""

from realsyn.readers.base import ShardError, ShardRef, ShardResult
from realsyn.readers.dispatch import detect_format, discover_shards, read_shard

__all__ = [
    "ShardError",
    "ShardRef",
    "ShardResult",
    "detect_format",
    "discover_shards",
    "read_shard",
]
