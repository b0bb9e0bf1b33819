"""AlertSinkResource: where failed-check alerts go. The run log always; a webhook when set."""

import dagster as dg

from realsyn.alerts import Alert, post_alerts


class AlertSinkResource(dg.ConfigurableResource):
    """``webhook_url`` (e.g. a Slack incoming webhook or an alert router) receives a JSON POST
    per sensor tick with the new alerts; unset, alerts are only logged. ``min_severity`` WARN
    sends warnings and errors, ERROR only errors."""

    webhook_url: str | None = None
    min_severity: str = "WARN"
    timeout_s: float = 5.0
    retries: int = 2

    def send(self, alerts: list[Alert], log) -> list[Alert]:
        """Log every alert; post those at or above ``min_severity``; return those posted."""
        for alert in alerts:
            (log.error if alert.severity == "ERROR" else log.warning)(alert.line())
        wanted = [a for a in alerts if self.min_severity == "WARN" or a.severity == "ERROR"]
        if self.webhook_url and wanted:
            post_alerts(self.webhook_url, wanted, self.timeout_s, self.retries)
            return wanted
        return []
