"""A tracked filter change re-runs exactly what it affects.

The deployment's stage parameters (``REALSYN_PARAMS``) are folded into code versions, so
lowering the sentence word-count bound marks ``sentences`` stale in every shard and nothing
else; re-materializing step by step (``refresh.run_step``, what ``realsyn run`` does) re-runs
``word_frequencies`` (its inputs changed) and then ``sentence_semantics`` only in the shards
whose kept sentences changed. Stored scores mean no sentence is re-parsed.
"""

import json

import dagster as dg
import polars as pl
import pytest

from realsyn.storage import LocalStorage, read_manifest, read_partition_table
from realsyn_assets.clean_images import clean_images
from realsyn_assets.partitions import shard_partitions
from realsyn_assets.raw_documents import raw_documents
from realsyn_assets.refresh import run_step, stale_or_missing
from realsyn_assets.sentences import sentences
from realsyn_assets.text_corpus import sentence_semantics, word_frequencies
from resources.drift import DriftResource
from resources.engine import EngineResource
from resources.fetcher import ImageFetcherResource
from resources.stage_params import (
    StageParamsResource,
    load_stage_params,
    validate_stage_params,
    with_param_versions,
)
from resources.storage import StorageResource
from resources.text_models import CatParserResource, LanguageModelResource
from tests.conftest import DEMO_CORPUS

ASSETS = [raw_documents, clean_images, sentences, word_frequencies, sentence_semantics]
PLAN = [("ingest", "shards"), ("corpus", None), ("semantic", "shards")]
NEW_MAX = 15  # the demo shards' kept sentences reach 13-16 words


def _defs(out, params: dict) -> dg.Definitions:
    return dg.Definitions(
        assets=with_param_versions(ASSETS, params),
        jobs=[
            dg.define_asset_job(
                "ingest", [raw_documents, clean_images, sentences], partitions_def=shard_partitions
            ),
            dg.define_asset_job("corpus", [word_frequencies]),
            dg.define_asset_job("semantic", [sentence_semantics], partitions_def=shard_partitions),
        ],
        resources={
            "corpus": StorageResource(root=str(DEMO_CORPUS)),
            "storage": StorageResource(root=str(out)),
            "fetcher": ImageFetcherResource(),
            "cat_parser": CatParserResource(workers=1),
            "language_model": LanguageModelResource(),
            "drift": DriftResource(),
            "engine": EngineResource(),
            "stage_params": StageParamsResource(values_json=json.dumps(params)),
        },
    )


def _refresh(defs, instance, shards) -> list[tuple[str, str | None]]:
    """Walk the plan like ``realsyn run``; return the (asset, partition) pairs that ran."""
    ran = []
    for job, kind in PLAN:
        for partition in shards if kind == "shards" else [None]:
            for names, ok in run_step(defs, instance, job, partition):
                assert ok, (job, partition, names)
                ran += [(name, partition) for name in names]
    return sorted(ran, key=str)


@pytest.mark.slow  # the ingest and text steps on two shards, twice
def test_word_bound_change_reruns_exactly_its_downstream(dagster_home, tmp_path):
    instance = dg.DagsterInstance.get()
    shards = [
        "corpus/html/museum",
        "corpus/mmc4/demo-00000.jsonl",
        "corpus/warc/demo-00000.warc.gz",
    ]
    shards = [s.removeprefix("corpus/") for s in shards]
    instance.add_dynamic_partitions(shard_partitions.name, shards)
    out = tmp_path / "data"
    store = LocalStorage(out)
    before = _defs(out, {})
    first = _refresh(before, instance, shards)
    assert len(first) == 3 * len(shards) + 1 + len(shards)  # everything was missing
    assert _refresh(before, instance, shards) == []  # nothing stale: a re-run does nothing

    version = lambda asset, s: read_manifest(store, asset, s)["version"]  # noqa: E731
    old = {s: (version("sentences", s), version("sentence_semantics", s)) for s in shards}
    long_rows = {  # shards with sentences over the new bound, kept or dropped for another reason
        s
        for s in shards
        if read_partition_table(store, "sentences", s, "sentences")
        .filter(
            (pl.col("n_words") > NEW_MAX)
            & (pl.col("reason").is_null() | (pl.col("reason") != "too_few_words"))
        )
        .height
    }
    assert long_rows and long_rows != set(shards), "the fixture needs shards on both sides"
    kept_over = {
        s
        for s in shards
        if read_partition_table(store, "sentence_semantics", s, "semantics")
        .filter(pl.col("text").str.split(" ").list.len() > NEW_MAX)
        .height
    }

    after = _defs(out, {"sentences": {"max_words": NEW_MAX}})
    graph_keys = [dg.AssetKey(a.key.to_user_string()) for a in ASSETS]
    stale = {
        (k.to_user_string(), s)
        for s in shards
        for k in stale_or_missing(instance, after, graph_keys[:3] + graph_keys[4:], s)
    } | {
        (k.to_user_string(), None) for k in stale_or_missing(instance, after, [graph_keys[3]], None)
    }
    assert stale == {("sentences", s) for s in shards}  # the UI's "new code version" badges

    ran = _refresh(after, instance, shards)
    changed = {s for s in shards if version("sentences", s) != old[s][0]}
    assert kept_over and changed - kept_over, "all three cases: kept changed, dropped only, none"
    assert changed == long_rows  # a partition's data version moves only if its rows changed
    expected = sorted(
        [("sentences", s) for s in shards]
        + [("word_frequencies", None)]
        + [("sentence_semantics", s) for s in changed],
        key=str,
    )
    assert ran == expected, (ran, expected)
    for s in shards:
        stats = read_manifest(store, "sentences", s)["info"]["stats"]
        assert stats["rescored"] == 0  # decided again from stored scores: no re-parsing
        kept_long = read_partition_table(store, "sentence_semantics", s, "semantics").filter(
            pl.col("text").str.split(" ").list.len() > NEW_MAX
        )
        assert kept_long.height == 0
        # sentence_semantics' output (hence what is downstream of it) changed only where a kept
        # sentence went; elsewhere it re-ran and produced the same data version.
        assert (version("sentence_semantics", s) != old[s][1]) == (s in kept_over)
    assert _refresh(after, instance, shards) == []


def test_stage_params_file_is_validated(tmp_path):
    from realsyn_assets.definitions import TUNABLE

    path = tmp_path / "params.toml"
    path.write_text("[sentences]\nmax_words = 60\n")
    params = load_stage_params(path)
    validate_stage_params(params, TUNABLE)
    versions = {
        a.key.to_user_string(): a.code_versions_by_key[a.key]
        for a in with_param_versions(ASSETS, params)
    }
    assert versions["sentences"].startswith("1+p") and versions["clean_images"] == "1"
    for text, message in (
        ("[sentence]\nmax_words = 60\n", "not a tunable asset"),
        ("[sentences]\nmax_word = 60\n", "has no parameter"),
        ("[sentences]\nmax_words = 'many'\n", r"\[sentences\]"),
        ("max_words = 60\n", "one \\[table\\] per asset"),
    ):
        path.write_text(text)
        with pytest.raises(ValueError, match=message):
            validate_stage_params(load_stage_params(path), TUNABLE)


def test_run_config_still_wins_over_the_deployment_value():
    from realsyn_assets.sentences import SentencesConfig

    resource = StageParamsResource(values_json=json.dumps({"sentences": {"max_words": 40}}))
    assert resource.apply("sentences", SentencesConfig()).max_words == 40
    assert resource.apply("sentences", SentencesConfig(max_words=70)).max_words == 70
    assert resource.apply("clean_images", SentencesConfig()).max_words == 81


@pytest.mark.slow  # ingest steps, then CLIP training
def test_clip_training_is_reused_when_its_pairs_do_not_change(dagster_home, tmp_path):
    """A sentence-filter change makes clip_training stale (it depends on sentences for its
    optional context window), but with the same pairs it re-uses the stored model: same data
    version, so nothing downstream of the model turns stale and nothing is retrained."""
    from realsyn_assets.training import clip_training

    instance = dg.DagsterInstance.get()
    shards = ["html/museum", "mmc4/demo-00000.jsonl"]
    instance.add_dynamic_partitions(shard_partitions.name, shards)
    out = tmp_path / "data"
    base = _defs(out, {})
    for s in shards:
        assert all(ok for _, ok in run_step(base, instance, "ingest", s))
    resources = {
        "storage": StorageResource(root=str(out)),
        "stage_params": StageParamsResource(),
    }
    config = {
        "ops": {"clip_training": {"config": {"epochs": 1, "bootstrap_epochs": 1, "batch_size": 8}}}
    }

    def train():
        result = dg.materialize(
            [clip_training], instance=instance, resources=resources, run_config=config
        )
        mat = result.asset_materializations_for_node("clip_training")[0]
        return mat.metadata["reused"].value, mat.tags["dagster/data_version"]

    reused, first = train()
    assert reused is False
    store = LocalStorage(out)
    before = {s: read_manifest(store, "sentences", s)["version"] for s in shards}
    # A stricter word bound changes the sentences partitions, not the alt-text pairs.
    after = _defs(out, {"sentences": {"max_words": 10}})
    for s in shards:
        assert all(ok for _, ok in run_step(after, instance, "ingest", s))
    assert all(read_manifest(store, "sentences", s)["version"] != before[s] for s in shards)
    reused, again = train()
    assert reused is True and again == first


@pytest.mark.slow  # ingest steps, then CLIP training
def test_clip_training_safety_net_hit_is_loud_and_never_reused(dagster_home, tmp_path):
    """Training is bounded by steps; when the wall-clock safety net cuts it short the blocking
    check fails (so nothing downstream embeds with it), the metadata says why, and the next run
    retrains instead of re-using the incomplete model."""
    from realsyn_assets.training import clip_training

    instance = dg.DagsterInstance.get()
    shard = "html/museum"
    instance.add_dynamic_partitions(shard_partitions.name, [shard])
    out = tmp_path / "data"
    assert all(ok for _, ok in run_step(_defs(out, {}), instance, "ingest", shard))
    resources = {"storage": StorageResource(root=str(out)), "stage_params": StageParamsResource()}

    def train(max_seconds: float):
        cfg = {"epochs": 2, "bootstrap_epochs": 2, "batch_size": 4, "max_seconds": max_seconds}
        result = dg.materialize(
            [clip_training],
            instance=instance,
            resources=resources,
            run_config={"ops": {"clip_training": {"config": cfg}}},
            raise_on_error=False,
        )
        mat = result.asset_materializations_for_node("clip_training")[0]
        checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
        return mat.metadata, checks

    metadata, checks = train(1e-9)
    assert checks["clip_training_ran_all_steps"] is False
    assert "max_seconds" in metadata["stopped_early"].value
    metadata, checks = train(3600.0)
    assert metadata["reused"].value is False  # the incomplete model was not re-used
    assert checks["clip_training_ran_all_steps"] is True
    assert metadata["stopped_early"].value.startswith("no")
