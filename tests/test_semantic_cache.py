"""Incremental semantic dedup: only unseen contents are searched, and the pairs equal a full
search every time."""

import numpy as np

from realsyn.semantic_dedup import incremental_pairs


def _vectors(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = rng.standard_normal((n // 2, 32)).astype(np.float32)
    base /= np.linalg.norm(base, axis=1, keepdims=True)
    # every second vector is a near-copy of one base vector: real duplicate pairs to find
    noise = rng.uniform(0.005, 0.06, size=(n, 1)).astype(np.float32)  # cosines ~0.95-0.9999
    x = np.repeat(base, 2, axis=0)[:n] + noise * rng.standard_normal((n, 32)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _full(keys, vectors, threshold):
    pairs, _, stats = incremental_pairs(None, keys, vectors, "m", threshold)
    assert stats["full"] == 1 and stats["searched"] == len(keys)
    return pairs


def test_new_contents_only_are_searched_and_results_match_a_full_search():
    x = _vectors(400)
    keys = [f"k{i:04d}" for i in range(400)]
    first, cache, stats = incremental_pairs(None, keys[:300], x[:300], "m", 0.98)
    assert stats["full"] == 1 and stats["searched"] == 300
    assert 20 <= first.height <= 150  # some of the 150 planted near-copies are above 0.98
    again, cache2, stats = incremental_pairs(cache, keys[:300], x[:300], "m", 0.98)
    assert stats["searched"] == 0 and again.equals(first)
    grown, cache3, stats = incremental_pairs(cache2, keys, x, "m", 0.98)
    assert stats["searched"] == 100 and stats["full"] == 0
    assert grown.equals(_full(keys, x, 0.98))
    # Shards leave: their pairs go; nothing is searched.
    kept = list(range(0, 200)) + list(range(300, 400))
    shrunk, _, stats = incremental_pairs(cache3, [keys[i] for i in kept], x[kept], "m", 0.98)
    assert stats["searched"] == 0
    assert shrunk.equals(_full([keys[i] for i in kept], x[kept], 0.98))


def test_threshold_and_model_changes():
    x = _vectors(200, seed=1)
    keys = [f"k{i:04d}" for i in range(200)]
    pairs, cache, _ = incremental_pairs(None, keys, x, "m", 0.95)
    stricter, _, stats = incremental_pairs(cache, keys, x, "m", 0.99)  # filtered, not searched
    assert stats["searched"] == 0 and stricter.equals(_full(keys, x, 0.99))
    assert stricter.height < pairs.height
    _, _, stats = incremental_pairs(cache, keys, x, "m", 0.90)  # looser: must search again
    assert stats["full"] == 1
    _, _, stats = incremental_pairs(cache, keys, x, "other-model", 0.95)
    assert stats["full"] == 1
