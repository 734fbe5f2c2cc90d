"""Every metric the operator exports, bound to one injected `CollectorRegistry`.

Why a class and no module-level metrics: the registry lives in Kopf's memo (one per process, made
at startup), so tests build as many operators' metrics as they like in one process. Labels stay
low-cardinality: `kind`, `trigger`, `outcome`, `reason`, `phase` are small closed sets; `namespace`
and `name` appear only on the per-object gauges a user graphs one model or Deployment by.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from modelship.api.v1alpha1 import DeploymentStatus, DriftStatus, ModelStatus, TrainingJobStatus
from modelship.operator.kube.conditions import get_condition
from modelship.operator.metrics.series import series_of
from modelship.operator.metrics.transitions import (
    PHASES,
    awaiting_approval_since,
    deployment_transitions,
    finished_training,
    published_version,
    retraining_decision,
)

_RECONCILE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_TRAINING_BUCKETS = (10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0, 7200.0)
# From minutes (a pipeline approving at once) to a week (a person on holiday).
_APPROVAL_BUCKETS = (60.0, 300.0, 900.0, 3600.0, 4 * 3600.0, 12 * 3600.0, 86400.0, 3 * 86400.0)
_PROMOTION_BUCKETS = (5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)


class OperatorMetrics:
    """The operator's metrics and the few ways controllers record into them."""

    def __init__(self, registry: CollectorRegistry, leads: Callable[[], bool]) -> None:
        self.registry = registry
        # The (namespace, name, trigger, reason) each Model's deferral is exported under, so a
        # changed reason replaces its series instead of leaving the old one at 1.
        self._deferred: dict[tuple[str, str], tuple[str, str, str, str]] = {}
        leader = Gauge(
            "modelship_operator_leader",
            "1 while this instance holds the leader Lease (or runs without election), else 0.",
            registry=registry,
        )
        leader.set_function(lambda: 1.0 if leads() else 0.0)
        self.reconciles = Counter(
            "modelship_operator_reconciles_total",
            "Reconciles, by kind.",
            ["kind"],
            registry=registry,
        )
        self.reconcile_errors = Counter(
            "modelship_operator_reconcile_errors_total",
            "Reconciles that raised (Kopf or the daemon retries them), by kind.",
            ["kind"],
            registry=registry,
        )
        self.reconcile_seconds = Histogram(
            "modelship_operator_reconcile_duration_seconds",
            "Time one reconcile took, API calls included, by kind.",
            ["kind"],
            buckets=_RECONCILE_BUCKETS,
            registry=registry,
        )
        self.trainings = Counter(
            "modelship_trainingjobs_finished_total",
            "TrainingJobs that finished, per Model, by trigger and outcome (Succeeded, "
            "GatesFailed, Failed).",
            ["namespace", "model", "trigger", "outcome"],
            registry=registry,
        )
        self.training_seconds = Histogram(
            "modelship_training_duration_seconds",
            "From a TrainingJob's first attempt to its end, retries included, by outcome.",
            ["outcome"],
            buckets=_TRAINING_BUCKETS,
            registry=registry,
        )
        self.published = Counter(
            "modelship_versions_published_total",
            "Catalog versions published by TrainingJobs, per Model.",
            ["namespace", "model"],
            registry=registry,
        )
        self.latest_version = Gauge(
            "modelship_model_latest_version",
            "The newest version of a Model that passed its gates.",
            ["namespace", "name"],
            registry=registry,
        )
        self.retraining = Counter(
            "modelship_retraining_decisions_total",
            "Automatic retraining decisions as they change, by decision, trigger and reason "
            "(Cooldown, DailyCap, BelowThreshold, ...).",
            ["decision", "trigger", "reason"],
            registry=registry,
        )
        self.drift_open = Gauge(
            "modelship_model_drift_episode_open",
            "1 while production drift above the Model's threshold is open, else 0.",
            ["namespace", "name"],
            registry=registry,
        )
        self.retraining_deferred = Gauge(
            "modelship_model_retraining_deferred",
            "1 while an automatic retraining was asked for but a guardrail holds it, by reason.",
            ["namespace", "name", "trigger", "reason"],
            registry=registry,
        )
        self.phase = Gauge(
            "modelship_deployment_phase",
            "1 for the phase each Deployment is in, 0 for the others.",
            ["namespace", "name", "phase"],
            registry=registry,
        )
        self.stage_version = Gauge(
            "modelship_deployment_version",
            "The version at each stage (test, production) of a Deployment.",
            ["namespace", "name", "stage"],
            registry=registry,
        )
        self.awaiting_since = Gauge(
            "modelship_deployment_awaiting_approval_timestamp_seconds",
            "When the version now awaiting approval passed its tests (Unix time); absent when "
            "nothing waits.",
            ["namespace", "name"],
            registry=registry,
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
        self.rolled_back = Gauge(
            "modelship_deployment_rolled_back",
            "1 while a Deployment's last production rollout stands rolled back, else 0.",
            ["namespace", "name"],
            registry=registry,
        )
        self.drift_psi = Gauge(
            "modelship_deployment_drift_psi",
            "Production drift (population stability index) over features: mean and max.",
            ["namespace", "name", "aggregate"],
            registry=registry,
        )
        self.drift_rows = Gauge(
            "modelship_deployment_drift_rows",
            "Live rows the production drift is computed over.",
            ["namespace", "name"],
            registry=registry,
        )

    @contextmanager
    def reconcile(self, kind: str) -> Iterator[None]:
        """Count and time one reconcile of `kind`; an exception counts as an error and goes on."""
        start = time.perf_counter()
        try:
            yield
        except BaseException:
            self.reconcile_errors.labels(kind).inc()
            raise
        finally:
            self.reconciles.labels(kind).inc()
            self.reconcile_seconds.labels(kind).observe(time.perf_counter() - start)

    def training_job_written(
        self,
        namespace: str,
        model: str,
        trigger: str,
        old: TrainingJobStatus,
        new: TrainingJobStatus,
    ) -> None:
        """A TrainingJob's status was written: count it if it just finished or published."""
        if published_version(old, new) is not None:
            self.published.labels(namespace, model).inc()
        finished = finished_training(old, new)
        if finished is not None:
            outcome, seconds = finished
            self.trainings.labels(namespace, model, trigger, outcome).inc()
            if seconds is not None:
                self.training_seconds.labels(outcome).observe(seconds)

    def model_written(self, namespace: str, name: str, old: ModelStatus, new: ModelStatus) -> None:
        """A Model's status was decided: count a changed retraining decision, set the gauges."""
        changed = retraining_decision(old, new)
        if changed is not None:
            self.retraining.labels(*changed).inc()
        if new.latest_version is not None:
            self.latest_version.labels(namespace, name).set(new.latest_version.version)
        retraining = new.retraining
        episode = retraining.drift if retraining is not None else None
        self.drift_open.labels(namespace, name).set(1 if episode and episode.open else 0)
        held = None
        if retraining is not None and retraining.decision == "Deferred":
            held = (namespace, name, retraining.trigger or "", retraining.reason or "")
        was = self._deferred.pop((namespace, name), None)
        if was is not None and was != held:
            self.retraining_deferred.remove(*was)
        if held is not None:
            self._deferred[(namespace, name)] = held
            self.retraining_deferred.labels(*held).set(1)

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
        for phase in PHASES:
            self.phase.labels(namespace, name, phase).set(1 if new.phase == phase else 0)
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

    def forget_model(self, namespace: str, name: str) -> None:
        """A deleted Model leaves no series behind."""
        self._deferred.pop((namespace, name), None)
        for gauge in (self.latest_version, self.drift_open, self.retraining_deferred):
            self._clear(gauge, namespace, name)

    def forget_deployment(self, namespace: str, name: str) -> None:
        """A deleted Deployment leaves no series behind."""
        for gauge in (
            self.phase,
            self.stage_version,
            self.awaiting_since,
            self.rolled_back,
            self.drift_psi,
            self.drift_rows,
        ):
            self._clear(gauge, namespace, name)

    @staticmethod
    def _clear(gauge: Gauge, namespace: str, name: str) -> None:
        """Remove every series of the object, whatever its other labels (on deletion only)."""
        for labels in series_of(gauge, namespace, name):
            gauge.remove(*labels)
