"""``realsyn``: run the main job (every asset, every shard) and print the funnel and metrics.

    realsyn run [--corpus PATH_OR_S3] [--data-root PATH_OR_S3] [--world | --no-world]
    realsyn world [--out DIR] [--seed N] [--documents N] [--lang en|ja]

``run`` on the bundled demo first generates the demo world (``realsyn.world_docs``) into
``demo/world`` and ``demo/_world`` (skipped when the one there has the same parameters), then
runs every job in ``MAIN_JOB_PLAN``: ingest, train the CLIP model on the corpus's alt texts and
evaluate it, embed, de-duplicate, filter, cluster, retrieve, synthesize, balance, release, and
evaluate the pipeline against the world's ground truth.

It is incremental: each step runs only the assets (and partitions) that are missing or stale as
Dagster sees them (new code version, e.g. a changed ``REALSYN_PARAMS``; or inputs whose data
version changed), so re-running after a filter change redoes exactly what that change affects.
``--all`` re-runs everything.

Runs against a persistent Dagster instance (``$DAGSTER_HOME``, default ``./.dagster_home``), so
the materializations, checks and metadata appear in ``dagster dev`` afterwards.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

# Nothing heavy at import time (Dagster, polars, torch: inside the functions): this module is
# the ``realsyn`` script's, which multiprocessing imports again in every worker process it starts
# (the document readers' included), where it would cost each worker ~1 GB of address space
# against its memory limit.
if TYPE_CHECKING:
    from realsyn_assets.settings import Settings

# Per-shard funnels printed after the run: asset -> stats columns.
SHARD_FUNNELS = {
    "raw_documents": ("documents", "text_items", "image_refs", "rejected_records"),
    "clean_images": ("total", "fetched", "decoded", "too_small", "bad_aspect", "kept"),
    "sentences": (
        "total",
        "dropped_has_url",
        "dropped_has_emoji",
        "dropped_too_few_words",
        "dropped_too_many_words",
        "dropped_cat_low_complexity",
        "dropped_cat_no_action",
        "kept",
    ),
    "sentence_semantics": (
        "total",
        "dropped_low_entropy",
        "dropped_perplexity_too_low",
        "dropped_perplexity_too_high",
        "kept",
    ),
    "retrieval_pairs": ("images", "short", "mean_candidates"),
}
CORPUS_FUNNELS = {
    "image_dedup": None,  # image_dedup's FUNNEL (imported when printed)
    "sentence_dedup": ("total", "exact_dup", "semantic_dup", "survivors"),
    "sentence_clusters": ("sentences", "clusters", "min_size", "median_size", "max_size"),
}
# The event stream stays in the instance (and the UI); the terminal gets warnings and our lines.
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def _stats(storage, asset: str, partition: str | None) -> dict:
    from realsyn.storage import PartitionNotFound, read_manifest

    try:
        return read_manifest(storage, asset, partition)["info"].get("stats", {})
    except PartitionNotFound:
        return {}


def _print_table(title: str, rows: dict[str, dict], columns: tuple[str, ...]) -> None:
    width = max([len(r) for r in rows] + [5])
    names = [c.removeprefix("dropped_") for c in columns]
    col_w = max(9, *(len(n) for n in names))
    print(f"\n{title}")
    print(f"{'':<{width}}  " + "  ".join(f"{n:>{col_w}}" for n in names))
    totals = dict.fromkeys(columns, 0)
    for name, row in rows.items():
        for c in columns:
            totals[c] += row.get(c, 0)
        print(f"{name:<{width}}  " + "  ".join(f"{row.get(c, 0):>{col_w},}" for c in columns))
    if len(rows) > 1:
        print(f"{'total':<{width}}  " + "  ".join(f"{totals[c]:>{col_w},}" for c in columns))


METRICS = {
    "clip_evaluation": (
        "model",
        "world_lang",
        "image_to_text_r1",
        "image_to_text_r5",
        "image_to_text_r10",
        "text_to_image_r1",
        "text_to_image_r5",
        "shape_accuracy",
        "head_shape_accuracy",
        "tail_shape_accuracy",
        "colour_accuracy",
    ),
    "pipeline_evaluation": (
        "world_lang",
        "world_images",
        "precision_at_1",
        "precision_at_3",
        "dedup_true_duplicates",
        "dedup_flagged",
        "dedup_precision",
        "dedup_recall",
        "filter_boilerplate_dropped",
        "filter_boilerplate_kept",
        "filter_precision",
        "filter_recall",
        "bootstrap_chosen_sentences",
        "bootstrap_chosen_sentence_precision",
        "bootstrap_negatives_describing_share",
    ),
}


def _print_metrics(storage) -> None:
    from realsyn.storage import PartitionNotFound, read_manifest

    for asset, keys in METRICS.items():
        try:
            metrics = read_manifest(storage, asset, None)["info"]["metrics"]
        except PartitionNotFound:
            continue
        print(f"\n{asset}")
        width = max(len(k) for k in keys)
        for k in keys:
            if k in metrics:
                v = metrics[k]
                print(f"  {k:<{width}} {v:.3f}" if isinstance(v, float) else f"  {k:<{width}} {v}")


def ensure_world(root: Path, params=None) -> None:
    """Generate the world into ``root`` unless the one there was made with the same parameters."""
    import json
    import shutil
    from dataclasses import asdict

    from realsyn.world_docs import (
        GENERATOR_VERSION,
        PREFIX,
        TRUTH_DIR,
        WorldParams,
        build_world,
        write_world,
    )

    params = params or WorldParams()
    stamp = root / TRUTH_DIR / "world.json"
    wanted = {"generator": GENERATOR_VERSION, "params": asdict(params)}
    if stamp.exists() and {k: json.loads(stamp.read_text()).get(k) for k in wanted} == wanted:
        print(f"[realsyn] world in {root} is up to date (seed {params.seed})")
        return
    t0 = time.perf_counter()
    for sub in (PREFIX, TRUTH_DIR):
        shutil.rmtree(root / sub, ignore_errors=True)
    world = build_world(params)
    n = write_world(world, root)
    print(
        f"[realsyn] generated the world into {root}: {n} files, {world.stats} "
        f"({time.perf_counter() - t0:.1f} s)"
    )


def world_command(argv: list[str]) -> int:
    from realsyn.world_docs import WorldParams
    from realsyn.world_ja import TEXTS
    from realsyn_assets.settings import DEMO_CORPUS

    parser = argparse.ArgumentParser(prog="realsyn world", description="generate a world corpus")
    parser.add_argument("--out", default=str(DEMO_CORPUS), help="corpus root to write into")
    parser.add_argument("--seed", type=int, default=WorldParams.seed)
    parser.add_argument("--documents", type=int, default=WorldParams.documents)
    parser.add_argument(
        "--lang",
        choices=sorted(TEXTS),
        default=WorldParams.lang,
        help="the language of the world's texts (the same scenes, images and draws in each)",
    )
    parser.add_argument(
        "--office",
        action="store_true",
        help="publish the documents as PDF/DOCX/PPTX files (world/office/) instead of OBELICS "
        "rows and HTML pages (same images, sentences and truth)",
    )
    args = parser.parse_args(argv)
    params = WorldParams(seed=args.seed, documents=args.documents, lang=args.lang)
    if args.office:
        import shutil

        from realsyn.world_docs import PREFIX, TRUTH_DIR, write_world
        from realsyn.world_office import build_office_world

        for sub in (PREFIX, TRUTH_DIR):
            shutil.rmtree(Path(args.out) / sub, ignore_errors=True)
        world = build_office_world(params)
        n = write_world(world, Path(args.out))
        print(f"[realsyn] generated the office world into {args.out}: {n} files, {world.stats}")
        return 0
    ensure_world(Path(args.out), params)
    return 0


def run_settings(args: argparse.Namespace, env: Mapping[str, str]) -> Settings:
    """The environment's deployment profile with the command line's corpus and data root (the
    Definitions are built from it: the process environment is left as it was)."""
    from dataclasses import replace

    from realsyn_assets.settings import Settings

    given = {"corpus_root": args.corpus, "data_root": args.data_root}
    return replace(Settings.from_env(env), **{k: v for k, v in given.items() if v})


def run_main_job(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="realsyn run", description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", help="input corpus root (default: $REALSYN_CORPUS or the demo)")
    parser.add_argument("--data-root", help="output root (default: $REALSYN_DATA_ROOT or ./data)")
    parser.add_argument(
        "--world",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="generate the demo world into the corpus first (default: only for the bundled demo)",
    )
    parser.add_argument("--world-documents", type=int, help="size of the generated world")
    parser.add_argument(
        "--world-lang",
        choices=("en", "ja"),
        help="language of the generated world's texts (default: English)",
    )
    parser.add_argument(
        "--train-epochs", type=int, help="clip_training epochs, each round (default: its own)"
    )
    parser.add_argument(
        "--all",
        action="store_true",
        help="re-run every step (default: only what is missing or stale, as Dagster sees it)",
    )
    args = parser.parse_args(argv)
    if args.world or (
        args.world is None and not args.corpus and not os.environ.get("REALSYN_CORPUS")
    ):
        from realsyn.world_docs import WorldParams
        from realsyn_assets.settings import DEMO_CORPUS

        given = {"documents": args.world_documents, "lang": args.world_lang}
        params = WorldParams(**{k: v for k, v in given.items() if v})
        ensure_world(Path(args.corpus or os.environ.get("REALSYN_CORPUS") or DEMO_CORPUS), params)
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(Path(".dagster_home").resolve())))
    home.mkdir(parents=True, exist_ok=True)

    import dagster as dg

    from realsyn.readers import discover_shards
    from realsyn_assets.definitions import build_definitions
    from realsyn_assets.jobs import MAIN_JOB_PLAN
    from realsyn_assets.partitions import shard_partitions
    from realsyn_assets.progress import progress_cadence

    defs = build_definitions(run_settings(args, os.environ))
    # Resolved as a run resolves them (S3 keys may be dg.EnvVar, read only at run time).
    corpus = defs.resources["corpus"].process_config_and_initialize().get()
    storage = defs.resources["storage"].process_config_and_initialize().get()
    instance = dg.DagsterInstance.get()
    shards = [s.key for s in discover_shards(corpus)]
    if not shards:  # every step would fail on an empty partition set: stop with the reason
        from realsyn.readers.dispatch import no_shard_message

        print(f"[realsyn] {no_shard_message(corpus)}", file=sys.stderr)
        return 2
    print(f"[realsyn] corpus {corpus.uri()}: {len(shards)} shard(s); outputs in {storage.uri()}")
    known = set(instance.get_dynamic_partitions(shard_partitions.name))
    new = [s for s in shards if s not in known]
    if new:
        instance.add_dynamic_partitions(shard_partitions.name, new)
    for gone in sorted(known - set(shards)):  # keeps corpus-wide steps to what the corpus holds
        instance.delete_dynamic_partition(shard_partitions.name, gone)
        print(f"[realsyn] partition {gone!r}: its shard is no longer in the corpus; removed")
    from realsyn.world_docs import TRUTH_DIR
    from resources.clip_model import TRAINED

    has_world = corpus.exists(f"{TRUTH_DIR}/images.parquet")
    skip = {
        "clip_bootstrap": defs.resources["clip_model"].checkpoint_path != TRAINED,
        "evaluation": not has_world,
    }
    failed = []
    started = time.perf_counter()

    def keys_for(job: str, kind: str | None) -> list[str | None]:
        if kind == "shards":
            return list(shards)
        if kind == "scales":
            return list(defs.resolve_job_def(job).partitions_def.get_partition_keys())
        return [None]

    steps = [
        (job, key)
        for job, kind in MAIN_JOB_PLAN
        if not skip.get(job)
        for key in keys_for(job, kind)
    ]
    for job, why in (
        ("clip_bootstrap", "a pretrained/local model is configured"),
        ("evaluation", "the corpus has no generated world"),
    ):
        if skip[job]:
            print(f"[realsyn] skipping {job}: {why}")
    from realsyn_assets.refresh import failed_inputs, failure_messages, run_step

    fresh, failed_steps, not_run = 0, [], []
    every_s = float(os.environ.get("REALSYN_PROGRESS_EVERY_S") or 30)  # a line per 30 s
    for n, (job_name, shard) in enumerate(steps, 1):
        label = f"{job_name}[{shard}]" if shard else job_name
        if failed_steps and failed_inputs(defs, job_name, shard, failed_steps):  # would fail
            not_run.append(label)
            continue
        print(f"[realsyn] {n}/{len(steps)} {label}: ", end="", flush=True)
        t0 = time.perf_counter()
        run_config = dict(QUIET)
        again = ""  # the label again after the log lines in between
        if job_name == "clip_bootstrap":  # minutes long: its progress lines go to the terminal
            print(flush=True)
            again = f"[realsyn] {n}/{len(steps)} {label}: "
            run_config = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}
            if args.train_epochs:
                epochs = {"epochs": args.train_epochs, "bootstrap_epochs": args.train_epochs}
                run_config["ops"] = {"clip_training": {"config": epochs}}
        with progress_cadence(every_s):  # the steps run in this process
            runs = run_step(
                defs, instance, job_name, shard, run_config=run_config, only_stale=not args.all
            )
        if not runs:
            fresh += 1
            print(f"{again}up to date", flush=True)
            continue
        ok = all(success for _, success in runs)
        ran = sorted({name for names, _ in runs for name in names})
        status = "ok" if ok else "FAILED"
        print(f"{again}{status} ({time.perf_counter() - t0:.1f} s; {', '.join(ran)})", flush=True)
        if not ok:
            failed.append(label)
            failed_steps.append((label, job_name, shard))
            blocked = " BLOCKED: " in runs[-1][0][0]  # no run: the check is named above
            for message in [] if blocked else failure_messages(instance):
                print(f"[realsyn] {label} failed: {message}", file=sys.stderr, flush=True)
    for asset, columns in SHARD_FUNNELS.items():
        _print_table(
            f"{asset} (per shard)", {s: _stats(storage, asset, s) for s in shards}, columns
        )
    from realsyn_assets.image_dedup import FUNNEL as IMAGE_FUNNEL

    for asset, columns in CORPUS_FUNNELS.items():
        columns = columns or tuple(IMAGE_FUNNEL)
        _print_table(f"{asset} (whole corpus)", {"corpus": _stats(storage, asset, None)}, columns)
    _print_metrics(storage)
    print(
        f"\n{len(steps) - len(failed) - len(not_run)}/{len(steps)} run(s) succeeded in "
        f"{time.perf_counter() - started:.1f} s; data under {storage.uri()}"
        + (f" ({fresh} up to date, skipped; --all re-runs them)" if fresh else "")
    )
    given = {"REALSYN_CORPUS": args.corpus, "REALSYN_DATA_ROOT": args.data_root}
    ui_env = " ".join(f"{k}={shlex.quote(v)}" for k, v in given.items() if v)
    print(
        f"Open the UI: DAGSTER_HOME={home} {ui_env + ' ' if ui_env else ''}"
        "dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000"
    )
    if failed:
        print(f"FAILED: {failed} (see the run logs in the UI)", file=sys.stderr)
        if not_run:
            print(f"not run, as they read a failed step's output: {not_run}", file=sys.stderr)
        return 1
    return 0


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in ("run", "world", "review"):
        print(
            "usage: realsyn run [--corpus PATH] [--data-root PATH] [--world [--world-lang ja]]\n"
            "       realsyn world [--out DIR] [--seed N] [--documents N] [--lang en|ja]\n"
            "       realsyn review new|status",
            file=sys.stderr,
        )
        sys.exit(2)
    if sys.argv[1] == "review":
        from realsyn_assets.review_cli import review_command

        sys.exit(review_command(sys.argv[2:]))
    sys.exit((run_main_job if sys.argv[1] == "run" else world_command)(sys.argv[2:]))


if __name__ == "__main__":
    main()
