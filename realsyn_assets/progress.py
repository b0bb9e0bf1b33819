"""Progress lines for long steps: counts, rate and ETA, at most every few seconds."""

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

# The cadence a caller chose for the steps it runs in this thread (``realsyn run``: 30 s, one
# line per half minute in the terminal); None: REALSYN_PROGRESS_EVERY_S or 5 s.
_EVERY_S: ContextVar[float | None] = ContextVar("realsyn_progress_every_s", default=None)


@contextmanager
def progress_cadence(every_s: float) -> Iterator[None]:
    """Progress loggers created inside this block (steps run in process) log every ``every_s``."""
    token = _EVERY_S.set(every_s)
    try:
        yield
    finally:
        _EVERY_S.reset(token)


def progress_logger(log: Callable[[str], None], what: str, every_s: float | None = None):
    """A ``(done, total, detail="")`` callback that logs ``what``'s progress at a sensible cadence.

    It logs at most once every ``every_s`` seconds, and always when ``done == total`` (the
    last call), so a step of any length leaves its count, rate and total time in the run log;
    ``detail`` (e.g. the current loss) is appended to the line.
    """
    if every_s is None:  # the caller's cadence, else REALSYN_PROGRESS_EVERY_S (default 5)
        every_s = _EVERY_S.get()
    if every_s is None:
        every_s = float(os.environ.get("REALSYN_PROGRESS_EVERY_S", "5"))
    started = time.perf_counter()
    last = [started]

    def report(done: int, total: int, detail: str = "") -> None:
        now = time.perf_counter()
        if done < total and now - last[0] < every_s:
            return
        last[0] = now
        elapsed = max(now - started, 1e-9)
        rate = done / elapsed
        when = (
            f"done in {elapsed:,.1f} s"
            if done >= total
            else f"ETA {(total - done) / rate:,.0f} s"
            if rate > 0
            else "ETA unknown"
        )
        log(
            f"{what}: {done:,}/{total:,} ({100.0 * done / max(total, 1):.0f}%), "
            f"{rate:,.1f}/s, {when}" + (f", {detail}" if detail else "")
        )

    return report
