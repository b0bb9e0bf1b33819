"""The corpus-wide and model suites pass on good frames and each fails on a crafted one."""

import math

import polars as pl
import pytest

from checks.gx import run_check
from checks.release_suites import BALANCED_POOL_SUITE, RELEASE_SUITE
from checks.text_corpus_suites import WORD_FREQUENCIES_SUITE
from checks.training_suites import CLIP_TRAINING_SUITE
from realsyn.semantic import word_probabilities

SUITES = {c.name: c for c in (*WORD_FREQUENCIES_SUITE, *BALANCED_POOL_SUITE, *RELEASE_SUITE)}
SUITES.update({c.name: c for c in CLIP_TRAINING_SUITE})


def _good():
    words = word_probabilities(pl.DataFrame({"word": ["the", "cat", "sat"], "count": [5, 2, 1]}))
    pool = pl.DataFrame(
        {
            "image_id": ["a", "b", "c"],
            "image_cluster": [0, 0, 1],
            "cluster_rank": [0, 1, 0],
            "pair_cosine": [0.3, 0.55, 0.9],
        }
    )
    release = pl.DataFrame(
        {"image_id": ["a", "b"], "raw_image_url": ["u1", "u2"], "text1": ["x", "y"]}
    )
    shards = pl.DataFrame({"samples": [1, 1]})
    stats = pl.DataFrame(
        {
            "steps": [40],
            "final_loss": [1.2],
            "temperature": [0.05],
            "total_steps": [80],
            "total_planned_steps": [80],
        }
    )
    return {"words": words, "pool": pool, "release": release, "shards": shards, "stats": stats}


PARAMS = {"rows": 2, "batch": 16, "band_low": None, "band_high": None}


def test_all_pass_on_good_frames():
    tables = _good()
    for name, check in SUITES.items():
        outcome = run_check(check, tables, PARAMS)
        assert outcome.passed, (name, outcome.observed)


BREAKS = {
    "word_frequencies_words_unique": lambda t: {
        **t,
        "words": pl.concat([t["words"], t["words"].head(1)]),
    },
    "word_frequencies_probabilities_sum_to_one": lambda t: {
        **t,
        "words": t["words"].with_columns(pl.col("p") * 2),
    },
    "balanced_pool_images_unique": lambda t: {**t, "pool": pl.concat([t["pool"], t["pool"]])},
    "balanced_pool_ranks_and_cosines_valid": lambda t: {
        **t,
        "pool": t["pool"].with_columns(pl.lit(-1).alias("cluster_rank")),
    },
    "release_every_row_in_a_shard": lambda t: {**t, "shards": pl.DataFrame({"samples": [1]})},
    "release_rows_have_image_and_text": lambda t: {
        **t,
        "release": t["release"].with_columns(pl.lit(None, pl.String).alias("text1")),
    },
    "clip_training_finite": lambda t: {
        **t,
        "stats": t["stats"].with_columns(pl.lit(float("nan")).alias("final_loss")),
    },
    "clip_training_ran_all_steps": lambda t: {  # the wall-clock safety net cut training short
        **t,
        "stats": t["stats"].with_columns(pl.lit(31).alias("total_steps")),
    },
    "clip_training_beats_chance": lambda t: {
        **t,
        "stats": t["stats"].with_columns(pl.lit(math.log(16) + 0.1).alias("final_loss")),
    },
}


@pytest.mark.parametrize("name", sorted(BREAKS))
def test_each_fails_on_a_crafted_frame(name):
    outcome = run_check(SUITES[name], BREAKS[name](_good()), PARAMS)
    assert not outcome.passed, name


def test_the_band_is_enforced_when_applied():
    check = SUITES["balanced_pool_ranks_and_cosines_valid"]
    assert run_check(check, _good(), {"band_low": None, "band_high": None}).passed
    assert not run_check(check, _good(), {"band_low": 0.5, "band_high": 0.6}).passed
    assert set(BREAKS) == set(SUITES)


def test_word_frequencies_checks_per_language():
    counts = pl.DataFrame(
        {
            "lang": ["en", "en", "ja", "ja"],
            "word": ["the", "cat", "猫", "the"],
            "count": [3, 1, 2, 2],
        }
    )
    words = word_probabilities(counts)
    for check in WORD_FREQUENCIES_SUITE:
        assert run_check(check, {"words": words}).passed, check.name
    doubled = pl.concat([words, words.head(1)])
    outcomes = {c.name: run_check(c, {"words": doubled}).passed for c in WORD_FREQUENCIES_SUITE}
    assert outcomes == {
        "word_frequencies_words_unique": False,
        "word_frequencies_probabilities_sum_to_one": False,
    }
