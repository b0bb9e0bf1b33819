"""Run native code as a guest: map a function over items in replaceable worker processes.

A parser or decoder written in C can kill the process that calls it (SIGSEGV, SIGILL, an
``abort()``); in the calling process that is the end of the run. :class:`IsolatedPool` maps a
picklable function over items in worker processes (pebble's ``ProcessPool``, which replaces a
worker that dies). Items travel in chunks; when a chunk's worker dies or overruns its time, the
chunk is run again item by item, so the item that kills its worker gets an :class:`Outcome` of
kind ``crashed`` (with the exit code; negative: the signal) and every other item its result.

Kinds of outcome: ``ok`` (``value`` holds the result), ``error`` (the function raised; the
message and traceback are kept, :meth:`Outcome.unwrap` raises), ``out_of_memory`` (a
``MemoryError`` under ``memory_limit_bytes``), ``crashed`` and ``timed_out``. ``timeout_s`` is a
safety net, not a decision rule: its hits depend on machine load, so callers must record them
loudly as their own reason. Results come back in input order and do not depend on the chunking
or on which worker ran an item.

Workers start with ``forkserver`` by default: a clean process, not a copy of a caller that may
hold threads, GPU state or gigabytes of address space (``memory_limit_bytes`` is an address-space
limit, ``RLIMIT_AS``, of each worker). The function, the initializer and the items must be
picklable (module-level functions).

A pool may run inside a daemonic process (a Celery prefork worker, a ``multiprocessing`` pool
worker), where Python refuses to start children ("daemonic processes are not allowed to have
children"). That rule exists because a daemonic process cannot outlive its parent to reap
children; forkserver workers are children of the forkserver, which exits when its caller's end
of the pipe closes. So for the pool's lifetime the calling process's daemon flag is lifted, and
restored on :meth:`IsolatedPool.close`. Celery's billiard also installs its own process object as
``multiprocessing``'s current process, whose authentication key refuses to be pickled outside
billiard's own spawning; the forkserver must send that key, so for the pool's lifetime it is held
as ``multiprocessing``'s own key type (same bytes).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import traceback
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from multiprocessing.process import AuthenticationString
from typing import Any, Literal

from pebble import ProcessExpired, ProcessPool

OutcomeKind = Literal["ok", "error", "out_of_memory", "crashed", "timed_out"]


class IsolatedError(RuntimeError):
    """The isolated function failed on an item (see the outcome's kind and message)."""


@dataclass(frozen=True)
class Outcome:
    """What became of one item."""

    kind: OutcomeKind
    value: Any = None
    exitcode: int | None = None  # crashed: the worker's exit code (negative: killed by signal)
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.kind == "ok"

    @property
    def signal_name(self) -> str | None:
        """``SIGSEGV``, ``SIGILL``, ... when a signal killed the worker."""
        if self.exitcode is None or self.exitcode >= 0:
            return None
        try:
            return signal.Signals(-self.exitcode).name
        except ValueError:
            return f"signal {-self.exitcode}"

    def unwrap(self) -> Any:
        if self.kind != "ok":
            raise IsolatedError(f"{self.kind}: {self.message}")
        return self.value


def default_workers() -> int:
    """The CPUs this process may run on (its affinity mask, not the machine's total)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def _init_worker(memory_limit_bytes: int | None, initializer, initargs: tuple) -> None:
    if memory_limit_bytes is not None:
        import resource

        _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        limit = (
            memory_limit_bytes if hard == resource.RLIM_INFINITY else min(hard, memory_limit_bytes)
        )
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    if initializer is not None:
        initializer(*initargs)


def _run_chunk(fn: Callable[[Any], Any], chunk: list) -> list[Outcome]:
    out = []
    for item in chunk:
        try:
            out.append(Outcome("ok", fn(item)))
        except MemoryError as err:
            out.append(Outcome("out_of_memory", message=f"MemoryError: {err}"))
        except Exception as err:  # returned as an outcome; the caller decides, unwrap() raises
            trace = traceback.format_exc(limit=8)
            out.append(Outcome("error", message=f"{type(err).__name__}: {err}\n{trace}"))
    return out


def _failure(err: BaseException, timeout: float | None) -> Outcome:
    if isinstance(err, ProcessExpired):
        crashed = Outcome("crashed", exitcode=err.exitcode)
        how = crashed.signal_name or f"exit code {err.exitcode}"
        return Outcome("crashed", exitcode=err.exitcode, message=f"worker died ({how})")
    return Outcome("timed_out", message=f"no result within the {timeout:g} s safety net")


class _ChildrenAllowed:
    """Lifts the calling process's daemon flag while pools are open (counted; restored on the
    last close). Only ``forkserver``/``spawn`` pools need it: their workers are not forked from
    the daemonic caller."""

    open_pools = 0
    was_daemon = False
    foreign_key: Any = None  # billiard's AuthenticationString, while swapped

    @classmethod
    def enter(cls) -> None:
        me = multiprocessing.current_process()
        if cls.open_pools == 0:
            cls.was_daemon = bool(me._config.get("daemon"))
            if cls.was_daemon:
                me._config["daemon"] = False
            key = me._config.get("authkey")
            if key is not None and type(key) is not AuthenticationString:
                cls.foreign_key = key
                me._config["authkey"] = AuthenticationString(bytes(key))
        cls.open_pools += 1

    @classmethod
    def exit(cls) -> None:
        cls.open_pools -= 1
        if cls.open_pools == 0:
            me = multiprocessing.current_process()
            if cls.was_daemon:
                me._config["daemon"] = True
            if cls.foreign_key is not None:
                me._config["authkey"], cls.foreign_key = cls.foreign_key, None


class IsolatedPool:
    """Worker processes for one run of ``fn``; re-used across :meth:`map` calls (start once).

    Args:
        fn: a picklable function of one item.
        workers: worker processes (default: the CPUs this process may use).
        chunksize: items per task; a dead or overrunning chunk is re-run item by item.
        initializer, initargs: run once in each worker as it starts (e.g. load a model).
        memory_limit_bytes: address-space limit of each worker (``RLIMIT_AS``); ``None``: none.
        timeout_s: per-item wall-clock safety net (a chunk gets ``timeout_s`` x its length).
        start_method: ``forkserver`` (default), ``spawn`` or ``fork``.
    """

    def __init__(
        self,
        fn: Callable[[Any], Any],
        *,
        workers: int | None = None,
        chunksize: int = 16,
        initializer: Callable[..., None] | None = None,
        initargs: tuple = (),
        memory_limit_bytes: int | None = None,
        timeout_s: float | None = None,
        start_method: str = "forkserver",
    ):
        if chunksize < 1:
            raise ValueError(f"chunksize must be >= 1, got {chunksize}")
        self.fn = fn
        self.workers = workers or default_workers()
        self.chunksize = chunksize
        self.timeout_s = timeout_s
        self.retried_chunks = 0
        self._lifts_daemon = start_method != "fork"
        if self._lifts_daemon:
            _ChildrenAllowed.enter()
        self._closed = False
        try:
            self._pool = ProcessPool(
                max_workers=self.workers,
                max_tasks=0,
                initializer=_init_worker,
                initargs=(memory_limit_bytes, initializer, initargs),
                context=multiprocessing.get_context(start_method),
            )
        except BaseException:
            if self._lifts_daemon:
                _ChildrenAllowed.exit()
            raise

    def __enter__(self) -> IsolatedPool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._pool.stop()
            self._pool.join()
        finally:
            if self._lifts_daemon:
                _ChildrenAllowed.exit()

    def _submit(self, chunk: list):
        timeout = None if self.timeout_s is None else self.timeout_s * len(chunk)
        return self._pool.schedule(_run_chunk, args=(self.fn, chunk), timeout=timeout)

    def map(
        self, items: Iterable[Any], progress: Callable[[int, int], None] | None = None
    ) -> list[Outcome]:
        """One outcome per item, in input order."""
        items = list(items)
        chunks = [items[i : i + self.chunksize] for i in range(0, len(items), self.chunksize)]
        futures = [self._submit(chunk) for chunk in chunks]
        out: list[Outcome] = []
        for chunk, future in zip(chunks, futures, strict=True):
            out.extend(self._collect(chunk, future))
            if progress:
                progress(len(out), len(items))
        return out

    def _collect(self, chunk: list, future) -> list[Outcome]:
        try:
            return future.result()
        except (ProcessExpired, FutureTimeout) as err:
            if len(chunk) == 1:
                return [_failure(err, self.timeout_s)]
        # The worker died or overran while holding several items: run each alone.
        self.retried_chunks += 1
        singles = [self._submit([item]) for item in chunk]
        out = []
        for single in singles:
            try:
                out.extend(single.result())
            except (ProcessExpired, FutureTimeout) as err:
                out.append(_failure(err, self.timeout_s))
        return out


def isolated_map(
    fn: Callable[[Any], Any],
    items: Sequence[Any],
    *,
    workers: int | None = None,
    chunksize: int = 16,
    initializer: Callable[..., None] | None = None,
    initargs: tuple = (),
    memory_limit_bytes: int | None = None,
    timeout_s: float | None = None,
    start_method: str = "forkserver",
) -> list[Outcome]:
    """``fn`` over ``items`` in worker processes started for this call; see :class:`IsolatedPool`."""
    if not items:
        return []
    with IsolatedPool(
        fn,
        workers=min(workers or default_workers(), -(-len(items) // chunksize)),
        chunksize=chunksize,
        initializer=initializer,
        initargs=initargs,
        memory_limit_bytes=memory_limit_bytes,
        timeout_s=timeout_s,
        start_method=start_method,
    ) as pool:
        return pool.map(items)
