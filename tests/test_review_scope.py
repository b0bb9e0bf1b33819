"""Review rounds compare retrieval scopes side by side: scope is a stratum dimension, blind to
the raters, and human_validation names the scope with the truly higher precision@1 on a
generated world (simulated raters, truth known)."""

from __future__ import annotations

import dataclasses
import json
import random
import tomllib

import dagster as dg
import polars as pl
import pytest
from test_review import world  # noqa: F401  (the module-scoped generated world)

from realsyn.label_studio import labels_frames, simulate_export, tasks
from realsyn.pipeline_eval import retrieval_precision
from realsyn.review import (
    TEXT_FIELDS,
    ReviewParams,
    gold_table,
    sample_review,
    with_scope_texts,
    world_labels,
)
from realsyn.review_stats import ValidationParams, scope_winner, validate_round
from realsyn.storage import LocalStorage, read_partition_table, write_partition
from realsyn.world import describes
from resources.storage import StorageResource


def _scope_world(pairs, ts, ti, p_good: dict[str, float], seed=0) -> dict[str, pl.DataFrame]:
    """Every image's texts in each other scope: text1 a true description with probability
    ``p_good[scope]`` (else any sentence), text2/3 any sentence; the corpus scope is the
    fixture's own pairs."""
    sentences = ts.filter(pl.col("label") == "description")
    texts, concepts = sentences["text"].to_list(), sentences["concepts"].to_list()
    img = dict(zip(ti["sha256"], ti["concepts"], strict=True))
    out = {}
    for scope, p in p_good.items():
        rng = random.Random(f"{seed}:{scope}")
        rows = []
        for image_id, sha in pairs.select("image_id", "sha256").iter_rows():
            good = [t for t, c in zip(texts, concepts, strict=True) if describes(c, img[sha])]
            t1 = rng.choice(good) if good and rng.random() < p else rng.choice(texts)
            rows.append({"image_id": image_id, "sha256": sha, "text1": t1,
                         "text2": rng.choice(texts), "text3": rng.choice(texts)})  # fmt: skip
        out[scope] = pl.DataFrame(rows)
    return out


def _scoped_round(pairs, ti, ts, alt, noise, per_stratum=15, seed=1):
    truth_all = world_labels(pairs, ti, ts)
    gold = dict(sorted(truth_all.items())[:20])
    items = sample_review(
        pairs, (0.3, 0.6), ReviewParams(per_stratum=per_stratum), "r001", gold=gold
    )
    items = with_scope_texts(items, {s: f.drop("sha256") for s, f in alt.items()})
    truth = world_labels(items, ti, ts)  # each image is shown once: its own item's texts
    by_item = {i: truth.get(img, {}) for i, img in items.select("item_id", "image_id").iter_rows()}
    task_list = tasks(items, "x/")
    export = simulate_export(task_list, by_item, noise, seed=seed)
    labels, _ = labels_frames({"a.json": export}, set(items["item_id"]))
    return items, labels, gold_table(items, gold), task_list


def test_every_scope_is_a_stratum_and_the_tasks_are_blind(world):  # noqa: F811
    pairs, ti, ts = world
    alt = _scope_world(pairs, ts, ti, {"document": 0.9, "hybrid": 0.5})
    items, _, _, task_list = _scoped_round(pairs, ti, ts, alt, 0.0)
    sampled = items.filter(~pl.col("is_gold"))
    assert set(sampled["scope"]) == {"corpus", "document", "hybrid"}
    assert items.filter("is_gold")["scope"].unique().to_list() == ["corpus"]
    assert (sampled["released"] == (sampled["scope"] == "corpus")).all()
    assert sampled["sha256"].n_unique() == sampled.height  # one scope per image
    assert sampled.group_by("stratum").len()["len"].max() <= 15
    base = sampled.with_columns(pl.col("stratum").str.replace(r"\|[a-z]+$", "").alias("base"))
    per_base = base.group_by("base", "scope").len().pivot("scope", index="base", values="len")
    cols = ("corpus", "document", "hybrid")
    spread = per_base.fill_null(0).select(pl.max_horizontal(cols) - pl.min_horizontal(cols))
    assert spread.to_series().max() <= 1  # round-robin: equal shares of every stratum
    # the other scopes' items carry their own scope's texts, never the released ones
    for scope in ("document", "hybrid"):
        got = sampled.filter(pl.col("scope") == scope).join(alt[scope], on="image_id")
        assert got.height and (got["text1"] == got["text1_right"]).all()
    # blind: a task holds the image, the texts, its item id and copy; ids do not follow scope
    assert {k for t in task_list for k in t["data"]} == {*TEXT_FIELDS, "image", "item_id", "copy"}
    order = sampled.sort("item_id")["scope"].to_list()
    assert len(set(order[:9])) > 1 and order != sorted(order)


@pytest.mark.parametrize("noise", [0.0, 0.1])
def test_human_validation_names_the_scope_with_the_truly_higher_precision(world, noise):  # noqa: F811
    pairs, ti, ts = world
    alt = _scope_world(pairs, ts, ti, {"document": 0.95, "hybrid": 0.3})
    truth = {"corpus": retrieval_precision(pairs, ti, ts)["precision_at_1"]}
    for scope, frame in alt.items():
        truth[scope] = retrieval_precision(frame, ti, ts)["precision_at_1"]
    best = max(truth, key=truth.get)
    assert best == "document" and truth["document"] - max(truth["corpus"], truth["hybrid"]) > 0.2
    items, labels, gold, _ = _scoped_round(pairs, ti, ts, alt, noise)
    report = validate_round(items, labels, gold, ValidationParams())
    scopes, summary = report["scopes"], report["summary"]
    assert summary["scope_winner"] == best
    assert set(scopes["scope"]) == {"corpus", "document", "hybrid"}
    assert scopes.filter("released")["scope"].to_list() == ["corpus"]
    for row in scopes.to_dicts():
        assert row["p1_low"] <= row["p1"] <= row["p1_high"] and row["n"] > 50
        part = items.filter(~pl.col("is_gold") & (pl.col("scope") == row["scope"]))
        assert row["sampled"] == part.height and row["no_text"] == part["text1"].null_count()
        assert summary[f"p1_scope_{row['scope']}"] == row["p1"]
    if noise == 0.0:  # exact raters: scopes whose texts do not follow the cosine are unbiased
        for scope in ("document", "hybrid"):
            row = scopes.filter(pl.col("scope") == scope).to_dicts()[0]
            assert row["p1_low"] <= truth[scope] <= row["p1_high"]
    # the overall figures and the band are the released scope's alone
    assert summary["released_items"] == items.filter(~pl.col("is_gold") & pl.col("released")).height
    assert report["bins"]["n"].sum() == summary["released_items"]


def test_equal_scopes_have_no_clear_winner(world):  # noqa: F811
    pairs, ti, ts = world
    same = {
        s: pairs.select("image_id", "sha256", "text1", "text2", "text3")
        for s in ("document", "hybrid")
    }
    items, labels, gold, _ = _scoped_round(pairs, ti, ts, same, 0.0)
    report = validate_round(items, labels, gold, ValidationParams())
    assert report["summary"]["scope_winner"] == "no clear winner"


def test_scope_winner_rule():
    def table(rows):
        return pl.DataFrame(rows, schema=["scope", "n", "p1", "p1_low", "p1_high"], orient="row")

    assert scope_winner(table([("a", 100, 0.8, 0.71, 0.87), ("b", 100, 0.6, 0.5, 0.69)])) == "a"
    # a's lower bound is below b's estimate: no clear winner, whatever the estimates say
    assert scope_winner(table([("a", 30, 0.7, 0.52, 0.83), ("b", 30, 0.6, 0.42, 0.75)])) == (
        "no clear winner"
    )
    assert scope_winner(table([("a", 100, 0.8, 0.71, 0.87)])) == "no clear winner"
    assert scope_winner(table([("a", 100, 0.8, 0.71, 0.87), ("b", 0, None, 0.0, 1.0)])) == (
        "no clear winner"
    )


def test_human_validation_asset_reports_the_scopes(tmp_path, world):  # noqa: F811
    from realsyn_assets.review_labels import human_validation, review_labels_sensor

    pairs, ti, ts = world
    alt = _scope_world(pairs, ts, ti, {"document": 0.95, "hybrid": 0.3})
    items, _, gold, task_list = _scoped_round(pairs, ti, ts, alt, 0.05)
    store = LocalStorage(tmp_path / "data")
    compared = {"scope": "corpus", "scope_prior_weight": 0.3, "scope_prior_halflife": None}
    write_partition(
        store, "review_sample", "r001", {"items": items, "gold": gold},
        info={"scope_params": compared},
    )  # fmt: skip
    truth = world_labels(items, ti, ts)
    by_item = {i: truth.get(img, {}) for i, img in items.select("item_id", "image_id").iter_rows()}
    store.write_bytes("review/r001/labels/a.json", simulate_export(task_list, by_item, 0.05))
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("review_rounds", ["r001"])
    resources = {"storage": StorageResource(root=str(store.root))}
    review_labels_sensor(dg.build_sensor_context(instance=instance, resources=resources))
    result = dg.materialize(
        [human_validation], partition_key="r001", instance=instance, resources=resources,
        raise_on_error=False,
    )  # fmt: skip
    meta = result.asset_materializations_for_node("human_validation")[0].metadata
    assert meta["scope_winner"].value == "document"
    assert "| document |" in meta["scope_comparison"].value
    scopes = read_partition_table(store, "human_validation", "r001", "scopes")
    assert set(scopes["scope"]) == {"corpus", "document", "hybrid"}
    # the winner is recommended as retrieval_pairs' scope beside the band
    recommended = tomllib.loads(store.read_bytes("review/r001/recommended_params.toml").decode())
    assert recommended["retrieval_pairs"] == {"scope": "document"}


def test_review_sample_compares_the_hybrid_prior_retrieval_pairs_ran_with(tmp_path):
    """The round's hybrid texts use the prior recorded in retrieval_pairs' manifests, not what
    REALSYN_PARAMS says now; shards that ran with different settings stop the round."""
    from realsyn.scope import ScopeParams
    from realsyn_assets.review import ran_scope
    from resources.stage_params import StageParamsResource

    store = LocalStorage(tmp_path / "data")
    ran = ScopeParams(scope="hybrid", scope_prior_weight=0.25, scope_prior_halflife=4.0)
    table = pl.DataFrame({"image_id": ["a"]})
    for shard in ("s1", "s2"):
        info = {"scope": "hybrid", "scope_params": dataclasses.asdict(ran)}
        write_partition(store, "retrieval_pairs", shard, {"pairs": table}, info=info)
    now = StageParamsResource(
        values_json=json.dumps({"retrieval_pairs": {"scope_prior_weight": 0.9}})
    )
    pairs = pl.DataFrame({"shard": ["s1", "s2", "s1"]})
    context = dg.build_asset_context()
    assert ran_scope(context, store, pairs, now) == ran
    # a manifest from before the setting was recorded: REALSYN_PARAMS' value
    write_partition(store, "retrieval_pairs", "s3", {"pairs": table}, info={"scope": "corpus"})
    assert ran_scope(context, store, pl.DataFrame({"shard": ["s3"]}), now).scope_prior_weight == 0.9
    other = dataclasses.asdict(dataclasses.replace(ran, scope_prior_weight=0.05))
    write_partition(store, "retrieval_pairs", "s2", {"pairs": table}, info={"scope_params": other})
    with pytest.raises(dg.Failure, match="different scope settings.*s2"):
        ran_scope(context, store, pairs, now)


def test_scope_comparison_counts_the_items_with_no_text():
    """A document-scope image whose page kept no sentence has nothing to judge: it is outside
    the scope's n, and counted in ``no_text`` (and the summary), never silently dropped."""
    from realsyn.review_stats import scope_comparison, scope_summary

    items = pl.DataFrame(
        {
            "item_id": [f"i{n}" for n in range(6)],
            "scope": ["corpus"] * 3 + ["document"] * 3,
            "released": [True] * 3 + [False] * 3,
            "text1": ["a", "b", "c", "d", None, None],
        }
    )
    judged = pl.DataFrame(
        {
            "item_id": ["i0", "i1", "i2", "i3"],
            "field": ["text1"] * 4,
            "label": ["describes", "unrelated", "describes", "describes"],
        }
    )
    scopes = scope_comparison(items, judged, pl.DataFrame())
    doc = scopes.filter(pl.col("scope") == "document").to_dicts()[0]
    assert (doc["sampled"], doc["no_text"], doc["n"], doc["correct"]) == (3, 2, 1, 1)
    corpus = scopes.filter(pl.col("scope") == "corpus").to_dicts()[0]
    assert (corpus["sampled"], corpus["no_text"], corpus["n"]) == (3, 0, 3)
    summary = scope_summary(scopes)
    assert summary["p1_scope_document_no_text"] == 2 and summary["p1_scope_corpus_no_text"] == 0
