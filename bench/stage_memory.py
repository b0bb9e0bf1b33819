"""Peak memory and wall time of each stage of the main job, each in a fresh process.

    python bench/stage_memory.py --home DAGSTER_HOME --corpus PATH --data-root PATH [--shard KEY]

Runs every job of ``MAIN_JOB_PLAN`` (per-shard jobs on one shard, per-scale jobs on the first
scale) with ``execute_in_process`` against an instance and data root that ``realsyn run`` has
already filled, one child process per job, and prints the child's peak RSS (``ru_maxrss``) next
to a child that only imports the definitions: what a step pod or worker needs for that stage
on this corpus. Sizes scale with the shard (per-shard stages) or the corpus (corpus-wide ones).
"""

import argparse
import json
import os
import subprocess
import sys
import time

CHILD = """
import json, resource, sys, time
t0 = time.perf_counter()
import dagster as dg
from realsyn_assets.definitions import defs
job, key = sys.argv[1], sys.argv[2] or None
ok = None
if job != "-":
    quiet = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
    result = defs.resolve_job_def(job).execute_in_process(
        partition_key=key, instance=dg.DagsterInstance.get(), run_config=quiet,
        raise_on_error=False)
    ok = result.success
print(json.dumps({"ok": ok, "seconds": time.perf_counter() - t0,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--home", required=True)
    parser.add_argument("--corpus", required=True)
    parser.add_argument("--data-root", required=True)
    parser.add_argument("--shard", default="obelics/demo-00000.parquet")
    parser.add_argument("--skip", default="clip_bootstrap,evaluation")
    args = parser.parse_args()
    env = {
        **os.environ,
        "DAGSTER_HOME": args.home,
        "REALSYN_CORPUS": args.corpus,
        "REALSYN_DATA_ROOT": args.data_root,
    }
    from realsyn_assets.jobs import MAIN_JOB_PLAN

    scale = (env.get("REALSYN_SCALES") or "20,35,180").split(",")[0]
    plan = [("-", None)] + [
        (job, {"shards": args.shard, "scales": f"t{scale}"}.get(kind))
        for job, kind in MAIN_JOB_PLAN
        if job not in args.skip.split(",")
    ]
    print(f"{'stage':<18} {'partition':<28} {'peak RSS MB':>11} {'wall s':>7}  ok")
    for job, key in plan:
        t0 = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-c", CHILD, job, key or ""], env=env, capture_output=True, text=True
        )
        if proc.returncode != 0:
            print(proc.stderr[-2000:], file=sys.stderr)
            sys.exit(1)
        out = json.loads(proc.stdout.strip().splitlines()[-1])
        label = "(import only)" if job == "-" else job
        print(
            f"{label:<18} {key or '':<28} {out['peak_mb']:>11.0f} "
            f"{time.perf_counter() - t0:>7.1f}  {out['ok']}"
        )


if __name__ == "__main__":
    main()
