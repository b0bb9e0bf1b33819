"""CaptionerResource: the VLM caption and LLM fusion endpoints, and the tag vocabulary."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from realsyn.captioner import ChatClient, EndpointConfig

DEFAULT_VOCABULARY = (
    Path(__file__).resolve().parents[1] / "realsyn" / "model_configs" / "tag_vocabulary.txt"
)


class CaptionerResource(dg.ConfigurableResource):
    """OpenAI-compatible chat-completions endpoints (vLLM, TGI, any served model).

    ``base_url=None`` (the default): no synthetic texts; ``syn_text`` stays null and the asset
    reports the captioner as not applied. ``fusion_base_url`` defaults to ``base_url``.
    """

    base_url: str | None = None
    caption_model: str = ""
    fusion_base_url: str | None = None
    fusion_model: str = ""
    api_key: str | None = None
    timeout_s: float = 60.0
    retries: int = 2
    concurrency: int = 8
    top_tags: int = 5
    tag_vocabulary_path: str | None = None

    def clients(self) -> tuple[ChatClient, ChatClient] | None:
        if not self.base_url:
            return None
        caption = EndpointConfig(
            self.base_url, self.caption_model, self.api_key, self.timeout_s, self.retries
        )
        fusion = EndpointConfig(
            self.fusion_base_url or self.base_url,
            self.fusion_model or self.caption_model,
            self.api_key,
            self.timeout_s,
            self.retries,
        )
        return ChatClient(caption), ChatClient(fusion)

    def vocabulary(self) -> list[str]:
        path = Path(self.tag_vocabulary_path) if self.tag_vocabulary_path else DEFAULT_VOCABULARY
        return [w.strip() for w in path.read_text().splitlines() if w.strip()]

    def identity(self) -> str:
        if not self.base_url:
            return "none"
        return f"caption={self.caption_model}@{self.base_url}; fusion={self.fusion_model or self.caption_model}"
