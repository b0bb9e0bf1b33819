"""clip_training: an open_clip model trained on the corpus's own pairs (the demo's bootstrap)."""

import hashlib
import json
from typing import Literal

import dagster as dg
import polars as pl

from checks.corpus_suites import CLIP_TRAINING_SUITE
from checks.dagster_checks import check_results, check_specs
from realsyn.plots import line_svg, svg_markdown
from realsyn.report import preview_markdown
from realsyn.schemas import image_blob_key
from realsyn.storage import (
    PartitionNotFound,
    parquet_bytes,
    partition_prefix,
    read_manifest,
    read_partition_table,
    write_partition,
)
from realsyn.train import TrainParams, alt_text_pairs, subset_pairs, train_clip
from realsyn_assets.automation import ACCELERATOR_POOL, retry_transient_io
from realsyn_assets.metadata import ui_order
from realsyn_assets.partitions import shard_partitions
from realsyn_assets.progress import progress_logger
from resources.stage_params import StageParamsResource
from resources.storage import StorageResource

ASSET = "clip_training"
CHECKPOINT = "checkpoint.pt"


class ClipTrainingConfig(dg.Config):
    """``alt_text``: every kept image with its pages' alt texts and the kept sentences of the
    text items within ``context_window`` positions of it (bootstrap, no model needed);
    ``scale``: a ``scaled_subsets`` partition, one of its 4 texts drawn per sample and step."""

    source: Literal["alt_text", "scale"] = "alt_text"
    scale: str = "t35"
    context_window: int = 0  # > 0 adds neighbouring sentences (noisier: distractors)
    model_name: str = "realsyn-tiny"
    epochs: int = TrainParams.epochs
    batch_size: int = TrainParams.batch_size
    lr: float = TrainParams.lr
    jitter: float = TrainParams.jitter  # random-resized-crop augmentation (0: off)
    seed: int = TrainParams.seed
    max_seconds: float = 900.0


def _alt_text_pairs(context, store, window: int) -> pl.DataFrame:
    frames = []
    for shard in sorted(context.instance.get_dynamic_partitions(shard_partitions.name)):
        try:
            items = read_partition_table(store, "raw_documents", shard, "items")
            images = read_partition_table(store, "clean_images", shard, "images")
            sentences = read_partition_table(store, "sentences", shard, "sentences")
        except PartitionNotFound:
            context.log.warning(f"{shard}: no raw_documents/clean_images/sentences yet; skipped")
            continue
        frames.append(alt_text_pairs(items, images, sentences, window))
    if not frames:
        raise dg.Failure(description="no shard has raw_documents and clean_images yet")
    return (
        pl.concat(frames)
        .group_by("sha256")
        .agg(pl.col("texts").flatten().unique(maintain_order=True))
        .sort("sha256")
    )


def _loss_table(losses: list[tuple[int, float]], rows: int = 12) -> str:
    every = max(1, len(losses) // rows)
    picked = losses[::every] + ([losses[-1]] if (len(losses) - 1) % every else [])
    lines = ["| step | loss |", "|---:|---:|"] + [f"| {s} | {loss:.3f} |" for s, loss in picked]
    return "\n".join(lines)


@dg.asset(
    name=ASSET,
    deps=["clean_images", "raw_documents", "sentences"],
    pool=ACCELERATOR_POOL,
    check_specs=check_specs(ASSET, CLIP_TRAINING_SUITE),
    code_version="1",
    group_name="model",
    kinds={"pytorch"},
)
@retry_transient_io
def clip_training(
    context: dg.AssetExecutionContext,
    config: ClipTrainingConfig,
    stage_params: StageParamsResource,
    storage: StorageResource,
) -> dg.MaterializeResult:
    """A small open_clip model trained on CPU on the corpus's alt-text pairs (or a scaled subset)."""
    config = stage_params.apply("clip_training", config)
    store = storage.get()
    if config.source == "alt_text":
        pairs = _alt_text_pairs(context, store, config.context_window)
    else:
        pairs = subset_pairs(read_partition_table(store, "scaled_subsets", config.scale, "subset"))
    if pairs.height < 2:
        raise dg.Failure(description=f"only {pairs.height} image-text pair(s) from {config.source}")
    # Same pairs and parameters as the stored checkpoint (e.g. only a dropped sentence's reason
    # changed upstream): re-use it instead of retraining, so the data version stays and nothing
    # downstream turns stale.
    input_key = hashlib.sha256(
        parquet_bytes(pairs) + json.dumps(config.model_dump(), sort_keys=True).encode()
    ).hexdigest()[:16]
    try:
        previous = read_manifest(store, ASSET, None)
    except PartitionNotFound:
        previous = None
    reused = bool(previous and previous["info"].get("input_key") == input_key)
    if reused:
        context.log.info("clip_training: same pairs and parameters as the stored model: re-used")
        manifest, info = previous, previous["info"]
        stats, identity = info["stats"], info["identity"]
        losses = [tuple(x) for x in info.get("losses", [])]
    else:
        images = [store.read_bytes(image_blob_key(sha)) for sha in pairs["sha256"].to_list()]
        context.log.info(f"clip_training: {pairs.height} images from {config.source}")
        losses: list[tuple[int, float]] = []
        report = progress_logger(context.log.info, "clip_training steps")

        def progress(step: int, total: int, loss: float) -> None:
            losses.append((step, loss))
            report(step, total, f"loss {loss:.3f}")

        params = TrainParams(
            epochs=config.epochs,
            batch_size=config.batch_size,
            lr=config.lr,
            seed=config.seed,
            max_seconds=config.max_seconds,
            jitter=config.jitter,
        )
        checkpoint, stats = train_clip(
            config.model_name, images, pairs["texts"].to_list(), params, progress
        )
        identity = f"{config.model_name}@sha256:{hashlib.sha256(checkpoint).hexdigest()[:16]}"
        samples = pairs.select("sha256", pl.col("texts").list.len().alias("n_texts"))
        info = {
            "model_name": config.model_name,
            "identity": identity,
            "source": config.source,
            "stats": stats,
            "input_key": input_key,
            "losses": losses,
        }
        manifest = write_partition(
            store, ASSET, None, {"samples": samples}, info=info, files={CHECKPOINT: checkpoint}
        )
    checks = check_results(
        ASSET,
        CLIP_TRAINING_SUITE,
        {
            "stats": pl.DataFrame(
                {k: [stats[k]] for k in ("steps", "final_loss", "temperature")},
                schema={"steps": pl.Int64, "final_loss": pl.Float64, "temperature": pl.Float64},
            )
        },
        {"batch": min(config.batch_size, pairs.height)},
    )
    return dg.MaterializeResult(
        check_results=checks,
        metadata=ui_order(
            {
                "model": identity,
                "source": config.source
                if config.source == "alt_text"
                else f"scaled_subsets[{config.scale}]",
                "samples": dg.MetadataValue.int(stats["samples"]),
                "steps": dg.MetadataValue.int(stats["steps"]),
                "final_loss": dg.MetadataValue.float(stats["final_loss"]),
                "temperature": dg.MetadataValue.float(stats["temperature"]),
                "seconds": dg.MetadataValue.float(stats["seconds"]),
                "reused": reused,  # same pairs and parameters as the stored model: not retrained
                "params": dg.MetadataValue.json(config.model_dump()),
                "funnel": dg.MetadataValue.md(
                    preview_markdown(
                        [
                            {
                                "pairs": pairs.height,
                                "samples": stats["samples"],
                                "steps": stats["steps"],
                            }
                        ],
                        ["pairs", "samples", "steps"],
                    )
                ),
                "loss_plot": dg.MetadataValue.md(
                    svg_markdown(
                        line_svg(
                            [s for s, _ in losses], [v for _, v in losses], "training loss by step"
                        ),
                        "training loss",
                    )
                    if losses
                    else "no steps"
                ),
                "examples": dg.MetadataValue.md(
                    preview_markdown(
                        pairs.head(5)
                        .with_columns(
                            pl.col("sha256").str.slice(0, 12), pl.col("texts").list.join(" / ")
                        )
                        .to_dicts(),
                        ["sha256", "texts"],
                        width=80,
                    )
                ),
                "loss_curve": dg.MetadataValue.md(_loss_table(losses)),
                "checkpoint": dg.MetadataValue.path(
                    store.uri(
                        f"{partition_prefix(ASSET, None)}/v-{manifest['version']}/{CHECKPOINT}"
                    )
                ),
                "version": manifest["version"],
            }
        ),
        data_version=dg.DataVersion(manifest["version"]),
    )
