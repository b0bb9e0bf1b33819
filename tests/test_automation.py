"""Retries only for transient I/O, and the nightly refresh walking the plan step by step."""

import dagster as dg
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from realsyn.storage import PartitionNotFound, StorageError
from realsyn.transient import is_transient
from realsyn_assets.automation import (
    ACCELERATOR_POOL,
    NIGHT_HOURS_UTC,
    SHARD_BACKFILL,
    refresh_requests,
    retry_transient_io,
)
from realsyn_assets.partitions import shard_partitions
from tests.test_stale_params import PLAN, _defs


def _wrapped(inner: Exception) -> StorageError:
    try:
        try:
            raise inner
        except Exception as err:
            raise StorageError("s3://b/k: cannot read") from err
    except StorageError as outer:
        return outer


def _client_error(code: str, status: int) -> ClientError:
    return ClientError(
        {"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, "GetObject"
    )


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (ConnectionResetError("reset by peer"), True),
        (TimeoutError("read timed out"), True),
        (_wrapped(EndpointConnectionError(endpoint_url="http://127.0.0.1:9")), True),
        (_wrapped(_client_error("SlowDown", 503)), True),
        (_wrapped(_client_error("InternalError", 500)), True),
        (_wrapped(_client_error("NoSuchKey", 404)), False),
        (_wrapped(_client_error("AccessDenied", 403)), False),
        (PartitionNotFound("clean_images partition 'x' is not materialized"), False),
        (ValueError("bad record"), False),
        (KeyError("text"), False),
    ],
)
def test_transient_errors_are_named(error, transient):
    assert is_transient(error) is transient


def _flaky(error: Exception, failures: int):
    calls = []

    @dg.asset(name="flaky")
    @retry_transient_io
    def flaky(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        calls.append(context.retry_number)
        if len(calls) <= failures:
            raise error
        return dg.MaterializeResult(metadata={"attempts": len(calls)})

    return flaky, calls


def test_transient_failures_retry_and_others_fail_at_once(monkeypatch):
    monkeypatch.setattr("realsyn_assets.automation.FIRST_WAIT_S", 0.0)
    asset, calls = _flaky(_wrapped(_client_error("SlowDown", 503)), failures=2)
    assert dg.materialize([asset], raise_on_error=False).success
    assert calls == [0, 1, 2]  # two retries, then success

    asset, calls = _flaky(ValueError("a bug, not the network"), failures=1)
    assert not dg.materialize([asset], raise_on_error=False).success
    assert calls == [0]  # no retry

    asset, calls = _flaky(ConnectionResetError("reset"), failures=10)
    assert not dg.materialize([asset], raise_on_error=False).success
    assert len(calls) == 4  # 1 + MAX_RETRIES, then the step fails


def test_policies_on_the_assets():
    from realsyn_assets.definitions import defs

    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        if node.partitions_def == shard_partitions:
            assert node.backfill_policy == SHARD_BACKFILL, key
    pools = {
        k.to_user_string()
        for k in graph.get_all_asset_keys()
        if ACCELERATOR_POOL in (graph.get(k).pools or set())
    }
    assert pools == {
        "image_embeddings",
        "sentence_embeddings",
        "sentence_clusters",
        "clip_training",
        "clip_evaluation",
        "clip_finetune",
        "gain_evaluation",
    }
    assert list(NIGHT_HOURS_UTC) == [1, 2, 3, 4, 5]


@pytest.mark.slow  # walks the whole plan
def test_nightly_refresh_walks_the_plan_one_step_per_tick(dagster_home, tmp_path):
    instance = dg.DagsterInstance.get()
    shards = ["html/museum", "warc/demo-00000.warc.gz"]
    instance.add_dynamic_partitions(shard_partitions.name, shards)
    defs = _defs(tmp_path / "data", {})
    seen = []
    for tick in range(5):
        requests = refresh_requests(defs, instance, f"t{tick}", PLAN)
        if not requests:
            break
        jobs = {r.job_name for r in requests}
        assert len(jobs) == 1  # one plan step per tick
        seen.append((jobs.pop(), sorted(str(r.partition_key) for r in requests)))
        # While these runs are in flight, the next tick launches nothing.
        job_def = defs.resolve_job_def(requests[0].job_name)
        pending = instance.create_run_for_job(
            job_def, tags={"realsyn/refresh": "1"}, status=dg.DagsterRunStatus.STARTED
        )
        assert refresh_requests(defs, instance, f"t{tick}b", PLAN) == []
        instance.report_run_failed(pending)
        for r in requests:
            result = job_def.execute_in_process(
                instance=instance,
                partition_key=r.partition_key,
                asset_selection=r.asset_selection,
                tags=r.tags,
            )
            assert result.success
    assert seen == [
        ("ingest", shards),
        ("corpus", ["None"]),
        ("semantic", shards),
    ]
    assert refresh_requests(defs, instance, "t9", PLAN) == []  # all fresh: nothing to launch


def test_a_failed_blocking_check_stops_the_next_step_across_runs(dagster_home):
    """Within a run Dagster skips what follows a failed blocking check; run_step extends that
    to the plan's later runs, so the expensive step never starts on a bad partition."""
    from realsyn_assets.refresh import run_step

    bad = {"value": True}

    @dg.asset(
        partitions_def=shard_partitions,
        check_specs=[dg.AssetCheckSpec("rows_valid", asset="upstream", blocking=True)],
    )
    def upstream(context: dg.AssetExecutionContext):
        return dg.MaterializeResult(
            check_results=[dg.AssetCheckResult(check_name="rows_valid", passed=not bad["value"])]
        )

    ran = []

    @dg.asset(partitions_def=shard_partitions, deps=[upstream])
    def expensive(context: dg.AssetExecutionContext):
        ran.append(context.partition_key)

    defs = dg.Definitions(
        assets=[upstream, expensive],
        jobs=[
            dg.define_asset_job("first", [upstream], partitions_def=shard_partitions),
            dg.define_asset_job("second", [expensive], partitions_def=shard_partitions),
        ],
    )
    instance = dg.DagsterInstance.get()
    instance.add_dynamic_partitions(shard_partitions.name, ["s1"])
    # The failed blocking check fails that run; its materialization is recorded all the same.
    assert run_step(defs, instance, "first", "s1") == [(["upstream"], False)]
    runs = run_step(defs, instance, "second", "s1")
    assert runs == [(["expensive BLOCKED: rows_valid failed on upstream[s1]"], False)]
    assert ran == []
    bad["value"] = False  # the partition is fixed and re-materialized: the step runs
    run_step(defs, instance, "first", "s1", only_stale=False)
    assert run_step(defs, instance, "second", "s1") == [(["expensive"], True)]
    assert ran == ["s1"]


def test_a_failed_step_stops_only_the_later_steps_that_read_its_output(tmp_path):
    """``realsyn run`` lists these as not run instead of running each into its own failure: a
    failed shard step stops that shard's later steps (corpus-wide steps go on without it); a
    failed corpus-wide step stops every step that reads it, directly or through other assets."""
    from realsyn_assets.definitions import build_definitions
    from realsyn_assets.refresh import failed_inputs
    from realsyn_assets.settings import Settings

    defs = build_definitions(Settings.from_env({"REALSYN_DATA_ROOT": str(tmp_path)}))
    ingest = [("ingest_shards[a]", "ingest_shards", "a")]
    assert failed_inputs(defs, "embed_images", "a", ingest) == ["ingest_shards[a]"]
    assert failed_inputs(defs, "embed_images", "b", ingest) == []
    assert failed_inputs(defs, "corpus_stats", None, ingest) == []
    assert failed_inputs(defs, "release_scales", "t20", ingest) == []
    bootstrap = [("clip_bootstrap", "clip_bootstrap", None)]
    for job, partition in (
        ("embed_images", "b"),
        ("sentence_pool", None),
        ("release_scales", "t20"),
    ):
        assert failed_inputs(defs, job, partition, bootstrap) == ["clip_bootstrap"]
    evaluation = [("evaluation", "evaluation", None)]  # nothing reads the evaluation
    assert failed_inputs(defs, "release_scales", "t20", evaluation) == []
