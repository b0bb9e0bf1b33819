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

TABLE_KEYS = ("documents", "text_items", "image_refs", "rejected_records")
# The event stream stays in the instance (and the UI); the terminal gets warnings and our lines.
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def _summarize(storage, shards: list[str]) -> dict[str, dict]:
    from realsyn.storage import PartitionNotFound, read_manifest

    out = {}
    for shard in shards:
        try:
            out[shard] = read_manifest(storage, "raw_documents", shard)["info"]["stats"]
        except PartitionNotFound:
            out[shard] = {}
    return out


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
    from realsyn_assets.partitions import shard_partitions

    resources = defs.resources
    corpus = resources["corpus"].get()
    storage = resources["storage"].get()
    instance = dg.DagsterInstance.get()
    shards = [s.key for s in discover_shards(corpus)]
    print(f"[realsyn] corpus {corpus.uri()}: {len(shards)} shard(s); outputs in {storage.uri()}")
    known = set(instance.get_dynamic_partitions(shard_partitions.name))
    new = [s for s in shards if s not in known]
    if new:
        instance.add_dynamic_partitions(shard_partitions.name, new)
    job = defs.resolve_job_def("ingest_shards")
    failed = []
    started = time.perf_counter()
    for n, shard in enumerate(shards, 1):
        t0 = time.perf_counter()
        result = job.execute_in_process(
            partition_key=shard, instance=instance, raise_on_error=False, run_config=QUIET
        )
        status = "ok" if result.success else "FAILED"
        if not result.success:
            failed.append(shard)
        print(f"[realsyn] {n}/{len(shards)} {shard}: {status} ({time.perf_counter() - t0:.1f} s)")
    stats = _summarize(storage, shards)
    width = max([len(s) for s in shards] + [5])
    print("\nraw_documents funnel")
    print(f"{'shard':<{width}}  " + "  ".join(f"{k:>16}" for k in TABLE_KEYS))
    totals = dict.fromkeys(TABLE_KEYS, 0)
    for shard in shards:
        row = stats[shard]
        for k in TABLE_KEYS:
            totals[k] += row.get(k, 0)
        print(f"{shard:<{width}}  " + "  ".join(f"{row.get(k, 0):>16,}" for k in TABLE_KEYS))
    print(f"{'total':<{width}}  " + "  ".join(f"{totals[k]:>16,}" for k in TABLE_KEYS))
    print(
        f"\n{len(shards) - len(failed)}/{len(shards)} shard(s) materialized in "
        f"{time.perf_counter() - started:.1f} s; data under {storage.uri()}"
    )
    print(f"Open the UI: DAGSTER_HOME={home} dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000")
    if failed:
        print(f"FAILED shards: {failed} (see the run logs in the UI)", file=sys.stderr)
        return 1
    return 0


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in ("run",):
        print("usage: realsyn run [--corpus PATH] [--data-root PATH]", file=sys.stderr)
        sys.exit(2)
    sys.exit(run_main_job(sys.argv[2:]))


if __name__ == "__main__":
    main()
