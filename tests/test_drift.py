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


def test_each_html_folder_is_its_own_source_and_file_shards_pool_by_folder():
    from realsyn.drift import source_of

    assert source_of("site-a") == "site-a" and source_of("site-b") == "site-b"
    assert source_of("crawls/docs.python.org/3") == "crawls/docs.python.org/3"
    assert source_of("world/obelics/world-00001.parquet") == "world/obelics"
    assert source_of("mmc4/x.jsonl.gz") == source_of("mmc4/y.jsonl") == "mmc4"
    assert source_of("top.warc.gz") == "" and source_of(None) is None


def _site(root, name: str, pages: int, images_per_page: int, paragraphs: int) -> None:
    site = root / name
    site.mkdir(parents=True)
    for i in range(pages):
        body = "".join(f"<p>Paragraph {j} of page {i} on {name}.</p>" for j in range(paragraphs))
        body += "".join(f"<img src='img{j}.jpg' alt='picture {j}'>" for j in range(images_per_page))
        (site / f"page{i:03d}.html").write_text(f"<html><body>{body}</body></html>")


def test_unrelated_html_folder_shards_do_not_drift_against_each_other(dagster_home, tmp_path):
    import dagster as dg

    from realsyn_assets.partitions import shard_partitions
    from realsyn_assets.raw_documents import raw_documents
    from resources.drift import DriftResource
    from resources.stage_params import StageParamsResource
    from resources.storage import StorageResource

    corpus = tmp_path / "corpus"
    _site(corpus, "gallery", pages=40, images_per_page=4, paragraphs=1)  # 80% images
    _site(corpus, "manual", pages=40, images_per_page=0, paragraphs=3)  # text only
    instance = dg.DagsterInstance.get()
    instance.add_dynamic_partitions(shard_partitions.name, ["gallery", "manual"])
    resources = {
        "corpus": StorageResource(root=str(corpus)),
        "storage": StorageResource(root=str(tmp_path / "out")),
        "drift": DriftResource(),
        "stage_params": StageParamsResource(),
    }

    def drift_check(key: str):
        result = dg.materialize(
            [raw_documents], partition_key=key, instance=instance, resources=resources
        )
        assert result.success
        (check,) = [
            c
            for c in result.get_asset_check_evaluations()
            if c.check_name == "raw_documents_distribution_stable"
        ]
        return check

    first, second = drift_check("gallery"), drift_check("manual")
    # Pooled as one source (the corpus root) the second site was an ERROR against the first:
    # item kinds 20/80 against 100/0. Each site is its own source: nothing to compare with yet.
    for check in (first, second):
        assert check.passed and check.metadata["comparisons"].value == 0
    again = drift_check("manual")  # the same site re-read: compared with its previous run only
    assert again.passed and again.metadata["comparisons"].value == 3
    assert "previous" in again.metadata["details"].value
    assert "window" not in again.metadata["details"].value
