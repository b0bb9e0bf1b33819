"""Embeddings (tiny real open_clip model), semantic dedup, clustering and retrieval."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from checks.embeddings_suites import IMAGE_EMBEDDINGS_SUITE, health_frame
from checks.gx import run_check
from checks.retrieval_suites import RETRIEVAL_PAIRS_SUITE
from realsyn.clip import encode_images, encode_texts, load_clip
from realsyn.embeddings import embed_with_cache, vectors_from_bytes, vectors_to_bytes
from realsyn.retrieval import ClusterParams, RetrievalParams, brute_force, fit_clusters, retrieve
from realsyn.semantic_dedup import components, cosine_pairs
from tests.conftest import DEMO_CORPUS


@pytest.fixture(scope="module")
def tiny():
    return load_clip("realsyn-tiny", seed=0)


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def test_tiny_open_clip_encodes_real_images_and_texts(tiny):
    names = ["astronaut", "chelsea", "coffee", "rocket", "hubble", "coins"]
    payloads = [(DEMO_CORPUS / "images" / f"{n}.jpg").read_bytes() for n in names]
    images = encode_images(tiny, payloads, batch_size=4)
    texts = encode_texts(tiny, ["a cat on a floor", "a rocket launch"])
    assert images.shape == (6, 64) and texts.shape == (2, 64)
    assert np.allclose(np.linalg.norm(images, axis=1), 1, atol=1e-5)
    assert tiny.identity == "realsyn-tiny@random-seed0"
    # the same seed gives the same weights, hence the same vectors
    again = load_clip("realsyn-tiny", seed=0)
    assert np.allclose(encode_texts(again, ["a cat on a floor"]), texts[:1], atol=1e-6)


def test_float16_storage_keeps_cosines(tiny):
    rng = np.random.default_rng(0)
    v = unit(rng.normal(size=(500, 64)))
    back = vectors_from_bytes(vectors_to_bytes(v))
    cos32, cos16 = v @ v[:50].T, back @ back[:50].T
    assert np.abs(cos32 - cos16).max() < 2e-3
    assert np.abs(np.linalg.norm(back, axis=1) - 1).max() < 1e-3


def test_cache_encodes_each_content_once():
    calls = []

    def encode(rows):
        calls.append(list(rows))
        return np.ones((len(rows), 4), dtype=np.float32) * np.array(rows)[:, None]

    cached = {"a": np.full(4, 7.0, dtype=np.float32)}
    out, n = embed_with_cache(["a", "b", "c", "b"], encode, 4, cached)
    assert n == 2 and calls == [[1, 2]]
    assert out[0, 0] == 7 and out[1, 0] == out[3, 0] == 1 and out[2, 0] == 2


def test_cosine_pairs_and_transitive_groups():
    rng = np.random.default_rng(1)
    base = unit(rng.normal(size=(1, 32)))[0]
    drift = unit(rng.normal(size=(1, 32)))[0]
    # a chain a~b~c where a and c are further apart than the threshold
    a = base
    b = unit((base + 0.35 * drift)[None])[0]
    c = unit((base + 0.8 * drift)[None])[0]
    far = unit(rng.normal(size=(3, 32)))
    vectors = np.stack([a, b, c, *far]).astype(np.float32)
    threshold = float(min(a @ b, b @ c)) - 1e-4
    assert a @ c < threshold
    pairs = cosine_pairs(vectors, threshold)
    assert {(int(i), int(j)) for i, j, _ in pairs} == {(0, 1), (1, 2)}
    labels = components(len(vectors), pairs)
    assert labels[0] == labels[1] == labels[2] and len(set(labels)) == 4


def _world(n_topics=40, per_topic=30, n_images=400, d=64, noise=0.25, seed=0):
    """Sentences and images around shared topic directions; the right sentence is known."""
    rng = np.random.default_rng(seed)
    topics = unit(rng.normal(size=(n_topics, d)))
    sent_topic = np.repeat(np.arange(n_topics), per_topic)
    sentences = unit(
        topics[sent_topic] + noise * rng.normal(size=(len(sent_topic), d)) / np.sqrt(d) * 4
    )
    # each image is a slightly perturbed copy of one sentence: that sentence is its answer
    answer = rng.integers(0, len(sentences), n_images)
    images = unit(sentences[answer] + 0.05 * rng.normal(size=(n_images, d)) / np.sqrt(d) * 4)
    return sentences, images, answer


def test_hierarchical_retrieval_recovers_the_known_sentence():
    sentences, images, answer = _world()
    clusters = fit_clusters(sentences, ClusterParams(n_clusters=40, seed=0))
    result = retrieve(
        images, sentences[clusters.order], clusters, RetrievalParams(clusters_searched=2)
    )
    found = clusters.order[result.indices[:, 0]]
    assert (found == answer).mean() >= 0.95
    assert (result.scores[:, 0] >= result.scores[:, 1]).all()
    assert (result.candidates < len(sentences) / 5).all()  # far fewer than brute force


def test_one_cluster_equals_brute_force_exactly():
    sentences, images, _ = _world(n_images=100)
    clusters = fit_clusters(sentences, ClusterParams(n_clusters=1))
    ordered = sentences[clusters.order]
    result = retrieve(images, ordered, clusters, RetrievalParams())
    exact_i, exact_s = brute_force(images, ordered)
    assert (result.indices == exact_i).all() and np.allclose(result.scores, exact_s)


def test_clustering_is_deterministic_and_follows_the_ratio():
    sentences, _, _ = _world()
    a = fit_clusters(sentences, ClusterParams(sentences_per_cluster=100, seed=3))
    b = fit_clusters(sentences, ClusterParams(sentences_per_cluster=100, seed=3))
    assert len(a.centroids) == 12 and (a.labels == b.labels).all()
    assert a.offsets[-1] == len(sentences) and (np.diff(a.offsets) >= 0).all()


def test_small_cluster_leaves_fewer_than_three_texts():
    sentences = unit(np.eye(4, 8) + 0.01)
    clusters = fit_clusters(sentences, ClusterParams(n_clusters=4))
    result = retrieve(
        unit(np.eye(4, 8)[:1] + 0.02),
        sentences[clusters.order],
        clusters,
        RetrievalParams(clusters_searched=1),
    )
    assert (result.indices[0] >= 0).sum() == 1


def test_embedding_health_check_fails_on_bad_vectors():
    good = health_frame(unit(np.random.default_rng(0).normal(size=(10, 64))))
    finite = {c.name: c for c in IMAGE_EMBEDDINGS_SUITE}
    assert run_check(finite["image_embeddings_finite_unit_norm"], {"health": good}).passed
    bad = np.ones((3, 64), dtype=np.float32)
    bad[1, 0] = np.nan
    assert not run_check(
        finite["image_embeddings_finite_unit_norm"], {"health": health_frame(bad)}
    ).passed
    dim = finite["image_embeddings_dimension_matches_model"]
    assert run_check(dim, {"health": good}, {"dim": 64}).passed
    assert not run_check(dim, {"health": good}, {"dim": 512}).passed


def test_retrieval_checks_fail_on_crafted_frames():
    rows = pl.DataFrame(
        {
            "image_id": ["a", "b"],
            "text1": ["x", "y"],
            "text2": ["x", None],
            "text3": ["x", None],
            "score1": [0.9, 0.8],
            "score2": [0.8, None],
            "score3": [0.7, None],
            "short_reason": [None, "cluster_too_small"],
        }
    )
    checks = {c.name: c for c in RETRIEVAL_PAIRS_SUITE}
    params = {"survivors": 2, "survivor_ids": ["a", "b"], "top_k": 3}
    for check in checks.values():
        assert run_check(check, {"pairs": rows}, params).passed, check.name
    missing = run_check(
        checks["retrieval_pairs_every_survivor_has_a_row"],
        {"pairs": rows},
        {"survivors": 3, "survivor_ids": ["a", "b", "c"], "top_k": 3},
    )
    assert not missing.passed
    no_reason = rows.with_columns(pl.lit(None, dtype=pl.String).alias("short_reason"))
    assert not run_check(checks["retrieval_pairs_three_texts"], {"pairs": no_reason}, params).passed
    two = {**params, "top_k": 2}  # a run that asked for 2 texts: row b is still short
    assert not run_check(checks["retrieval_pairs_three_texts"], {"pairs": no_reason}, two).passed
    gap = rows.with_columns(  # row b (short) has a text2 but no text1
        pl.Series("text1", ["x", None]), pl.Series("text2", ["x", "z"])
    )
    assert not run_check(checks["retrieval_pairs_three_texts"], {"pairs": gap}, params).passed
    unordered = rows.with_columns(pl.Series("score2", [0.95, None]))
    assert not run_check(
        checks["retrieval_pairs_scores_ordered"], {"pairs": unordered}, params
    ).passed


def test_process_decoding_gives_the_same_vectors_as_threads(tiny):
    names = ["astronaut", "chelsea", "coffee", "rocket", "hubble"]
    payloads = [(DEMO_CORPUS / "images" / f"{n}.jpg").read_bytes() for n in names]
    threads = encode_images(tiny, payloads, batch_size=2)
    processes = encode_images(tiny, payloads, batch_size=2, decode_processes=True)
    assert np.abs(threads - processes).max() < 1e-6


def test_duplicate_thresholds_are_per_model_and_modality():
    from realsyn.semantic_dedup import DEFAULT_DUP_COSINE, dup_cosine_for

    assert dup_cosine_for("realsyn-tiny@sha256:abc", "image") == 0.998
    assert dup_cosine_for("realsyn-tiny@sha256:abc", "text") == 0.999
    assert dup_cosine_for("ViT-B-32@openai", "image") == DEFAULT_DUP_COSINE


def test_a_giant_duplicate_group_means_the_threshold_does_not_fit():
    from realsyn.semantic_dedup import crowded

    chain = np.array([[i, i + 1, 0.99] for i in range(30)])  # 31 items in one transitive group
    assert crowded(1000, chain) == 31
    assert crowded(1000, chain[:10]) == 0  # 11 items: a plausible copy set
    assert crowded(1000, np.zeros((0, 3))) == 0
    identical = np.array([[0, i, 1.0] for i in range(1, 100)])  # one text under 100 ids
    assert crowded(1000, identical) == 0
    small_corpus = np.array([[0, 1, 0.99], [1, 2, 0.99]])
    assert crowded(10, small_corpus) == 0  # groups under MAX_GROUP_MIN always pass
