from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from realsyn.dedup import DedupParams, PhashIndex, dedup_stats, group_images, update_index
from realsyn.schemas import CLEAN_IMAGES_SCHEMA


def flip(h: int, bits: list[int]) -> int:
    for b in bits:
        h ^= 1 << int(b)
    return h


def images(rows: list[tuple]) -> pl.DataFrame:
    """(image_id, sha, phash, width, height[, decision, reason]) -> a clean_images-like frame."""
    out = []
    for r in rows:
        image_id, sha, phash, w, h = r[:5]
        decision, reason = (r[5], r[6]) if len(r) > 5 else ("keep", None)
        out.append(
            {
                "image_id": image_id,
                "shard": image_id[0],
                "sha256": sha,
                "phash": phash,
                "width": w,
                "height": h,
                "n_bytes": w * h,
                "decision": decision,
                "reason": reason,
            }
        )
    return pl.DataFrame(out).cast({k: CLEAN_IMAGES_SCHEMA[k] for k in out[0]})


BASE = 0x0F0F_3C3C_A5A5_5A5A
FAR = 0xFFFF_0000_FFFF_0000  # far from BASE


RADIUS6 = DedupParams(radius=6)


def run(frame, params=RADIUS6, state=None):
    state, _ = update_index(
        state or PhashIndex.empty(), frame.filter(pl.col("decision") == "keep"), params
    )
    return group_images(frame, state, params), state


def test_transitive_chain_is_one_group_with_the_largest_as_representative():
    # A~B (4 bits), B~C (4 bits), A and C 8 bits apart: one group at radius 6, by transitivity.
    a, b, c = BASE, flip(BASE, [0, 1, 2, 3]), flip(BASE, [0, 1, 2, 3, 10, 11, 12, 13])
    frame = images(
        [
            ("a1", "sa", a, 200, 200),
            ("b1", "sb", b, 400, 300),
            ("c1", "sc", c, 100, 100),
            ("d1", "sd", FAR, 300, 300),
        ]
    )
    table, _ = run(frame)
    rows = {r["image_id"]: r for r in table.to_dicts()}
    assert rows["b1"]["survives"] and rows["d1"]["survives"]
    assert rows["a1"]["duplicate_of"] == rows["c1"]["duplicate_of"] == "b1"
    assert rows["a1"]["reason"] == rows["c1"]["reason"] == "near_dup"
    assert {rows[i]["group_id"] for i in ("a1", "b1", "c1")} == {"b1"}
    # without the bridge, A and C are not duplicates of each other
    table2, _ = run(frame.filter(pl.col("image_id") != "b1"))
    assert table2["survives"].sum() == 3


def test_exact_duplicates_across_shards_keep_the_smallest_id():
    frame = images(
        [
            ("y:1", "same", BASE, 200, 200),
            ("x:1", "same", BASE, 200, 200),
            ("z:1", "other", FAR, 200, 200),
            ("w:1", "bad", BASE, 50, 50, "drop", "too_small"),
        ]
    )
    table, _ = run(frame)
    rows = {r["image_id"]: r for r in table.to_dicts()}
    assert rows["x:1"]["survives"] and rows["y:1"]["duplicate_of"] == "x:1"
    assert rows["y:1"]["reason"] == "exact_dup"
    assert rows["w:1"]["reason"] == "too_small" and not rows["w:1"]["survives"]
    stats = dedup_stats(table)
    assert (stats["total"], stats["too_small"], stats["exact_dup"], stats["near_dup"]) == (
        4,
        1,
        1,
        0,
    )
    assert stats["kept"] == stats["survivors"] == 2 and stats["duplicate_groups"] == 1


def _random_world(n: int, seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        h = int(rng.integers(0, 2**63)) * 2 + int(rng.integers(0, 2))
        rows.append((f"s{i % 5}:{i}", f"sha{i}", h, 200 + i % 7, 200))
        if i % 4 == 0:  # a near copy
            rows.append(
                (
                    f"s{(i + 1) % 5}:{i}b",
                    f"sha{i}b",
                    flip(h, list(rng.choice(64, 3, replace=False))),
                    150,
                    150,
                )
            )
    return images(rows)


def test_incremental_updates_equal_a_full_recompute():
    world = _random_world(400, 0)
    full, _ = run(world)
    shards = world.partition_by("shard", maintain_order=True)
    state, seen = None, None
    for part in shards:  # shards arrive one by one
        seen = part if seen is None else pl.concat([seen, part])
        table, state = run(seen, state=state)
    assert table.sort("image_id").equals(full.sort("image_id"))
    assert table["reason"].to_list().count("near_dup") == 100


def test_radius_change_needs_no_rehash():
    world = _random_world(200, 1)
    _, state = run(world, DedupParams(radius=6))
    smaller, _ = run(world, DedupParams(radius=2), state=state)
    assert state.search_radius == 6
    assert smaller["reason"].to_list().count("near_dup") == 0  # copies are 3 bits away
    larger, state2 = run(world, DedupParams(radius=8), state=state)
    assert state2.search_radius == 8
    assert larger["reason"].to_list().count("near_dup") == 50


def test_index_state_roundtrips_through_bytes():
    world = _random_world(100, 2)
    _, state = run(world)
    restored = PhashIndex(
        state.contents, state.edges, state.search_radius, PhashIndex.load_index(state.index_bytes())
    )
    assert len(restored.index) == len(state.index) == state.contents.height
    again, _ = run(world, state=restored)
    first, _ = run(world)
    assert again.equals(first)


def test_saturated_neighbour_lists_are_widened():
    # 40 exact-phash copies (different bytes): more than k=16 neighbours within the radius
    frame = images([(f"a:{i:02d}", f"sha{i}", BASE, 200, 200) for i in range(40)])
    table, _ = run(frame, DedupParams(radius=2, neighbours=4))
    assert table["survives"].sum() == 1


def test_group_images_requires_an_updated_index():
    frame = images([("a:1", "s1", BASE, 200, 200)])
    with pytest.raises(ValueError, match="run update_index first"):
        group_images(frame, PhashIndex.empty(), DedupParams())


def test_semantic_pairs_join_groups_with_their_own_reason():
    frame = images(
        [
            ("a:1", "s1", BASE, 400, 400),
            ("b:1", "s2", flip(BASE, [1, 2]), 200, 200),
            ("c:1", "s3", FAR, 300, 300),
            ("d:1", "s4", flip(FAR, [5]), 100, 100),
        ]
    )
    state, _ = update_index(PhashIndex.empty(), frame, RADIUS6)
    semantic = pl.DataFrame({"sha_a": ["s1"], "sha_b": ["s3"]})
    table = group_images(frame, state, RADIUS6, semantic)
    rows = {r["image_id"]: r for r in table.to_dicts()}
    assert rows["a:1"]["survives"]  # the largest of the merged group
    assert rows["b:1"]["reason"] == "near_dup"
    assert rows["c:1"]["reason"] == rows["d:1"]["reason"] == "semantic_dup"
    assert {rows[i]["duplicate_of"] for i in ("b:1", "c:1", "d:1")} == {"a:1"}


def test_dense_phash_clusters_are_linked_in_bounded_edges():
    # 3000 contents with one pHash (a banner re-encoded) and 600 distinct hashes within 2 bits
    # of each other: one node for the equal hashes, at most k links per distinct hash.
    rng = np.random.default_rng(5)
    far = flip(BASE, list(range(20, 40)))  # 20 bits from BASE
    same = [(f"a:{i:05d}", f"same{i:05d}", BASE, 100, 100) for i in range(3000)]
    near = [
        (f"b:{i:05d}", f"near{i:05d}", flip(far, list(rng.choice(62, 2, replace=False))), 90, 90)
        for i in range(600)
    ]
    frame = images(same + near)
    params = DedupParams(radius=4, neighbours=8)
    state, stats = update_index(PhashIndex.empty(), frame, params)
    assert len(state.index) == 1 + len({r[2] for r in near})  # one entry per distinct hash
    assert state.edges.height <= params.neighbours * len(state.index)
    table = group_images(frame, state, params)
    assert table["survives"].sum() == 2
    assert set(table.filter(pl.col("image_id").str.starts_with("a:"))["reason"]) == {
        None,
        "near_dup",
    }


def test_a_hash_whose_indexed_content_left_still_links_its_copies():
    # s1 is the indexed content of BASE; s2 has the same pHash (other bytes); s3 is 3 bits away.
    first = images([("a:1", "s1", BASE, 400, 400), ("b:1", "s3", flip(BASE, [1, 2, 3]), 90, 90)])
    state, _ = update_index(PhashIndex.empty(), first, RADIUS6)
    later = images([("c:1", "s2", BASE, 200, 200), ("b:1", "s3", flip(BASE, [1, 2, 3]), 90, 90)])
    state, stats = update_index(state, later, RADIUS6)
    assert stats["contents_new"] == 1 and stats["contents_searched"] == 0  # a known hash
    rows = {r["image_id"]: r for r in group_images(later, state, RADIUS6).to_dicts()}
    assert rows["c:1"]["survives"] and rows["b:1"]["duplicate_of"] == "c:1"
    assert rows["b:1"]["reason"] == "near_dup"


def test_sentence_dedup_asset_searches_distinct_texts_only(dagster_home, tmp_path):
    import dagster as dg

    from realsyn.embeddings import vectors_to_bytes
    from realsyn.storage import LocalStorage, write_partition
    from realsyn_assets.partitions import shard_partitions
    from realsyn_assets.text_corpus import sentence_dedup
    from resources.engine import EngineResource
    from resources.stage_params import StageParamsResource
    from resources.storage import StorageResource

    rng = np.random.default_rng(0)
    unit = lambda x: (x / np.linalg.norm(x)).astype(np.float32)  # noqa: E731
    cart, bike, sea = (unit(rng.normal(size=64)) for _ in range(3))
    bike2 = unit(bike + 0.02 * unit(rng.normal(size=64)))  # cosine ~0.9998: a semantic copy
    shards = {
        "a.jsonl": [("Add to cart", cart)] * 3000 + [("A red bike leans on a wall.", bike)],
        "b.jsonl": [("add to CART!", cart)] * 2000
        + [("A red bike is leaning on a wall.", bike2), ("The sea is calm tonight.", sea)],
    }
    store = LocalStorage(tmp_path / "out")
    for shard, rows in shards.items():
        ids = [f"{shard[0]}{i:05d}" for i in range(len(rows))]
        semantics = pl.DataFrame(
            {
                "sentence_id": ids,
                "shard": [shard] * len(rows),
                "text": [t for t, _ in rows],
                "decision": ["keep"] * len(rows),
            }
        )
        write_partition(store, "sentence_semantics", shard, {"semantics": semantics})
        write_partition(
            store,
            "sentence_embeddings",
            shard,
            {"keys": semantics.select("sentence_id", pl.col("text").alias("key"))},
            info={"model": "realsyn-tiny@trained"},  # calibrated text threshold 0.999
            files={"vectors.npy": vectors_to_bytes(np.stack([v for _, v in rows]))},
        )
    instance = dg.DagsterInstance.get()
    instance.add_dynamic_partitions(shard_partitions.name, list(shards))
    result = dg.materialize(
        [sentence_dedup],
        instance=instance,
        resources={
            "storage": StorageResource(root=str(tmp_path / "out")),
            "stage_params": StageParamsResource(),
            "engine": EngineResource(),
        },
    )
    assert result.success
    meta = result.asset_materializations_for_node("sentence_dedup")[0].metadata
    assert meta["survivors"].value == 3 and meta["semantic_dup"].value == 1
    assert meta["exact_dup"].value == 4999 and meta["semantic_pairs"].value == 1
    # 5,004 sentences, 4 distinct texts: the search saw 4 vectors
    assert meta["semantic_searched"].value == 4


def test_image_dedup_asset_is_the_single_process_grouping(dagster_home, tmp_path):
    """The bucketed image_dedup asset (one search task, one bucket at this size): the rows
    group_images gives on a fresh index, read back shard by shard."""
    import dagster as dg

    from realsyn.dedup import DedupParams, PhashIndex, group_images, update_index
    from realsyn.embeddings import vectors_to_bytes
    from realsyn.storage import LocalStorage, read_manifest, write_partition
    from realsyn_assets.bucketed import all_image_dedup, shard_image_dedup
    from realsyn_assets.image_dedup import image_dedup
    from realsyn_assets.partitions import shard_partitions
    from resources.engine import EngineResource
    from resources.stage_params import StageParamsResource
    from resources.storage import StorageResource

    rng = np.random.default_rng(1)
    unit = lambda x: (x / np.linalg.norm(x)).astype(np.float32)  # noqa: E731
    base = [unit(rng.normal(size=32)) for _ in range(4)]
    near = unit(base[3] + 0.01 * unit(rng.normal(size=32)))  # cosine ~0.99995: semantic copy
    rows = {  # shard -> (image_id, sha256, phash, vector, decision)
        "a.jsonl": [
            ("a1", "s1", 0xF0F0, base[0], "keep"),
            ("a2", "s1", 0xF0F0, base[0], "keep"),  # same bytes
            ("a3", "s2", 0xF0F1, base[1], "keep"),  # one bit off a1's pHash
            ("a4", "s9", 0x1234, base[2], "drop"),
        ],
        "b.jsonl": [
            ("b1", "s3", 0xFFFF_0000_FFFF, base[3], "keep"),
            ("b2", "s4", 0x0F0F_F0F0_1111, near, "keep"),  # another pHash, a close vector
            ("b3", "s1", 0xF0F0, base[0], "keep"),
        ],
    }
    store = LocalStorage(tmp_path / "out")
    images = []
    for shard, items in rows.items():
        frame = pl.DataFrame(
            {
                "image_id": [r[0] for r in items],
                "shard": shard,
                "sha256": [r[1] for r in items],
                "phash": pl.Series([r[2] for r in items], dtype=pl.UInt64),
                "width": [200 if r[0] == "a1" else 100 for r in items],  # a1: the best copy
                "height": 100,
                "n_bytes": 5000,
                "raw_image_url": [f"http://x/{r[0]}" for r in items],
                "decision": [r[4] for r in items],
                "reason": [None if r[4] == "keep" else "too_small" for r in items],
            }
        )
        images.append(frame)
        write_partition(store, "clean_images", shard, {"images": frame})
        contents = frame.filter(pl.col("decision") == "keep").unique("sha256", maintain_order=True)
        vectors = {r[1]: r[3] for r in items}
        write_partition(
            store,
            "image_embeddings",
            shard,
            {"keys": contents.select(key="sha256")},
            info={"model": "realsyn-tiny@trained"},  # calibrated image threshold 0.998
            files={
                "vectors.npy": vectors_to_bytes(np.stack([vectors[s] for s in contents["sha256"]]))
            },
        )
    instance = dg.DagsterInstance.get()
    instance.add_dynamic_partitions(shard_partitions.name, list(rows))
    result = dg.materialize(
        [image_dedup],
        instance=instance,
        resources={
            "storage": StorageResource(root=str(tmp_path / "out")),
            "stage_params": StageParamsResource(),
            "engine": EngineResource(),
        },
    )
    assert result.success
    checks = result.get_asset_check_evaluations()
    assert checks and all(c.passed for c in checks)
    everything = pl.concat(images)
    kept = everything.filter(pl.col("decision") == "keep").select("sha256", "phash")
    state, _ = update_index(PhashIndex.empty(), kept, DedupParams())
    semantic = pl.DataFrame({"sha_a": ["s3"], "sha_b": ["s4"]})
    want = group_images(everything, state, DedupParams(), semantic)
    assert all_image_dedup(store).equals(want)
    assert shard_image_dedup(store, "b.jsonl").equals(want.filter(pl.col("shard") == "b.jsonl"))
    reasons = dict(zip(want["image_id"], want["reason"], strict=True))
    assert reasons == {
        "a1": None,
        "a2": "exact_dup",
        "a3": "near_dup",
        "a4": "too_small",
        "b1": None,
        "b2": "semantic_dup",
        "b3": "exact_dup",
    }
    stats = read_manifest(store, "image_dedup", None)["info"]["stats"]
    assert stats["semantic_dup"] == 1 and stats["near_dup"] == 1 and stats["exact_dup"] == 2
    assert stats["total"] == 7 and stats["survivors"] == 2 and stats["dropped_too_small"] == 1
