"""clip_evaluation and pipeline_evaluation: measured against the generated world's answers."""

import io
import json
from pathlib import Path

import dagster as dg
import polars as pl
from pydantic import Field

from checks.dagster_checks import check_results, check_specs
from checks.evaluation_suites import CLIP_EVALUATION_SUITE, PIPELINE_EVALUATION_SUITE
from realsyn.evaluation import evaluate_clip, evaluate_pairs
from realsyn.pipeline_eval import pipeline_metrics
from realsyn.plots import histogram_markdown_svg, line_svg, svg_markdown
from realsyn.storage import PartitionNotFound, read_partition_table, write_partition
from realsyn.world_docs import TRUTH_DIR
from realsyn_assets.automation import ACCELERATOR_POOL, retry_transient_io
from realsyn_assets.bucketed import all_image_dedup
from realsyn_assets.metadata import ui_order
from realsyn_assets.text_corpus import materialized
from resources.clip_model import ClipModelResource
from resources.storage import StorageResource


def _truth(corpus, name: str) -> pl.DataFrame | None:
    key = f"{TRUTH_DIR}/{name}.parquet"
    return pl.read_parquet(io.BytesIO(corpus.read_bytes(key))) if corpus.exists(key) else None


def _world_lang(corpus) -> str:
    """The language of the generated world's texts (``world.json``'s params; worlds made
    before it had one are English)."""
    key = f"{TRUTH_DIR}/world.json"
    if not corpus.exists(key):
        return "en"
    return json.loads(corpus.read_bytes(key)).get("params", {}).get("lang", "en")


def _floats(values: dict) -> dict:
    return {
        k: dg.MetadataValue.float(float(v)) if isinstance(v, float) else v
        for k, v in values.items()
        if isinstance(v, (int, float, str))
    }


def _table(rows: dict[str, float], key: str, value: str) -> str:
    lines = [f"| {key} | {value} |", "|---|---:|"]
    return "\n".join(lines + [f"| {k} | {v:.3f} |" for k, v in rows.items()])


class ClipEvaluationConfig(dg.Config):
    """``real_pairs``: JSON-lines files of ``{"image": path relative to the file, "caption"}``
    (e.g. ``../shared/data/images/skimage/pairs_clip_notebook.jsonl``), evaluated when given."""

    real_pairs: list[str] = Field(
        default=[],
        description="JSON-lines files of {image, caption} pairs (image path relative to the "
        "file) to evaluate on; empty: the generated world only.",
    )
    min_image_to_text_r5: float = Field(
        default=0.5,
        description="Floor of the (warning) check on image->text recall@5 on those pairs.",
    )


def _real_pairs(path: str) -> tuple[list[bytes], list[str]]:
    base = Path(path).parent
    rows = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    return [(base / r["image"]).read_bytes() for r in rows], [r["caption"] for r in rows]


@dg.asset(
    deps=["clip_training"],
    check_specs=check_specs("clip_evaluation", CLIP_EVALUATION_SUITE),
    pool=ACCELERATOR_POOL,
    code_version="2",
    group_name="model",
    kinds={"pytorch"},
)
@retry_transient_io
def clip_evaluation(
    context: dg.AssetExecutionContext,
    config: ClipEvaluationConfig,
    storage: StorageResource,
    corpus: StorageResource,
    clip_model: ClipModelResource,
) -> dg.MaterializeResult:
    """Zero-shot retrieval R@1/5/10 and shape/colour accuracy (head vs tail) of the pipeline's CLIP."""
    bundle = clip_model.get()
    held_out = _truth(corpus.get(), "eval")
    metrics: dict = {"model": bundle.identity}
    per_shape: dict[str, float] = {}
    if held_out is not None:
        metrics["world_lang"] = _world_lang(corpus.get())
        result = evaluate_clip(bundle, held_out, lang=metrics["world_lang"])
        per_shape = result.pop("per_shape")
        metrics.update(result)
    else:
        context.log.warning(
            "the corpus has no generated world (_world/eval.parquet): no held-out metrics"
        )
    for path in config.real_pairs:
        for k, v in evaluate_pairs(bundle, *_real_pairs(path)).items():
            metrics[f"real_{Path(path).stem}_{k}"] = v
    table = pl.DataFrame({k: [v] for k, v in metrics.items() if isinstance(v, (int, float))})
    write_partition(
        storage.get(),
        "clip_evaluation",
        None,
        {"metrics": table},
        info={"metrics": metrics, "per_shape": per_shape},
    )
    context.log.info(f"clip_evaluation: {metrics}")
    return dg.MaterializeResult(
        metadata=_clip_metadata(metrics, per_shape, config),
        check_results=_clip_checks(table, config),
    )


def _clip_checks(table: pl.DataFrame, config: ClipEvaluationConfig) -> list:
    if "image_to_text_r5" not in table.columns:  # nothing was measured: say so, not pass
        return [
            dg.AssetCheckResult(
                asset_key="clip_evaluation",
                check_name=CLIP_EVALUATION_SUITE[0].name,
                passed=False,
                severity=dg.AssetCheckSeverity.WARN,
                description="no held-out world in the corpus: the model was not evaluated",
            )
        ]
    return check_results(
        "clip_evaluation", CLIP_EVALUATION_SUITE, {"metrics": table}, config.model_dump()
    )


def _clip_metadata(metrics: dict, per_shape: dict, config: ClipEvaluationConfig) -> dict:
    measured = {k: float(v) for k, v in metrics.items() if isinstance(v, float)}
    shapes = (
        {
            "per_shape_accuracy": dg.MetadataValue.md(
                _table(per_shape, "shape (head first)", "accuracy")
            ),
            "per_shape_plot": dg.MetadataValue.md(
                svg_markdown(
                    line_svg(
                        list(range(1, len(per_shape) + 1)),
                        list(per_shape.values()),
                        "shape accuracy, head to tail",
                    ),
                    "shape accuracy by frequency rank",
                )
            ),
        }
        if per_shape
        else {}
    )
    return ui_order(
        {
            **_floats(metrics),
            "params": dg.MetadataValue.json(config.model_dump()),
            "metrics_table": dg.MetadataValue.md(
                _table(measured, "metric", "value") if measured else "nothing measured"
            ),
            **shapes,
        }
    )


class PipelineEvaluationConfig(dg.Config):
    min_precision_at_1: float = Field(
        default=0.9,
        description="Check floor: share of world images whose text1 truly describes them.",
    )
    min_dedup_recall: float = Field(
        default=0.8,
        description="Check floor: share of the world's planted duplicate images that "
        "image_dedup removed.",
    )


def _all_shards(context, store, asset: str, table: str) -> pl.DataFrame:
    return pl.concat(materialized(context, store, asset, table)[0], how="diagonal_relaxed")


@dg.asset(
    deps=["retrieval_pairs", "image_dedup", "sentences", "sentence_semantics", "clip_training"],
    check_specs=check_specs("pipeline_evaluation", PIPELINE_EVALUATION_SUITE),
    code_version="2",
    group_name="evaluation",
    kinds={"parquet"},
)
@retry_transient_io
def pipeline_evaluation(
    context: dg.AssetExecutionContext,
    config: PipelineEvaluationConfig,
    storage: StorageResource,
    corpus: StorageResource,
) -> dg.MaterializeResult:
    """Retrieval precision@1/@3, dedup and boilerplate-filter precision/recall against the world's truth."""
    store, src = storage.get(), corpus.get()
    truth_images, truth_sentences = _truth(src, "images"), _truth(src, "sentences")
    if truth_images is None or truth_sentences is None:
        raise dg.Failure(
            description=f"{src.uri(TRUTH_DIR)} has no ground truth: pipeline_evaluation needs a "
            "generated world in the corpus (realsyn world)"
        )
    pairs = _all_shards(context, store, "retrieval_pairs", "pairs")
    try:  # the bootstrap's training texts, when this store trained the model
        samples = read_partition_table(store, "clip_training", None, "samples")
    except PartitionNotFound:
        samples = None
    metrics, leaked = pipeline_metrics(
        pairs,
        all_image_dedup(store),
        _all_shards(context, store, "sentences", "sentences"),
        _all_shards(context, store, "sentence_semantics", "semantics"),
        samples,
        truth_images,
        truth_sentences,
    )
    metrics["world_lang"] = _world_lang(src)
    table = pl.DataFrame({k: [v] for k, v in metrics.items()})
    write_partition(
        store,
        "pipeline_evaluation",
        None,
        {"metrics": table},
        info={"metrics": metrics, "leaked": leaked},
    )
    context.log.info(f"pipeline_evaluation: {metrics}")
    return dg.MaterializeResult(
        metadata=_pipeline_metadata(metrics, leaked, pairs, config),
        check_results=check_results(
            "pipeline_evaluation",
            PIPELINE_EVALUATION_SUITE,
            {"metrics": table},
            config.model_dump(),
        ),
    )


def _pipeline_metadata(metrics: dict, leaked: dict, pairs: pl.DataFrame, config) -> dict:
    leaked_md = "\n".join(
        ["| kept boilerplate | times |", "|---|---:|"]
        + [f"| {t} | {n} |" for t, n in leaked.items()]
    )
    return ui_order(
        {
            **_floats(metrics),
            "params": dg.MetadataValue.json(config.model_dump()),
            "model": pairs["model"][0] if pairs.height else "none",
            "metrics_table": dg.MetadataValue.md(
                _table(
                    {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float))},
                    "metric",
                    "value",
                )
            ),
            "score_plot": dg.MetadataValue.md(
                histogram_markdown_svg(
                    pairs["score1"].drop_nulls().to_list(), "cosine of the best sentence"
                )
                if pairs.height
                else "no retrieval pairs"
            ),
            "boilerplate_kept": dg.MetadataValue.md(leaked_md),
        }
    )
