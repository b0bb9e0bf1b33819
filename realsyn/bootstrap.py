"""The bootstrap's training pairs: what each round of ``clip_training`` learns from.

The bootstrap has rounds. Round 1 learns from alt texts alone (:func:`alt_text_pairs`); alt texts
never state size or position, so that model cannot tell ``a small red circle`` from ``a large
red circle``. A refinement round (:func:`refine_pairs`) adds the page sentences near each image
(:func:`context_sentences`) that the previous model ranks among the image's nearest sentences of
the corpus (near on the page and in the model's space: :func:`rank_context_texts`), which do
state them, and trains on (MMC4 assigns page sentences to images by CLIP similarity the same
way). A released subset trains as RealSyn does, on each image's 4 texts (:func:`subset_pairs`).
The training loop itself is :func:`realsyn.train.train_clip`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import polars as pl


def context_sentences(
    images: pl.DataFrame, sentences: pl.DataFrame, window: int, only_kept: bool = True
) -> pl.DataFrame:
    """The sentences (the kept ones, or all with ``only_kept=False``) of the text items within
    ``window`` positions of each kept image in its document: (``sha256``, ``text``) rows,
    distinct. A page's own descriptions of an image sit there, and so do its neighbours'
    descriptions, distractors and narrative."""
    kept = images.filter(pl.col("decision") == "keep").select("doc_id", "position", "sha256")
    if only_kept:
        sentences = sentences.filter(pl.col("decision") == "keep")
    return (
        kept.join(
            sentences.select("doc_id", pl.col("position").alias("text_position"), "text"),
            on="doc_id",
        )
        .filter((pl.col("text_position") - pl.col("position")).abs() <= window)
        .select("sha256", "text")
        .unique(maintain_order=True)
    )


def alt_text_pairs(
    items: pl.DataFrame,
    images: pl.DataFrame,
    sentences: pl.DataFrame | None = None,
    window: int = 1,
) -> pl.DataFrame:
    """Bootstrap pairs from a corpus: each kept image with the texts its page puts beside it,
    as web-scale CLIPs were first trained: its alt text, and (when ``sentences`` is given) the
    kept sentences of the text items within ``window`` positions of it in its document.

    Args:
        items: ``raw_documents`` items (``item_id``, ``alt_text``).
        images: ``clean_images`` rows (``image_id``, ``doc_id``, ``position``, ``sha256``,
            ``decision``).
        sentences: ``sentences`` rows (``doc_id``, ``position``, ``text``, ``decision``).

    Returns:
        One row per distinct kept image (``sha256``) with ``texts``: its distinct texts.
    """
    kept = images.filter(pl.col("decision") == "keep").select("image_id", "sha256")
    alt = items.filter(pl.col("alt_text").str.strip_chars().str.len_chars() > 0).select(
        pl.col("item_id").alias("image_id"), pl.col("alt_text").str.strip_chars().alias("text")
    )
    texts = [kept.join(alt, on="image_id").select("sha256", "text")]
    if sentences is not None and window > 0:
        texts.append(context_sentences(images, sentences, window))
    return (
        pl.concat(texts)
        .group_by("sha256")
        .agg(pl.col("text").unique(maintain_order=True).alias("texts"))
        .sort("sha256")
    )


def select_context_texts(
    image_vectors: np.ndarray,
    candidates: Sequence[Sequence[int]],
    pool_vectors: np.ndarray,
    top_k: int = 10,
    pool_limit: int = 50_000,
    seed: int = 0,
    chunk: int = 1024,
    reference_rows: np.ndarray | None = None,
) -> list[list[int]]:
    """Which of its page's sentences describe each image, by a first model's embeddings.

    A candidate sentence (one near the image in its document) is kept when the image would
    rank it among its ``top_k`` nearest sentences of the whole pool: it is near the image on
    the page *and* in the model's space. Distractors (other scenes), the neighbouring image's
    descriptions and narrative rank far lower. On the demo world, with the model trained on alt
    texts alone, 99.4% of the sentences kept at ``top_k`` 10 truly describe their image
    (against 36% of all candidates within 2 positions), and they state what alt texts never
    do (size, position), which a second round of training then learns.

    Args:
        image_vectors: (n, d) unit vectors of the images.
        candidates: per image, row numbers into ``pool_vectors`` of its candidate sentences.
        pool_vectors: (m, d) unit vectors of the sentences (distinct kept sentences).
        top_k: rank a candidate must reach among the pool. A pool larger than ``pool_limit``
            is sampled down (seeded) and ``top_k`` scaled with it.
        reference_rows: the rows of ``pool_vectors`` that make the pool the rank is taken in
            (default: all).

    Returns:
        Per image, the kept candidates' row numbers (in the given order).
    """
    return rank_context_texts(
        image_vectors, candidates, pool_vectors, (top_k,), pool_limit, seed, chunk, reference_rows
    )[0]


def rank_context_texts(
    image_vectors: np.ndarray,
    candidates: Sequence[Sequence[int]],
    pool_vectors: np.ndarray,
    ranks: Sequence[int],
    pool_limit: int = 50_000,
    seed: int = 0,
    chunk: int = 1024,
    reference_rows: np.ndarray | None = None,
) -> list[list[list[int]]]:
    """:func:`select_context_texts` for several ranks at once (one pass over the pool): per
    rank, per image, the candidates ranked within it."""
    if len(candidates) != len(image_vectors):
        raise ValueError(f"{len(candidates)} candidate lists for {len(image_vectors)} images")
    if any(k < 1 for k in ranks):
        raise ValueError(f"top_k must be >= 1, got {list(ranks)}")
    rows = np.arange(len(pool_vectors)) if reference_rows is None else np.asarray(reference_rows)
    m = len(rows)
    kept: list[list[list[int]]] = [[] for _ in ranks]
    if m == 0:
        return [[[] for _ in candidates] for _ in ranks]
    ks = [min(k, m) for k in ranks]
    if m > pool_limit:
        rows = np.random.default_rng(seed).choice(rows, pool_limit, replace=False)
        ks = [max(1, round(k * pool_limit / m)) for k in ranks]
    reference = pool_vectors[rows]
    n_ref = len(reference)
    # A candidate that is itself in the reference takes its score from the very matrix the
    # thresholds come from: the same float, so "is it the k-th best" has one answer on any BLAS
    # (a second product, e.g. a matrix-vector one, can round the same score differently).
    column = np.full(len(pool_vectors), -1, dtype=np.int64)
    column[rows] = np.arange(n_ref)
    for start in range(0, len(image_vectors), chunk):
        block = image_vectors[start : start + chunk]
        full = block @ reference.T
        sims = np.partition(full, [n_ref - k for k in ks], axis=1)
        thresholds = sims[:, [n_ref - k for k in ks]]  # (images, ranks): each rank's k-th best
        del sims
        for i, own in enumerate(candidates[start : start + len(block)]):
            scores = _candidate_scores(own, column, full[i], pool_vectors, block[i])
            for r in range(len(ks)):
                kept[r].append(
                    [c for c, v in zip(own, scores, strict=True) if v >= thresholds[i, r]]
                )
    return kept


def _candidate_scores(
    own: Sequence[int],
    column: np.ndarray,
    reference_scores: np.ndarray,
    pool_vectors: np.ndarray,
    image_vector: np.ndarray,
) -> list[float]:
    """Each candidate's similarity to the image: read from the reference product where the
    candidate is a reference row, computed only for candidates outside the reference."""
    if not own:
        return []
    own = np.asarray(own, dtype=np.int64)
    cols = column[own]
    scores = np.empty(len(own), dtype=reference_scores.dtype)
    inside = cols >= 0
    scores[inside] = reference_scores[cols[inside]]
    if not inside.all():
        scores[~inside] = pool_vectors[own[~inside]] @ image_vector
    return scores.tolist()


def subset_pairs(subset: pl.DataFrame) -> pl.DataFrame:
    """Pairs from a ``scaled_subsets`` partition: each image with its (up to) 4 texts, of which a
    training step draws one, as RealSyn trains."""
    cols = [c for c in ("text1", "text2", "text3", "syn_text") if c in subset.columns]
    return (
        subset.select("sha256", pl.concat_list(cols).list.drop_nulls().alias("texts"))
        .filter(pl.col("texts").list.len() > 0)
        .unique("sha256", keep="first", maintain_order=True)
        .sort("sha256")
    )


def refine_pairs(
    model,
    pairs: pl.DataFrame,
    candidates: pl.DataFrame,
    pool: Sequence[str],
    image_bytes: Callable[[str], bytes],
    top_k: int = 20,
    progress: Callable[[int, int], None] | None = None,
    negative_rank: int | None = None,
) -> tuple[pl.DataFrame, dict]:
    """One refinement round of the bootstrap: each image's page sentences that ``model`` (the
    previous round's) ranks among its ``top_k`` nearest pool sentences (:func:`select_context_texts`)
    join its alt texts as training texts. Images with no alt text but chosen sentences become
    samples too.

    Args:
        model: a loaded :class:`realsyn.clip.ClipBundle`.
        pairs: (``sha256``, ``texts``): the alt-text pairs.
        candidates: (``sha256``, ``text``): :func:`context_sentences`.
        pool: the distinct kept sentences of the corpus (the ranking reference).
        image_bytes: reads an image by ``sha256``.
        negative_rank: when given, the candidates that ``model`` does not even rank among the
            image's ``negative_rank`` nearest pool sentences become its ``negatives`` (near it
            on the page, far from it in the model's space: narrative, other scenes).

    Returns:
        (pairs with ``texts``, ``alt_texts``, ``context_texts`` and ``negatives``, stats).
    """
    from realsyn.clip import encode_images, encode_texts

    alt = dict(zip(pairs["sha256"].to_list(), pairs["texts"].to_list(), strict=True))
    grouped = candidates.group_by("sha256", maintain_order=True).agg("text")
    near = dict(zip(grouped["sha256"].to_list(), grouped["text"].to_list(), strict=True))
    shas = sorted(set(alt) | set(near))
    texts = list(dict.fromkeys([*pool, *candidates["text"].to_list()]))
    row_of = {t: i for i, t in enumerate(texts)}
    image_vectors = encode_images(model, [image_bytes(s) for s in shas], progress=progress)
    text_vectors = encode_texts(model, texts)
    own = []
    for sha in shas:
        known = set(alt.get(sha, ()))
        own.append([row_of[t] for t in near.get(sha, ()) if t not in known])
    pool_rows = np.array([row_of[t] for t in dict.fromkeys(pool)], dtype=np.int64)
    # rank against the pool, score the candidates: candidates index the full text matrix
    ranked = rank_context_texts(
        image_vectors,
        own,
        text_vectors,
        (top_k, negative_rank) if negative_rank else (top_k,),
        reference_rows=pool_rows,
    )
    kept = ranked[0]
    rows = []
    for k, (sha, picked) in enumerate(zip(shas, kept, strict=True)):
        alt_texts = list(alt.get(sha, []))
        chosen = [texts[j] for j in picked]
        negatives = []
        if negative_rank:
            close = set(ranked[1][k])
            negatives = [texts[j] for j in own[k] if j not in close]
        if alt_texts or chosen:
            rows.append((sha, alt_texts + chosen, alt_texts, chosen, negatives))
    out = pl.DataFrame(
        rows,
        schema={
            "sha256": pl.String,
            "texts": pl.List(pl.String),
            "alt_texts": pl.List(pl.String),
            "context_texts": pl.List(pl.String),
            "negatives": pl.List(pl.String),
        },
        orient="row",
    )
    stats = {
        "candidates": sum(len(o) for o in own),
        "chosen": sum(len(k) for k in kept),
        "images_with_chosen": sum(bool(k) for k in kept),
        "new_samples": sum(1 for s, k in zip(shas, kept, strict=True) if k and s not in alt),
        "samples": out.height,
        "negatives": int(out["negatives"].list.len().sum()) if out.height else 0,
    }
    return out, stats
