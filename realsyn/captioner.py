"""Image semantic augmented generation (RealSyn stage 3): caption + tags + fusion -> syn_text.

* caption: an OpenAI-compatible chat-completions endpoint that accepts images (what vLLM or any
  served VLM exposes); the image goes as a ``data:`` URL;
* tags: zero-shot CLIP over a tag vocabulary (the paper used RAM++, not available offline),
  with the same open_clip model as the embeddings;
* fusion: the same kind of endpoint with a text LLM and the paper's instruction, from text1, the
  caption and the tags.

Requests have a timeout and bounded retries on named transient failures (timeouts, connection
errors, HTTP 429/500/502/503/504). A failure leaves ``syn_text`` null with a reason; nothing is
ever filled with a made-up text.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl
import urllib3
from urllib3.exceptions import HTTPError as Urllib3Error

CAPTION_PROMPT = "Describe this image in one short, factual sentence."
FUSION_PROMPT = (
    "You merge three sources about one image into ONE fluent English sentence.\n"
    "Real-world sentence (keep its specific real-world details): {text1}\n"
    "Image caption (what is visible): {caption}\n"
    "Object tags: {tags}\n"
    "Rules: keep the real detail, add nothing that is not in the sources, do not simply "
    "concatenate them, answer with the sentence only."
)
TRANSIENT = {429, 500, 502, 503, 504}


class EndpointError(RuntimeError):
    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail = reason, detail


@dataclass(frozen=True)
class EndpointConfig:
    base_url: str  # e.g. http://127.0.0.1:8000/v1
    model: str
    api_key: str | None = None
    timeout_s: float = 60.0
    retries: int = 2
    backoff_s: float = 0.5
    max_tokens: int = 96
    temperature: float = 0.0


class ChatClient:
    """A minimal OpenAI-compatible chat-completions client (urllib3)."""

    def __init__(self, config: EndpointConfig, pool: urllib3.PoolManager | None = None):
        self.config = config
        self.pool = pool or urllib3.PoolManager(num_pools=4, maxsize=8)

    def complete(self, content) -> str:
        cfg = self.config
        body = json.dumps(
            {
                "model": cfg.model,
                "messages": [{"role": "user", "content": content}],
                "max_tokens": cfg.max_tokens,
                "temperature": cfg.temperature,
            }
        ).encode()
        headers = {"Content-Type": "application/json"}
        if cfg.api_key:
            headers["Authorization"] = f"Bearer {cfg.api_key}"
        url = cfg.base_url.rstrip("/") + "/chat/completions"
        for attempt in range(cfg.retries + 1):
            try:
                resp = self.pool.request(
                    "POST", url, body=body, headers=headers, timeout=cfg.timeout_s, retries=False
                )
            except Urllib3Error as err:  # timeouts, refused or reset connections
                error = EndpointError("endpoint_unreachable", str(err)[:200])
            else:
                if resp.status == 200:
                    try:
                        text = json.loads(resp.data)["choices"][0]["message"]["content"]
                    except (ValueError, KeyError, IndexError, TypeError) as err:
                        raise EndpointError("bad_response", f"{err}: {resp.data[:200]!r}") from err
                    text = (text or "").strip()
                    if not text:
                        raise EndpointError("empty_response", "the model returned no text")
                    return text
                error = EndpointError(
                    f"http_{resp.status}", resp.data[:200].decode("utf-8", "replace")
                )
                if resp.status not in TRANSIENT:
                    raise error
            if attempt < cfg.retries:
                time.sleep(cfg.backoff_s * 2**attempt)
        raise error

    def caption(self, image: bytes, mime: str = "image/jpeg") -> str:
        data_url = f"data:{mime};base64,{base64.b64encode(image).decode()}"
        return self.complete(
            [
                {"type": "text", "text": CAPTION_PROMPT},
                {"type": "image_url", "image_url": {"url": data_url}},
            ]
        )

    def fuse(self, text1: str, caption: str, tags: Sequence[str]) -> str:
        prompt = FUSION_PROMPT.format(text1=text1, caption=caption, tags=", ".join(tags) or "none")
        return self.complete(prompt)


class ZeroShotTagger:
    """Top tags of an image by CLIP similarity to ``a photo of a <tag>`` prompts."""

    def __init__(
        self,
        text_vectors: np.ndarray,
        vocabulary: Sequence[str],
        top_k: int = 5,
        min_margin: float = 0.0,
    ):
        self.vectors, self.vocabulary = text_vectors, list(vocabulary)
        self.top_k, self.min_margin = top_k, min_margin

    def tags(self, image_vectors: np.ndarray) -> list[list[str]]:
        if not self.vocabulary:
            return [[] for _ in range(len(image_vectors))]
        sims = image_vectors @ self.vectors.T
        out = []
        for row in sims:
            order = np.argsort(-row)[: self.top_k]
            floor = row.mean() + self.min_margin
            out.append([self.vocabulary[i] for i in order if row[i] >= floor])
        return out


@dataclass
class SynText:
    syn_text: str | None
    caption: str | None
    tags: list[str]
    reason: str | None  # why syn_text is null


def synthesize(
    client_caption: ChatClient,
    client_fuse: ChatClient,
    image: bytes,
    mime: str,
    text1: str | None,
    tags: list[str],
) -> SynText:
    """One image's syn_text; endpoint failures become a reason, never an exception."""
    if not text1:
        return SynText(None, None, tags, "no_text1")
    try:
        caption = client_caption.caption(image, mime)
    except EndpointError as err:
        return SynText(None, None, tags, f"caption_{err.reason}")
    try:
        return SynText(client_fuse.fuse(text1, caption, tags), caption, tags, None)
    except EndpointError as err:
        return SynText(None, caption, tags, f"fusion_{err.reason}")


SYN_SCHEMA = {
    "image_id": pl.String,
    "syn_text": pl.String,
    "caption": pl.String,
    "tags": pl.List(pl.String),
    "reason": pl.String,
}


def syn_table(image_ids: Sequence[str], results: Sequence[SynText]) -> tuple[pl.DataFrame, dict]:
    """``synthetic_texts``' rows (one per image, in order) and its stats: pairs, with_syn_text
    and ``failed_<reason>`` per recorded reason."""
    table = pl.DataFrame(
        {
            "image_id": list(image_ids),
            "syn_text": [r.syn_text for r in results],
            "caption": [r.caption for r in results],
            "tags": [r.tags for r in results],
            "reason": [r.reason for r in results],
        },
        schema=SYN_SCHEMA,
    )
    stats = {"pairs": table.height, "with_syn_text": int(table["syn_text"].is_not_null().sum())}
    stats.update(
        {f"failed_{r}": n for r, n in table.group_by("reason").len().drop_nulls().iter_rows()}
    )
    return table, stats
