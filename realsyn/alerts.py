"""Alerts: what a failed check says, and delivery to a webhook (JSON POST) with bounded retries.

The payload is plain JSON (``{"text": ..., "alerts": [...]}``), which Slack-compatible incoming
webhooks and most alert routers accept as is.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Alert:
    asset: str
    check: str
    severity: str  # "WARN" | "ERROR"
    partition: str | None
    description: str
    run_id: str
    timestamp: float

    def line(self) -> str:
        where = f"{self.asset}[{self.partition}]" if self.partition else self.asset
        return f"[{self.severity}] {where} {self.check}: {self.description} (run {self.run_id[:8]})"


class AlertDeliveryError(RuntimeError):
    """The webhook refused the alerts or could not be reached after the retries."""


def payload(alerts: Sequence[Alert]) -> dict:
    return {
        "text": "\n".join(a.line() for a in alerts),
        "alerts": [asdict(a) for a in alerts],
    }


def post_alerts(
    url: str,
    alerts: Sequence[Alert],
    timeout_s: float = 5.0,
    retries: int = 2,
    backoff_s: float = 1.0,
) -> int:
    """POST the alerts as JSON; retries connection errors, timeouts and 429/5xx; returns the
    HTTP status. Raises :class:`AlertDeliveryError` when delivery fails for good."""
    body = json.dumps(payload(alerts)).encode()
    last = ""
    for attempt in range(retries + 1):
        request = urllib.request.Request(
            url, data=body, method="POST", headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as response:
                return response.status
        except urllib.error.HTTPError as err:
            last = f"HTTP {err.code}"
            if err.code != 429 and err.code < 500:
                break
        except (urllib.error.URLError, TimeoutError, ConnectionError) as err:
            last = f"{type(err).__name__}: {getattr(err, 'reason', err)}"
        if attempt < retries:
            time.sleep(backoff_s * 2**attempt)
    raise AlertDeliveryError(f"alert webhook {url} failed: {last}")
