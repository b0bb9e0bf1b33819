from __future__ import annotations

import math

import polars as pl
import pytest

from realsyn.semantic import (
    SemanticParams,
    decide_semantic,
    entropy_scores,
    score_semantics,
    word_probabilities,
)
from realsyn.text_dedup import dedup_sentences, normalize
from resources.text_models import LanguageModelResource


def test_entropy_matches_the_formula():
    counts = pl.DataFrame({"word": ["the", "cat", "dog", "zyx"], "count": [50, 30, 19, 1]})
    probs = word_probabilities(pl.concat([counts.head(2), counts.tail(2)]))  # partitions sum up
    frame = pl.DataFrame({"text": ["The cat.", "zyx zyx", "unknownword", ""]})
    got = entropy_scores(frame, probs).to_list()
    h = lambda p: -p * math.log(p)  # noqa: E731
    assert got[0] == pytest.approx(h(0.5) + h(0.3))
    assert got[1] == pytest.approx(2 * h(0.01))
    assert got[2] == 0.0 and got[3] == 0.0


def test_decide_semantic_uses_stored_scores():
    table = pl.DataFrame(
        {"entropy": [0.1, 0.5, 0.5, 0.5, 0.5], "perplexity": [50.0, 10.0, 500.0, 80.0, None]}
    )
    out = decide_semantic(table, SemanticParams())
    assert out["reason"].to_list() == [
        "low_entropy",
        "perplexity_too_low",
        "perplexity_too_high",
        None,
        None,
    ]
    assert decide_semantic(table, SemanticParams(max_perplexity=1000))["reason"][2] is None


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory):
    """A GPT-2 architecture with random weights and a byte-level BPE tokenizer trained here."""
    import torch
    from tokenizers import ByteLevelBPETokenizer
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    path = tmp_path_factory.mktemp("tiny-gpt2")
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(
        ["A man rides a horse on the beach.", "The cat sleeps."] * 20,
        vocab_size=300,
        min_frequency=1,
        special_tokens=["<|endoftext|>"],
    )
    tok = PreTrainedTokenizerFast(
        tokenizer_object=bpe._tokenizer,
        eos_token="<|endoftext|>",
        bos_token="<|endoftext|>",
        unk_token="<|endoftext|>",
    )
    tok.save_pretrained(path)
    torch.manual_seed(0)
    cfg = GPT2Config(
        vocab_size=len(tok),
        n_positions=64,
        n_embd=32,
        n_layer=2,
        n_head=2,
        bos_token_id=tok.eos_token_id,
        eos_token_id=tok.eos_token_id,
    )
    GPT2LMHeadModel(cfg).save_pretrained(path)
    return str(path)


def test_perplexity_with_a_real_model_path(tiny_lm):
    scorer = LanguageModelResource(model=tiny_lm, local_files_only=True, batch_size=2).get()
    texts = ["A man rides a horse on the beach.", "The cat sleeps.", "zq xv"]
    ppl = scorer.score(texts)
    assert all(p > 1 for p in ppl)
    # a random model is near-uniform over its vocabulary: perplexity close to the vocab size
    assert 50 < sum(ppl) / len(ppl) < 3000
    # batching and padding do not change a sentence's perplexity
    alone = scorer.score(["The cat sleeps."])[0]
    assert alone == pytest.approx(ppl[1], rel=1e-4)


def test_score_semantics_reports_perplexity_not_applied_without_a_model():
    kept = pl.DataFrame({"sentence_id": ["a"], "shard": ["s"], "text": ["the cat"]})
    probs = word_probabilities(pl.DataFrame({"word": ["the", "cat"], "count": [1, 1]}))
    table = score_semantics(kept, probs, None, SemanticParams())
    assert table["perplexity"].to_list() == [None]
    assert LanguageModelResource().get() is None


def test_exact_dedup_after_normalisation_across_shards():
    kept = pl.DataFrame(
        {
            "sentence_id": ["b", "a", "c", "d"],
            "shard": ["s2", "s1", "s1", "s3"],
            "text": ["The cat sleeps!", "the  CAT sleeps", "A dog runs.", "The cat — sleeps"],
        }
    )
    out = {r["sentence_id"]: r for r in dedup_sentences(kept).to_dicts()}
    assert out["a"]["survives"] and not out["b"]["survives"] and out["b"]["duplicate_of"] == "a"
    assert out["d"]["duplicate_of"] == "a" and out["c"]["survives"]
    assert normalize("Ｈｅｌｌｏ,  World!") == "hello world"


def test_semantic_sentence_pairs_join_exact_groups():
    kept = pl.DataFrame(
        {
            "sentence_id": ["a", "b", "c", "d"],
            "shard": ["s"] * 4,
            "text": ["A cat sleeps.", "a cat sleeps", "A kitten is sleeping.", "A dog runs."],
        }
    )
    out = {
        r["sentence_id"]: r
        for r in dedup_sentences(kept, pl.DataFrame({"id_a": ["b"], "id_b": ["c"]})).to_dicts()
    }
    assert out["a"]["survives"] and out["d"]["survives"]
    assert out["b"]["reason"] == "exact_dup" and out["c"]["reason"] == "semantic_dup"
    assert out["c"]["duplicate_of"] == "a"


def _unit(x):
    import numpy as np

    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _dense_world(n_same=3000, n_near=3000, n_background=400, seed=0):
    """A cluster of identical vectors, one of near-identical ones (all pairwise within 0.95)
    and unrelated background, shuffled."""
    import numpy as np

    rng = np.random.default_rng(seed)
    same = np.repeat(_unit(rng.normal(size=(1, 32))), n_same, axis=0)
    near = _unit(_unit(rng.normal(size=(1, 32))) + 0.01 * rng.normal(size=(n_near, 32)))
    x = np.concatenate([same, near, _unit(rng.normal(size=(n_background, 32)))])
    truth = np.repeat([0, 1, 2], [n_same, n_near, n_background])
    order = rng.permutation(len(x))
    return x[order], truth[order]


def test_dense_clusters_are_linked_in_bounded_links_and_grouped_whole():
    import numpy as np

    from realsyn.semantic_dedup import NEIGHBOURS, components, cosine_pairs

    x, truth = _dense_world()
    pairs = cosine_pairs(x, 0.95)
    # n identical vectors used to give n^2 / 2 pairs (4.5M here); now at most k + 1 per vector
    assert len(pairs) <= (NEIGHBOURS + 1) * len(x)
    labels = components(len(x), pairs)
    for cluster in (0, 1):
        assert len(set(labels[truth == cluster])) == 1
    assert len(set(labels[truth == 0]) | set(labels[truth == 1])) == 2
    assert len(set(labels[truth == 2])) == (truth == 2).sum()  # background stays apart
    # identical copies link to the smallest row holding that vector, with cosine 1
    same = np.nonzero(truth == 0)[0]
    copies = pairs[np.isin(pairs[:, 1], same[1:]) & (pairs[:, 0] == same[0])]
    assert len(copies) == len(same) - 1 and (copies[:, 2] == 1.0).all()
    assert np.array_equal(cosine_pairs(x, 0.95), pairs)  # same input, same links


def test_dense_incremental_runs_give_the_full_search_groups():
    import numpy as np

    from realsyn.semantic_dedup import components, incremental_pairs

    x, truth = _dense_world(800, 800, 200, seed=3)
    keys = [f"k{i:05d}" for i in range(len(x))]

    def groups(pairs, names):
        pos = {k: i for i, k in enumerate(names)}
        arr = np.array([[pos[a], pos[b]] for a, b in pairs.select("a", "b").iter_rows()])
        labels = components(len(names), arr.reshape(-1, 2))
        return {frozenset(np.array(names)[labels == g]) for g in set(labels)}

    full, _, _ = incremental_pairs(None, keys, x, "m", 0.95)
    _, cache, _ = incremental_pairs(None, keys[:1000], x[:1000], "m", 0.95)
    grown, cache, stats = incremental_pairs(cache, keys, x, "m", 0.95)
    assert stats["full"] == 0 and stats["searched"] == 800
    assert groups(grown, keys) == groups(full, keys)
    # a shard leaves: keys that lost links are searched again, the groups stay whole
    kept = list(range(500, len(x)))
    names = [keys[i] for i in kept]
    shrunk, _, stats = incremental_pairs(cache, names, x[kept], "m", 0.95)
    assert stats["full"] == 0 and 0 < stats["searched"] < len(kept)
    again, _, _ = incremental_pairs(None, names, x[kept], "m", 0.95)
    assert groups(shrunk, names) == groups(again, names)
    assert len(groups(shrunk, names)) == 2 + int((truth[kept] == 2).sum())


def test_exact_copies_are_searched_once_and_inherit_their_representatives_group():
    from realsyn.text_dedup import distinct_representatives, normalized_keys

    texts = ["Add to cart!"] * 2000 + ["add to CART"] * 5 + ["Put it in the basket."] * 3
    texts += ["A red bicycle leans on a wall."]
    kept = pl.DataFrame(
        {
            "sentence_id": [f"s{i:05d}" for i in range(len(texts))][::-1],
            "shard": ["x"] * len(texts),
            "text": texts,
        }
    )
    keyed = normalized_keys(kept)
    reps = distinct_representatives(keyed)
    assert len(reps) == 3  # three normalised texts: only three vectors to search
    by_text = {t: min(kept.filter(pl.col("text") == t)["sentence_id"]) for t in set(texts)}
    cart, basket = by_text["add to CART"], by_text["Put it in the basket."]
    assert {cart, basket} <= reps and basket < cart  # the smallest id of each normalised text
    semantic = pl.DataFrame({"id_a": [cart], "id_b": [basket]})
    out = dedup_sentences(kept, semantic, keyed)
    assert out.height == len(texts) and out["survives"].sum() == 2  # the basket and the bicycle
    reasons = dict(zip(out["sentence_id"], out["reason"], strict=True))
    dup_of = dict(zip(out["sentence_id"], out["duplicate_of"], strict=True))
    basket_ids = set(kept.filter(pl.col("text") == "Put it in the basket.")["sentence_id"])
    assert {reasons[i] for i in basket_ids - {basket}} == {"exact_dup"}
    cart_ids = set(kept.filter(pl.col("text").str.contains("(?i)cart"))["sentence_id"])
    assert len(cart_ids) == 2005
    assert {reasons[i] for i in cart_ids} == {"semantic_dup"}  # all inherit the pair of reps
    assert {dup_of[i] for i in cart_ids | basket_ids - {basket}} == {basket}
    assert out.equals(dedup_sentences(kept, semantic))  # keyed is only a shortcut


def test_hnsw_path_is_deterministic_and_groups_like_the_exact_one(monkeypatch):
    import numpy as np

    from realsyn import semantic_dedup
    from realsyn.semantic_dedup import components, cosine_pairs

    x, truth = _dense_world(1000, 1000, 1000, seed=7)
    exact = components(len(x), cosine_pairs(x, 0.95))
    monkeypatch.setattr(semantic_dedup, "EXACT_SEARCH_MAX", 100)  # force the HNSW index
    first, second = cosine_pairs(x, 0.95), cosine_pairs(x, 0.95)
    assert np.array_equal(first, second)  # a one-thread build: same graph, same links
    approx = components(len(x), first)
    assert len(set(approx)) == len(set(exact)) == 2 + 1000
    assert all(len(set(approx[truth == c])) == 1 for c in (0, 1))
