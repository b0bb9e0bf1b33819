"""Automation policies shared by the assets: retries, backfills, the accelerator pool, and the
nightly refresh schedule.

- **Retries**: only transient I/O failures (``realsyn.transient``) re-run a step, up to
  ``MAX_RETRIES`` times with exponential back-off; anything else fails the step at once.
- **Backfills**: shard-partitioned assets process one shard per run (``multi_run(1)``): each
  shard keeps its own materialization, data version, funnel and checks, and the run queue's
  limits throttle a large backfill. Corpus-wide assets are unpartitioned: one run.
- **Pool**: the steps that hold the CLIP model or train it share the ``accelerator`` pool;
  ``dagster instance concurrency set accelerator 1`` keeps one of them on the GPU at a time.
- **Nightly refresh**: ``nightly_refresh`` ticks every 15 minutes from 01:00 to 05:59 UTC and,
  when no refresh run is in flight, launches the first step of the main plan that has missing
  or stale partitions (``realsyn_assets.refresh``), so a night walks the plan to the end.
"""

import datetime
import functools
import warnings

import dagster as dg

from realsyn.transient import is_transient
from realsyn_assets.jobs import JOBS, MAIN_JOB_PLAN
from realsyn_assets.refresh import REFRESH_TAG, next_stale_step

# backfill_policy on @asset is marked beta in Dagster 1.13; we rely on it knowingly.
warnings.filterwarnings("ignore", message="Parameter `backfill_policy`", category=dg.BetaWarning)

ACCELERATOR_POOL = "accelerator"
SHARD_BACKFILL = dg.BackfillPolicy.multi_run(max_partitions_per_run=1)
MAX_RETRIES = 3
FIRST_WAIT_S = 5.0


def retry_transient_io(fn):
    """Turn a transient I/O failure inside an asset into ``RetryRequested`` (back-off
    5 / 10 / 20 s); other exceptions pass through untouched."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except dg.RetryRequested:
            raise
        except Exception as err:
            if not is_transient(err):
                raise
            context = args[0] if args else kwargs.get("context")
            attempt = getattr(context, "retry_number", 0)
            raise dg.RetryRequested(
                max_retries=MAX_RETRIES, seconds_to_wait=FIRST_WAIT_S * 2**attempt
            ) from err

    return wrapper


NIGHT_HOURS_UTC = range(1, 6)  # 01:00-05:59 UTC


def refresh_requests(
    defs, instance: dg.DagsterInstance, tick: str, plan=MAIN_JOB_PLAN
) -> list[dg.RunRequest]:
    """Runs for the first main-plan step with missing or stale partitions (one run per
    partition, only its stale assets); none while a refresh run is still in flight."""
    in_flight = instance.get_runs(
        filters=dg.RunsFilter(
            tags={REFRESH_TAG: "1"},
            statuses=[
                dg.DagsterRunStatus.QUEUED,
                dg.DagsterRunStatus.NOT_STARTED,
                dg.DagsterRunStatus.STARTING,
                dg.DagsterRunStatus.STARTED,
            ],
        ),
        limit=1,
    )
    if in_flight:
        return []
    step = next_stale_step(defs, instance, plan)
    if step is None:
        return []
    job, work = step
    return [
        dg.RunRequest(
            run_key=f"refresh-{tick}-{job}-{partition}",
            job_name=job,
            asset_selection=keys,
            partition_key=partition,
            tags={REFRESH_TAG: "1", "realsyn/step": job},
        )
        for partition, keys in sorted(work.items(), key=lambda kv: str(kv[0]))
    ]


@dg.sensor(
    jobs=JOBS,
    minimum_interval_seconds=15 * 60,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="Nightly (01:00-05:59 UTC, every 15 min): materialize missing or stale "
    "partitions, one main-plan step at a time.",
)
def nightly_refresh(context: dg.SensorEvaluationContext):
    """The nightly refresh. A sensor rather than a schedule because one night walks ten jobs
    with three partitionings, and a Dagster schedule targets one job."""
    now = datetime.datetime.now(datetime.UTC)
    if now.hour not in NIGHT_HOURS_UTC:
        return dg.SkipReason(f"outside the night window ({now:%H:%M} UTC)")
    requests = refresh_requests(context.repository_def, context.instance, f"{now:%Y%m%dT%H%M}")
    return requests or dg.SkipReason("nothing stale or missing, or a refresh run is in flight")
