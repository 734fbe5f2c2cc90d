"""Operator metrics: what the loop does, for dashboards and alerts (`/metrics` on every replica)."""

from modelship.operator.metrics.registry import OperatorMetrics
from modelship.operator.metrics.server import start_metrics

__all__ = ["OperatorMetrics", "start_metrics"]
