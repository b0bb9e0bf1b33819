"""The Kubernetes deployment files load and validate, without a cluster: the instance
(deploy/k8s/dagster.yaml) against the config schemas of the classes it names, the Helm values
against that instance, and the step run config against every job with REALSYN_EXECUTOR=k8s."""

from __future__ import annotations

import importlib
import json
import os
import re
import shutil
import subprocess
import sys

import pytest
import yaml

from tests.conftest import REPO

K8S = REPO / "deploy" / "k8s"
# Fields of the chart's runLauncher.config.k8sRunLauncher (helm/dagster/schema, chart 1.13).
CHART_K8S_RUN_LAUNCHER_FIELDS = {
    "image",
    "imagePullPolicy",
    "jobNamespace",
    "loadInclusterConfig",
    "kubeconfigFile",
    "envConfigMaps",
    "envSecrets",
    "envVars",
    "volumeMounts",
    "volumes",
    "labels",
    "failPodOnRunFailure",
    "resources",
    "schedulerName",
    "securityContext",
    "runK8sConfig",
}


def load(name: str) -> dict:
    return yaml.safe_load((K8S / name).read_text())


def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def snake_keys(value):
    """The chart's camelCase blocks in dagster.yaml's snake_case (what its templates render)."""
    if isinstance(value, dict):
        return {snake(k): snake_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [snake_keys(v) for v in value]
    return value


def configurable_class(block: dict):
    return getattr(importlib.import_module(block["module"]), block["class"])


def test_instance_yaml_validates_against_its_classes(tmp_path, monkeypatch):
    from dagster._config import process_config
    from dagster._core.instance.config import dagster_instance_config
    from dagster_postgres import DagsterPostgresStorage

    monkeypatch.setenv("DAGSTER_PG_PASSWORD", "secret")
    shutil.copy(K8S / "dagster.yaml", tmp_path / "dagster.yaml")
    config, _ = dagster_instance_config(str(tmp_path))  # the instance schema as a whole
    for key in ("run_launcher", "run_coordinator", "compute_logs"):
        cls = configurable_class(config[key])
        result = process_config(cls.config_type(), config[key]["config"])
        assert result.success, (key, [e.message for e in result.errors])
    storage = process_config(DagsterPostgresStorage.config_type(), config["storage"]["postgres"])
    assert storage.success, [e.message for e in storage.errors]
    assert storage.value["postgres_db"]["password"] == "secret"  # from the environment
    assert configurable_class(config["run_launcher"]).__name__ == "K8sRunLauncher"
    # A misspelt field is refused: the check above can fail.
    bad = {**config["run_launcher"]["config"], "env_secret": ["x"]}
    assert not process_config(configurable_class(config["run_launcher"]).config_type(), bad).success


def test_helm_values_render_the_same_instance():
    values, instance = load("values.yaml"), load("dagster.yaml")
    launcher = values["runLauncher"]
    assert launcher["type"] == "K8sRunLauncher"
    k8s = launcher["config"]["k8sRunLauncher"]
    assert set(k8s) <= CHART_K8S_RUN_LAUNCHER_FIELDS, set(k8s) - CHART_K8S_RUN_LAUNCHER_FIELDS
    rendered = snake_keys({k: v for k, v in k8s.items() if k not in ("envSecrets",)})
    rendered["env_secrets"] = [s["name"] for s in k8s["envSecrets"]]
    for key, value in rendered.items():
        if value not in ([], {}, None):
            assert instance["run_launcher"]["config"][key] == value, key
    assert (
        instance["run_launcher"]["config"]["postgres_password_secret"]
        == values["global"]["postgresqlSecretName"]
    )
    logs = values["computeLogManager"]
    assert logs["type"] == instance["compute_logs"]["class"] == "S3ComputeLogManager"
    assert snake_keys(logs["config"]["s3ComputeLogManager"]) == instance["compute_logs"]["config"]
    queue = values["dagsterDaemon"]["runCoordinator"]
    assert queue["type"] == instance["run_coordinator"]["class"]
    assert (
        snake_keys(queue["config"]["queuedRunCoordinator"])
        == (instance["run_coordinator"]["config"])
    )
    pg, db = values["postgresql"], instance["storage"]["postgres"]["postgres_db"]
    assert not pg["enabled"]
    assert (pg["postgresqlHost"], pg["postgresqlUsername"], pg["postgresqlDatabase"]) == (
        db["hostname"],
        db["username"],
        db["db_name"],
    )
    assert (pg["service"]["port"], pg["postgresqlScheme"]) == (db["port"], db["scheme"])
    (deployment,) = values["dagster-user-deployments"]["deployments"]
    assert deployment["dagsterApiGrpcArgs"] == ["-m", "realsyn_assets.definitions"]
    env_names = [e["name"] for e in deployment["env"]]
    # Every variable the values set is one the code reads.
    sources = "".join(
        (REPO / "realsyn_assets" / f).read_text() for f in ("settings.py", "executors.py")
    )
    assert all(f'"{name}"' in sources for name in env_names), env_names


def test_run_config_validates_for_every_job_on_the_k8s_executor():
    """Load the code location with the user deployment's environment, as its gRPC server
    would, and validate run_config.yaml against every job."""
    (deployment,) = load("values.yaml")["dagster-user-deployments"]["deployments"]
    env = {**os.environ, **{e["name"]: e["value"] for e in deployment["env"]}}
    env.update(REALSYN_S3_ACCESS_KEY_ID="id", REALSYN_S3_SECRET_ACCESS_KEY="key")  # the Secret
    script = f"""
import json, yaml
import dagster as dg
from realsyn_assets.definitions import defs
run_config = yaml.safe_load(open({str(K8S / "run_config.yaml")!r}))
steps = {{k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}}
out = {{"per_step": sorted(run_config["execution"]["config"]["per_step_k8s_config"]),
       "steps": sorted(steps), "jobs": {{}}}}
for job in defs.resolve_all_job_defs():
    if job.name.startswith("__"):
        continue
    result = dg.validate_run_config(job, run_config)
    (name, config), = result["execution"].items()  # keyed by the executor's name
    out["jobs"][job.name] = [job.executor_def.name, name, sorted(config)]
print(json.dumps(out))
"""
    proc = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert set(out["per_step"]) <= set(out["steps"]), set(out["per_step"]) - set(out["steps"])
    assert "ingest_shards" in out["jobs"]
    for name, (executor, validated_as, keys) in out["jobs"].items():
        assert executor == validated_as == "k8s", name
        assert {"max_concurrent", "step_k8s_config", "per_step_k8s_config"} <= set(keys)


def secret_values(value, path=""):
    """(path, value) of every password/key field that holds a literal instead of env/empty."""
    if isinstance(value, dict):
        if set(value) == {"env"}:
            return []
        return [hit for k, v in value.items() for hit in secret_values(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [hit for i, v in enumerate(value) for hit in secret_values(v, f"{path}[{i}]")]
    name = path.rsplit(".", 1)[-1].lower()
    if re.search(r"password$|secret_?access_?key|api_?key", name) and value not in ("", None):
        return [(path, value)]
    return []


@pytest.mark.parametrize(
    "path", sorted((REPO / "deploy").rglob("*.yaml")), ids=lambda p: p.relative_to(REPO).as_posix()
)
def test_deploy_files_hold_no_secrets(path):
    assert secret_values(yaml.safe_load(path.read_text())) == []
    assert secret_values({"password": "hunter2"}) == [(".password", "hunter2")]
