"""Score, then decide: re-use a partition's stored scores when only thresholds changed.

An asset records a *scoring key* in its manifest: everything its scores depend on (the upstream
partitions' versions, scoring parameters, model identities). When the key of a new run equals
the stored one, the stored table is re-decided with the new thresholds instead of re-scored.
"""

from realsyn.storage import PartitionNotFound, Storage, read_manifest, read_partition_table


def upstream_version(store: Storage, asset: str, partition: str | None) -> str:
    return read_manifest(store, asset, partition)["version"]


def stored_scores(store: Storage, asset: str, partition: str | None, table: str, key: dict):
    """The stored table when its scoring key equals ``key``, else None."""
    try:
        manifest = read_manifest(store, asset, partition)
    except PartitionNotFound:
        return None
    if manifest["info"].get("scoring_key") != key:
        return None
    return read_partition_table(store, asset, partition, table)
