"""The Deployment's metrics (see registry.py for why a class)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

from modelship.api.v1alpha1 import DeploymentStatus, DriftStatus, PerformanceStatus
from modelship.operator.kube.conditions import get_condition
from modelship.operator.metrics.object_gauges import ObjectGauge, OneOfGauge
from modelship.operator.metrics.transitions import (
    PHASES,
    awaiting_approval_since,
    deployment_transitions,
)

# From minutes (a pipeline approving at once) to a week (a person on holiday).
_APPROVAL_BUCKETS = (60.0, 300.0, 900.0, 3600.0, 4 * 3600.0, 12 * 3600.0, 86400.0, 3 * 86400.0)
_PROMOTION_BUCKETS = (5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)


class DeploymentMetrics:
    """Stages, approvals, rollbacks and drift: recorded where the Deployment controller writes."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.phase = OneOfGauge(
            "modelship_deployment_phase",
            "1 for the phase each Deployment is in, 0 for the others.",
            "phase",
            PHASES,
            registry,
        )
        self.stage_version = ObjectGauge(
            "modelship_deployment_version",
            "The version at each stage (test, production) of a Deployment.",
            ["namespace", "name", "stage"],
            registry,
        )
        self.awaiting_since = ObjectGauge(
            "modelship_deployment_awaiting_approval_timestamp_seconds",
            "When the version now awaiting approval passed its tests (Unix time); absent when "
            "nothing waits.",
            ["namespace", "name"],
            registry,
        )
        self.approval_wait = Histogram(
            "modelship_deployment_approval_wait_seconds",
            "How long a tested version waited for its approval (test passed -> promoting).",
            buckets=_APPROVAL_BUCKETS,
            registry=registry,
        )
        self.promotion_seconds = Histogram(
            "modelship_deployment_approval_to_serving_seconds",
            "From an approval being acted on to the version serving production.",
            buckets=_PROMOTION_BUCKETS,
            registry=registry,
        )
        self.tests = Counter(
            "modelship_deployment_tests_total",
            "Test-stage verdicts, by result (passed, failed).",
            ["result"],
            registry=registry,
        )
        self.rollbacks = Counter(
            "modelship_deployment_rollbacks_total",
            "Production rollouts reverted, by Deployment and reason.",
            ["namespace", "name", "reason"],
            registry=registry,
        )
        self.rolled_back = ObjectGauge(
            "modelship_deployment_rolled_back",
            "1 while a Deployment's last production rollout stands rolled back, else 0.",
            ["namespace", "name"],
            registry,
        )
        self.drift_psi = ObjectGauge(
            "modelship_deployment_drift_psi",
            "Production drift (population stability index) over features: mean and max.",
            ["namespace", "name", "aggregate"],
            registry,
        )
        self.drift_rows = ObjectGauge(
            "modelship_deployment_drift_rows",
            "Live rows the production drift is computed over.",
            ["namespace", "name"],
            registry,
        )

        self.live_metric = ObjectGauge(
            "modelship_deployment_live_metric",
            "A served version's live metric on labelled captured rows (bound: value, low, high "
            "of its confidence interval, offline: its held-out test value).",
            ["namespace", "name", "role", "metric", "bound"],
            registry,
        )
        self.live_rows = ObjectGauge(
            "modelship_deployment_live_rows",
            "Captured rows of a served version in the evaluated window, and how many are labelled.",
            ["namespace", "name", "role", "rows"],
            registry,
        )

    def deployment_written(
        self, namespace: str, name: str, old: DeploymentStatus, new: DeploymentStatus
    ) -> None:
        """A Deployment's status was decided: observe its transitions, set its gauges."""
        seen = deployment_transitions(old, new)
        for seconds in seen.approval_waits:
            self.approval_wait.observe(seconds)
        for seconds in seen.promotions:
            self.promotion_seconds.observe(seconds)
        for result in seen.tests:
            self.tests.labels(result).inc()
        for reason in seen.rollbacks:
            self.rollbacks.labels(namespace, name, reason).inc()
        self.phase.choose(namespace, name, new.phase)
        for stage, ref in (("test", new.test), ("production", new.production)):
            if ref is not None and ref.version is not None:
                self.stage_version.labels(namespace, name, stage).set(ref.version)
            else:
                self.stage_version.remove(namespace, name, stage)
        rolled = get_condition(new.conditions, "RolledBack")
        self.rolled_back.labels(namespace, name).set(1 if rolled and rolled.status == "True" else 0)
        since = awaiting_approval_since(new)
        if since is not None:
            self.awaiting_since.labels(namespace, name).set(since)
        else:
            self.awaiting_since.remove(namespace, name)
        self.drift_read(namespace, name, new.drift if new.production is not None else None)
        self.performance_read(namespace, name, new.performance)

    def performance_read(
        self, namespace: str, name: str, performance: PerformanceStatus | None
    ) -> None:
        """The last evaluation's figures, one series per served role; a role no longer served
        (a finished canary) leaves none behind."""
        self.live_metric.clear_object(namespace, name)
        self.live_rows.clear_object(namespace, name)
        for served in performance.versions if performance is not None else []:
            bounds = {"value": served.value, "low": served.low, "high": served.high,
                      "offline": served.offline}  # fmt: skip
            for bound, value in bounds.items():
                if value is not None:
                    self.live_metric.labels(namespace, name, served.role, served.metric, bound).set(
                        value
                    )
            self.live_rows.labels(namespace, name, served.role, "captured").set(served.captured)
            self.live_rows.labels(namespace, name, served.role, "labelled").set(served.labelled)

    def drift_read(self, namespace: str, name: str, drift: DriftStatus | None) -> None:
        """Production drift as last recorded; gauges vanish when there is none."""
        for aggregate in ("mean", "max"):
            value = None
            if drift is not None:
                value = drift.overall if aggregate == "mean" else drift.max
            if value is None:
                self.drift_psi.remove(namespace, name, aggregate)
            else:
                self.drift_psi.labels(namespace, name, aggregate).set(value)
        if drift is None:
            self.drift_rows.remove(namespace, name)
        else:
            self.drift_rows.labels(namespace, name).set(drift.rows)

    def forget_deployment(self, namespace: str, name: str) -> None:
        """A deleted Deployment leaves no series behind."""
        for gauge in (
            self.phase,
            self.stage_version,
            self.awaiting_since,
            self.rolled_back,
            self.drift_psi,
            self.drift_rows,
            self.live_metric,
            self.live_rows,
        ):
            gauge.clear_object(namespace, name)
