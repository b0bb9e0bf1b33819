from __future__ import annotations

import polars as pl
import pytest

from realsyn import storage as st
from realsyn.storage import (
    LocalStorage,
    PartitionNotFound,
    StorageError,
    open_storage,
    partition_dir,
    read_manifest,
    read_partition_table,
    write_partition,
)


def test_partition_dir_is_safe_readable_and_collision_free():
    a = partition_dir("mmc4/part-00001.jsonl.gz")
    assert a.startswith("mmc4_part-00001.jsonl.gz-") and "/" not in a
    # keys that fold to the same slug stay apart through the hash
    assert partition_dir("a/b") != partition_dir("a_b")
    assert partition_dir("a/b") == partition_dir("a/b")
    assert partition_dir(None) == "_all"
    assert "/" not in partition_dir("../../etc/passwd") and ".." not in partition_dir("../..")


def test_keys_cannot_escape_root(tmp_path):
    s = LocalStorage(tmp_path)
    with pytest.raises(StorageError, match="escapes"):
        s.write_bytes("../outside", b"x")
    assert not (tmp_path.parent / "outside").exists()


def _frames():
    return {
        "a": pl.DataFrame({"x": [1, 2, 3]}),
        "b": pl.DataFrame({"s": ["p", None]}, schema={"s": pl.String}),
    }


def _roundtrip(storage):
    manifest = write_partition(storage, "asset", "shard/one.jsonl", _frames(), {"n": 1})
    assert manifest["tables"]["a"]["rows"] == 3
    got = read_partition_table(storage, "asset", "shard/one.jsonl", "a")
    assert got.equals(_frames()["a"])
    assert read_manifest(storage, "asset", "shard/one.jsonl")["info"] == {"n": 1}
    # Re-materializing the same data gives the same version and identical bytes.
    again = write_partition(storage, "asset", "shard/one.jsonl", _frames(), {"n": 1})
    assert again["version"] == manifest["version"]
    # New data: new version, old version's files are gone, readers see the new data.
    changed = write_partition(storage, "asset", "shard/one.jsonl", {"a": pl.DataFrame({"x": [9]})})
    assert changed["version"] != manifest["version"]
    assert read_partition_table(storage, "asset", "shard/one.jsonl", "a")["x"].to_list() == [9]
    prefix = st.partition_prefix("asset", "shard/one.jsonl")
    assert not [k for k in storage.list_keys(prefix) if manifest["version"] in k]
    with pytest.raises(StorageError, match="no table 'b'"):
        read_partition_table(storage, "asset", "shard/one.jsonl", "b")
    with pytest.raises(PartitionNotFound, match="not materialized"):
        read_partition_table(storage, "asset", "other", "a")


def test_local_roundtrip(tmp_path):
    _roundtrip(LocalStorage(tmp_path))


def test_s3_roundtrip_over_http(s3_bucket, moto_endpoint):
    client, bucket = s3_bucket
    storage = open_storage(f"s3://{bucket}/runs/one", endpoint_url=moto_endpoint)
    _roundtrip(storage)
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"]]
    assert keys and all(k.startswith("runs/one/asset/") for k in keys)
    storage.write_bytes("x/y.bin", b"hello")
    assert storage.read_bytes("x/y.bin") == b"hello" and storage.exists("x/y.bin")
    assert storage.list_keys("x") == ["x/y.bin"]
    with storage.local_path("x/y.bin") as path:
        assert path.read_bytes() == b"hello"
    storage.delete_prefix("x")
    assert not storage.exists("x/y.bin")
    with pytest.raises(StorageError, match="no such object"):
        storage.read_bytes("x/y.bin")


def _crash_after(n, real):
    calls = {"n": 0}

    def write(self, key, data):
        calls["n"] += 1
        if calls["n"] > n:
            raise KeyboardInterrupt("killed mid-write")
        return real(self, key, data)

    return write


@pytest.mark.parametrize("crash_after", [0, 1, 2])
def test_interrupted_write_leaves_no_visible_partition(tmp_path, monkeypatch, crash_after):
    storage = LocalStorage(tmp_path)
    monkeypatch.setattr(
        LocalStorage, "write_bytes", _crash_after(crash_after, LocalStorage.write_bytes)
    )
    with pytest.raises(KeyboardInterrupt):
        write_partition(storage, "asset", "p", _frames())
    monkeypatch.undo()
    with pytest.raises(PartitionNotFound):
        read_partition_table(storage, "asset", "p", "a")


def test_interrupted_overwrite_keeps_the_old_partition(tmp_path, monkeypatch):
    storage = LocalStorage(tmp_path)
    write_partition(storage, "asset", "p", _frames())
    monkeypatch.setattr(LocalStorage, "write_bytes", _crash_after(1, LocalStorage.write_bytes))
    with pytest.raises(KeyboardInterrupt):
        write_partition(storage, "asset", "p", {"a": pl.DataFrame({"x": [7]}), "b": _frames()["b"]})
    monkeypatch.undo()
    assert read_partition_table(storage, "asset", "p", "a")["x"].to_list() == [1, 2, 3]


def test_interrupted_file_write_leaves_no_partial_file(tmp_path, monkeypatch):
    storage = LocalStorage(tmp_path)
    storage.write_bytes("k", b"old")

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(st.os, "replace", boom)
    with pytest.raises(OSError):
        storage.write_bytes("k", b"new-and-longer")
    monkeypatch.undo()
    assert storage.read_bytes("k") == b"old"
    assert storage.list_keys() == ["k"] and len(list(tmp_path.iterdir())) == 1


def test_s3_interrupted_partition_write_is_invisible(s3_bucket, moto_endpoint, monkeypatch):
    _client, bucket = s3_bucket
    storage = open_storage(f"s3://{bucket}", endpoint_url=moto_endpoint)
    monkeypatch.setattr(st.S3Storage, "write_bytes", _crash_after(1, st.S3Storage.write_bytes))
    with pytest.raises(KeyboardInterrupt):
        write_partition(storage, "asset", "p", _frames())
    monkeypatch.undo()
    with pytest.raises(PartitionNotFound):
        read_manifest(storage, "asset", "p")


def test_partition_files_live_at_partition_file_key(tmp_path):
    store = LocalStorage(tmp_path)
    frame = pl.DataFrame({"a": [1, 2]})
    manifest = write_partition(store, "asset", "x/y.jsonl", {"t": frame}, files={"f.bin": b"1"})
    version = manifest["version"]
    expected = {
        st.partition_file_key("asset", "x/y.jsonl", version, n) for n in ("t.parquet", "f.bin")
    }
    listed = set(store.list_keys(st.partition_prefix("asset", "x/y.jsonl")))
    assert expected <= listed and len(listed - expected) == 1  # and the manifest
    assert store.read_bytes(st.partition_file_key("asset", "x/y.jsonl", version, "f.bin")) == b"1"
