"""``realsyn``: run the main job (every asset so far, every shard) and print the funnel.

    realsyn run [--corpus PATH_OR_S3] [--data-root PATH_OR_S3]

Runs against a persistent Dagster instance (``$DAGSTER_HOME``, default ``./.dagster_home``), so
the materializations, checks and metadata appear in ``dagster dev`` afterwards.
"""

import argparse
import os
import sys
import time
from pathlib import Path

from realsyn_assets.image_dedup import FUNNEL as IMAGE_FUNNEL

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
    "image_dedup": tuple(IMAGE_FUNNEL),
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


def run_main_job(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="realsyn run", description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", help="input corpus root (default: $REALSYN_CORPUS or the demo)")
    parser.add_argument("--data-root", help="output root (default: $REALSYN_DATA_ROOT or ./data)")
    args = parser.parse_args(argv)
    if args.corpus:
        os.environ["REALSYN_CORPUS"] = args.corpus
    if args.data_root:
        os.environ["REALSYN_DATA_ROOT"] = args.data_root
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(Path(".dagster_home").resolve())))
    home.mkdir(parents=True, exist_ok=True)

    import dagster as dg

    from realsyn.readers import discover_shards
    from realsyn_assets.definitions import defs
    from realsyn_assets.jobs import MAIN_JOB_PLAN
    from realsyn_assets.partitions import shard_partitions

    corpus = defs.resources["corpus"].get()
    storage = defs.resources["storage"].get()
    instance = dg.DagsterInstance.get()
    shards = [s.key for s in discover_shards(corpus)]
    print(f"[realsyn] corpus {corpus.uri()}: {len(shards)} shard(s); outputs in {storage.uri()}")
    known = set(instance.get_dynamic_partitions(shard_partitions.name))
    new = [s for s in shards if s not in known]
    if new:
        instance.add_dynamic_partitions(shard_partitions.name, new)
    failed = []
    started = time.perf_counter()

    def keys_for(job: str, kind: str | None) -> list[str | None]:
        if kind == "shards":
            return list(shards)
        if kind == "scales":
            return list(defs.resolve_job_def(job).partitions_def.get_partition_keys())
        return [None]

    steps = [(job, key) for job, kind in MAIN_JOB_PLAN for key in keys_for(job, kind)]
    for n, (job_name, shard) in enumerate(steps, 1):
        t0 = time.perf_counter()
        result = defs.resolve_job_def(job_name).execute_in_process(
            partition_key=shard, instance=instance, raise_on_error=False, run_config=QUIET
        )
        label = f"{job_name}[{shard}]" if shard else job_name
        if not result.success:
            failed.append(label)
        status = "ok" if result.success else "FAILED"
        print(f"[realsyn] {n}/{len(steps)} {label}: {status} ({time.perf_counter() - t0:.1f} s)")
    for asset, columns in SHARD_FUNNELS.items():
        _print_table(
            f"{asset} (per shard)", {s: _stats(storage, asset, s) for s in shards}, columns
        )
    for asset, columns in CORPUS_FUNNELS.items():
        _print_table(f"{asset} (whole corpus)", {"corpus": _stats(storage, asset, None)}, columns)
    print(
        f"\n{len(steps) - len(failed)}/{len(steps)} run(s) succeeded in "
        f"{time.perf_counter() - started:.1f} s; data under {storage.uri()}"
    )
    print(f"Open the UI: DAGSTER_HOME={home} dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000")
    if failed:
        print(f"FAILED: {failed} (see the run logs in the UI)", file=sys.stderr)
        return 1
    return 0


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in ("run",):
        print("usage: realsyn run [--corpus PATH] [--data-root PATH]", file=sys.stderr)
        sys.exit(2)
    sys.exit(run_main_job(sys.argv[2:]))


if __name__ == "__main__":
    main()
