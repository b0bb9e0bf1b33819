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
