"""The README's main job: every asset on the bundled demo corpus, with a printed funnel."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

from realsyn.storage import LocalStorage, read_manifest, read_partition_table
from tests.conftest import REPO


def test_run_settings_take_the_command_line_over_the_environment(monkeypatch, tmp_path):
    """``realsyn run --corpus/--data-root`` build the Definitions from settings; the process
    environment is left as it was."""
    from realsyn_assets.cli import run_settings
    from realsyn_assets.definitions import build_definitions

    monkeypatch.setenv("REALSYN_CORPUS", str(tmp_path / "env-corpus"))
    monkeypatch.setenv("REALSYN_DATA_ROOT", str(tmp_path / "env-data"))
    monkeypatch.setenv("REALSYN_SCALES", "20,35")
    before = dict(os.environ)
    args = argparse.Namespace(corpus=str(tmp_path / "cli-corpus"), data_root=None)
    settings = run_settings(args, os.environ)
    assert settings.corpus_root == str(tmp_path / "cli-corpus")
    assert settings.data_root == str(tmp_path / "env-data")  # not given: the environment's
    assert settings.scales == (20, 35)
    defs = build_definitions(settings)
    assert defs.resources["corpus"].root == str(tmp_path / "cli-corpus")
    assert defs.resources["storage"].root == str(tmp_path / "env-data")
    assert dict(os.environ) == before


def test_the_realsyn_script_module_imports_nothing_heavy():
    """multiprocessing imports the ``realsyn`` script's module again in every worker process
    (document readers, image decoders): importing Dagster there cost each worker ~250 MB of
    address space against its memory limit and ~110 MB of memory (was: 975 MB VmSize, 220 MB
    RSS per document worker under ``realsyn run``; now 720 MB, 106 MB)."""
    code = (
        "import sys, realsyn_assets.cli; "
        "print(sorted(m for m in ('dagster', 'polars', 'torch', 'pyarrow') if m in sys.modules))"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


@pytest.mark.slow
def test_main_job_on_demo_corpus(tmp_path):
    from tests.fake_llm import fake_llm

    with fake_llm() as (url, handler):
        _run_main_job(tmp_path, url)
        assert len(handler.calls) == 16  # 8 captions + 8 fusions


def _run_main_job(tmp_path, captioner_url):
    """The bundled real sample shards only (``--corpus demo/corpus``: no generated world)."""
    env = {
        **os.environ,
        "DAGSTER_HOME": str(tmp_path / "home"),
        "REALSYN_DATA_ROOT": str(tmp_path / "data"),
    }
    env.pop("REALSYN_CORPUS", None)
    env.update(
        REALSYN_CAPTIONER_URL=captioner_url, REALSYN_CAPTION_MODEL="vlm", REALSYN_FUSION_MODEL="llm"
    )
    realsyn = Path(sys.executable).parent / "realsyn"

    def main_job():
        return subprocess.run(
            [str(realsyn), "run", "--corpus", str(REPO / "demo" / "corpus")],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )

    proc = main_job()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "23/23 run(s) succeeded" in out  # evaluation skipped: no world in this corpus
    assert "up to date" not in out
    assert "skipping evaluation: the corpus has no generated world" in out
    totals = [line.split()[1:] for line in out.splitlines() if line.startswith("total")]
    assert totals[0] == ["12", "70", "25", "3"]  # raw_documents: docs, texts, images, rejected
    assert totals[1] == ["25", "24", "23", "1", "1", "21"]  # clean_images funnel
    assert totals[2] == ["77", "3", "0", "4", "0", "6", "4", "60"]  # sentences
    assert totals[3] == ["60", "7", "0", "0", "53"]  # sentence_semantics (no LM: not applied)
    corpus = [line.split()[1:] for line in out.splitlines() if line.startswith("corpus ")]
    # image_dedup (no semantic dedup with random CLIP weights)
    assert corpus[0] == ["25", "24", "23", "1", "1", "11", "2", "0", "8"]
    assert corpus[1] == ["53", "31", "0", "22"]  # sentence_dedup
    assert corpus[2][:2] == ["22", "1"]  # sentence_clusters: 22 sentences, 1 cluster
    assert totals[4] == ["8", "0", "88"]  # retrieval_pairs: every surviving image has 3 texts
    assert "dagster dev -w workspace.yaml" in out
    docs = read_partition_table(
        LocalStorage(tmp_path / "data"), "raw_documents", "html/museum", "documents"
    )
    assert docs.height == 4
    # The runs are in the persistent instance, so the UI shows them afterwards.
    assert any((tmp_path / "home").rglob("*.db"))
    # Incremental: nothing changed, so a second run finds every step up to date (no asset is
    # left stale by the first run, the trained CLIP included) and materializes nothing.
    again = main_job()
    assert again.returncode == 0, again.stdout + again.stderr
    assert "23/23 run(s) succeeded" in again.stdout
    assert "(23 up to date, skipped" in again.stdout, again.stdout

    # The release: published schema first, and stock open_clip trains on its webdataset shards.
    release = tmp_path / "data" / "release"
    assert (release / "t20" / "DATASET_CARD.md").is_file()
    card = (release / "t180" / "DATASET_CARD.md").read_text()
    assert "| image references | 25 | 100.0% |" in card and "| images in t180 | 8 |" in card
    assert "rows with syn_text: 8" in card and "caption=vlm" in card  # not a placeholder
    assert '"max_words": 81' in card  # the parameters each stage ran with

    table = pl.read_parquet(release / "t180" / "release.parquet")
    assert table.columns[:5] == ["raw_image_url", "text1", "text2", "text3", "syn_text"]
    assert table.height == 8 and table["text3"].null_count() == 0
    assert table["syn_text"].null_count() == 0
    assert (table["syn_text"] == "Fused: " + table["text1"]).all()
    shards = sorted((release / "t180" / "wds").glob("*.tar"))
    logs = tmp_path / "logs"
    train = subprocess.run(
        [
            sys.executable,
            "-m",
            "open_clip_train.main",
            "--train-data",
            str(shards[0]),
            "--train-num-samples",
            "8",
            "--dataset-type",
            "webdataset",
            "--batch-size",
            "4",
            "--epochs",
            "1",
            "--model",
            "ViT-B-32",
            "--workers",
            "0",
            "--device",
            "cpu",
            "--precision",
            "fp32",
            "--lr",
            "1e-5",
            "--logs",
            str(logs),
            "--save-frequency",
            "0",
            "--log-every-n-steps",
            "1",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    log = "\n".join(p.read_text() for p in logs.rglob("out.log"))
    assert train.returncode == 0, train.stderr[-3000:]
    assert "Train Epoch: 0 [8/8 (100%)]" in log, log[-2000:]


def _main_job_on_world(root: Path, corpus: Path, **extra: str):
    """``realsyn run`` on a small generated world (40 documents, 3 training epochs) with its
    Dagster home and data under ``root``; returns the finished process and its environment."""
    env = {
        **os.environ,
        "DAGSTER_HOME": str(root / "home"),
        "REALSYN_DATA_ROOT": str(root / "data"),
    }
    for var in ("REALSYN_CORPUS", "REALSYN_CAPTIONER_URL", "REALSYN_CLIP_CHECKPOINT"):
        env.pop(var, None)
    for var in ("REALSYN_ENGINE", "REALSYN_RAY_ADDRESS", "RAY_AUTH_MODE"):
        env.pop(var, None)
    env.update(extra)
    cmd = [str(Path(sys.executable).parent / "realsyn"), "run", "--corpus", str(corpus), "--world"]
    cmd += ["--world-documents", "40", "--train-epochs", "3"]  # 3: not the step number
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    print(f"realsyn run ({env.get('REALSYN_ENGINE', 'local')}): {time.perf_counter() - t0:.0f} s")
    return proc, env


@pytest.fixture(scope="module")
def world_run(tmp_path_factory):
    """The main job on the local engine, shared by the tests below (one run, not two)."""
    root = tmp_path_factory.mktemp("world")
    proc, env = _main_job_on_world(root, root / "corpus")
    return root, proc, env


@pytest.mark.slow
def test_main_job_on_a_small_generated_world(world_run):
    """Generate a world, bootstrap the CLIP model on its alt texts, run everything, evaluate."""
    tmp_path, proc, env = world_run
    corpus = tmp_path / "corpus"
    cmd = [str(Path(sys.executable).parent / "realsyn")]
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    out = proc.stdout
    assert "generated the world into" in out and "20/20 run(s) succeeded" in out
    for metric in ("precision_at_1", "dedup_recall", "filter_recall", "image_to_text_r5"):
        line = next(x for x in out.splitlines() if x.strip().startswith(metric + " "))
        assert 0.0 <= float(line.split()[-1]) <= 1.0, line
    store = LocalStorage(tmp_path / "data")
    trained = read_manifest(store, "clip_training", None)["info"]
    assert trained["stats"]["steps"] > 0 and trained["source"] == "alt_text"
    # two rounds (alt texts, then chosen page sentences), their progress in the terminal and
    # the step's label again after it
    assert [r["round"] for r in trained["rounds"]] == [1, 2]
    assert "clip_training round 2/2 steps" in out + proc.stderr
    assert "[realsyn] 4/20 clip_bootstrap: ok (" in out
    # every vector downstream was made by the trained checkpoint
    for shard in ("world/html/shapes-blog", "world/obelics/world-00000.parquet"):
        assert (
            read_manifest(store, "image_embeddings", shard)["info"]["model"] == trained["identity"]
        )
    pairs = read_partition_table(store, "retrieval_pairs", "world/html/shapes-blog", "pairs")
    assert pairs.height > 0 and set(pairs["model"].unique()) == {trained["identity"]}
    metrics = read_partition_table(store, "pipeline_evaluation", None, "metrics")
    assert metrics["world_images"][0] == pairs.height + sum(
        read_partition_table(store, "retrieval_pairs", s, "pairs").height
        for s in ("world/obelics/world-00000.parquet", "world/obelics/world-00001.parquet")
    )
    _document_and_hybrid_scopes(env, corpus, store, tmp_path)
    # the same world is not generated twice
    again = [cmd[0], "world", "--out", str(corpus), "--documents", "40"]
    proc = subprocess.run(again, cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "is up to date" in proc.stdout, proc.stdout + proc.stderr


SCOPE_RERUN = """
import os, sys
import dagster as dg
from realsyn_assets.definitions import build_definitions
from realsyn_assets.refresh import run_step
from realsyn_assets.settings import Settings
defs = build_definitions(Settings.from_env(os.environ), os.environ)
instance = dg.DagsterInstance.get()
quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
runs = []
for shard in sys.argv[1:]:  # stale: REALSYN_PARAMS changed retrieval_pairs' code version
    runs += run_step(defs, instance, "retrieval_shards", shard, run_config=quiet)
assert runs and all(ok for _, ok in runs), runs
"""


def _document_and_hybrid_scopes(env, corpus, store, tmp_path):
    """retrieval_pairs again with REALSYN_PARAMS' scope = document, then hybrid (the asset
    path of realsyn.scope): every row and manifest records the scope; in document scope every
    text is a sentence of the image's own document and no cluster is searched; hybrid keeps
    the clusters and takes at least as many texts from the own document as the corpus scope."""
    import polars as pl

    shards = ["world/html/shapes-blog", "world/obelics/world-00000.parquet"]
    doc_of: dict[str, str] = {}
    for shard in shards:
        sentences = read_partition_table(store, "sentences", shard, "sentences")
        doc_of.update(zip(sentences["sentence_id"], sentences["doc_id"], strict=True))

    def pairs_and_own() -> tuple[pl.DataFrame, int, int]:
        pairs = pl.concat(
            read_partition_table(store, "retrieval_pairs", s, "pairs") for s in shards
        )
        ids = [(row["doc_id"], row[f"sentence_id{j}"]) for row in pairs.iter_rows(named=True)
               for j in (1, 2, 3) if row[f"sentence_id{j}"] is not None]  # fmt: skip
        return pairs, sum(doc_of.get(s) == d for d, s in ids), len(ids)

    corpus_pairs, corpus_own, _ = pairs_and_own()
    corpus_versions = {s: read_manifest(store, "retrieval_pairs", s)["version"] for s in shards}
    for scope in ("document", "hybrid"):
        params = tmp_path / f"params-{scope}.toml"
        params.write_text(f'[retrieval_pairs]\nscope = "{scope}"\n')
        scope_env = {**env, "REALSYN_CORPUS": str(corpus), "REALSYN_PARAMS": str(params)}
        proc = subprocess.run(
            [sys.executable, "-c", SCOPE_RERUN, *shards],
            cwd=REPO, env=scope_env, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        pairs, own, texts = pairs_and_own()
        assert pairs.height == corpus_pairs.height and set(pairs["scope"]) == {scope}
        infos = [read_manifest(store, "retrieval_pairs", s)["info"] for s in shards]
        assert {i["scope"] for i in infos} == {scope}
        assert {tuple(i["scope_params"].values()) for i in infos} == {(scope, 0.1, None)}
        if scope == "document":
            assert own == texts > 0  # every text is a sentence of the image's own document
            assert pairs["cluster_id"].null_count() == pairs.height
            assert set(pairs["short_reason"].drop_nulls()) <= {"document_too_small"}
        else:
            assert own >= corpus_own and pairs["cluster_id"].null_count() == 0
    # Back to the corpus scope (the default): the same rows and data versions as the first run
    # (the Ray test compares this world's release and versions with its own run).
    versions = {s: read_manifest(store, "retrieval_pairs", s)["version"] for s in shards}
    params = tmp_path / "params-corpus.toml"
    params.write_text('[retrieval_pairs]\nscope = "corpus"\n')
    proc = subprocess.run(
        [sys.executable, "-c", SCOPE_RERUN, *shards],
        cwd=REPO, env={**env, "REALSYN_CORPUS": str(corpus), "REALSYN_PARAMS": str(params)},
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert pairs_and_own()[0].equals(corpus_pairs)
    assert versions != corpus_versions  # the hybrid rows differed
    assert {s: read_manifest(store, "retrieval_pairs", s)["version"] for s in shards} == (
        corpus_versions
    )


@pytest.fixture(scope="module")
def ray_head(tmp_path_factory):
    """A local Ray cluster (2 CPUs) held by its own process, with token authentication on (Ray's
    default for a new cluster) and its own token; yields the environment a driver joining it
    needs. Closing the process's stdin shuts the cluster down."""
    token = tmp_path_factory.mktemp("ray") / "auth_token"
    token.write_text(secrets.token_hex(32))
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_AUTH_")}
    env["RAY_AUTH_TOKEN_PATH"] = str(token)  # not the user's ~/.ray/auth_token
    script = (
        "import sys, ray\n"
        "ray.init(num_cpus=2, include_dashboard=False)\n"
        "print('address=' + ray.get_runtime_context().gcs_address, flush=True)\n"
        "sys.stdin.read()\n"
        "ray.shutdown()\n"
    )
    head = subprocess.Popen(
        [sys.executable, "-c", script],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
        text=True,
    )
    try:
        lines = (line.strip() for line in head.stdout)
        address = next((x for x in lines if x.startswith("address=")), "")[len("address=") :]
        assert address, "the Ray head did not start"
        # no RAY_AUTH_MODE: the engine finds the token as `ray start` does (realsyn/engine.py)
        yield {"REALSYN_RAY_ADDRESS": address, "RAY_AUTH_TOKEN_PATH": str(token)}
    finally:
        head.stdin.close()
        head.wait(timeout=120)


def _release(root: Path) -> dict:
    """What a release is made of: every partition's data version (a hash of its bytes), every
    scale's rows, the bytes of every file under release/ and the evaluation's precision@1."""
    store = LocalStorage(root / "data")
    data = root / "data"
    versions = {
        str(m.parent.relative_to(data)): json.loads(m.read_text())["version"]
        for m in sorted(data.rglob("_manifest.json"))
    }
    files = {
        str(f.relative_to(data)): hashlib.sha256(f.read_bytes()).hexdigest()
        for f in sorted((data / "release").rglob("*"))
        if f.is_file()
    }
    tables = {}
    for parquet in sorted((data / "release").glob("t*/release.parquet")):
        frame = pl.read_parquet(parquet)
        tables[parquet.parent.name] = frame.sort(["raw_image_url", "text1"])
    metrics = read_manifest(store, "pipeline_evaluation", None)["info"]["metrics"]
    return {"versions": versions, "files": files, "tables": tables, "p1": metrics["precision_at_1"]}


@pytest.mark.slow
def test_main_job_on_ray_gives_the_local_release(world_run, ray_head, tmp_path):
    """The same main job with REALSYN_ENGINE=ray on a real local cluster (the bucketed stages'
    tasks run in Ray's worker processes) gives the local engine's release, byte for byte."""
    root, local, _env = world_run
    assert local.returncode == 0, local.stdout[-4000:] + local.stderr[-4000:]
    proc, _ = _main_job_on_world(tmp_path, root / "corpus", REALSYN_ENGINE="ray", **ray_head)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert "20/20 run(s) succeeded" in proc.stdout
    # the step process joined the fixture's cluster and started none of its own
    assert "Connecting to existing Ray cluster at address" in proc.stderr, proc.stderr[-3000:]
    assert "Started a local Ray instance" not in proc.stderr
    ray_release, local_release = _release(tmp_path), _release(root)
    assert sorted(ray_release["tables"]) == sorted(local_release["tables"]) != []
    for scale, frame in ray_release["tables"].items():
        assert frame.height > 0, scale
        assert frame.equals(local_release["tables"][scale]), scale
    for name in ("versions", "files"):
        mine, theirs = ray_release[name], local_release[name]
        assert mine == theirs, {
            k: (mine.get(k), theirs.get(k)) for k in mine | theirs if mine.get(k) != theirs.get(k)
        }
    assert any(k.startswith("sentence_clusters") for k in ray_release["versions"])
    assert ray_release["p1"] == local_release["p1"]
