"""The Model's and the TrainingJob's metrics (see registry.py for why a class)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

from modelship.api.v1alpha1 import ModelStatus, TrainingJobStatus
from modelship.operator.metrics.object_gauges import ObjectGauge
from modelship.operator.metrics.transitions import (
    finished_training,
    published_version,
    retraining_decision,
)

_TRAINING_BUCKETS = (10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0, 7200.0)


class ModelMetrics:
    """Training and retraining: recorded where the Model and TrainingJob controllers write."""

    def __init__(self, registry: CollectorRegistry) -> None:
        # The (namespace, name, trigger, reason) each Model's deferral is exported under, so a
        # changed reason replaces its series instead of leaving the old one at 1.
        self._deferred: dict[tuple[str, str], tuple[str, str, str, str]] = {}
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
        self.latest_version = ObjectGauge(
            "modelship_model_latest_version",
            "The newest version of a Model that passed its gates.",
            ["namespace", "name"],
            registry,
        )
        self.retraining = Counter(
            "modelship_retraining_decisions_total",
            "Automatic retraining decisions as they change, by decision, trigger and reason "
            "(Cooldown, DailyCap, BelowThreshold, ...).",
            ["decision", "trigger", "reason"],
            registry=registry,
        )
        self.drift_open = ObjectGauge(
            "modelship_model_drift_episode_open",
            "1 while production drift above the Model's threshold is open, else 0.",
            ["namespace", "name"],
            registry,
        )
        self.retraining_deferred = ObjectGauge(
            "modelship_model_retraining_deferred",
            "1 while an automatic retraining was asked for but a guardrail holds it, by reason.",
            ["namespace", "name", "trigger", "reason"],
            registry,
        )

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

    def forget_model(self, namespace: str, name: str) -> None:
        """A deleted Model leaves no series behind."""
        self._deferred.pop((namespace, name), None)
        for gauge in (self.latest_version, self.drift_open, self.retraining_deferred):
            gauge.clear_object(namespace, name)
