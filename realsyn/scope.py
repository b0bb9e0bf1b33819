"""Retrieval scope: which sentences an image's texts may come from.

* ``corpus`` (the paper, the default): the whole sentence pool, by hierarchical retrieval
  (:func:`realsyn.retrieval.retrieve` or its bucketed form). Needs a CLIP strong enough to pick
  the right sentence among hundreds of millions.
* ``document`` (MMC4-style): only the surviving sentences of the image's own document (page),
  best cosine first. A weak pilot CLIP only has to choose among a few dozen sentences, most of
  them about the page's own subject.
* ``hybrid``: corpus-wide cosine plus a prior ``scope_prior_weight`` added to the cosine of the
  image's own document's sentences (halving every ``scope_prior_halflife`` item positions
  between the image and the sentence's text block when set; the same over the whole document
  when unset). The texts are ranked by that score and recorded with their cosine.

Hybrid is exact given an exact corpus top-k: a sentence of another document ranks on its cosine
alone, so it can only be in the hybrid top-k if it is in the corpus top-k; the hybrid top-k is
therefore the best of (corpus top-k) and (the document's top-k by cosine + prior). With weight 0
it is the corpus scope, plus any same-document sentence the clusters searched missed; with a
huge weight and no half-life it is the document scope wherever the document has ``top_k``
sentences.

Document scope is per shard: an image's document and its sentences come from the same
``raw_documents`` shard, so one shard's surviving sentence vectors are all it reads (never the
pool). :func:`document_topk` is that step; :func:`apply_scope` combines it with a corpus result.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from realsyn.retrieval import RetrievalResult

SCOPES = ("corpus", "document", "hybrid")
SHORT_REASONS = {"corpus": "cluster_too_small", "document": "document_too_small"}


@dataclass(frozen=True)
class ScopeParams:
    """Where an image's texts may come from (see the module doc) and the hybrid prior."""

    scope: str = "corpus"
    scope_prior_weight: float = 0.1
    scope_prior_halflife: float | None = None

    def __post_init__(self) -> None:
        if self.scope not in SCOPES:
            raise ValueError(f"scope must be one of {SCOPES}, got {self.scope!r}")
        if self.scope_prior_weight < 0:
            raise ValueError(f"scope_prior_weight must be >= 0, got {self.scope_prior_weight}")
        if self.scope_prior_halflife is not None and self.scope_prior_halflife <= 0:
            raise ValueError(
                f"scope_prior_halflife must be > 0 or unset, got {self.scope_prior_halflife}"
            )

    def prior(self, distance: np.ndarray) -> np.ndarray:
        """The hybrid bonus of a same-document sentence ``distance`` item positions away."""
        d = np.abs(np.asarray(distance, dtype=np.float64))
        if self.scope_prior_halflife is None:
            return np.full(d.shape, self.scope_prior_weight)
        return self.scope_prior_weight * np.exp2(-d / self.scope_prior_halflife)


@dataclass
class DocumentTopK:
    """Each image's best ``top_k`` sentences of its own document."""

    indices: np.ndarray  # (m, top_k) rows of the document sentences, -1 = none
    cosine: np.ndarray  # (m, top_k) cosine, -inf where none
    rank: np.ndarray  # (m, top_k) the ranking score (cosine, + prior in hybrid), -inf where none
    candidates: np.ndarray  # (m,) sentences of the image's document


def _codes(a: list, b: list) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes of two lists of keys over their union (equal keys, equal codes)."""
    _, inverse = np.unique(
        np.asarray(list(a) + list(b), dtype=object).astype(str), return_inverse=True
    )
    return inverse[: len(a)], inverse[len(a) :]


def document_topk(
    image_docs: list[str],
    image_positions: np.ndarray,
    image_vectors: np.ndarray,
    sentence_docs: list[str],
    sentence_positions: np.ndarray,
    sentence_vectors: np.ndarray,
    top_k: int,
    prior: ScopeParams | None = None,
) -> DocumentTopK:
    """Per image, the ``top_k`` sentences of its own document (``doc_id`` equal), ranked by
    cosine, plus ``prior``'s bonus when given (hybrid). One matrix product per document that
    has images; ties: the lower sentence row first."""
    m = len(image_docs)
    out_i = np.full((m, top_k), -1, dtype=np.int64)
    out_c = np.full((m, top_k), -np.inf, dtype=np.float32)
    out_r = np.full((m, top_k), -np.inf, dtype=np.float64)
    counts = np.zeros(m, dtype=np.int64)
    if m == 0 or len(sentence_docs) == 0:
        return DocumentTopK(out_i, out_c, out_r, counts)
    img_code, sent_code = _codes(image_docs, sentence_docs)
    s_order = np.argsort(sent_code, kind="stable")
    s_sorted = sent_code[s_order]
    i_order = np.argsort(img_code, kind="stable")
    docs, starts = np.unique(img_code[i_order], return_index=True)
    ends = np.append(starts[1:], m)
    img_pos = np.asarray(image_positions, dtype=np.float64)
    sent_pos = np.asarray(sentence_positions, dtype=np.float64)
    images = np.asarray(image_vectors, dtype=np.float32)
    sentences = np.asarray(sentence_vectors, dtype=np.float32)
    for doc, a, b in zip(docs.tolist(), starts.tolist(), ends.tolist(), strict=True):
        lo, hi = np.searchsorted(s_sorted, doc), np.searchsorted(s_sorted, doc, side="right")
        if hi == lo:
            continue
        imgs, rows = i_order[a:b], s_order[lo:hi]
        sims = images[imgs] @ sentences[rows].T
        rank = sims.astype(np.float64)
        if prior is not None:
            rank = rank + prior.prior(img_pos[imgs][:, None] - sent_pos[rows][None, :])
        kk = min(top_k, hi - lo)
        cand = np.broadcast_to(rows, sims.shape)
        best = np.lexsort((cand, -rank), axis=1)[:, :kk]
        out_i[imgs, :kk] = np.take_along_axis(cand, best, 1)
        out_c[imgs, :kk] = np.take_along_axis(sims, best, 1)
        out_r[imgs, :kk] = np.take_along_axis(rank, best, 1)
        counts[imgs] = hi - lo
    return DocumentTopK(out_i, out_c, out_r, counts)


@dataclass
class ScopedResult:
    """One scope's result: indices into ``sentence_ids`` / ``texts`` (only the rows used)."""

    result: RetrievalResult  # scores: cosine; cluster -1 where none was searched
    sentence_ids: list[str]
    texts: list[str]
    short_reason: str  # what a row with fewer than top_k texts records


def _compact(indices: np.ndarray, ids: list[str], texts: list[str]):
    used = np.unique(indices[indices >= 0])
    local = np.where(indices >= 0, np.searchsorted(used, np.maximum(indices, 0)), -1)
    return local, [ids[i] for i in used.tolist()], [texts[i] for i in used.tolist()]


def apply_scope(
    params: ScopeParams,
    corpus: RetrievalResult,
    corpus_ids: list[str],
    corpus_texts: list[str],
    document: DocumentTopK,
    doc_ids: list[str],
    doc_texts: list[str],
) -> ScopedResult:
    """The scope's top-k per image from the corpus result (indices into ``corpus_ids``) and
    the document top-k (indices into ``doc_ids``; for hybrid, ranked with the prior). Both
    must have the run's ``top_k`` columns; ``corpus`` is ignored for ``document``."""
    top_k = document.indices.shape[1]
    m = len(document.indices)
    if params.scope == "corpus":
        return ScopedResult(corpus, corpus_ids, corpus_texts, SHORT_REASONS["corpus"])
    ids = list(corpus_ids) + list(doc_ids)
    texts = list(corpus_texts) + list(doc_texts)
    doc_i = np.where(document.indices >= 0, document.indices + len(corpus_ids), -1)
    if params.scope == "document":
        local, used_ids, used_texts = _compact(doc_i, ids, texts)
        result = RetrievalResult(
            local, document.cosine, np.full(m, -1, dtype=np.int64), document.candidates
        )
        return ScopedResult(result, used_ids, used_texts, SHORT_REASONS["document"])
    # hybrid: the best of both lists by rank
    corpus_codes, doc_codes = _codes(corpus_ids, doc_ids)
    cand_i = np.concatenate([corpus.indices, doc_i], axis=1)
    cand_c = np.concatenate([corpus.scores.astype(np.float32), document.cosine], axis=1)
    cand_r = np.concatenate([corpus.scores.astype(np.float64), document.rank], axis=1)
    code = np.where(
        cand_i >= 0,
        np.concatenate([corpus_codes, doc_codes])[np.maximum(cand_i, 0)] if ids else 0,
        -1,
    )
    # A sentence in both lists keeps its document entry (its cosine from the document's own
    # product, with the prior): never a choice between the same cosine computed by two products.
    k_c = corpus.indices.shape[1]
    in_doc = (code[:, :k_c, None] == code[:, None, k_c:]).any(axis=2) & (code[:, :k_c] >= 0)
    cand_i[:, :k_c] = np.where(in_doc, -1, cand_i[:, :k_c])
    cand_r[:, :k_c] = np.where(in_doc, -np.inf, cand_r[:, :k_c])
    code[:, :k_c] = np.where(in_doc, -1, code[:, :k_c])
    # order: rank, then the sentence (its code); one list position per distinct sentence
    order = np.lexsort((np.where(code < 0, np.iinfo(np.int64).max, code), -cand_r), axis=1)
    cand_i, cand_c, cand_r, code = (
        np.take_along_axis(x, order, 1) for x in (cand_i, cand_c, cand_r, code)
    )
    dup = np.zeros(code.shape, dtype=bool)
    for j in range(1, code.shape[1]):
        dup[:, j] = (code[:, :j] == code[:, j : j + 1]).any(axis=1) & (code[:, j] >= 0)
    cand_r = np.where(dup, -np.inf, cand_r)
    keep = np.lexsort((np.arange(code.shape[1])[None, :].repeat(m, 0), -cand_r), axis=1)[:, :top_k]
    best_i = np.take_along_axis(np.where(dup, -1, cand_i), keep, 1)
    best_c = np.take_along_axis(cand_c, keep, 1)
    best_c = np.where(best_i >= 0, best_c, -np.inf).astype(np.float32)
    local, used_ids, used_texts = _compact(best_i, ids, texts)
    result = RetrievalResult(local, best_c, corpus.cluster, corpus.candidates + document.candidates)
    return ScopedResult(result, used_ids, used_texts, SHORT_REASONS["corpus"])


def result_from_rows(
    rows: pl.DataFrame, top_k: int
) -> tuple[RetrievalResult, list[str], list[str]]:
    """``retrieval_pairs`` rows back into a result (indices into the returned id and text
    lists), e.g. the corpus top-k a review compares the other scopes against."""
    ids: list[str] = []
    texts: list[str] = []
    index: dict[str, int] = {}
    m = rows.height
    idx = np.full((m, top_k), -1, dtype=np.int64)
    scores = np.full((m, top_k), -np.inf, dtype=np.float32)
    for j in range(top_k):
        sid, txt, sc = (rows[f"{c}{j + 1}"].to_list() for c in ("sentence_id", "text", "score"))
        for r in range(m):
            if sid[r] is None:
                continue
            if sid[r] not in index:
                index[sid[r]] = len(ids)
                ids.append(sid[r])
                texts.append(txt[r])
            idx[r, j] = index[sid[r]]
            scores[r, j] = sc[r]
    cluster = (
        rows["cluster_id"].fill_null(-1).to_numpy().astype(np.int64)
        if "cluster_id" in rows.columns
        else np.full(m, -1, dtype=np.int64)
    )
    candidates = (
        rows["n_candidates"].fill_null(0).to_numpy().astype(np.int64)
        if "n_candidates" in rows.columns
        else np.zeros(m, dtype=np.int64)
    )
    return RetrievalResult(idx, scores, cluster, candidates), ids, texts


def empty_result(m: int, top_k: int) -> RetrievalResult:
    """A corpus result with no sentences (document scope searches no cluster)."""
    return RetrievalResult(
        np.full((m, top_k), -1, dtype=np.int64),
        np.full((m, top_k), -np.inf, dtype=np.float32),
        np.full(m, -1, dtype=np.int64),
        np.zeros(m, dtype=np.int64),
    )


def empty_document(m: int, top_k: int) -> DocumentTopK:
    """A document top-k with no sentences (corpus scope reads no document)."""
    return DocumentTopK(
        np.full((m, top_k), -1, dtype=np.int64),
        np.full((m, top_k), -np.inf, dtype=np.float32),
        np.full((m, top_k), -np.inf, dtype=np.float64),
        np.zeros(m, dtype=np.int64),
    )


def scope_rows(
    params: ScopeParams,
    images: pl.DataFrame,
    image_vectors: np.ndarray,
    corpus: tuple[RetrievalResult, list[str], list[str]],
    sentences: pl.DataFrame,
    sentence_vectors: np.ndarray,
    top_k: int = 3,
) -> pl.DataFrame:
    """One scope's texts for a few images (a review round's sample): ``image_id``, ``scope``,
    text/sentence_id/score 1..``top_k``.

    Args:
        images: ``image_id``, ``doc_id``, ``position``, row i described by ``image_vectors[i]``.
        corpus: the images' corpus top-k (result, ids, texts: e.g. :func:`result_from_rows` of
            their retrieval_pairs rows, or an exact search), rows in ``images``' order.
        sentences: at least the images' documents' pool sentences: ``sentence_id``, ``doc_id``,
            ``position``, ``text``, row i described by ``sentence_vectors[i]``.
    """
    doc = document_topk(
        images["doc_id"].to_list(),
        images["position"].to_numpy(),
        image_vectors,
        sentences["doc_id"].to_list(),
        sentences["position"].to_numpy(),
        sentence_vectors,
        top_k,
        params if params.scope == "hybrid" else None,
    )
    result, ids, texts = corpus
    if result.indices.shape[1] < top_k:
        raise ValueError(f"the corpus result has {result.indices.shape[1]} texts, need {top_k}")
    result = RetrievalResult(
        result.indices[:, :top_k], result.scores[:, :top_k], result.cluster, result.candidates
    )
    found = apply_scope(
        params, result, ids, texts, doc, sentences["sentence_id"].to_list(),
        sentences["text"].to_list(),
    )  # fmt: skip
    idx = found.result.indices
    cols: dict[str, list] = {"image_id": images["image_id"].to_list()}
    cols["scope"] = [params.scope] * images.height
    for j in range(top_k):
        ok = idx[:, j] >= 0
        cols[f"text{j + 1}"] = [
            found.texts[i] if o else None for i, o in zip(idx[:, j], ok, strict=True)
        ]
        cols[f"sentence_id{j + 1}"] = [
            found.sentence_ids[i] if o else None for i, o in zip(idx[:, j], ok, strict=True)
        ]
        cols[f"score{j + 1}"] = [
            float(s) if o else None for s, o in zip(found.result.scores[:, j], ok, strict=True)
        ]
    schema = {"image_id": pl.String, "scope": pl.String}
    for j in range(top_k):
        schema |= {f"text{j + 1}": pl.String, f"sentence_id{j + 1}": pl.String}
        schema[f"score{j + 1}"] = pl.Float32
    return pl.DataFrame(cols, schema=schema)
