"""clip_finetune and gain_evaluation per scale: the measured gain of fine-tuning on the release.

``build_finetune_assets(scales)`` makes both with the same scale partitions as
``scaled_subsets``. They run in their own job (``gain``), not in the main job: three seeds of
fine-tuning cost minutes on CPU.
"""

import io

import dagster as dg
import polars as pl
from pydantic import Field

from checks.dagster_checks import check_results, check_specs
from checks.finetune_suites import CLIP_FINETUNE_SUITE, GAIN_EVALUATION_SUITE
from realsyn.finetune import (
    SPLIT_SALT,
    FinetuneParams,
    bundle_from_bytes,
    compare,
    describes_pairs,
    finetune_pairs,
    finetune_seeds,
    pair_hits,
    split_images,
    start_checkpoint,
    truth_pairs,
    without_trained,
    world_hits,
)
from realsyn.report import preview_markdown
from realsyn.schemas import image_blob_key
from realsyn.storage import (
    PartitionNotFound,
    partition_file_key,
    read_manifest,
    read_partition_table,
    write_partition,
)
from realsyn.world_docs import TRUTH_DIR
from realsyn_assets.automation import ACCELERATOR_POOL, retry_transient_io
from realsyn_assets.evaluation import _truth
from realsyn_assets.metadata import ui_order
from realsyn_assets.progress import progress_logger
from realsyn_assets.review import review_rounds
from resources.storage import StorageResource

TRAINED = "asset:clip_training"
START = "start.pt"


class ClipFinetuneConfig(dg.Config):
    start: str = Field(
        default=TRAINED,
        description="The model fine-tuned: asset:clip_training (the bootstrapped model), "
        "pretrained:<tag> (open_clip's tag; needs network or the hub cache) or a local "
        "checkpoint file.",
    )
    model_name: str = Field(default="realsyn-tiny", description="The open_clip architecture.")
    seeds: list[int] = Field(
        default=list(FinetuneParams.seeds), description="One fine-tuning run per seed."
    )
    epochs: int = Field(default=FinetuneParams.epochs, description="Epochs per seed.")
    batch_size: int = Field(default=FinetuneParams.batch_size, description="Samples per step.")
    lr: float = Field(default=FinetuneParams.lr, description="AdamW's peak learning rate.")
    jitter: float = Field(default=FinetuneParams.jitter, description="Crop scale in [1-j, 1].")
    held_out_fraction: float = Field(
        default=FinetuneParams.held_out_fraction,
        description="Share of the scale's images (by a salted hash of sha256) never trained on.",
    )
    precision: str = Field(default=FinetuneParams.precision, description="auto, bf16 or fp32.")
    max_seconds: float = Field(
        default=FinetuneParams.max_seconds,
        description="A per-seed safety net, never a budget: hitting it fails a blocking check.",
    )


def _params(config: ClipFinetuneConfig) -> FinetuneParams:
    fields = FinetuneParams.__dataclass_fields__
    values = {k: v for k, v in config.model_dump().items() if k in fields}
    return FinetuneParams(**{**values, "seeds": tuple(config.seeds)})


def _start(store, config: ClipFinetuneConfig) -> tuple[bytes, str]:
    if config.start.startswith("pretrained:"):
        return start_checkpoint(config.model_name, pretrained=config.start.split(":", 1)[1])
    if config.start != TRAINED:
        return start_checkpoint(config.model_name, checkpoint_path=config.start)
    manifest = read_manifest(store, "clip_training", None)
    if manifest["info"].get("model_name", config.model_name) != config.model_name:
        raise dg.Failure(
            description=f"clip_training holds a {manifest['info']['model_name']} checkpoint, "
            f"not {config.model_name}: set model_name"
        )
    key = partition_file_key("clip_training", None, manifest["version"], "checkpoint.pt")
    with store.local_path(key) as path:
        return start_checkpoint(config.model_name, checkpoint_path=str(path))


def _finetune_inputs(store, key: str, params: FinetuneParams):
    """The scale's images split into fine-tune and held-out, and the fine-tune pairs."""
    subset = read_partition_table(store, "scaled_subsets", key, "subset")
    split = split_images(subset["sha256"].to_list(), params.held_out_fraction)
    pairs = finetune_pairs(subset, split)
    if pairs.height < 2:
        raise dg.Failure(description=f"{key}: only {pairs.height} pair(s) to fine-tune on")
    return split, pairs


def _runs_table(runs) -> pl.DataFrame:
    """One row per fine-tuning seed: samples, steps, final loss, seconds, why it stopped."""
    return pl.DataFrame(
        [{"seed": s, **{k: st[k] for k in ("samples", "steps", "planned_steps")},
          "final_loss": st["final_loss"], "seconds": st["seconds"],
          "stop_reason": st["stop_reason"]} for s, _, st in runs],
        schema_overrides={"stop_reason": pl.String},
    )  # fmt: skip


def _held_out_sets(context, store, corpus, key: str) -> tuple[dict, dict]:
    """The held-out evaluation sets (images the scale did not fine-tune on) and their counts."""
    trained = set(
        read_partition_table(store, "clip_finetune", key, "split")
        .filter(pl.col("split") == "finetune")["sha256"]
        .to_list()
    )
    sets, stats = _evaluation_sets(context, store, corpus.get(), trained)
    release = _release_truth_set(store, corpus.get(), key, trained)
    if release is not None:
        sets["release_truth"], stats["release_truth_pairs"] = release
    if not sets:
        raise dg.Failure(
            description="nothing held out to evaluate on: no generated world in the corpus "
            "(_world/eval.parquet) and no review round with labels (realsyn review new, "
            "then label it)"
        )
    return sets, stats


def _before_after(store, key: str, version: str, info: dict, sets: dict):
    """Each evaluation set's hits for the start model and for every seed's fine-tuned model."""

    def model(name: str):
        blob = store.read_bytes(partition_file_key("clip_finetune", key, version, name))
        return bundle_from_bytes(info["model_name"], blob)

    before = {name: hits(model(START)) for name, hits in sets.items()}
    after: dict[str, dict] = {name: {} for name in sets}
    for seed in info["seeds"]:
        bundle = model(f"seed{seed}.pt")
        for name, hits in sets.items():
            after[name][seed] = hits(bundle)
    return before, after


def _metadata(config, key, summary, stats, info, written):
    """The asset page: the gain table, headline figures, counts."""
    headline = {
        f"{r['evaluation_set']}_{r['metric']}_{c}": dg.MetadataValue.float(float(r[c]))
        for r in summary.to_dicts()
        for c in ("before", "after_mean", "gain_mean")
    }
    return ui_order(
        {
            "gain_table": dg.MetadataValue.md(_gain_markdown(summary)),
            **headline,
            **{k: dg.MetadataValue.int(v) for k, v in stats.items()},
            "start": info["start_identity"],
            "intervals": "t: Student t over fine-tuning seeds (min/max beside it); "
            "boot: paired bootstrap over held-out queries of the seed-mean gain",
            "params": dg.MetadataValue.json({**config.model_dump(), "scale": key}),
            "version": written["version"],
        }
    )


def build_finetune_assets(scales: tuple[int, ...]) -> list:
    scale_partitions = dg.StaticPartitionsDefinition([f"t{t}" for t in sorted(scales)])

    @dg.asset(
        partitions_def=scale_partitions,
        deps=["scaled_subsets", "clip_training"],
        check_specs=check_specs("clip_finetune", CLIP_FINETUNE_SUITE),
        pool=ACCELERATOR_POOL,
        code_version="1",
        group_name="gain",
        kinds={"pytorch"},
    )
    @retry_transient_io
    def clip_finetune(
        context: dg.AssetExecutionContext, config: ClipFinetuneConfig, storage: StorageResource
    ) -> dg.MaterializeResult:
        """An existing CLIP fine-tuned on the scale's pairs (held-out images kept out), per seed."""
        store, key, params = storage.get(), context.partition_key, _params(config)
        split, pairs = _finetune_inputs(store, key, params)
        start, identity = _start(store, config)
        loggers: dict[int, object] = {}  # one per seed: each reports its own rate and ETA

        def report(seed: int, step: int, total: int, loss: float) -> None:
            if seed not in loggers:
                loggers[seed] = progress_logger(
                    context.log.info, f"clip_finetune {key} seed {seed}"
                )
            loggers[seed](step, total, f"loss {loss:.3f}")

        runs = finetune_seeds(
            config.model_name,
            start,
            [store.read_bytes(image_blob_key(s)) for s in pairs["sha256"].to_list()],
            pairs["texts"].to_list(),
            params,
            report,
        )
        table = _runs_table(runs)
        counts = split.group_by("split").len()
        stats = dict(zip(counts["split"], counts["len"], strict=True))
        manifest = write_partition(
            store, "clip_finetune", key, {"split": split, "runs": table},
            info={"start_identity": identity, "model_name": config.model_name,
                  "seeds": list(params.seeds), "split": stats, "split_salt": SPLIT_SALT,
                  "params": config.model_dump()},
            files={START: start, **{f"seed{s}.pt": ckpt for s, ckpt, _ in runs}},
        )  # fmt: skip
        return dg.MaterializeResult(
            metadata=ui_order(
                {
                    "start": identity,
                    "finetune_images": dg.MetadataValue.int(stats.get("finetune", 0)),
                    "held_out_images": dg.MetadataValue.int(stats.get("held_out", 0)),
                    "runs_preview": dg.MetadataValue.md(
                        preview_markdown(table.to_dicts(), list(table.columns))
                    ),
                    "params": dg.MetadataValue.json({**config.model_dump(), "scale": key}),
                    "version": manifest["version"],
                }
            ),  # fmt: skip
            data_version=dg.DataVersion(manifest["version"]),
            check_results=check_results(
                "clip_finetune", CLIP_FINETUNE_SUITE, {"split": split, "runs": table}
            ),
        )

    class GainEvaluationConfig(dg.Config):
        min_queries: int = Field(20, description="Fewer held-out queries per figure: a warning.")
        max_regression: float = Field(
            0.05, description="A figure whose mean gain is below minus this: a warning."
        )
        bootstrap_samples: int = Field(2000, description="Resamples of the held-out queries.")
        confidence: float = Field(0.95, description="Confidence of both intervals.")

    @dg.asset(
        partitions_def=scale_partitions,
        deps=[
            clip_finetune,
            "scaled_subsets",
            dg.AssetDep("review_sample", partition_mapping=dg.AllPartitionMapping()),
            dg.AssetDep("review_labels", partition_mapping=dg.AllPartitionMapping()),
        ],
        check_specs=check_specs("gain_evaluation", GAIN_EVALUATION_SUITE),
        pool=ACCELERATOR_POOL,
        code_version="1",
        group_name="gain",
        kinds={"parquet"},
    )
    @retry_transient_io
    def gain_evaluation(
        context: dg.AssetExecutionContext,
        config: GainEvaluationConfig,
        storage: StorageResource,
        corpus: StorageResource,
    ) -> dg.MaterializeResult:
        """Before vs after fine-tuning on held-out pairs: R@1/R@5 both ways, zero-shot accuracy."""
        store, key = storage.get(), context.partition_key
        manifest = read_manifest(store, "clip_finetune", key)
        info, version = manifest["info"], manifest["version"]
        sets, stats = _held_out_sets(context, store, corpus, key)
        before, after = _before_after(store, key, version, info, sets)
        frames = [compare(before[n], after[n], n, config.confidence, config.bootstrap_samples)
                  for n in sets]  # fmt: skip
        per_seed = pl.concat([f[0] for f in frames])
        summary = pl.concat([f[1] for f in frames])
        written = write_partition(
            store, "gain_evaluation", key, {"summary": summary, "per_seed": per_seed},
            info={"stats": stats, "start_identity": info["start_identity"],
                  "clip_finetune_version": version},
        )  # fmt: skip
        return dg.MaterializeResult(
            metadata=_metadata(config, key, summary, stats, info, written),
            data_version=dg.DataVersion(written["version"]),
            check_results=check_results(
                "gain_evaluation",
                GAIN_EVALUATION_SUITE,
                {"summary": summary},
                config.model_dump(),
            ),  # fmt: skip
        )

    return [clip_finetune, gain_evaluation]


def _evaluation_sets(context, store, corpus, trained: set[str]) -> tuple[dict, dict]:
    """name -> (bundle -> per-query hits), and counts of what was held out or dropped."""
    sets, stats = {}, {}
    held_out = _truth(corpus, "eval")
    if held_out is not None:
        held_out, dropped = without_trained(held_out, trained)
        stats.update(world_images=held_out.height, world_dropped_trained=dropped)
        sets["world"] = lambda bundle: world_hits(bundle, held_out)
    frames = []
    for round_key in sorted(context.instance.get_dynamic_partitions(review_rounds.name)):
        try:
            items = read_partition_table(store, "review_sample", round_key, "items")
            labels = read_partition_table(store, "review_labels", round_key, "labels")
        except PartitionNotFound:
            continue  # a round not labelled yet has no human pairs
        frames.append(describes_pairs(items, labels))
    if frames:
        pairs = pl.concat(frames).unique().sort("sha256", "text")
        kept = pairs.filter(~pl.col("sha256").is_in(sorted(trained)))
        stats.update(human_pairs=kept.height, human_dropped_trained=pairs.height - kept.height)
        if kept.height:
            sets["human"] = lambda bundle: pair_hits(
                bundle, kept, lambda s: store.read_bytes(image_blob_key(s))
            )
    return sets, stats


def _release_truth_set(store, corpus, key: str, trained: set[str]):
    """On a generated world: the scale's held-out images with the texts that truly describe
    them, as (bundle -> hits, pair count); None without truth or without such pairs."""
    # the world's truth files (not the assets of the same names)
    keys = (f"{TRUTH_DIR}/images.parquet", f"{TRUTH_DIR}/sentences.parquet")
    if not all(corpus.exists(k) for k in keys):
        return None
    truth_images, truth_sentences = (
        pl.read_parquet(io.BytesIO(corpus.read_bytes(k))) for k in keys
    )
    subset = read_partition_table(store, "scaled_subsets", key, "subset")
    pairs = truth_pairs(
        subset.filter(~pl.col("sha256").is_in(sorted(trained))), truth_images, truth_sentences
    )
    if not pairs.height:
        return None
    return (
        lambda bundle: pair_hits(bundle, pairs, lambda s: store.read_bytes(image_blob_key(s))),
        pairs.height,
    )


def _gain_markdown(summary: pl.DataFrame) -> str:
    lines = [
        "| set | metric | queries | before | after (mean) | gain | min..max | t 95% | boot 95% |",
        "|---|---|---:|---:|---:|---:|---|---|---|",
    ]
    for r in summary.to_dicts():
        lines.append(
            f"| {r['evaluation_set']} | {r['metric']} | {r['queries']} | {r['before']:.3f} | "
            f"{r['after_mean']:.3f} | {r['gain_mean']:+.3f} | {r['gain_min']:+.3f}.."
            f"{r['gain_max']:+.3f} | {r['gain_t_low']:+.3f}..{r['gain_t_high']:+.3f} | "
            f"{r['gain_boot_low']:+.3f}..{r['gain_boot_high']:+.3f} |"
        )
    return "\n".join(lines)
