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
