"""Same input, same output on a quiet and on a busy machine: the main job run twice.

    python bench/determinism.py [--train-epochs N] [--hogs N] [--out DIR]

Runs ``realsyn run`` on the bundled demo twice, each into a fresh Dagster home and data root:
once on a quiet machine, once with ``--hogs`` busy-looping processes (default: one per core) so
every step runs slower. Prints both runs' wall time, the trained model's checkpoint hash, the
clip_training steps (all planned steps must run: training is bounded by steps, never by the
clock) and the evaluation metrics side by side, and exits non-zero if anything but the time
differs. ``--train-epochs`` shortens training (each round) for a quicker check; the default is
the demo's own. Run it on an otherwise idle machine: the quiet run must be quiet.
"""

import argparse
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
METRICS = {
    "clip_evaluation": ("image_to_text_r1", "text_to_image_r1"),
    "pipeline_evaluation": ("precision_at_1", "precision_at_3", "dedup_recall", "filter_precision"),
}


def _hog(stop) -> None:
    x = 0
    while not stop.is_set():
        for _ in range(100_000):
            x = (x * 1103515245 + 12345) & 0x7FFFFFFF


def run_once(workdir: Path, train_epochs: int | None, hogs: int) -> dict:
    home, data = workdir / "dagster_home", workdir / "data"
    home.mkdir(parents=True)
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env = {**os.environ, "DAGSTER_HOME": str(home), "REALSYN_DATA_ROOT": str(data)}
    cmd = [str(Path(sys.executable).with_name("realsyn")), "run"]
    if train_epochs:
        cmd += ["--train-epochs", str(train_epochs)]
    stop = multiprocessing.Event()
    workers = [multiprocessing.Process(target=_hog, args=(stop,), daemon=True) for _ in range(hogs)]
    for w in workers:
        w.start()
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    finally:
        stop.set()
        for w in workers:
            w.join()
    seconds = time.perf_counter() - t0
    if proc.returncode:
        print(proc.stdout[-3000:], proc.stderr[-3000:], sep="\n")
        raise SystemExit(f"realsyn run failed (exit {proc.returncode}) with {hogs} hog(s)")
    from realsyn.storage import LocalStorage, read_manifest

    store = LocalStorage(data)
    info = read_manifest(store, "clip_training", None)["info"]
    out = {
        "seconds": round(seconds, 1),
        "model": info["identity"],
        "steps": info["stats"].get("total_steps", info["stats"]["steps"]),
        "planned_steps": info["stats"].get("total_planned_steps"),
    }
    for asset, keys in METRICS.items():
        metrics = read_manifest(store, asset, None)["info"]["metrics"]
        out.update({k: metrics.get(k) for k in keys})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train-epochs", type=int, help="epochs per round (default: the demo's)")
    parser.add_argument("--hogs", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--out", help="keep both runs' data here (default: a temporary folder)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(args.out or tmp)
        quiet = run_once(base / "quiet", args.train_epochs, 0)
        busy = run_once(base / "busy", args.train_epochs, args.hogs)
    keys = list(quiet)
    print(f"{'':<38} {'quiet':>34} {f'{args.hogs} CPU hogs':>34}")
    for k in keys:
        print(f"{k:<38} {quiet[k]!s:>34} {busy[k]!s:>34}")
    print(f"slowdown under load: {busy['seconds'] / quiet['seconds']:.2f}x")
    differ = [k for k in keys if k != "seconds" and quiet[k] != busy[k]]
    print(json.dumps({"identical": not differ, "differ": differ}))
    sys.exit(1 if differ else 0)


if __name__ == "__main__":
    main()
