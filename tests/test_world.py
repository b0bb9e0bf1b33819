"""The generated world: deterministic, long-tailed, true to its own ground truth, and readable
by the readers it targets."""

from __future__ import annotations

import collections
import io
import random
from pathlib import Path

import imagehash
import polars as pl
import pytest
from PIL import Image

from realsyn import world as w
from realsyn.readers import discover_shards, read_shard
from realsyn.storage import LocalStorage
from realsyn.world_docs import TRUTH_DIR, WorldParams, build_world, write_world
from realsyn.world_render import near_duplicate, render

SMALL = WorldParams(documents=24, eval_images=16)


def test_same_seed_same_bytes_other_seed_other_world():
    a, b = build_world(SMALL), build_world(SMALL)
    assert a.files.keys() == b.files.keys()
    assert all(a.files[k] == b.files[k] for k in a.files)
    c = build_world(WorldParams(documents=24, eval_images=16, seed=1))
    assert c.files[f"{TRUTH_DIR}/images.parquet"] != a.files[f"{TRUTH_DIR}/images.parquet"]


def test_shapes_are_long_tailed():
    rng = random.Random(0)
    counts = collections.Counter(w.sample_scene(rng).shape for _ in range(4000))
    head, tail = counts[w.SHAPES[0]], counts[w.SHAPES[-1]]
    assert head > 8 * tail > 0
    assert [s for s, _ in counts.most_common(3)] == list(w.SHAPES[:3])


def test_descriptions_state_only_true_concepts():
    rng = random.Random(3)
    for _ in range(300):
        scene = w.sample_scene(rng)
        sentence = w.describe(scene, rng)
        assert w.describes(sentence.concepts, scene.concepts), (sentence, scene)
    assert not w.describes(frozenset(), {"shape:circle"})  # stating nothing describes nothing
    assert not w.describes({"shape:circle", "colour:red"}, {"shape:circle", "colour:blue"})


def test_render_is_a_decodable_jpeg_of_the_right_colour():
    scene = w.Scene("square", "blue", 1, "large", "plain", pos="centre")
    img = Image.open(io.BytesIO(render(scene, random.Random(0)))).convert("RGB")
    assert min(img.size) >= 128
    r, g, b = img.getpixel((img.width // 2, img.height // 2))
    assert b > 150 and r < 100  # the square covers the centre


def test_near_duplicates_stay_perceptually_close():
    rng = random.Random(1)
    data = render(w.sample_scene(rng), rng)
    for _ in range(6):
        copy, kind = near_duplicate(data, rng)
        assert copy != data and kind in ("reencode", "resize", "crop")
        h0 = imagehash.phash(Image.open(io.BytesIO(data)))
        h1 = imagehash.phash(Image.open(io.BytesIO(copy)))
        assert h0 - h1 <= 10


def test_world_corpus_reads_with_truth_hidden_from_discovery(tmp_path: Path):
    world = build_world(SMALL)
    write_world(world, tmp_path)
    corpus = LocalStorage(tmp_path)
    shards = [s.key for s in discover_shards(corpus)]
    assert shards == [
        "world/html/shapes-blog",
        "world/obelics/world-00000.parquet",
        "world/obelics/world-00001.parquet",
    ]
    results = {s: read_shard(corpus, s) for s in shards}
    docs = sum(len(r.documents) for r in results.values())
    assert docs == SMALL.documents + 2  # plus the documents with a missing and a truncated image
    rejected = [r["reason"] for res in results.values() for r in res.rejected]
    assert rejected == ["length_mismatch"]
    truth = pl.read_parquet(tmp_path / TRUTH_DIR / "images.parquet")
    items = pl.concat([r.tables()["items"] for r in results.values()])
    paths = set(items["image_path"].drop_nulls().to_list())
    assert set(truth["file"].to_list()) <= paths  # every truth image is referenced
    assert {"world/images/missing.jpg", "world/images/truncated.jpg"} <= paths
    # the HTML reader drops the navigation: no page keeps its nav line
    html_texts = results["world/html/shapes-blog"].tables()["items"]["text"].drop_nulls()
    assert not any(w.BOILERPLATE[0] in t for t in html_texts.to_list())


@pytest.mark.parametrize("name", ["images", "sentences", "eval"])
def test_truth_tables_have_concepts(name):
    world = build_world(SMALL)
    table = pl.read_parquet(io.BytesIO(world.files[f"{TRUTH_DIR}/{name}.parquet"]))
    assert table.height > 0 and "concepts" in table.columns
    if name == "sentences":
        labels = set(table["label"].to_list())
        assert labels == {"description", "narrative", "boilerplate"}
        described = table.filter(pl.col("label") == "description")
        assert described["concepts"].list.len().min() >= 1
