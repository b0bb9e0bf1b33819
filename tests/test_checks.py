"""Each raw_documents check passes on real data and fails on a frame crafted to break it."""

from __future__ import annotations

import dataclasses

import polars as pl
import pytest

from checks.gx import run_check
from checks.raw_documents_suites import RAW_DOCUMENTS_SUITE
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

from checks.clean_images_suites import CLEAN_IMAGES_SUITE  # noqa: E402
from checks.image_dedup_suites import IMAGE_DEDUP_SUITE  # noqa: E402
from realsyn.dedup import DedupParams, PhashIndex, group_images, update_index  # noqa: E402
from realsyn.images import ImageFilterParams, curate_images  # noqa: E402

IMAGE_PARAMS = dataclasses.asdict(ImageFilterParams())  # the checks read the params as run

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
        outcome = run_check(check, image_tables, IMAGE_PARAMS)
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
    outcome = run_check(IMAGE_CHECKS[name], _break_images(image_tables, name), IMAGE_PARAMS)
    assert not outcome.passed, name


def test_bounds_check_uses_the_run_parameters(image_tables):
    check = IMAGE_CHECKS["clean_images_kept_within_bounds"]
    assert run_check(check, image_tables, {**IMAGE_PARAMS, "min_side": 100}).passed
    assert not run_check(check, image_tables, {**IMAGE_PARAMS, "min_side": 10_000}).passed


# --- sentences, sentence_semantics, sentence_dedup --------------------------------------------

from checks.sentences_suites import SENTENCES_SUITE  # noqa: E402
from checks.text_corpus_suites import SENTENCE_DEDUP_SUITE, SENTENCE_SEMANTICS_SUITE  # noqa: E402
from realsyn.cat import CatParser  # noqa: E402
from realsyn.semantic import SemanticParams, decide_semantic  # noqa: E402
from realsyn.sentences import SentenceParams, curate_sentences  # noqa: E402
from realsyn.text_dedup import dedup_sentences  # noqa: E402

TEXT_CHECKS = {c.name: c for c in SENTENCES_SUITE + SENTENCE_SEMANTICS_SUITE + SENTENCE_DEDUP_SUITE}
TEXT_PARAMS = {**dataclasses.asdict(SentenceParams()), **dataclasses.asdict(SemanticParams())}


@pytest.fixture(scope="module")
def text_tables():
    corpus = LocalStorage(DEMO_CORPUS)
    items = read_shard(corpus, "mmc4/demo-00000.jsonl").tables()["items"]
    sentences = curate_sentences(items, "mmc4/demo-00000.jsonl", CatParser()).table
    kept = sentences.filter(pl.col("decision") == "keep")
    semantics = decide_semantic(
        kept.select("sentence_id", "shard", "text").with_columns(
            pl.lit(0.5).alias("entropy"), pl.lit(100.0).alias("perplexity")
        ),
        SemanticParams(),
    )
    doubled = pl.concat([kept, kept.with_columns(pl.col("sentence_id") + "x")])
    survival = dedup_sentences(doubled)
    return {"sentences": sentences, "semantics": semantics, "survival": survival}


def test_text_checks_pass_on_real_tables(text_tables):
    for check in TEXT_CHECKS.values():
        outcome = run_check(check, text_tables, TEXT_PARAMS)
        assert outcome.passed, (check.name, outcome.observed)


def _break_text(t, name):
    s, sem, sur = t["sentences"], t["semantics"], t["survival"]
    keep = pl.col("decision") == "keep"
    if name == "sentences_word_counts_within_bounds":
        s = s.with_columns(
            pl.when(keep).then(pl.lit(500)).otherwise(pl.col("n_words")).alias("n_words")
        )
    elif name == "sentences_no_url_or_emoji_kept":
        s = s.with_columns(pl.lit(True).alias("has_emoji"))
    elif name == "sentences_ids_unique":
        s = pl.concat([s, s.head(1)])
    elif name == "sentences_provenance_complete":
        s = s.with_columns(pl.lit(None, dtype=pl.String).alias("doc_id"))
    elif name == "sentences_decision_consistent":
        s = s.with_columns(pl.lit("keep").alias("decision"))
    elif name == "sentences_cat_applied":
        s = s.with_columns(pl.lit("unavailable").alias("parse_status"))
    elif name == "sentence_semantics_entropy_above_threshold":
        sem = sem.with_columns(pl.lit(0.01).alias("entropy"))
    elif name == "sentence_semantics_perplexity_in_band":
        sem = sem.with_columns(pl.lit(5000.0).alias("perplexity"))
    elif name == "sentence_semantics_perplexity_applied":
        sem = sem.with_columns(pl.lit(None, dtype=pl.Float64).alias("perplexity"))
    elif name == "sentence_semantics_decision_consistent":
        sem = sem.with_columns(pl.lit("drop").alias("decision"))
    elif name == "sentence_dedup_ids_unique":
        sur = pl.concat([sur, sur.head(1)])
    elif name == "sentence_dedup_duplicates_point_to_survivors":
        sur = sur.with_columns(pl.lit(True).alias("survives"))
    return {"sentences": s, "semantics": sem, "survival": sur}


@pytest.mark.parametrize("name", sorted(TEXT_CHECKS))
def test_each_text_check_fails_on_a_crafted_frame(text_tables, name):
    outcome = run_check(TEXT_CHECKS[name], _break_text(text_tables, name), TEXT_PARAMS)
    assert not outcome.passed, name


def test_each_suite_lives_beside_its_asset_module():
    """``checks/<stem>_suites.py`` holds the suites of ``realsyn_assets/<stem>.py`` (and only
    those): an asset's checks are found by its module's name."""
    import ast

    from tests.conftest import REPO

    def suites_imported(path):
        tree = ast.parse(path.read_text())
        return {
            (node.module, alias.name)
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("checks.")
            for alias in node.names
            if alias.name.endswith("_SUITE")
        }

    defined = {}
    for path in sorted((REPO / "checks").glob("*_suites.py")):
        stem = path.name.removesuffix("_suites.py")
        assert (REPO / "realsyn_assets" / f"{stem}.py").is_file(), f"{path.name}: no asset module"
        tree = ast.parse(path.read_text())
        for node in tree.body:
            targets = (
                node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
            )
            for t in targets:
                if isinstance(t, ast.Name) and t.id.endswith("_SUITE"):
                    defined[t.id] = stem
    assert defined, "no suites found"
    used = set()
    for path in sorted((REPO / "realsyn_assets").glob("*.py")):
        assert "CheckDef(" not in path.read_text(), f"{path.name}: suites belong in checks/"
        for module, name in suites_imported(path):
            assert module == f"checks.{path.stem}_suites", (
                f"{path.name} imports {name} from {module}: expected checks.{path.stem}_suites"
            )
            used.add(name)
    assert set(defined) == used, f"suites no asset module uses: {sorted(set(defined) - used)}"
