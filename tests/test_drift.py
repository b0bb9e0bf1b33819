"""Drift profiles and their comparison: shifted distributions alert, resampled ones do not."""

import numpy as np
import polars as pl
import pytest

from realsyn.drift import (
    WORD_COUNT_EDGES,
    DriftParams,
    assess,
    categorical,
    compare,
    histogram,
    pool,
    profile,
    relative_sizes,
    sentences_profile,
)


def _words(rng, mean, n):
    return np.clip(rng.poisson(mean, n), 1, None)


def _profile(rng, mean, n=2000, params=None):
    return profile({"n_words": histogram(_words(rng, mean, n), WORD_COUNT_EDGES)}, params or {})


def test_histogram_bins_and_overflow():
    h = histogram([0, 2.9, 3, 10**7, float("nan")], [0, 3, 5, 100])
    assert h["counts"] == [2, 1, 1]  # nan dropped; overflow in the last bin


def test_same_distribution_resampled_is_ok_and_shifted_is_error():
    rng = np.random.default_rng(0)
    ref = _profile(rng, 14)
    assert assess(_profile(rng, 14), ref, []).level == "ok"
    shifted = assess(_profile(rng, 45), ref, [])
    assert shifted.level == "ERROR"
    assert shifted.drifted[0].distance > 0.25 and shifted.drifted[0].p_value < 1e-6
    mild = assess(_profile(rng, 15.5), ref, [])  # a real but moderate shift
    assert mild.level == "WARN", mild.summary()


def test_small_samples_are_not_compared():
    rng = np.random.default_rng(1)
    report = assess(_profile(rng, 45, n=10), _profile(rng, 5, n=10), [])
    assert report.level == "ok" and report.comparisons[0].note == "too few observations"


def test_large_samples_need_a_meaningful_distance():
    """Significant but tiny differences (huge n) stay below the distance threshold."""
    a = {"kind": "categorical", "counts": {"kept": 500_000, "url": 500_000}}
    b = {"kind": "categorical", "counts": {"kept": 505_000, "url": 495_000}}
    c = compare("reason", a, b, "previous", DriftParams())
    assert c.p_value < 1e-6 and c.level == "ok"


def test_window_reference_pools_partitions_and_skips_other_params():
    rng = np.random.default_rng(2)
    window = [_profile(rng, 14, n=300) for _ in range(4)] + [_profile(rng, 45, params={"x": 1})]
    report = assess(_profile(rng, 45), None, window)
    assert report.level == "ERROR"
    assert report.comparisons[0].n_reference == 1200  # 4 pooled, the odd-params one skipped
    assert any("other parameters" in n for n in report.notes)
    # Partitions that drifted themselves are left out of the window.
    drifted = [{**_profile(rng, 45), "level": "ERROR"} for _ in range(3)]
    report = assess(_profile(rng, 14), None, drifted + window[:2])
    assert report.level == "ok" and report.comparisons[0].n_reference == 600
    assert any("they drifted" in n for n in report.notes)
    # A previous materialization made with other parameters is not compared (filter change).
    report = assess(_profile(rng, 45), _profile(rng, 14, params={"max_words": 60}), [])
    assert report.comparisons == [] and report.level == "ok"


def test_categorical_labels_align_and_pool():
    a = categorical(["kept"] * 80 + ["url"] * 20)
    b = categorical(["kept"] * 50 + ["emoji"] * 50)
    assert compare("reason", a, b, "previous", DriftParams()).level == "ERROR"
    assert pool([a, b])["counts"] == {"emoji": 50, "kept": 130, "url": 20}


def test_relative_cluster_sizes_compare_across_refits():
    flat = relative_sizes([100] * 50)
    skewed = relative_sizes((1000 / np.arange(1, 51)).astype(int))
    c = compare("relative_cluster_size", skewed, flat, "previous", DriftParams(min_count=10))
    assert c.level == "ERROR"


def test_sentences_profile_counts_reasons():
    frame = pl.DataFrame(
        {"reason": [None, None, "has_url", "too_few_words"], "n_words": [10, 12, 9, 1]}
    )
    prof = sentences_profile(frame, {"min_words": 3})
    assert prof["distributions"]["reason"]["counts"] == {
        "has_url": 1,
        "kept": 2,
        "too_few_words": 1,
    }
    assert sum(prof["distributions"]["n_words"]["counts"]) == 4


def test_invalid_thresholds_are_refused():
    with pytest.raises(ValueError, match="warn_distance <= error_distance"):
        DriftParams(warn_distance=0.3, error_distance=0.2)
