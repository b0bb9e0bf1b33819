from __future__ import annotations

import numpy as np
import pytest

from realsyn.captioner import ChatClient, EndpointConfig, EndpointError, ZeroShotTagger, synthesize
from tests.fake_llm import fake_llm
from tests.image_fixtures import jpeg


def client(url: str, model: str = "vlm", **kw) -> ChatClient:
    return ChatClient(EndpointConfig(url, model, backoff_s=0.01, **kw))


def test_caption_sends_the_image_and_fusion_sends_the_instruction():
    with fake_llm() as (url, handler):
        cap = client(url).caption(jpeg(), "image/jpeg")
        fused = client(url, "llm").fuse(
            "A tabby cat rests on a wooden floor.", cap, ["cat", "floor"]
        )
    assert cap.startswith("a photo (jpeg")
    assert fused == "Fused: A tabby cat rests on a wooden floor."
    prompt = handler.calls[1]["messages"][0]["content"]
    assert "adds nothing" in prompt or "add nothing" in prompt
    assert "cat, floor" in prompt and "a photo (jpeg" in prompt


def test_transient_errors_are_retried_and_others_are_not():
    with fake_llm() as (url, handler):
        handler.failures["vlm"] = 2
        assert client(url, retries=2).caption(jpeg()).startswith("a photo")
        handler.failures["vlm"] = 5
        with pytest.raises(EndpointError) as busy:
            client(url, retries=1).caption(jpeg())
        assert busy.value.reason == "http_503"
        n = len(handler.calls)
        with pytest.raises(EndpointError) as bad:
            client(url, "broken", retries=3).caption(jpeg())
        assert bad.value.reason == "http_400" and len(handler.calls) == n + 1
        with pytest.raises(EndpointError) as slow:
            client(url, "slow", retries=0, timeout_s=0.3).caption(jpeg())
        assert slow.value.reason == "endpoint_unreachable"


def test_synthesize_turns_failures_into_reasons():
    with fake_llm() as (url, _):
        ok = synthesize(client(url), client(url, "llm"), jpeg(), "image/jpeg", "A cat.", ["cat"])
        assert ok.syn_text == "Fused: A cat." and ok.reason is None
        no_text = synthesize(client(url), client(url), jpeg(), "image/jpeg", None, [])
        assert no_text.syn_text is None and no_text.reason == "no_text1"
        broken = synthesize(client(url), client(url, "broken"), jpeg(), "image/jpeg", "A cat.", [])
        assert broken.syn_text is None and broken.reason == "fusion_http_400"
    gone = synthesize(client(url, retries=0), client(url), jpeg(), "image/jpeg", "A cat.", [])
    assert gone.reason == "caption_endpoint_unreachable"


def test_zero_shot_tagger_picks_the_closest_tags():
    vocab = ["cat", "dog", "car", "tree"]
    text = np.eye(4, 8, dtype=np.float32)
    image = np.array([[0.9, 0.1, 0, 0.4, 0, 0, 0, 0]], dtype=np.float32)
    assert ZeroShotTagger(text, vocab, top_k=2).tags(image) == [["cat", "tree"]]
    assert ZeroShotTagger(text, [], top_k=2).tags(image) == [[]]
