"""Pipeline-quality metrics against ground truth, on crafted tables with known answers."""

from __future__ import annotations

import polars as pl
import pytest

from realsyn.pipeline_eval import (
    bootstrap_text_quality,
    dedup_quality,
    filter_quality,
    retrieval_precision,
)

TRUTH_IMAGES = pl.DataFrame(
    {
        "sha256": ["a", "b", "c", "d"],
        "concepts": [
            ["shape:circle", "colour:red", "count:1"],
            ["shape:star", "colour:blue", "count:2"],
            ["shape:star", "colour:blue", "count:2"],
            ["shape:ring", "colour:black", "count:1"],
        ],
        "dup_group": ["g1", "g2", "g2", "g3"],
    }
)
TRUTH_SENTENCES = pl.DataFrame(
    {
        "text": [
            "A red circle sits here.",
            "Two blue stars sit here.",
            "We cooked.",
            "Click here!",
        ],
        "label": ["description", "description", "narrative", "boilerplate"],
        "concepts": [["shape:circle", "colour:red"], ["shape:star", "count:2"], [], []],
    }
)


def test_retrieval_precision_counts_true_descriptions_only():
    pairs = pl.DataFrame(
        {
            "sha256": ["a", "b", "x"],
            "text1": ["A red circle sits here.", "We cooked.", "A red circle sits here."],
            "text2": ["Two blue stars sit here.", "Two blue stars sit here.", None],
            "text3": ["Not from the world.", None, None],
        }
    )
    m = retrieval_precision(pairs, TRUTH_IMAGES, TRUTH_SENTENCES)
    assert m["world_images"] == 2  # "x" is not a world image
    assert m["precision_at_1"] == pytest.approx(0.5)
    assert m["precision_at_3"] == pytest.approx(2 / 5)
    assert m["texts_from_outside_the_world"] == 1


def test_dedup_quality_precision_and_recall():
    survival = pl.DataFrame(
        {
            "image_id": ["i1", "i2", "i3", "i4", "i5"],
            "sha256": ["a", "b", "c", "d", "a"],
            "duplicate_of": [None, None, "i2", "i1", "i1"],
            "survives": [True, True, False, False, False],
            "reason": [None, None, "near_dup", "near_dup", "exact_dup"],
        }
    )
    m = dedup_quality(survival, TRUTH_IMAGES)
    # truth: c copies b, the second "a" copies the first; d is distinct (wrongly flagged)
    assert m["true_duplicates"] == 2 and m["flagged"] == 3 and m["flagged_right"] == 2
    assert m["precision"] == pytest.approx(2 / 3) and m["recall"] == pytest.approx(1.0)
    assert m["flagged_near_dup"] == 2 and m["flagged_exact_dup"] == 1


def test_filter_quality_counts_boilerplate_pieces():
    sentences = pl.DataFrame(
        {
            "sentence_id": ["s1", "s2", "s3", "s4", "s5"],
            "text": ["Click here!", "Click here!", "A red circle sits here.", "We cooked.", "?"],
            "decision": ["drop", "keep", "keep", "drop", "keep"],
        }
    )
    semantics = pl.DataFrame({"sentence_id": ["s3"], "decision": ["drop"]})
    m = filter_quality(sentences, semantics, TRUTH_SENTENCES)
    assert (m["boilerplate_dropped"], m["boilerplate_kept"]) == (1, 1)
    assert m["other_dropped"] == 2  # s3 (by semantics) and s4
    assert m["precision"] == pytest.approx(1 / 3) and m["recall"] == pytest.approx(0.5)
    assert m["unmatched_sentences"] == 1 and m["leaked"] == {"Click here!": 1}


def test_evaluation_checks_fail_below_their_floor():
    from checks.evaluation_suites import CLIP_EVALUATION_SUITE, PIPELINE_EVALUATION_SUITE
    from checks.gx import run_check
    from realsyn_assets.evaluation import ClipEvaluationConfig, PipelineEvaluationConfig

    defaults = PipelineEvaluationConfig().model_dump()  # the floors as run by default
    precision, recall = PIPELINE_EVALUATION_SUITE
    low = {"metrics": pl.DataFrame({"precision_at_1": [0.71], "dedup_recall": [0.95]})}
    assert not run_check(precision, low, defaults).passed
    assert run_check(precision, low, {**defaults, "min_precision_at_1": 0.7}).passed
    assert run_check(recall, low, defaults).passed
    weak = {"metrics": pl.DataFrame({"image_to_text_r5": [0.3]})}
    outcome = run_check(CLIP_EVALUATION_SUITE[0], weak, ClipEvaluationConfig().model_dump())
    assert not outcome.passed and outcome.severity == "WARN"


def test_bootstrap_text_quality_scores_chosen_sentences_and_negatives():
    samples = pl.DataFrame(
        {
            "sha256": ["a", "b", "x"],
            "alt_texts": [["A red circle sits here."], [], ["A red circle sits here."]],
            "context_texts": [
                ["We cooked.", "A red circle sits here."],
                ["Two blue stars sit here.", "A red circle sits here.", "unknown text"],
                ["We cooked."],
            ],
        }
    )
    got = bootstrap_text_quality(samples, TRUTH_IMAGES, TRUTH_SENTENCES)
    # image x is not a world image; unknown text describes nothing
    assert got == {"chosen_sentences": 5, "chosen_sentence_precision": pytest.approx(2 / 5)}
    assert (
        bootstrap_text_quality(samples.drop("context_texts"), TRUTH_IMAGES, TRUTH_SENTENCES) == {}
    )
    negatives = samples.with_columns(
        pl.Series("negatives", [["We cooked."], ["Two blue stars sit here."], []])
    )
    got = bootstrap_text_quality(negatives, TRUTH_IMAGES, TRUTH_SENTENCES)
    assert got["negatives"] == 2 and got["negatives_describing_share"] == pytest.approx(0.5)
