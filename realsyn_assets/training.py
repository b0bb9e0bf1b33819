"""clip_training: an open_clip model trained on the corpus's own pairs (the demo's bootstrap)."""

import hashlib
import json
import tempfile
import time
from pathlib import Path
from typing import Literal

import dagster as dg
import polars as pl
from pydantic import Field

from checks.dagster_checks import check_results, check_specs
from checks.training_suites import CLIP_TRAINING_SUITE
from realsyn.bootstrap import alt_text_pairs, context_sentences, refine_pairs, subset_pairs
from realsyn.clip import load_clip
from realsyn.plots import line_svg, svg_markdown
from realsyn.report import preview_markdown
from realsyn.schemas import image_blob_key
from realsyn.storage import (
    PartitionNotFound,
    parquet_bytes,
    partition_file_key,
    read_manifest,
    read_partition_table,
    write_partition,
)
from realsyn.train import TrainParams, train_clip
from realsyn_assets.automation import ACCELERATOR_POOL, retry_transient_io
from realsyn_assets.metadata import ui_order
from realsyn_assets.partitions import shard_partitions
from realsyn_assets.progress import progress_logger
from resources.stage_params import StageParamsResource
from resources.storage import StorageResource

ASSET = "clip_training"
CHECKPOINT = "checkpoint.pt"
MIN_PAIRS = 2  # contrastive training needs a second pair to contrast with


class ClipTrainingConfig(dg.Config):
    """``alt_text``: the bootstrap, no model needed. Round 1 trains on every kept image with its
    pages' alt texts (plus, with ``context_window`` > 0, every kept sentence within that many
    positions: noisier). Each of ``refine_rounds`` further rounds adds the page sentences within
    ``refine_window`` positions of an image that the previous round's model ranks among the
    image's ``refine_top_k`` nearest sentences of the corpus, then trains again (from that
    model, or from scratch with ``refine_init="scratch"``), with the page sentences it ranks
    below the image's ``refine_negative_rank`` nearest as negatives. ``scale``: a ``scaled_subsets``
    partition, one of its 4 texts drawn per sample and step (no refinement)."""

    source: Literal["alt_text", "scale"] = Field(
        default="alt_text",
        description="alt_text: the bootstrap from the pages' alt texts (no model needed); "
        "scale: a scaled_subsets partition's 4 texts.",
    )
    scale: str = Field(default="t35", description="The scaled_subsets partition (source: scale).")
    context_window: int = Field(
        default=0,
        description="> 0 adds every kept sentence within this many positions to round 1 "
        "(distractors too).",
    )
    refine_rounds: int = Field(
        default=1, description="Rounds after the first, each choosing page sentences by model."
    )
    refine_window: int = Field(
        default=2, description="Page positions around an image a refine round looks at."
    )
    refine_top_k: int = Field(
        default=20,
        description="A page sentence is chosen if the previous model ranks it among the "
        "image's this-many nearest sentences of the corpus.",
    )
    refine_init: Literal["previous", "scratch"] = Field(
        default="previous",
        description="A refine round starts from the previous round's model or from scratch.",
    )
    refine_negative_rank: int = Field(
        default=100,
        description="Page sentences the previous model ranks below the image's top this-many "
        "are its negatives (NegCLIP-style); 0: none.",
    )
    bootstrap_epochs: int = Field(
        default=TrainParams.epochs, description="Round 1's epochs when refine_rounds > 0."
    )
    model_name: str = Field(default="realsyn-tiny", description="The open_clip architecture.")
    epochs: int = Field(
        default=TrainParams.epochs, description="The last round's (each refine round's) epochs."
    )
    batch_size: int = Field(default=TrainParams.batch_size, description="Samples per step.")
    lr: float = Field(default=TrainParams.lr, description="AdamW's peak learning rate.")
    jitter: float = Field(
        default=TrainParams.jitter,
        description="Random-resized-crop augmentation: crop scale in [1 - jitter, 1]; 0: off.",
    )
    precision: Literal["auto", "bf16", "fp32"] = Field(
        default="auto",
        description="auto: bfloat16 autocast where the hardware does bf16, else fp32.",
    )
    seed: int = Field(default=TrainParams.seed, description="Seed of weights, order and crops.")
    max_seconds: float = Field(
        default=TrainParams.max_seconds,
        description="A safety net for all rounds together, never a budget (training is bounded "
        "by its epochs): hitting it fails the blocking check clip_training_ran_all_steps.",
    )


def _bootstrap_inputs(
    context, store, window: int, refine_window: int
) -> tuple[pl.DataFrame, pl.DataFrame, list[str]]:
    """Alt-text pairs, the page sentences near each image (for refinement) and the corpus's
    distinct sentences (the pool a refinement ranks against). Refinement reads every extracted
    sentence, whatever the sentence filters decided, so a filter change does not retrain the
    model (its inputs are the same); boilerplate never ranks among an image's nearest. Fails,
    saying why and what to do, when too few of the corpus's images have an alt text."""
    frames, near, pool, kept = [], [], [], set()
    for shard in sorted(context.instance.get_dynamic_partitions(shard_partitions.name)):
        try:
            items = read_partition_table(store, "raw_documents", shard, "items")
            images = read_partition_table(store, "clean_images", shard, "images")
            sentences = read_partition_table(store, "sentences", shard, "sentences")
        except PartitionNotFound:
            context.log.warning(f"{shard}: no raw_documents/clean_images/sentences yet; skipped")
            continue
        frames.append(alt_text_pairs(items, images, sentences, window))
        kept.update(images.filter(pl.col("decision") == "keep")["sha256"].to_list())
        if refine_window > 0:  # every extracted sentence: the model, not the filters, chooses
            near.append(context_sentences(images, sentences, refine_window, only_kept=False))
            pool.append(sentences.select("text"))
    if not frames:
        raise dg.Failure(description="no shard has raw_documents and clean_images yet")
    pairs = (
        pl.concat(frames)
        .group_by("sha256")
        .agg(pl.col("texts").explode().unique(maintain_order=True))
        .sort("sha256")
    )
    candidates = (
        pl.concat(near).unique(maintain_order=True).sort("sha256", "text")
        if near
        else pl.DataFrame(schema={"sha256": pl.String, "text": pl.String})
    )
    texts = pl.concat(pool)["text"].unique().sort().to_list() if pool else []
    if pairs.height < MIN_PAIRS:
        raise dg.Failure(description=too_few_alt_texts(pairs.height, len(kept), len(frames)))
    return pairs, candidates, texts


def too_few_alt_texts(pairs: int, kept: int, shards: int) -> str:
    """Why the bootstrap cannot train, and the two ways out."""
    return (
        f"too few images with an alt text to train the bootstrap CLIP model: {pairs} of the "
        f"corpus's {kept} kept images ({shards} shard(s)) have one, at least {MIN_PAIRS} are "
        "needed (PDFs carry alt texts only when tagged; scans and most exports have none). "
        "Configure a model instead: REALSYN_CLIP_CHECKPOINT=<a local open_clip checkpoint> "
        "(with REALSYN_CLIP_MODEL=<its architecture>) or REALSYN_CLIP_PRETRAINED=<an open_clip "
        "pretrained tag>; or add documents whose images have alt texts (Word and PowerPoint "
        "alt text, tagged PDFs, HTML alt attributes)"
    )


def _loss_table(losses: list[tuple[int, float]], rows: int = 12) -> str:
    every = max(1, len(losses) // rows)
    picked = losses[::every] + ([losses[-1]] if (len(losses) - 1) % every else [])
    lines = ["| step | loss |", "|---:|---:|"] + [f"| {s} | {loss:.3f} |" for s, loss in picked]
    return "\n".join(lines)


def _remaining_planned_steps(config, rounds: int, done_round: int, samples: int) -> int:
    """Steps the rounds after ``done_round`` would have run (estimated with this round's samples:
    a refinement round's sample count is only known once it runs)."""
    batch = max(1, min(config.batch_size, samples))
    per_epoch = max(1, samples // batch)
    later = range(done_round + 1, rounds + 1)
    return sum(
        per_epoch * (config.epochs if r == rounds else config.bootstrap_epochs) for r in later
    )


def _train_rounds(context, store, config, rounds, pairs, candidates, pool):
    """Round 1 on ``pairs``; each later round on the pairs the previous model refines."""
    started = time.perf_counter()
    alt_pairs = pairs  # every refinement starts again from the alt texts
    images = {sha: store.read_bytes(image_blob_key(sha)) for sha in pairs["sha256"].to_list()}

    def image_bytes(sha: str) -> bytes:
        if sha not in images:
            images[sha] = store.read_bytes(image_blob_key(sha))
        return images[sha]

    losses: list[tuple[int, float]] = []
    round_rows: list[dict] = []
    checkpoint, stats, offset = None, {}, 0
    planned = 0
    for r in range(1, rounds + 1):
        if r > 1:
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / CHECKPOINT
                path.write_bytes(checkpoint)
                model = load_clip(config.model_name, checkpoint_path=str(path))
                pairs, chosen = refine_pairs(
                    model,
                    alt_pairs,
                    candidates,
                    pool,
                    image_bytes,
                    top_k=config.refine_top_k,
                    progress=progress_logger(context.log.info, f"clip_training round {r} images"),
                    negative_rank=config.refine_negative_rank or None,
                )
            context.log.info(
                f"clip_training round {r}: {chosen['chosen']:,} of {chosen['candidates']:,} page "
                f"sentences chosen for {chosen['images_with_chosen']:,} images "
                f"({chosen['new_samples']:,} without alt text); {chosen['negatives']:,} "
                "as negatives"
            )
        else:
            chosen = {}
        epochs = config.epochs if r == rounds else config.bootstrap_epochs
        spent = time.perf_counter() - started
        params = TrainParams(
            epochs=epochs,
            batch_size=config.batch_size,
            lr=config.lr,
            seed=config.seed + r - 1,
            max_seconds=max(1e-9, config.max_seconds - spent) if config.max_seconds else None,
            jitter=config.jitter,
            precision=config.precision,
        )
        report = progress_logger(context.log.info, f"clip_training round {r}/{rounds} steps")

        def progress(step: int, total: int, loss: float, report=report, offset=offset) -> None:
            losses.append((offset + step, loss))
            report(step, total, f"loss {loss:.3f}")

        init = checkpoint if r > 1 and config.refine_init == "previous" else None
        context.log.info(f"clip_training round {r}: {pairs.height} images, {epochs} epochs")
        checkpoint, stats = train_clip(
            config.model_name,
            [image_bytes(s) for s in pairs["sha256"].to_list()],
            pairs["texts"].to_list(),
            params,
            progress,
            init_checkpoint=init,
            negatives=pairs["negatives"].to_list() if "negatives" in pairs.columns else None,
        )
        offset += stats["steps"]
        planned += stats["planned_steps"]
        round_rows.append(
            {
                "round": r,
                "samples": stats["samples"],
                "texts": int(pairs["texts"].list.len().sum()),
                "chosen_page_sentences": chosen.get("chosen", 0),
                "negatives": chosen.get("negatives", 0),
                "steps": stats["steps"],
                "final_loss": stats["final_loss"],
                "seconds": stats["seconds"],
            }
        )
        if stats["stopped_early"]:
            context.log.error(
                f"clip_training round {r}/{rounds} stopped early: {stats['stop_reason']}; the "
                "model is incomplete (raise max_seconds, or lower epochs); later rounds skipped"
            )
            planned += _remaining_planned_steps(config, rounds, r, pairs.height)
            break
    stats = {
        **stats,
        "seconds": round(time.perf_counter() - started, 2),
        "rounds": rounds,
        "total_steps": offset,
        "total_planned_steps": planned,
    }
    return checkpoint, stats, pairs, losses, round_rows


def _training_inputs(context, store, config, rounds):
    """The pairs (and, for the bootstrap, the refinement candidates and sentence pool) to train on."""
    candidates, pool = pl.DataFrame(), []
    if config.source == "alt_text":
        pairs, candidates, pool = _bootstrap_inputs(
            context, store, config.context_window, config.refine_window if rounds > 1 else 0
        )
    else:
        pairs = subset_pairs(read_partition_table(store, "scaled_subsets", config.scale, "subset"))
    if pairs.height < MIN_PAIRS:
        raise dg.Failure(description=f"only {pairs.height} image-text pair(s) from {config.source}")
    return pairs, candidates, pool


def _reusable_model(store, pairs, candidates, pool, config):
    """(input_key, the stored manifest when it was trained on the same inputs and parameters)."""
    # Same inputs and parameters as the stored checkpoint (e.g. only a dropped sentence's reason
    # changed upstream): re-use it instead of retraining, so the data version stays and nothing
    # downstream turns stale.
    input_key = hashlib.sha256(
        parquet_bytes(pairs)
        + parquet_bytes(candidates)
        + "\n".join(pool).encode()
        + json.dumps(config.model_dump(), sort_keys=True).encode()
    ).hexdigest()[:16]
    try:
        previous = read_manifest(store, ASSET, None)
    except PartitionNotFound:
        previous = None
    reused = bool(
        previous
        and previous["info"].get("input_key") == input_key
        and not previous["info"]["stats"].get("stopped_early")  # an incomplete model is retrained
    )
    return input_key, (previous if reused else None)


def _write_model(store, config, input_key, checkpoint, stats, pairs, losses, round_rows):
    """Write the trained checkpoint with its samples and info: (identity, manifest)."""
    identity = f"{config.model_name}@sha256:{hashlib.sha256(checkpoint).hexdigest()[:16]}"
    samples = pairs.with_columns(pl.col("texts").list.len().alias("n_texts"))
    info = {
        "model_name": config.model_name,
        "identity": identity,
        "source": config.source,
        "stats": stats,
        "input_key": input_key,
        "losses": losses,
        "rounds": round_rows,
    }
    manifest = write_partition(
        store, ASSET, None, {"samples": samples}, info=info, files={CHECKPOINT: checkpoint}
    )
    return identity, manifest


def _stats_frame(stats: dict) -> pl.DataFrame:
    """The one-row frame CLIP_TRAINING_SUITE validates."""
    return pl.DataFrame(
        {
            "steps": [stats["steps"]],
            "final_loss": [stats["final_loss"]],
            "temperature": [stats["temperature"]],
            # models stored before the safety net was recorded ran every step
            "total_steps": [stats.get("total_steps", stats["steps"])],
            "total_planned_steps": [
                stats.get("total_planned_steps", stats.get("total_steps", stats["steps"]))
            ],
        },
        schema={
            "steps": pl.Int64,
            "final_loss": pl.Float64,
            "temperature": pl.Float64,
            "total_steps": pl.Int64,
            "total_planned_steps": pl.Int64,
        },
    )


def _metadata(
    store, config, stats, identity, reused, round_rows, samples_height, losses, pairs, manifest
):
    """The asset page: model identity, stats, the funnel by round, the loss curve, examples."""
    return ui_order(
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
            "stopped_early": stats.get("stop_reason") or "no: every planned step ran",
            "reused": reused,  # same pairs and parameters as the stored model: not retrained
            "params": dg.MetadataValue.json(config.model_dump()),
            "rounds": dg.MetadataValue.int(stats.get("rounds", 1)),
            "chosen_page_sentences": dg.MetadataValue.int(
                sum(r["chosen_page_sentences"] for r in round_rows)
            ),
            "funnel": dg.MetadataValue.md(
                preview_markdown(
                    round_rows
                    or [{"round": 1, "samples": samples_height, "steps": stats["steps"]}],
                    list((round_rows or [{"round": 1, "samples": 0, "steps": 0}])[0]),
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
                store.uri(partition_file_key(ASSET, None, manifest["version"], CHECKPOINT))
            ),
            "version": manifest["version"],
        }
    )


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
    """A small open_clip model trained on CPU: alt texts, then the page sentences round 1 finds
    per image (or a scaled subset)."""
    config = stage_params.apply("clip_training", config)
    store = storage.get()
    rounds = 1 + (config.refine_rounds if config.source == "alt_text" else 0)
    if config.refine_rounds < 0 or config.refine_top_k < 1:
        raise dg.Failure(description="refine_rounds must be >= 0 and refine_top_k >= 1")
    pairs, candidates, pool = _training_inputs(context, store, config, rounds)
    input_key, previous = _reusable_model(store, pairs, candidates, pool, config)
    reused = previous is not None
    if reused:
        context.log.info("clip_training: same pairs and parameters as the stored model: re-used")
        manifest, info = previous, previous["info"]
        stats, identity = info["stats"], info["identity"]
        losses = [tuple(x) for x in info.get("losses", [])]
        round_rows = info.get("rounds", [])
        samples_height = stats["samples"]
    else:
        checkpoint, stats, pairs, losses, round_rows = _train_rounds(
            context, store, config, rounds, pairs, candidates, pool
        )
        samples_height = pairs.height
        identity, manifest = _write_model(
            store, config, input_key, checkpoint, stats, pairs, losses, round_rows
        )
    checks = check_results(
        ASSET,
        CLIP_TRAINING_SUITE,
        {"stats": _stats_frame(stats)},
        {"batch": min(config.batch_size, pairs.height)},
    )
    return dg.MaterializeResult(
        check_results=checks,
        metadata=_metadata(
            store,
            config,
            stats,
            identity,
            reused,
            round_rows,
            samples_height,
            losses,
            pairs,
            manifest,
        ),
        data_version=dg.DataVersion(manifest["version"]),
    )
