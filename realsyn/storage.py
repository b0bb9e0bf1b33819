"""One storage interface over a local folder and an S3 prefix.

Keys are ``/``-separated paths relative to the storage root. Writes are atomic: locally a temp
file in the same folder is fsynced then renamed over the target; on S3 a single ``put_object``
makes the whole object visible at once. Partitions are committed by a manifest written last
(see :mod:`realsyn.schemas`), so a crash mid-partition leaves nothing visible.

Why manifests and not Dagster IO managers: an asset here reads *other* partitions than its own
inputs' (every shard's embeddings, one table of a partition, a file such as a usearch index),
often one table of several, and it needs the version it read (scoring keys, data versions) and
the write to be atomic across several files. An IO manager hands over one object per input and
hides where it came from; the manifest names every file of a partition and its version, and the
same functions read it from Dagster, the CLI, benchmarks and tests. The price: Dagster does not
see these reads, so each asset declares what it reads in ``deps`` (tests/test_declared_reads.py).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import shutil
import tempfile
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import polars as pl

MANIFEST = "_manifest.json"


class StorageError(RuntimeError):
    """A storage operation failed; the message names the key and the cause."""


class PartitionNotFound(StorageError):
    """The partition has no committed manifest (never materialized, or its write crashed)."""


def clean_key(key: str) -> str:
    """Normalise a relative key and refuse anything that escapes the root."""
    parts = [p for p in PurePosixPath(key.replace("\\", "/")).parts if p not in ("", ".", "/")]
    if any(p == ".." for p in parts):
        raise StorageError(f"key {key!r} escapes the storage root")
    return "/".join(parts)


class Storage(ABC):
    """Bytes by key under a root; implementations: :class:`LocalStorage`, :class:`S3Storage`."""

    @abstractmethod
    def uri(self, key: str = "") -> str: ...

    @abstractmethod
    def read_bytes(self, key: str) -> bytes: ...

    @abstractmethod
    def write_bytes(self, key: str, data: bytes) -> None:
        """Atomically create or replace ``key``."""

    @abstractmethod
    def exists(self, key: str) -> bool: ...

    @abstractmethod
    def list_keys(self, prefix: str = "") -> list[str]:
        """All keys under ``prefix`` (recursive), sorted."""

    @abstractmethod
    def delete_prefix(self, prefix: str) -> None: ...

    @abstractmethod
    def size(self, key: str) -> int: ...

    @contextlib.contextmanager
    def local_path(self, key: str) -> Iterator[Path]:
        """A local file with ``key``'s content (a temp download for remote storage)."""
        with tempfile.TemporaryDirectory(prefix="realsyn-") as tmp:
            path = Path(tmp) / PurePosixPath(clean_key(key)).name
            path.write_bytes(self.read_bytes(key))
            yield path


class LocalStorage(Storage):
    def __init__(self, root: str | os.PathLike[str]):
        self.root = Path(root).expanduser().resolve()

    def _path(self, key: str) -> Path:
        return self.root / clean_key(key)

    def uri(self, key: str = "") -> str:
        return str(self._path(key)) if key else str(self.root)

    def read_bytes(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return path.read_bytes()
        except FileNotFoundError as err:
            raise StorageError(f"{path}: no such file") from err
        except OSError as err:
            raise StorageError(f"{path}: cannot read ({err})") from err

    def write_bytes(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:12]}")
        try:
            with open(tmp, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def list_keys(self, prefix: str = "") -> list[str]:
        base = self._path(prefix) if prefix else self.root
        if base.is_file():
            return [clean_key(prefix)]
        if not base.is_dir():
            return []
        keys = []
        for dirpath, _dirs, files in os.walk(base):
            for name in files:
                if ".tmp-" in name:  # an interrupted atomic write, never a real object
                    continue
                keys.append(Path(dirpath, name).relative_to(self.root).as_posix())
        return sorted(keys)

    def delete_prefix(self, prefix: str) -> None:
        path = self._path(prefix)
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()

    def size(self, key: str) -> int:
        return self._path(key).stat().st_size

    @contextlib.contextmanager
    def local_path(self, key: str) -> Iterator[Path]:
        path = self._path(key)
        if not path.is_file():
            raise StorageError(f"{path}: no such file")
        yield path


@dataclass(frozen=True)
class S3Config:
    bucket: str
    prefix: str = ""
    endpoint_url: str | None = None
    region_name: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = None


class S3Storage(Storage):
    """Keys under ``s3://bucket/prefix`` through boto3 (any S3-compatible endpoint)."""

    def __init__(self, config: S3Config, client=None):
        import boto3

        self.config = config
        self.prefix = clean_key(config.prefix)
        self.client = client or boto3.client(
            "s3",
            endpoint_url=config.endpoint_url,
            region_name=config.region_name,
            aws_access_key_id=config.access_key_id,
            aws_secret_access_key=config.secret_access_key,
        )

    def _key(self, key: str) -> str:
        key = clean_key(key)
        return f"{self.prefix}/{key}" if self.prefix and key else (self.prefix or key)

    def uri(self, key: str = "") -> str:
        return f"s3://{self.config.bucket}/{self._key(key)}"

    def read_bytes(self, key: str) -> bytes:
        try:
            obj = self.client.get_object(Bucket=self.config.bucket, Key=self._key(key))
            return obj["Body"].read()
        except self.client.exceptions.NoSuchKey as err:
            raise StorageError(f"{self.uri(key)}: no such object") from err
        except Exception as err:  # botocore errors: re-raised with the key named
            raise StorageError(f"{self.uri(key)}: cannot read ({err})") from err

    def write_bytes(self, key: str, data: bytes) -> None:
        try:
            self.client.put_object(Bucket=self.config.bucket, Key=self._key(key), Body=data)
        except Exception as err:
            raise StorageError(f"{self.uri(key)}: cannot write ({err})") from err

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.config.bucket, Key=self._key(key))
            return True
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise StorageError(f"{self.uri(key)}: cannot stat ({err})") from err

    def _iter_objects(self, prefix: str) -> Iterator[dict]:
        """Objects strictly below ``prefix`` taken as a folder (``a/b`` lists ``a/b/...``)."""
        full = self._key(prefix)
        folder = f"{full}/" if full else ""
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.config.bucket, Prefix=folder):
            yield from page.get("Contents", [])

    def list_keys(self, prefix: str = "") -> list[str]:
        strip = len(self.prefix) + 1 if self.prefix else 0
        keys = [obj["Key"][strip:] for obj in self._iter_objects(prefix)]
        if prefix and self.exists(prefix):
            keys.append(clean_key(prefix))
        return sorted(keys)

    def delete_prefix(self, prefix: str) -> None:
        batch = []
        for obj in self._iter_objects(prefix):
            batch.append({"Key": obj["Key"]})
            if len(batch) == 1000:
                self.client.delete_objects(Bucket=self.config.bucket, Delete={"Objects": batch})
                batch = []
        if batch:
            self.client.delete_objects(Bucket=self.config.bucket, Delete={"Objects": batch})
        if prefix and self.exists(prefix):
            self.client.delete_object(Bucket=self.config.bucket, Key=self._key(prefix))

    def size(self, key: str) -> int:
        head = self.client.head_object(Bucket=self.config.bucket, Key=self._key(key))
        return int(head["ContentLength"])


def open_storage(
    root: str,
    *,
    endpoint_url: str | None = None,
    region_name: str | None = None,
    access_key_id: str | None = None,
    secret_access_key: str | None = None,
) -> Storage:
    """``s3://bucket/prefix`` -> :class:`S3Storage`; anything else is a local folder."""
    if root.startswith("s3://"):
        bucket, _, prefix = root[len("s3://") :].partition("/")
        if not bucket:
            raise StorageError(f"{root!r}: an S3 root needs a bucket, e.g. s3://bucket/prefix")
        return S3Storage(
            S3Config(bucket, prefix, endpoint_url, region_name, access_key_id, secret_access_key)
        )
    return LocalStorage(root)


# --- partitions ---------------------------------------------------------------------------------


def partition_dir(partition_key: str | None) -> str:
    """The folder name of a partition: a readable slug plus 8 hex chars of the key's hash.

    Partition keys are shard paths such as ``mmc4/part-00001.jsonl.gz``; slashes and other
    characters are folded into the slug, and the hash keeps keys that fold alike apart.
    Unpartitioned assets use ``_all``.
    """
    if partition_key is None:
        return "_all"
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", partition_key).strip("._")[:80] or "key"
    digest = hashlib.blake2b(partition_key.encode("utf-8"), digest_size=4).hexdigest()
    return f"{slug}-{digest}"


def partition_prefix(asset: str, partition_key: str | None) -> str:
    return f"{clean_key(asset)}/{partition_dir(partition_key)}"


def partition_file_key(asset: str, partition_key: str | None, version: str, name: str) -> str:
    """The key of one file (``<table>.parquet`` or an opaque file) of a partition's version:
    the only place the ``<asset>/<partition_dir>/v-<version>/<name>`` layout is spelled."""
    return f"{partition_prefix(asset, partition_key)}/v-{version}/{name}"


def parquet_bytes(frame: pl.DataFrame) -> bytes:
    buf = io.BytesIO()
    frame.write_parquet(buf, compression="zstd", statistics=True)
    return buf.getvalue()


def write_partition(
    storage: Storage,
    asset: str,
    partition_key: str | None,
    tables: dict[str, pl.DataFrame],
    info: dict | None = None,
    files: dict[str, bytes] | None = None,
) -> dict:
    """Write a partition's tables (and opaque ``files``), then commit it with its manifest.

    The version is a hash of the tables' and files' bytes: identical inputs give identical
    files and the same version. Older versions are removed after the commit. Returns the
    manifest.
    """
    prefix = partition_prefix(asset, partition_key)
    blobs = {f"{name}.parquet": parquet_bytes(frame) for name, frame in sorted(tables.items())}
    blobs.update(sorted((files or {}).items()))
    h = hashlib.sha256()
    for name, blob in blobs.items():
        h.update(name.encode() + b"\x00" + hashlib.sha256(blob).digest())
    version = h.hexdigest()[:16]
    for name, blob in blobs.items():
        storage.write_bytes(partition_file_key(asset, partition_key, version, name), blob)
    manifest = {
        "asset": asset,
        "partition_key": partition_key,
        "version": version,
        "tables": {
            name: {"rows": frame.height, "bytes": len(blobs[f"{name}.parquet"])}
            for name, frame in sorted(tables.items())
        },
        "files": {name: len(data) for name, data in sorted((files or {}).items())},
        "info": info or {},
    }
    storage.write_bytes(f"{prefix}/{MANIFEST}", json.dumps(manifest, indent=1).encode())
    for key in storage.list_keys(prefix):
        rel = key[len(prefix) + 1 :]
        if rel.startswith("v-") and not rel.startswith(f"v-{version}/"):
            storage.delete_prefix(f"{prefix}/{rel.split('/')[0]}")
    return manifest


def read_manifest(storage: Storage, asset: str, partition_key: str | None) -> dict:
    key = f"{partition_prefix(asset, partition_key)}/{MANIFEST}"
    if not storage.exists(key):
        raise PartitionNotFound(
            f"{asset} partition {partition_key!r} is not materialized ({storage.uri(key)} "
            "is missing); materialize it first"
        )
    return json.loads(storage.read_bytes(key))


def read_partition_table(
    storage: Storage, asset: str, partition_key: str | None, table: str
) -> pl.DataFrame:
    """One table of a committed partition."""
    manifest = read_manifest(storage, asset, partition_key)
    if table not in manifest["tables"]:
        raise StorageError(
            f"{asset} partition {partition_key!r} has no table {table!r} "
            f"(it has {sorted(manifest['tables'])})"
        )
    key = partition_file_key(asset, partition_key, manifest["version"], f"{table}.parquet")
    data = storage.read_bytes(key)
    return pl.read_parquet(io.BytesIO(data))


def read_partition_file(
    storage: Storage, asset: str, partition_key: str | None, name: str
) -> bytes:
    """One opaque file of a committed partition (e.g. a serialized index)."""
    manifest = read_manifest(storage, asset, partition_key)
    if name not in manifest.get("files", {}):
        raise StorageError(f"{asset} partition {partition_key!r} has no file {name!r}")
    return storage.read_bytes(partition_file_key(asset, partition_key, manifest["version"], name))
