"""Where the map tasks of a corpus-wide stage run: this process, or a Ray cluster.

A corpus-wide stage (:mod:`realsyn.codebook`, :mod:`realsyn.buckets`) is a few rounds of
``engine.map(fn, items)`` (one task per shard or per bucket; each task reads its inputs from
storage, writes its outputs there and returns a small summary) plus a small reduce in the caller.
Both engines yield the summaries in the order of ``items``, so the reduce, and the result, never
depend on which task finished first.

- :class:`LocalEngine` runs the tasks one after the other in this process: peak memory is one
  task's (one shard or one bucket), what the demo and the tests use.
- :class:`RayEngine` submits them as Ray tasks (``ray`` is imported only here, when used), at
  most ``max_in_flight`` at a time, so the driver holds a bounded number of pending summaries.
  ``address=None`` joins the cluster this process is already connected to, or starts a local one.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol


class Engine(Protocol):
    name: str

    def map(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Any]:
        """``fn(item)`` for each item; results in the order of ``items``."""
        ...


class LocalEngine:
    """One task at a time, in this process."""

    name = "local"

    def map(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Any]:
        for item in items:
            yield fn(item)


class RayEngine:
    """Each item a Ray task (``num_cpus`` CPUs each); results in item order.

    Args:
        address: a Ray cluster (``ray://host:10001`` or ``auto``); None: the one this process is
            connected to, else a local one started with ``init_cpus`` CPUs.
        num_cpus: CPUs reserved per task (its BLAS threads follow it).
        max_in_flight: tasks submitted ahead of the one whose result is awaited (default: twice
            the cluster's CPUs); bounds the driver's pending results.
        max_retries: re-runs of a task whose worker died (node lost, OOM kill); a task that
            raises is never retried (the error is deterministic and is re-raised here).
    """

    name = "ray"

    def __init__(
        self,
        address: str | None = None,
        num_cpus: float = 1,
        max_in_flight: int | None = None,
        max_retries: int = 3,
        init_cpus: int | None = None,
    ):
        self.address = address
        self.num_cpus = num_cpus
        self.max_in_flight = max_in_flight
        self.max_retries = max_retries
        self.init_cpus = init_cpus

    def _ray(self):
        import ray

        if not ray.is_initialized():
            if self.address:
                _token_auth_when_available()
                ray.init(address=self.address, log_to_driver=False)
            else:
                ray.init(num_cpus=self.init_cpus, include_dashboard=False, log_to_driver=False)
        return ray

    def map(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Any]:
        ray = self._ray()
        remote = ray.remote(num_cpus=self.num_cpus, max_retries=self.max_retries)(_call)
        shared = ray.put(fn)  # a partial's bound arguments travel once, not once per task
        window = self.max_in_flight or max(2, 2 * int(ray.cluster_resources().get("CPU", 1)))
        pending: deque = deque()
        for item in items:
            pending.append(remote.remote(shared, item))
            if len(pending) >= window:
                yield ray.get(pending.popleft())
        while pending:
            yield ray.get(pending.popleft())


def _token_auth_when_available() -> None:
    """Ray >= 2.59 starts a local cluster (``ray.init()``, ``ray start --head``) with token
    authentication on, but a driver joining one by address sends its token only under
    ``RAY_AUTH_MODE=token`` (without it: "Authentication token is missing", retried for
    minutes). As ``ray start`` does for a joining node: with ``RAY_AUTH_MODE`` unset and a token
    found (``RAY_AUTH_TOKEN``, ``RAY_AUTH_TOKEN_PATH`` or ``~/.ray/auth_token``), use it."""
    try:
        from ray._private.authentication.authentication_token_setup import (
            maybe_enable_token_auth_if_token_available,
        )
    except ImportError:  # a Ray without token authentication
        return
    maybe_enable_token_auth_if_token_available(warn_if_disabled=False)


def _call(fn: Callable[[Any], Any], item: Any) -> Any:
    return fn(item)


def engine_named(name: str, address: str | None = None) -> Engine:
    """``local`` or ``ray`` (``REALSYN_ENGINE``); ``address`` is the Ray cluster's."""
    if name == "local":
        return LocalEngine()
    if name == "ray":
        return RayEngine(address=address)
    raise ValueError(f"unknown engine {name!r}: use 'local' or 'ray'")
