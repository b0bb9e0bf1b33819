"""Text-side models: the CAT parser (link-grammar) and the perplexity language model."""

from __future__ import annotations

import dagster as dg
from pydantic import PrivateAttr

from realsyn.cat import CatParser, load_cat_parser
from realsyn.ja import GinzaCatParser, load_ginza_parser
from realsyn.semantic import PerplexityScorer


class CatParserResource(dg.ConfigurableResource):
    """CMU link-grammar for the CAT rule; ``unavailable_reason()`` says why it is not applied."""

    enabled: bool = True
    max_null_count: int = 2
    max_parse_time_s: int = 30  # a safety net: a hit is the row's reason parse_timeout
    fallback_max_words: int = 20
    whole_max_words: int = 20  # longer sentences are parsed clause by clause
    workers: int = 0  # parser processes; 0: one per CPU this process may use
    japanese: bool = True  # GiNZA (ja_ginza) for Japanese sentences' CAT rule

    _parser: CatParser | None = PrivateAttr(default=None)
    _why: str | None = PrivateAttr(default=None)
    _loaded: bool = PrivateAttr(default=False)
    _ja: GinzaCatParser | None = PrivateAttr(default=None)
    _ja_why: str | None = PrivateAttr(default=None)
    _ja_loaded: bool = PrivateAttr(default=False)

    def get(self) -> CatParser | None:
        if not self._loaded:
            self._loaded = True
            if not self.enabled:
                self._why = "disabled in the resource configuration"
            else:
                self._parser, self._why = load_cat_parser(
                    max_null_count=self.max_null_count,
                    max_parse_time=self.max_parse_time_s,
                    fallback_max_words=self.fallback_max_words,
                    whole_max_words=self.whole_max_words,
                )
        return self._parser

    def unavailable_reason(self) -> str | None:
        self.get()
        return self._why

    def get_japanese(self) -> GinzaCatParser | None:
        """GiNZA for Japanese sentences (its pipeline loads on the first one); None: CAT is not
        applied to them (reported)."""
        if not self._ja_loaded:
            self._ja_loaded = True
            if not self.japanese:
                self._ja_why = "Japanese parsing disabled in the resource configuration"
            else:
                self._ja, self._ja_why = load_ginza_parser()
        return self._ja

    def japanese_unavailable_reason(self) -> str | None:
        self.get_japanese()
        return self._ja_why


class LanguageModelResource(dg.ConfigurableResource):
    """A causal LM for perplexity: a Hugging Face name (``gpt2-large``, needs network or the hub
    cache) or a local directory. ``model=None`` (default): the perplexity filter is not applied."""

    model: str | None = None
    local_files_only: bool = False
    device: str = "auto"
    batch_size: int = 32
    max_length: int = 128

    _scorer: PerplexityScorer | None = PrivateAttr(default=None)

    def get(self) -> PerplexityScorer | None:
        if self.model is None:
            return None
        if self._scorer is None:
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer

            device = self.device
            if device == "auto":
                device = "cuda" if torch.cuda.is_available() else "cpu"
            kwargs = {"local_files_only": self.local_files_only}
            tokenizer = AutoTokenizer.from_pretrained(self.model, **kwargs)
            model = AutoModelForCausalLM.from_pretrained(self.model, **kwargs)
            self._scorer = PerplexityScorer(
                model, tokenizer, device, self.batch_size, self.max_length
            )
        return self._scorer
