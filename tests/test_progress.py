"""realsyn_assets.progress: progress lines with counts, rate and ETA at a bounded cadence."""

import re

from realsyn_assets import progress as progress_module
from realsyn_assets.progress import progress_logger


def test_logs_at_most_every_interval_and_always_at_the_end(monkeypatch):
    clock = [100.0]
    monkeypatch.setattr(progress_module.time, "perf_counter", lambda: clock[0])
    lines: list[str] = []
    report = progress_logger(lines.append, "things", every_s=5.0)
    for done in range(1, 1001):  # 1,000 items, 10 ms each: 10 s in all
        clock[0] += 0.01
        report(done, 1000, "loss 0.5" if done == 1000 else "")
    assert len(lines) == 2  # once after 5 s, once at the end: never per item
    assert re.fullmatch(r"things: 50[01]/1,000 \(50%\), 100\.0/s, ETA 5 s", lines[0]), lines[0]
    assert lines[1] == "things: 1,000/1,000 (100%), 100.0/s, done in 10.0 s, loss 0.5"


def test_zero_progress_says_eta_unknown(monkeypatch):
    clock = [0.0]
    monkeypatch.setattr(progress_module.time, "perf_counter", lambda: clock[0])
    lines: list[str] = []
    report = progress_logger(lines.append, "fit", every_s=1.0)
    clock[0] = 2.0
    report(0, 10)
    assert lines == ["fit: 0/10 (0%), 0.0/s, ETA unknown"]


def test_cadence_reaches_a_step_run_in_process(monkeypatch):
    """``realsyn run`` sets the cadence around its in-process runs (never os.environ)."""
    import dagster as dg

    from realsyn_assets.progress import progress_cadence

    monkeypatch.delenv("REALSYN_PROGRESS_EVERY_S", raising=False)
    clock = [0.0]
    monkeypatch.setattr(progress_module.time, "perf_counter", lambda: clock[0])
    lines: list[str] = []

    @dg.asset
    def counted() -> None:
        report = progress_logger(lines.append, "items")
        for done in range(1, 101):  # 1 s per item
            clock[0] += 1.0
            report(done, 100)

    with progress_cadence(30.0):
        assert dg.materialize([counted]).success
    assert len(lines) == 4  # after 30, 60 and 90 s, and at the end
    lines.clear()
    assert dg.materialize([counted]).success  # outside the block: the default 5 s
    assert len(lines) == 20
