"""How good the pipeline's decisions are on a generated world, whose answers are known.

* :func:`retrieval_precision`: of the sentences ``retrieval_pairs`` chose per image, the share
  that truly describe it (``realsyn.world.describes``): precision@1 (text1) and @3.
* :func:`dedup_quality`: image de-duplication against the injected exact and near copies,
  counted per image row: a flagged duplicate is right when its survivor shows the same
  original scene.
* :func:`filter_quality`: the sentence filters (``sentences`` + ``sentence_semantics``)
  against the injected boilerplate, per extracted sentence.
"""

from __future__ import annotations

import polars as pl

from realsyn.language import repair
from realsyn.world import describes


def _ratio(a: int, b: int) -> float:
    return a / b if b else float("nan")


def _by_text(truth_sentences: pl.DataFrame, column: str) -> dict:
    """Truth sentence text -> ``column``, the text keyed as the sentence stage stores it
    (``realsyn.language.repair``: ftfy folds full-width punctuation such as Japanese ``！``)."""
    texts = [repair(t) for t in truth_sentences["text"].to_list()]
    return dict(zip(texts, truth_sentences[column].to_list(), strict=True))


def retrieval_precision(
    pairs: pl.DataFrame, truth_images: pl.DataFrame, truth_sentences: pl.DataFrame
) -> dict:
    """Precision@1/@3 over retrieval rows whose image is a world image.

    Args:
        pairs: ``retrieval_pairs`` rows (``sha256``, ``text1..3``).
        truth_images: the world's ``images`` table (``sha256``, ``concepts``).
        truth_sentences: the world's ``sentences`` table (``text``, ``concepts``).
    """
    img = dict(
        zip(truth_images["sha256"].to_list(), truth_images["concepts"].to_list(), strict=True)
    )
    sent = _by_text(truth_sentences, "concepts")
    rows = pairs.filter(pl.col("sha256").is_in(list(img)))
    at1, at3, n3, foreign = 0, 0, 0, 0
    for sha, *texts in rows.select("sha256", "text1", "text2", "text3").iter_rows():
        concepts = img[sha]
        for k, text in enumerate(texts):
            if text is None:
                continue
            if text not in sent:
                foreign += 1
            ok = describes(sent.get(text, ()), concepts)
            at3 += ok
            n3 += 1
            if k == 0:
                at1 += ok
    return {
        "world_images": rows.height,
        "precision_at_1": _ratio(at1, rows.height),
        "precision_at_3": _ratio(at3, n3),
        "texts_from_outside_the_world": foreign,
    }


def dedup_quality(survival: pl.DataFrame, truth_images: pl.DataFrame) -> dict:
    """Precision/recall of image de-duplication over world images that passed quality filters.

    Args:
        survival: ``image_dedup`` rows (``image_id``, ``sha256``, ``duplicate_of``, ``reason``).
        truth_images: the world's ``images`` table (``sha256``, ``dup_group``).
    """
    group = dict(
        zip(truth_images["sha256"].to_list(), truth_images["dup_group"].to_list(), strict=True)
    )
    rows = survival.filter(
        pl.col("sha256").is_in(list(group))
        & (pl.col("survives") | pl.col("reason").is_in(["exact_dup", "near_dup", "semantic_dup"]))
    )
    sha_of = dict(zip(rows["image_id"].to_list(), rows["sha256"].to_list(), strict=True))
    flagged = rows.filter(pl.col("duplicate_of").is_not_null())
    right = sum(
        group[sha] == group.get(sha_of.get(rep, ""), None)
        for sha, rep in flagged.select("sha256", "duplicate_of").iter_rows()
    )
    groups = rows.with_columns(pl.col("sha256").replace_strict(group).alias("g"))["g"]
    should = groups.len() - groups.n_unique()  # every copy beyond the first of each scene
    by_reason = flagged.group_by("reason").len().sort("reason")
    return {
        "world_image_rows": rows.height,
        "true_duplicates": should,
        "flagged": flagged.height,
        "flagged_right": right,
        "precision": _ratio(right, flagged.height),
        "recall": _ratio(right, should),
        **{f"flagged_{r}": n for r, n in by_reason.iter_rows()},
    }


def filter_quality(
    sentences: pl.DataFrame, semantics: pl.DataFrame, truth_sentences: pl.DataFrame
) -> dict:
    """Precision/recall of "dropped" as a boilerplate detector, per extracted world sentence.

    A sentence counts as dropped when ``sentences`` or ``sentence_semantics`` dropped it. A
    sentence that is a piece of a boilerplate line (the splitter may cut one in two) is
    boilerplate; sentences found nowhere in the truth are counted apart. Boilerplate that the
    HTML reader removed with the page's navigation and footer never becomes a sentence and is
    not counted here.
    """
    label = _by_text(truth_sentences, "label")
    boiler = [t for t, lab in label.items() if lab == "boilerplate"]
    later = dict(
        zip(semantics["sentence_id"].to_list(), semantics["decision"].to_list(), strict=True)
    )
    tp = fp = fn = unmatched = 0
    leaked: dict[str, int] = {}
    for sid, text, decision in sentences.select("sentence_id", "text", "decision").iter_rows():
        lab = label.get(text) or ("boilerplate" if any(text in b for b in boiler) else None)
        if lab is None:
            unmatched += 1
            continue
        dropped = decision == "drop" or later.get(sid) == "drop"
        if lab == "boilerplate":
            tp += dropped
            fn += not dropped
            if not dropped:
                leaked[text] = leaked.get(text, 0) + 1
        else:
            fp += dropped
    return {
        "boilerplate_dropped": tp,
        "boilerplate_kept": fn,
        "other_dropped": fp,
        "precision": _ratio(tp, tp + fp),
        "recall": _ratio(tp, tp + fn),
        "unmatched_sentences": unmatched,
        "leaked": dict(sorted(leaked.items(), key=lambda kv: -kv[1])),
    }


def bootstrap_text_quality(
    samples: pl.DataFrame, truth_images: pl.DataFrame, truth_sentences: pl.DataFrame
) -> dict:
    """How true the bootstrap's page sentences are: the share of those a refinement round chose
    as training texts (``clip_training``'s samples) that describe their image, and of those it
    used as negatives (there, lower is better). Alt texts are not scored: most are not
    sentences of the world's truth table.

    Args:
        samples: ``clip_training`` samples (``sha256``, ``context_texts``, ``negatives``).
    """
    img = dict(
        zip(truth_images["sha256"].to_list(), truth_images["concepts"].to_list(), strict=True)
    )
    sent = _by_text(truth_sentences, "concepts")
    out: dict = {}
    for column, count, share in (
        ("context_texts", "chosen_sentences", "chosen_sentence_precision"),
        # negatives that do describe their image are mistakes: lower is better
        ("negatives", "negatives", "negatives_describing_share"),
    ):
        if column not in samples.columns:
            continue
        ok = n = 0
        for sha, texts in samples.select("sha256", column).iter_rows():
            if sha not in img:
                continue
            for text in texts or ():
                ok += describes(sent.get(text, ()), img[sha])
                n += 1
        out[count] = n
        out[share] = _ratio(ok, n)
    return out


def pipeline_metrics(
    pairs: pl.DataFrame,
    survival: pl.DataFrame,
    sentences: pl.DataFrame,
    semantics: pl.DataFrame,
    samples: pl.DataFrame | None,
    truth_images: pl.DataFrame,
    truth_sentences: pl.DataFrame,
) -> tuple[dict, dict]:
    """Every measure against the world's truth in one flat dict (retrieval, ``dedup_*``,
    ``filter_*``, ``bootstrap_*`` when ``samples`` are the store's training texts), and the
    boilerplate sentences the filters kept (text -> times)."""
    filters = filter_quality(sentences, semantics, truth_sentences)
    leaked = filters.pop("leaked")
    bootstrap = (
        bootstrap_text_quality(samples, truth_images, truth_sentences)
        if samples is not None
        else {}
    )
    metrics = {
        **retrieval_precision(pairs, truth_images, truth_sentences),
        **{f"dedup_{k}": v for k, v in dedup_quality(survival, truth_images).items()},
        **{f"filter_{k}": v for k, v in filters.items()},
        **{f"bootstrap_{k}": v for k, v in bootstrap.items()},
    }
    return metrics, leaked
