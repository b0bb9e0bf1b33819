"""Retrieval scope (realsyn.scope): corpus, document and hybrid on a small synthetic world
whose documents are known, and the scope recorded per retrieval row."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from checks.gx import run_check
from checks.retrieval_suites import RETRIEVAL_PAIRS_SUITE
from realsyn.retrieval import (
    ClusterParams,
    RetrievalParams,
    brute_force,
    fit_clusters,
    pair_rows,
    retrieve,
)
from realsyn.scope import (
    ScopeParams,
    apply_scope,
    document_topk,
    empty_document,
    empty_result,
    result_from_rows,
)


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _world(seed: int = 0, docs: int = 12, d: int = 16):
    """Documents of 1..8 sentences (some fewer than 3), images placed near a random sentence of
    the corpus (often another document's), so corpus and document scope differ."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 9, size=docs)
    sent_docs = [f"d{i:02d}" for i, n in enumerate(sizes) for _ in range(n)]
    sent_pos = np.concatenate([np.arange(n) * 2 + 1 for n in sizes]).astype(np.int32)
    sentences = _unit(rng.normal(size=(len(sent_docs), d)))
    n_img = 40
    img_docs = [f"d{i:02d}" for i in rng.integers(0, docs, size=n_img)]
    target = rng.integers(0, len(sent_docs), size=n_img)
    images = _unit(sentences[target] + 0.6 * rng.normal(size=(n_img, d)))
    img_pos = rng.integers(0, 16, size=n_img).astype(np.int32)
    ids = [f"s{i:03d}" for i in range(len(sent_docs))]
    texts = [f"sentence {i}" for i in range(len(sent_docs))]
    return images, img_docs, img_pos, sentences, sent_docs, sent_pos, ids, texts


def _exact_corpus(images, sentences, ids, texts, k=3):
    """Corpus scope with every cluster searched: exact (the hierarchical search at its limit)."""
    clusters = fit_clusters(sentences, ClusterParams(n_clusters=4, seed=0))
    ordered = sentences[clusters.order]
    result = retrieve(images, ordered, clusters, RetrievalParams(k, clusters_searched=4))
    return result, [ids[i] for i in clusters.order], [texts[i] for i in clusters.order]


def _scoped(scope, world, weight=0.1, halflife=None, k=3):
    images, img_docs, img_pos, sentences, sent_docs, sent_pos, ids, texts = world
    params = ScopeParams(scope, weight, halflife)
    corpus, c_ids, c_texts = _exact_corpus(images, sentences, ids, texts, k)
    doc = document_topk(
        img_docs, img_pos, images, sent_docs, sent_pos, sentences, k,
        params if scope == "hybrid" else None,
    )  # fmt: skip
    return apply_scope(params, corpus, c_ids, c_texts, doc, ids, texts)


def _texts(found) -> list[list[str | None]]:
    idx = found.result.indices
    return [[found.sentence_ids[i] if i >= 0 else None for i in row] for row in idx.tolist()]


def test_document_scope_only_returns_same_document_sentences_best_first():
    world = _world()
    images, img_docs, _, sentences, sent_docs, _, ids, _ = world
    found = _scoped("document", world)
    doc_of = dict(zip(ids, sent_docs, strict=True))
    got = _texts(found)
    for n, row in enumerate(got):
        own = [i for i, dd in enumerate(sent_docs) if dd == img_docs[n]]
        cos = sentences[own] @ images[n]
        expect = [ids[own[j]] for j in np.argsort(-cos, kind="stable")[:3]]
        assert [s for s in row if s is not None] == expect
        assert all(doc_of[s] == img_docs[n] for s in row if s is not None)
    assert (found.result.cluster == -1).all() and found.short_reason == "document_too_small"
    # the corpus scope does take other documents' sentences on this world
    corpus = _texts(_scoped("corpus", world))
    foreign = sum(doc_of[r[0]] != img_docs[n] for n, r in enumerate(corpus))
    assert foreign > len(corpus) // 2


def test_hybrid_weight_zero_is_the_exact_corpus_scope():
    world = _world(seed=1)
    images, _, _, sentences, *_ = world
    hybrid, corpus = _scoped("hybrid", world, weight=0.0), _scoped("corpus", world)
    assert _texts(hybrid) == _texts(corpus)
    np.testing.assert_allclose(hybrid.result.scores, corpus.result.scores, rtol=1e-6)
    ids = world[6]
    exact, _ = brute_force(images, sentences, 3)
    assert [[ids[i] for i in row] for row in exact.tolist()] == _texts(corpus)


@pytest.mark.parametrize("seed", [2, 3])
def test_hybrid_with_a_huge_weight_is_the_document_scope(seed):
    world = _world(seed=seed)
    img_docs, sent_docs = world[1], world[4]
    hybrid, document = _scoped("hybrid", world, weight=100.0), _scoped("document", world)
    size = {doc: sent_docs.count(doc) for doc in set(sent_docs)}
    h, d = _texts(hybrid), _texts(document)
    full = [n for n, doc in enumerate(img_docs) if size.get(doc, 0) >= 3]
    assert full and all(h[n] == d[n] for n in full)
    short = [n for n in range(len(h)) if n not in full]
    # where the document has fewer than 3, hybrid fills the rest from the corpus
    assert short and all(None not in h[n] for n in short)
    assert all(h[n][: size.get(img_docs[n], 0)] == d[n][: size.get(img_docs[n], 0)] for n in short)


def test_a_moderate_weight_lies_between_and_the_halflife_prefers_near_sentences():
    world = _world(seed=4)
    img_docs, img_pos, sent_docs, sent_pos = world[1], world[2], world[4], world[5]
    ids = world[6]
    doc_of, pos_of = dict(zip(ids, sent_docs, strict=True)), dict(zip(ids, sent_pos, strict=True))

    def own_share(found):
        rows = _texts(found)
        return np.mean([doc_of[r[0]] == img_docs[n] for n, r in enumerate(rows)])

    shares = [own_share(_scoped("hybrid", world, weight=w)) for w in (0.0, 0.2, 100.0)]
    assert shares[0] < shares[1] < shares[2]
    near = _texts(_scoped("hybrid", world, weight=1e6, halflife=1.0))
    for n, row in enumerate(near):  # the prior dominates: nearest own sentence first
        own = [s for s in ids if doc_of[s] == img_docs[n]]
        if len(own) >= 2:
            best = min(abs(int(pos_of[s]) - int(img_pos[n])) for s in own)
            assert abs(int(pos_of[row[0]]) - int(img_pos[n])) == best


def _frame(img_docs, img_pos):
    n = len(img_docs)
    return pl.DataFrame(
        {
            "image_id": [
                f"{d}:{p}:{i}" for i, (d, p) in enumerate(zip(img_docs, img_pos, strict=True))
            ],
            "shard": ["a"] * n,
            "sha256": [f"{i:064x}" for i in range(n)],
            "raw_image_url": [f"http://x/{i}.jpg" for i in range(n)],
            "doc_id": img_docs,
            "position": img_pos.tolist(),
        },
        schema_overrides={"position": pl.Int32},
    )


@pytest.mark.parametrize("scope", ["corpus", "document", "hybrid"])
def test_scope_is_recorded_per_row_and_the_rows_pass_their_checks(scope):
    world = _world(seed=5)
    found = _scoped(scope, world)
    frame = _frame(world[1], world[2])
    table = pair_rows(
        frame, found.result, found.sentence_ids, found.texts, "m", scope, found.short_reason
    )
    assert table["scope"].to_list() == [scope] * frame.height
    short = table.filter(pl.col("short_reason").is_not_null())
    if scope == "document":
        assert short.height and set(short["short_reason"]) == {"document_too_small"}
        assert table["cluster_id"].null_count() == table.height
    else:
        assert short.height == 0 and table["cluster_id"].null_count() == 0
    params = {"survivors": frame.height, "survivor_ids": frame["image_id"].to_list(), "top_k": 3}
    for check in RETRIEVAL_PAIRS_SUITE:
        assert run_check(check, {"pairs": table}, params).passed, check.name
    # rows read back give the same result (what a review compares the other scopes against)
    back, ids, _ = result_from_rows(table, 3)
    assert [[ids[i] if i >= 0 else None for i in r] for r in back.indices.tolist()] == _texts(found)


def test_empty_inputs_and_bad_params():
    found = apply_scope(
        ScopeParams("hybrid"), empty_result(2, 3), [], [], empty_document(2, 3), [], []
    )
    assert (found.result.indices == -1).all() and found.sentence_ids == []
    with pytest.raises(ValueError):
        ScopeParams("page")
    with pytest.raises(ValueError):
        ScopeParams("hybrid", -0.1)
    with pytest.raises(ValueError):
        ScopeParams("hybrid", 0.1, 0.0)


def test_a_sentence_in_both_lists_keeps_its_document_entry():
    """Weight 0: the corpus product gave the shared sentence s1 a cosine a rounding step above
    the document product's; the result still takes the document entry (one product decides,
    never whichever rounding came out higher), and s1 appears once."""
    from realsyn.retrieval import RetrievalResult
    from realsyn.scope import DocumentTopK

    corpus = RetrievalResult(
        indices=np.array([[0, 1]]),
        scores=np.array([[0.9000001, 0.5]], dtype=np.float32),
        cluster=np.array([0]),
        candidates=np.array([10]),
    )
    doc = DocumentTopK(
        indices=np.array([[0, 1]]),
        cosine=np.array([[0.9, 0.2]], dtype=np.float32),
        rank=np.array([[0.9, 0.2]]),
        candidates=np.array([2]),
    )
    found = apply_scope(
        ScopeParams("hybrid", scope_prior_weight=0.0),
        corpus, ["s1", "c2"], ["one", "two"], doc, ["s1", "d2"], ["one", "own"],
    )  # fmt: skip
    texts = [found.sentence_ids[i] for i in found.result.indices[0]]
    assert texts == ["s1", "c2"]
    assert found.result.scores[0, 0] == np.float32(0.9)  # the document product's cosine
