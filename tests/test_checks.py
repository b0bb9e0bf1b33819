"""Each raw_documents check passes on real data and fails on a frame crafted to break it."""

from __future__ import annotations

import polars as pl
import pytest

from checks.gx import run_check
from checks.suites import RAW_DOCUMENTS_SUITE
from realsyn.readers import read_shard
from realsyn.storage import LocalStorage
from tests.conftest import DEMO_CORPUS

CHECKS = {c.name: c for c in RAW_DOCUMENTS_SUITE}


@pytest.fixture(scope="module")
def good_tables():
    # The demo MMC4 shard has kept documents, image items and rejected records.
    return read_shard(LocalStorage(DEMO_CORPUS), "mmc4/demo-00000.jsonl").tables()


def test_all_checks_pass_on_real_tables(good_tables):
    for check in RAW_DOCUMENTS_SUITE:
        outcome = run_check(check, good_tables)
        assert outcome.passed, (check.name, outcome.observed)


def _break(tables, name):
    docs, items, rejected = tables["documents"], tables["items"], tables["rejected"]
    if name == "raw_documents_doc_ids_unique":
        docs = pl.concat([docs, docs.head(1)])
    elif name == "raw_documents_items_belong_to_documents":
        items = items.with_columns(
            pl.when(pl.col("position") == 0)
            .then(pl.lit("orphan"))
            .otherwise(pl.col("doc_id"))
            .alias("doc_id")
        )
    elif name == "raw_documents_items_well_formed":
        # two references on every image item: a URL and a path
        is_image = pl.col("kind") == "image"
        items = items.with_columns(
            pl.when(is_image)
            .then(pl.lit("http://x"))
            .otherwise(pl.col("image_url"))
            .alias("image_url"),
            pl.when(is_image)
            .then(pl.lit("a.jpg"))
            .otherwise(pl.col("image_path"))
            .alias("image_path"),
        )
    elif name == "raw_documents_rejection_reasons_known":
        rejected = rejected.with_columns(pl.lit("because").alias("reason"))
    return {"documents": docs, "items": items, "rejected": rejected}


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_each_check_fails_on_a_crafted_frame(good_tables, name):
    outcome = run_check(CHECKS[name], _break(good_tables, name))
    assert not outcome.passed
    assert any(isinstance(v, dict) and v.get("unexpected_count") for v in outcome.observed.values())


def test_text_item_without_text_fails_well_formed(good_tables):
    items = good_tables["items"].with_columns(
        pl.when(pl.col("kind") == "text").then(None).otherwise(pl.col("text")).alias("text")
    )
    outcome = run_check(CHECKS["raw_documents_items_well_formed"], {**good_tables, "items": items})
    assert not outcome.passed and "ExpectColumnValuesToNotBeNull(text)" in outcome.observed


# --- clean_images and image_dedup --------------------------------------------------------------

from checks.image_suites import CLEAN_IMAGES_SUITE, IMAGE_DEDUP_SUITE  # noqa: E402
from realsyn.dedup import DedupParams, PhashIndex, group_images, update_index  # noqa: E402
from realsyn.images import curate_images  # noqa: E402

IMAGE_CHECKS = {c.name: c for c in CLEAN_IMAGES_SUITE + IMAGE_DEDUP_SUITE}


@pytest.fixture(scope="module")
def image_tables():
    corpus = LocalStorage(DEMO_CORPUS)
    shards = ["html/museum", "mmc4/demo-00000.jsonl", "obelics/demo-00000.parquet"]
    images = pl.concat(
        curate_images(read_shard(corpus, s).tables()["items"], s, corpus, None).table
        for s in shards
    )
    state, _ = update_index(
        PhashIndex.empty(), images.filter(pl.col("decision") == "keep"), DedupParams()
    )
    survival = group_images(images, state, DedupParams())
    assert survival["reason"].to_list().count("near_dup") >= 1
    return {"images": images, "survival": survival}


def test_image_checks_pass_on_real_tables(image_tables):
    for check in CLEAN_IMAGES_SUITE + IMAGE_DEDUP_SUITE:
        outcome = run_check(check, image_tables)
        assert outcome.passed, (check.name, outcome.observed)


def _break_images(t, name):
    images, survival = t["images"], t["survival"]
    keep = pl.col("decision") == "keep"
    if name == "clean_images_kept_within_bounds":
        images = images.with_columns(
            pl.when(keep).then(pl.lit(20)).otherwise(pl.col("width")).alias("width")
        )
    elif name == "clean_images_image_ids_unique":
        images = pl.concat([images, images.head(1)])
    elif name == "clean_images_hashes_present":
        images = images.with_columns(
            pl.when(keep).then(None).otherwise(pl.col("phash")).alias("phash")
        )
    elif name == "clean_images_decision_consistent":
        images = images.with_columns(
            pl.when(keep).then(pl.lit("too_small")).otherwise(pl.col("reason")).alias("reason")
        )
    elif name == "image_dedup_image_ids_unique":
        survival = pl.concat([survival, survival.head(1)])
    elif name == "image_dedup_duplicates_point_to_survivors":
        survival = survival.with_columns(
            pl.when(pl.col("duplicate_of").is_not_null())
            .then(pl.lit("ghost"))
            .otherwise(pl.col("duplicate_of"))
            .alias("duplicate_of")
        )
    elif name == "image_dedup_reason_consistent":
        survival = survival.with_columns(pl.lit(True).alias("survives"))
    return {"images": images, "survival": survival}


@pytest.mark.parametrize("name", sorted(IMAGE_CHECKS))
def test_each_image_check_fails_on_a_crafted_frame(image_tables, name):
    outcome = run_check(IMAGE_CHECKS[name], _break_images(image_tables, name))
    assert not outcome.passed, name


def test_bounds_check_uses_the_run_parameters(image_tables):
    check = IMAGE_CHECKS["clean_images_kept_within_bounds"]
    assert run_check(check, image_tables, {"min_side": 100}).passed
    assert not run_check(check, image_tables, {"min_side": 10_000}).passed
