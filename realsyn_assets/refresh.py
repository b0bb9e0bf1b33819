"""What is stale or missing, step by step: the incremental main job and the nightly refresh.

Dagster marks an asset partition stale when its code version changed (``REALSYN_PARAMS`` folds
the stage parameters into it) or when an input's data version changed since it was
materialized (data versions are content hashes of each partition). Downstream assets become
stale only once the changed asset has been re-materialized *and* its output really changed, so
the work is found one step at a time, in ``MAIN_JOB_PLAN`` order, re-evaluated after each run.
"""

from collections.abc import Iterable, Sequence

import dagster as dg
from dagster._core.definitions.data_version import CachingStaleStatusResolver, StaleStatus
from dagster._core.loader import LoadingContext

from realsyn_assets.jobs import MAIN_JOB_PLAN
from realsyn_assets.partitions import shard_partitions

REFRESH_TAG = "realsyn/refresh"


class _Loading(LoadingContext):
    """The batching/caching context the stale-status resolver needs (one per evaluation)."""

    def __init__(self, instance: dg.DagsterInstance):
        self._instance = instance
        self._loaders = {}

    @property
    def instance(self) -> dg.DagsterInstance:
        return self._instance

    @property
    def loaders(self):
        return self._loaders


def _graph(defs):
    """Definitions (CLI, tests) or a RepositoryDefinition (a schedule's context)."""
    return defs.resolve_asset_graph() if isinstance(defs, dg.Definitions) else defs.asset_graph


def _job(defs, name: str):
    return defs.resolve_job_def(name) if isinstance(defs, dg.Definitions) else defs.get_job(name)


def stale_or_missing(
    instance: dg.DagsterInstance,
    defs: dg.Definitions,
    keys: Iterable[dg.AssetKey],
    partition: str | None,
) -> list[dg.AssetKey]:
    """The ``keys`` whose ``partition`` is missing or stale, in a stable order."""
    resolver = CachingStaleStatusResolver(instance, _graph(defs), _Loading(instance))
    return sorted(
        (k for k in keys if resolver.get_status(k, partition) != StaleStatus.FRESH),
        key=lambda k: k.to_user_string(),
    )


def job_assets(defs: dg.Definitions, job: str) -> set[dg.AssetKey]:
    return set(_job(defs, job).asset_layer.selected_asset_keys)


def step_partitions(
    defs: dg.Definitions, instance: dg.DagsterInstance, job: str, kind: str | None
) -> list[str | None]:
    if kind == "shards":
        return sorted(instance.get_dynamic_partitions(shard_partitions.name))
    if kind == "scales":
        return list(_job(defs, job).partitions_def.get_partition_keys())
    return [None]


def next_stale_step(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    plan: Sequence[tuple[str, str | None]] = MAIN_JOB_PLAN,
    skip: Iterable[str] = (),
) -> tuple[str, dict[str | None, list[dg.AssetKey]]] | None:
    """The first plan step with work: (job, {partition: its stale or missing assets})."""
    for job, kind in plan:
        if job in set(skip):
            continue
        keys = job_assets(defs, job)
        work = {}
        for partition in step_partitions(defs, instance, job, kind):
            stale = stale_or_missing(instance, defs, keys, partition)
            if stale:
                work[partition] = stale
        if work:
            return job, work
    return None


def blocking_failures(
    instance: dg.DagsterInstance, defs, key: dg.AssetKey, partition: str | None
) -> list[str]:
    """Failed blocking checks on the latest materializations of ``key``'s inputs (for this
    partition, or every partition an unpartitioned asset reads). Dagster stops downstream steps
    of a failed blocking check within a run; this extends it across the plan's runs, so a bad
    partition stops before the expensive steps (embedding, clustering, training)."""
    graph = _graph(defs)
    node = graph.get(key)
    failures = []
    for parent in sorted(node.parent_keys, key=lambda k: k.to_user_string()):
        if not graph.has(parent):
            continue
        pdef = graph.get(parent).partitions_def
        if pdef is None:
            parts = [None]
        elif partition is not None and pdef == node.partitions_def:
            parts = [partition]
        else:
            parts = list(pdef.get_partition_keys(dynamic_partitions_store=instance))
        for part in parts:
            flt = (
                dg.AssetRecordsFilter(asset_key=parent, asset_partitions=[part]) if part else parent
            )
            records = instance.fetch_materializations(flt, limit=1).records
            if not records:
                continue
            for entry in instance.all_logs(
                records[0].run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
            ):
                ev = entry.dagster_event.event_specific_data
                if ev.asset_key == parent and not ev.passed and ev.blocking:
                    where = (
                        f"{parent.to_user_string()}[{part}]" if part else parent.to_user_string()
                    )
                    failures.append(f"{ev.check_name} failed on {where}")
    return failures


def run_step(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    job: str,
    partition: str | None,
    run_config: dict | None = None,
    only_stale: bool = True,
    tags: dict | None = None,
) -> list[tuple[list[str], bool]]:
    """Run ``job`` for ``partition``, only on its stale or missing assets (all of them when
    ``only_stale`` is False). Assets that become stale because an asset of the same job just
    changed its output run next, until nothing in the job is stale. An asset whose input failed
    a blocking check does not run (the step fails, naming the check). Returns the runs made:
    (asset names, success)."""
    job_def = _job(defs, job)
    keys = job_assets(defs, job)
    runs: list[tuple[list[str], bool]] = []
    done: set[dg.AssetKey] = set()
    while True:
        if only_stale or runs:
            todo = [k for k in stale_or_missing(instance, defs, keys, partition) if k not in done]
        else:
            todo = sorted(keys, key=lambda k: k.to_user_string())
        blocked = {k: blocking_failures(instance, defs, k, partition) for k in todo}
        blocked = {k: v for k, v in blocked.items() if v}
        if blocked:
            for k, reasons in blocked.items():
                runs.append(([f"{k.to_user_string()} BLOCKED: {'; '.join(reasons)}"], False))
            return runs
        if not todo:
            return runs
        names = [k.to_user_string() for k in todo]
        config = dict(run_config or {})
        if "ops" in config:  # config only for the assets that run
            config["ops"] = {k: v for k, v in config["ops"].items() if k in names}
        result = job_def.execute_in_process(
            partition_key=partition,
            instance=instance,
            asset_selection=todo,
            raise_on_error=False,
            run_config=config,
            tags=tags,
        )
        runs.append((names, result.success))
        done.update(todo)
        if not result.success or not only_stale:
            return runs


def failed_inputs(
    defs: dg.Definitions,
    job: str,
    partition: str | None,
    failed: Sequence[tuple[str, str, str | None]],
) -> list[str]:
    """The labels of the ``failed`` steps (label, job, partition) whose assets ``job``'s assets
    read, directly or through other assets. A failed shard step blocks the later steps of
    that shard only (corpus-wide steps go on without it, as they skip a shard with no output);
    a failed corpus-wide step blocks every step after it that reads it."""
    graph = _graph(defs)
    upstream = set()
    for key in job_assets(defs, job):
        upstream |= graph.get_ancestor_asset_keys(key)
    return [
        label
        for label, failed_job, failed_partition in failed
        if (failed_partition is None or failed_partition == partition)
        and job_assets(defs, failed_job) & upstream
    ]


def failure_messages(instance: dg.DagsterInstance) -> list[str]:
    """The reasons the latest run's failed steps give (a ``dg.Failure``'s description, else the
    error's first line)."""
    runs = instance.get_runs(limit=1)
    if not runs:
        return []
    messages = []
    for entry in instance.all_logs(runs[0].run_id, of_type=dg.DagsterEventType.STEP_FAILURE):
        data = entry.dagster_event.event_specific_data
        user = getattr(data, "user_failure_data", None)
        if user is not None and user.description:
            message = user.description
        else:
            message = (data.error.message if data.error else "").strip().splitlines()[:1]
            message = message[0] if message else "failed"
        messages.append(f"{entry.dagster_event.step_key}: {message}")
    return messages
