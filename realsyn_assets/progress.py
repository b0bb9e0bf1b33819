"""Progress lines for long steps: counts, rate and ETA, at most every few seconds."""

import time
from collections.abc import Callable


def progress_logger(log: Callable[[str], None], what: str, every_s: float = 5.0):
    """A ``(done, total)`` callback that logs ``what``'s progress at a sensible cadence."""
    started = time.perf_counter()
    last = [started]

    def report(done: int, total: int) -> None:
        now = time.perf_counter()
        if done < total and now - last[0] < every_s:
            return
        last[0] = now
        rate = done / max(now - started, 1e-9)
        eta = (total - done) / rate if rate > 0 else float("inf")
        log(
            f"{what}: {done:,}/{total:,} ({100.0 * done / max(total, 1):.0f}%), "
            f"{rate:,.1f}/s, ETA {eta:,.0f} s"
        )

    return report
