"""The executor every job runs its steps with, chosen once by ``definitions.py``.

``REALSYN_EXECUTOR``        unset: Dagster's default (launched runs: one process per step;
                            ``execute_in_process``, as ``realsyn run`` does: in the process)
    ``in_process``          every step in the run's process
    ``multiprocess``        one child process per step, at most ``REALSYN_MAX_CONCURRENT`` at
                            once (default: the CPU count)
    ``celery``              steps are Celery tasks on ``REALSYN_CELERY_BROKER`` (e.g.
                            ``redis://host:6379/0``), results on ``REALSYN_CELERY_BACKEND``
                            (default: the broker); workers: ``dagster-celery worker start``
    ``k8s``                 one Kubernetes Job per step (dagster-k8s); namespace, image and env
                            come from the K8sRunLauncher (deploy/k8s/values.yaml), pods per
                            run and per-step resources from the run config
                            (deploy/k8s/run_config.yaml)

Celery and Kubernetes need an instance every process reaches (deploy/dagster.postgres.yaml)
and a shared data root (``REALSYN_DATA_ROOT=s3://...``). Steps pass no values between
themselves (every asset writes its partition to the data root), so Dagster's IO manager only
records that a step ran. See docs/OPERATIONS.md.
"""

from collections.abc import Mapping

import dagster as dg

EXECUTORS = ("in_process", "multiprocess", "celery", "k8s")


def executor_from_env(env: Mapping[str, str]) -> dg.ExecutorDefinition | None:
    """The executor named by ``REALSYN_EXECUTOR``; None keeps Dagster's default."""
    kind = env.get("REALSYN_EXECUTOR") or ""
    if not kind:
        return None
    if kind not in EXECUTORS:
        raise ValueError(f"REALSYN_EXECUTOR={kind!r}: expected one of {', '.join(EXECUTORS)}")
    max_concurrent = int(env.get("REALSYN_MAX_CONCURRENT") or 0)  # 0: the executor's default
    if kind == "in_process":
        return dg.in_process_executor
    if kind == "multiprocess":
        return dg.multiprocess_executor.configured(
            {"max_concurrent": max_concurrent}, name="multiprocess"
        )
    if kind == "celery":
        from dagster_celery import celery_executor

        if not env.get("REALSYN_CELERY_BROKER"):
            raise ValueError("REALSYN_EXECUTOR=celery needs REALSYN_CELERY_BROKER")
        backend = (
            "REALSYN_CELERY_BACKEND"
            if env.get("REALSYN_CELERY_BACKEND")
            else "REALSYN_CELERY_BROKER"
        )
        # Read from the environment at run time (the URLs may hold a password): never stored
        # in the run's config.
        return celery_executor.configured(
            {"broker": {"env": "REALSYN_CELERY_BROKER"}, "backend": {"env": backend}},
            name="celery",
        )
    from dagster_k8s import k8s_job_executor

    return k8s_job_executor
