"""The semantic filter: word-frequency entropy and language-model perplexity.

Entropy (the paper's theta): theta(x) = -sum_i p(x_i) ln p(x_i) over the words x_i of a
sentence (every occurrence counts, natural log), with p(w) = count(w) / total words, counted
over every sentence of the whole corpus (``word_frequencies``; words as in
:func:`realsyn.sentences.words`). Sentences made only of rare tokens (spam, lists of names and
numbers) score low; the paper keeps theta >= 0.3.

Perplexity: exp of the mean next-token negative log-likelihood under a causal language model
(GPT-2-large in the paper), kept within [30, 200]. Without a model the filter is not applied,
and that is reported, never passed off as applied.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import polars as pl

from realsyn import language
from realsyn.schemas import SEMANTIC_REASONS, SENTENCE_SEMANTICS_SCHEMA, decide
from realsyn.sentences import WORD_RE


@dataclass(frozen=True)
class SemanticParams:
    min_entropy: float = 0.3
    min_perplexity: float = 30.0
    max_perplexity: float = 200.0


def word_probabilities(counts: pl.DataFrame) -> pl.DataFrame:
    """(word, count) summed over partitions -> (word, p); with a ``lang`` column, p within
    each language (``realsyn.language.language_probabilities``)."""
    if "lang" in counts.columns:
        return language.language_probabilities(counts)
    total = counts["count"].sum() or 1
    return (
        counts.group_by("word")
        .agg(pl.col("count").sum())
        .with_columns((pl.col("count") / total).alias("p"))
    )


def entropy_scores(sentences: pl.DataFrame, probabilities: pl.DataFrame) -> pl.Series:
    """theta for each row of ``sentences`` (column ``text``), in row order; per language
    when both tables have ``lang`` (Japanese words are morphemes)."""
    if "lang" in sentences.columns and "lang" in probabilities.columns:
        return language.entropy_scores(sentences, probabilities, language.WordCounter())
    tokens = (
        sentences.select(pl.int_range(pl.len()).alias("row"), pl.col("text").str.to_lowercase())
        .with_columns(pl.col("text").str.extract_all(WORD_RE.pattern).alias("word"))
        .explode("word")
        .join(probabilities.select("word", "p"), on="word", how="left")
    )
    per_row = tokens.group_by("row").agg(
        (-(pl.col("p") * pl.col("p").log())).fill_null(0.0).sum().alias("entropy")
    )
    return (
        pl.DataFrame({"row": range(sentences.height)})
        .join(per_row, on="row", how="left")
        .sort("row")["entropy"]
        .fill_null(0.0)
    )


class PerplexityScorer:
    """Batched perplexity with a Hugging Face causal LM (``model``/``tokenizer`` already loaded)."""

    def __init__(
        self, model, tokenizer, device: str = "cpu", batch_size: int = 32, max_length: int = 128
    ):
        import torch

        self.torch = torch
        self.model = model.to(device).eval()
        self.tokenizer = tokenizer
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        self.device, self.batch_size, self.max_length = device, batch_size, max_length

    def score(
        self, texts: Sequence[str], progress: Callable[[int, int], None] | None = None
    ) -> list[float]:
        torch = self.torch
        out: list[float] = []
        with torch.inference_mode():
            for start in range(0, len(texts), self.batch_size):
                batch = list(texts[start : start + self.batch_size])
                enc = self.tokenizer(
                    batch,
                    return_tensors="pt",
                    padding=True,
                    truncation=True,
                    max_length=self.max_length,
                ).to(self.device)
                logits = self.model(**enc).logits[:, :-1].float()
                target = enc["input_ids"][:, 1:]
                mask = enc["attention_mask"][:, 1:].float()
                nll = torch.nn.functional.cross_entropy(
                    logits.transpose(1, 2), target, reduction="none"
                )
                mean = (nll * mask).sum(1) / mask.sum(1).clamp(min=1)
                out.extend(math.exp(min(v, 700.0)) for v in mean.tolist())
                if progress:
                    progress(min(start + self.batch_size, len(texts)), len(texts))
        return out


def decide_semantic(table: pl.DataFrame, params: SemanticParams) -> pl.DataFrame:
    """(Re)derive decision/reason from stored entropy/perplexity (null perplexity: not applied)."""
    ppl = pl.col("perplexity")
    reason = (
        pl.when(pl.col("entropy") < params.min_entropy)
        .then(pl.lit("low_entropy"))
        .when(ppl.is_not_null() & (ppl < params.min_perplexity))
        .then(pl.lit("perplexity_too_low"))
        .when(ppl.is_not_null() & (ppl > params.max_perplexity))
        .then(pl.lit("perplexity_too_high"))
        .otherwise(pl.lit(None, dtype=pl.String))
    )
    return decide(table, reason)


def score_semantics(
    kept: pl.DataFrame,
    probabilities: pl.DataFrame,
    scorer: PerplexityScorer | None,
    params: SemanticParams,
    progress: Callable[[int, int], None] | None = None,
) -> pl.DataFrame:
    """Quality-kept sentences of a shard -> entropy, perplexity, decision."""
    table = kept.select("sentence_id", "shard", "text").with_columns(
        entropy_scores(kept, probabilities).alias("entropy")
    )
    # the language model is English: other languages' perplexity is not applied (null)
    english = (kept["lang"] == "en").to_list() if "lang" in kept.columns else [True] * kept.height
    perplexity: list[float | None] = [None] * table.height
    if scorer:
        rows = [i for i, is_en in enumerate(english) if is_en]
        texts = table["text"].to_list()
        values = scorer.score([texts[i] for i in rows], progress)
        for i, value in zip(rows, values, strict=True):
            perplexity[i] = value
    table = table.with_columns(pl.Series("perplexity", perplexity, dtype=pl.Float64))
    return decide_semantic(table, params).select(list(SENTENCE_SEMANTICS_SCHEMA))


def semantic_stats(table: pl.DataFrame) -> dict[str, int]:
    """total, kept and dropped_<reason> (each semantic reason, zeros too) of a decided table."""
    stats = {"total": table.height, "kept": int((table["decision"] == "keep").sum())}
    stats.update({f"dropped_{r}": int((table["reason"] == r).sum()) for r in SEMANTIC_REASONS})
    return stats
