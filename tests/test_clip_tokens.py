"""realsyn-tiny-cjk's tokenizer: CLIP's BPE, with one token per CJK character (the Japanese
world's sentences are byte pieces under the BPE alone)."""

from __future__ import annotations

import io
import random

import numpy as np
import open_clip
import polars as pl
import pytest
import torch

from realsyn import world as w
from realsyn.clip import encode_texts, load_clip
from realsyn.clip_tokens import (
    CJK_SIZE,
    WORD_BUCKETS,
    CjkCharTokenizer,
    JaWordTokenizer,
    get_tokenizer,
    word_bucket,
)
from realsyn.train import TrainParams, train_clip
from realsyn.world_docs import TRUTH_DIR, WorldParams, build_world
from realsyn.world_ja import describe_ja
from realsyn.world_render import render


def _japanese_truth() -> list[str]:
    world = build_world(WorldParams(documents=16, eval_images=8, seed=2, lang="ja"))
    table = pl.read_parquet(io.BytesIO(world.files[f"{TRUTH_DIR}/sentences.parquet"]))
    return table["text"].to_list()


def test_the_default_model_keeps_open_clips_tokenizer():
    assert type(get_tokenizer("realsyn-tiny")) is type(open_clip.get_tokenizer("realsyn-tiny"))
    assert not isinstance(get_tokenizer("realsyn-tiny"), CjkCharTokenizer)


def test_english_tokens_unchanged_cjk_characters_one_token_each():
    cjk, bpe = get_tokenizer("realsyn-tiny-cjk"), open_clip.get_tokenizer("realsyn-tiny")
    english = ["Two small red circles are drawn on a striped background.", "Home | Gallery"]
    assert torch.equal(cjk(english), bpe(english))
    text = "二つの小さな赤い円と「OPEN」と書かれた看板"
    ids = cjk.encode(text)
    assert ids[:6] == [cjk.cjk_base + i for i in (0x4E8C - 0x4E00 + 256, 0x3064 - 0x3000)] + [
        cjk.cjk_base + 0x306E - 0x3000,
        cjk.cjk_base + 0x5C0F - 0x4E00 + 256,
        cjk.cjk_base + 0x3055 - 0x3000,
        cjk.cjk_base + 0x306A - 0x3000,
    ]
    assert ids.count(cjk.cjk_base + 0x5186 - 0x4E00 + 256) == 1  # 円: one token, not bytes
    assert cjk.encode("OPEN") == bpe.encode("OPEN")  # the sign word is BPE, as in English
    assert cjk.decode(ids).replace(" ", "") == text.lower()
    assert max(ids) < cjk.vocab_size == cjk.cjk_base + CJK_SIZE


def test_the_japanese_world_is_one_token_per_character():
    texts = _japanese_truth()
    cjk, bpe = get_tokenizer("realsyn-tiny-cjk"), open_clip.get_tokenizer("realsyn-tiny")
    ours = [len(cjk.encode(t)) for t in texts]
    theirs = [len(bpe.encode(t)) for t in texts]
    assert max(ours) + 2 <= 77  # start and end tokens included: nothing truncated
    assert np.mean(ours) < 0.6 * np.mean(theirs)  # ~23 against ~45 on the world
    assert int(cjk(texts).max()) < cjk.vocab_size


def test_japanese_words_one_token_each():
    ja, bpe = get_tokenizer("realsyn-tiny-ja"), open_clip.get_tokenizer("realsyn-tiny")
    assert isinstance(ja, JaWordTokenizer) and ja.vocab_size == ja.cjk_base + WORD_BUCKETS
    english = ["Two small red circles are drawn on a striped background.", "Home | Gallery"]
    assert torch.equal(ja(english), bpe(english))
    square = ja.cjk_base + word_bucket("正方形")
    first = ja.encode("三つの紫の正方形、水玉模様の背景")
    second = ja.encode("この写真には一つの大きな赤い正方形が写っている。")
    assert first.count(square) == 1 and second.count(square) == 1  # a word, not 3 characters
    assert ja.cjk_base + word_bucket("水玉模様") in first
    assert word_bucket("正方形") == 3807  # stable across processes (blake2b, not hash())
    texts = _japanese_truth()
    words = [len(ja.encode(t)) for t in texts]
    chars = [len(get_tokenizer("realsyn-tiny-cjk").encode(t)) for t in texts]
    assert np.mean(words) < 0.75 * np.mean(chars)  # ~15.6 against ~23 on the world


def test_a_vocabulary_that_does_not_fit_is_refused(monkeypatch):
    import realsyn.clip_tokens as ct

    monkeypatch.setitem(ct.TOKENIZERS, "realsyn-tiny", CjkCharTokenizer)
    with pytest.raises(ValueError, match="vocab_size 49408"):
        ct.get_tokenizer("realsyn-tiny")
    config = open_clip.get_model_config("realsyn-tiny-cjk")
    config["text_cfg"].pop("pool_type")  # open_clip's default: argmax
    monkeypatch.setattr(open_clip, "get_model_config", lambda name: config)
    with pytest.raises(ValueError, match="pool_type 'eos'"):
        ct.get_tokenizer("realsyn-tiny-cjk")


def test_the_text_is_pooled_at_its_end_token():
    """Ids above CLIP's end token: pooling at the highest id (open_clip's default) would take
    the text at its highest-id character and, causally masked, ignore what follows it."""
    model = load_clip("realsyn-tiny-cjk", seed=0)
    after = encode_texts(model, ["円あ", "円い"])  # 円 has the highest id of each
    assert not np.allclose(after[0], after[1], atol=1e-4)


@pytest.mark.parametrize(
    ("name", "kind"), [("realsyn-tiny-cjk", CjkCharTokenizer), ("realsyn-tiny-ja", JaWordTokenizer)]
)
def test_trains_and_loads_with_its_tokenizer(tmp_path, name, kind):
    rng = random.Random(3)
    scenes = [w.sample_scene(rng) for _ in range(32)]
    images = [render(s, rng) for s in scenes]
    texts = [[describe_ja(s, random.Random(i)).text] for i, s in enumerate(scenes)]
    ckpt, stats = train_clip(name, images, texts, TrainParams(epochs=1, batch_size=16))
    assert stats["steps"] == 2
    path = tmp_path / "cjk.pt"
    path.write_bytes(ckpt)
    model = load_clip(name, checkpoint_path=str(path))
    assert model.identity.startswith(f"{name}@sha256:")
    assert type(model.tokenizer) is kind
    vectors = encode_texts(model, ["赤い円", "青い円", "赤い円"])
    assert np.allclose(vectors[0], vectors[2]) and not np.allclose(vectors[0], vectors[1])
    with pytest.raises(RuntimeError):  # the BPE-vocabulary architecture cannot take it
        load_clip("realsyn-tiny", checkpoint_path=str(path))


def test_its_dedup_thresholds_are_the_tiny_models():
    """The same image tower as realsyn-tiny: not open_clip's large-CLIP default (0.95), which
    merged 199 images of the 200-document Japanese world as semantic duplicates."""
    from realsyn.semantic_dedup import dup_cosine_for

    for name in ("realsyn-tiny-cjk", "realsyn-tiny-ja"):
        for modality in ("image", "text"):
            assert dup_cosine_for(f"{name}@sha256:0", modality) == dup_cosine_for(
                "realsyn-tiny@sha256:0", modality
            )
