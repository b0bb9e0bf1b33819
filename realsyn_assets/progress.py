"""Progress lines for long steps: counts, rate and ETA, at most every few seconds."""

import os
import time
from collections.abc import Callable


def progress_logger(log: Callable[[str], None], what: str, every_s: float | None = None):
    """A ``(done, total, detail="")`` callback that logs ``what``'s progress at a sensible cadence.

    It logs at most once every ``every_s`` seconds, and always when ``done == total`` (the
    last call), so a step of any length leaves its count, rate and total time in the run log;
    ``detail`` (e.g. the current loss) is appended to the line.
    """
    if every_s is None:  # REALSYN_PROGRESS_EVERY_S (default 5): `realsyn run` prints them
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
