"""EngineResource: where the bucketed corpus-wide stages run (``REALSYN_ENGINE``).

``local`` (default): the map tasks run one after the other in the step's own process, one
shard or bucket in memory at a time. ``ray``: each task is a Ray task on the cluster at
``ray_address`` (``REALSYN_RAY_ADDRESS``; e.g. ``ray://raycluster-head-svc:10001`` for a KubeRay
cluster, docs/OPERATIONS.md); unset, the cluster this process is already connected to (as
dagster-ray's ``KubeRayCluster`` / ``LocalRay`` resources leave it), else a local one. Both give
the same result (tests/test_scale.py).
"""

from collections.abc import Mapping
from typing import Literal

import dagster as dg
from pydantic import Field

from realsyn.engine import Engine, engine_named

ENGINES = ("local", "ray")


class EngineResource(dg.ConfigurableResource):
    engine: Literal["local", "ray"] = Field(
        default="local",
        description="local: tasks in the step's process, one bucket at a time; ray: Ray tasks.",
    )
    ray_address: str | None = Field(
        default=None,
        description="The Ray cluster (ray://host:10001 or auto); unset: the connected one or "
        "a local one.",
    )

    def get(self) -> Engine:
        return engine_named(self.engine, self.ray_address)


def engine_from_env(env: Mapping[str, str]) -> EngineResource:
    """``REALSYN_ENGINE`` (local|ray) and ``REALSYN_RAY_ADDRESS``; an unknown engine fails."""
    name = env.get("REALSYN_ENGINE", "local") or "local"
    if name not in ENGINES:
        raise ValueError(f"REALSYN_ENGINE={name!r}: use one of {', '.join(ENGINES)}")
    return EngineResource(engine=name, ray_address=env.get("REALSYN_RAY_ADDRESS") or None)
