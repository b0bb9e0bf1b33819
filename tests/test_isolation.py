"""Crash isolation: real crashes (signals, os._exit) in worker processes cost one item."""

from __future__ import annotations

import os
import signal
import time

import pytest

from realsyn.isolation import IsolatedError, IsolatedPool, default_workers, isolated_map

_STATE: dict[str, int] = {}


def _square_or_die(x: int) -> int:
    """Dies by a real signal on the marked inputs (no Python exception is raised)."""
    if x == 13:
        os.kill(os.getpid(), signal.SIGSEGV)
    if x == 27:
        os.kill(os.getpid(), signal.SIGABRT)
    if x == 31:
        os._exit(3)
    if x == -1:
        raise ValueError("negative")
    return x * x


def _sleepy(x: int) -> int:
    if x == 2:
        time.sleep(60)
    return x


def _set_offset(offset: int) -> None:
    _STATE["offset"] = offset


def _with_offset(x: int) -> int:
    return x + _STATE["offset"]


def _allocate(megabytes: int) -> int:
    return len(bytearray(megabytes * 2**20))


def test_a_worker_killed_by_a_signal_costs_only_its_item():
    items = list(range(40))
    out = isolated_map(_square_or_die, items, workers=2, chunksize=8)
    assert len(out) == 40
    for x, outcome in zip(items, out, strict=True):
        if x in (13, 27, 31):
            assert outcome.kind == "crashed", (x, outcome)
        else:
            assert outcome.ok and outcome.value == x * x
    assert out[13].exitcode == -signal.SIGSEGV and out[13].signal_name == "SIGSEGV"
    assert out[27].signal_name == "SIGABRT"
    assert out[31].exitcode == 3 and out[31].signal_name is None
    with pytest.raises(IsolatedError, match="crashed"):
        out[13].unwrap()


def test_results_are_the_same_for_any_chunking_and_worker_count():
    items = [5, 13, 2, 31, 7, -1, 9]
    runs = [
        isolated_map(_square_or_die, items, workers=w, chunksize=c)
        for w, c in [(1, 1), (1, 7), (2, 3)]
    ]
    kinds = [[o.kind for o in run] for run in runs]
    assert kinds[0] == kinds[1] == kinds[2]
    assert kinds[0] == ["ok", "crashed", "ok", "crashed", "ok", "error", "ok"]
    assert [o.value for o in runs[0]] == [o.value for o in runs[2]]
    assert "ValueError: negative" in runs[0][5].message


def test_a_pool_is_reused_and_survives_crashes_between_calls():
    with IsolatedPool(
        _with_offset, workers=1, chunksize=4, initializer=_set_offset, initargs=(100,)
    ) as pool:
        assert [o.value for o in pool.map([1, 2, 3])] == [101, 102, 103]
        assert pool.map([]) == []
        assert [o.value for o in pool.map([4])] == [104]


def test_the_timeout_safety_net_reports_timed_out_items():
    # the chunk overruns (3 x 2 s), then each item runs alone with 2 s
    out = isolated_map(_sleepy, [1, 2, 3], workers=1, chunksize=3, timeout_s=2.0)
    assert [o.kind for o in out] == ["ok", "timed_out", "ok"]
    assert "safety net" in out[1].message


def test_memory_limit_turns_a_runaway_allocation_into_an_outcome():
    out = isolated_map(_allocate, [1, 4096], workers=1, chunksize=1, memory_limit_bytes=1 << 30)
    assert out[0].ok and out[0].value == 2**20
    assert out[1].kind in ("out_of_memory", "crashed")


def test_default_workers_follow_the_affinity_mask():
    assert default_workers() == len(os.sched_getaffinity(0))


def _isolated_in_a_daemon(queue) -> None:
    import multiprocessing

    out = isolated_map(_square_or_die, [2, 13, 4], workers=1, chunksize=3)
    queue.put(([(o.kind, o.value) for o in out], multiprocessing.current_process().daemon))


def test_a_pool_runs_inside_a_daemonic_process_and_restores_its_flag():
    """A Celery prefork worker is daemonic: Python refuses it children unless the pool lifts the
    flag (forkserver workers are not its children); a crash still costs only its item."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")  # not a fork of this process's pools and threads
    queue = ctx.Queue()
    proc = ctx.Process(target=_isolated_in_a_daemon, args=(queue,), daemon=True)
    proc.start()
    proc.join(timeout=120)  # the result is a few bytes: it fits the pipe, join cannot block
    assert proc.exitcode == 0, "the pool could not start inside a daemonic process"
    outcomes, daemon_after = queue.get(timeout=10)
    assert outcomes == [("ok", 4), ("crashed", None), ("ok", 16)]
    assert daemon_after is True


def test_a_pool_runs_inside_a_celery_style_billiard_daemon():
    """Celery's prefork children are billiard processes, installed as multiprocessing's current
    process with an authentication key that refuses pickling outside billiard: the forkserver
    must still get the key, and the process keeps its own key type afterwards."""
    billiard = pytest.importorskip("billiard")

    ctx = billiard.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_isolated_in_a_billiard_daemon, args=(queue,), daemon=True)
    proc.start()
    proc.join(timeout=120)
    assert proc.exitcode == 0, "the pool could not start inside a billiard daemon"
    outcomes, daemon_after, key_type = queue.get(timeout=10)
    assert outcomes == [("ok", 4), ("crashed", None), ("ok", 16)]
    assert daemon_after is True and key_type == "billiard.process"


def _isolated_in_a_billiard_daemon(queue) -> None:
    import multiprocessing

    me = multiprocessing.current_process()
    out = isolated_map(_square_or_die, [2, 13, 4], workers=1, chunksize=3)
    key_type = type(me._config["authkey"]).__module__
    queue.put(([(o.kind, o.value) for o in out], me.daemon, key_type))
