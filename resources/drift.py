"""Drift thresholds, shared by every asset's distribution check."""

import dagster as dg

from realsyn.drift import DriftParams

_DEFAULT = DriftParams()


class DriftResource(dg.ConfigurableResource):
    """Jensen-Shannon distance thresholds (WARN / ERROR), significance level, minimum
    observations per distribution and the rolling window's size (recent partitions)."""

    warn_distance: float = _DEFAULT.warn_distance
    error_distance: float = _DEFAULT.error_distance
    alpha: float = _DEFAULT.alpha
    min_count: int = _DEFAULT.min_count
    window: int = _DEFAULT.window

    def params(self) -> DriftParams:
        return DriftParams(
            self.warn_distance, self.error_distance, self.alpha, self.min_count, self.window
        )
