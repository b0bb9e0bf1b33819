"""Partitions whose rows are sorted by a group id (a bucket, an image shard) so a task reads only
its group's slice: the shuffle of the bucketed stages (:mod:`realsyn.codebook`,
:mod:`realsyn.buckets`).

A sorted partition is written through :func:`realsyn.storage.write_partition` (atomic, committed
by its manifest) as three files: ``members.arrow`` (an uncompressed Arrow IPC file of the rows),
``vectors.npy`` (one row each, same order) and ``offsets.npy`` (group g is rows
``offsets[g]:offsets[g + 1]``). Both row files are memory-mapped on read, so a slice costs its own
pages, not the file's (a local or shared file system; on S3 ``local_path`` downloads the file
first, so each reader pays the whole file).
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import polars as pl
import pyarrow as pa

from realsyn.storage import Storage, partition_file_key, read_manifest, write_partition

MEMBERS, VECTORS, OFFSETS = "members.arrow", "vectors.npy", "offsets.npy"


def npy_bytes(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(a), allow_pickle=False)
    return buf.getvalue()


def npy_from_bytes(data: bytes) -> np.ndarray:
    return np.load(io.BytesIO(data), allow_pickle=False)


def arrow_bytes(frame: pl.DataFrame) -> bytes:
    sink = pa.BufferOutputStream()
    table = frame.to_arrow()
    with pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def group_offsets(groups: np.ndarray, n_groups: int) -> tuple[np.ndarray, np.ndarray]:
    """(stable order of rows by group, offsets (n_groups + 1))."""
    order = np.argsort(groups, kind="stable")
    return order, np.searchsorted(groups[order], np.arange(n_groups + 1)).astype(np.int64)


def write_sorted(
    store: Storage,
    asset: str,
    key: str,
    frame: pl.DataFrame,
    vectors: np.ndarray,
    groups: np.ndarray,
    n_groups: int,
    info: dict | None = None,
    files: dict[str, bytes] | None = None,
) -> np.ndarray:
    """Write ``frame``/``vectors`` sorted by ``groups`` (stable: rows keep their order within a
    group); returns the rows per group."""
    order, offsets = group_offsets(np.asarray(groups, dtype=np.int64), n_groups)
    blobs = {
        MEMBERS: arrow_bytes(frame[order] if len(order) else frame),
        VECTORS: npy_bytes(vectors[order]),
        OFFSETS: npy_bytes(offsets),
        **(files or {}),
    }
    write_partition(store, asset, key, {}, info=info, files=blobs)
    return np.diff(offsets)


@dataclass
class SortedPartition:
    """An open sorted partition; :meth:`group` reads one group's rows."""

    table: pa.Table
    vectors: np.ndarray  # memory-mapped
    offsets: np.ndarray
    info: dict
    files: dict[str, bytes]

    def group(self, g: int) -> tuple[pl.DataFrame, np.ndarray]:
        lo, hi = int(self.offsets[g]), int(self.offsets[g + 1])
        frame = pl.from_arrow(self.table.slice(lo, hi - lo))
        return frame, np.array(self.vectors[lo:hi], dtype=np.float32)

    def all(self) -> tuple[pl.DataFrame, np.ndarray]:
        return pl.from_arrow(self.table), np.array(self.vectors, dtype=np.float32)


@contextlib.contextmanager
def open_sorted(
    store: Storage, asset: str, key: str, extra: tuple[str, ...] = ()
) -> Iterator[SortedPartition]:
    """Open a committed sorted partition (``extra``: small files read whole)."""
    manifest = read_manifest(store, asset, key)
    version = manifest["version"]

    def file_key(name: str) -> str:
        return partition_file_key(asset, key, version, name)

    with contextlib.ExitStack() as stack:
        members = stack.enter_context(store.local_path(file_key(MEMBERS)))
        vectors = stack.enter_context(store.local_path(file_key(VECTORS)))
        table = pa.ipc.open_file(pa.memory_map(str(members))).read_all()
        yield SortedPartition(
            table,
            np.load(vectors, mmap_mode="r", allow_pickle=False),
            npy_from_bytes(store.read_bytes(file_key(OFFSETS))),
            manifest["info"],
            {name: store.read_bytes(file_key(name)) for name in extra},
        )
