"""The Deployment controller: move a Model version through test, acceptance, approval, production.

Each reconcile observes what exists (`observe`), decides the next step and the status to report
without I/O (`decide`), and performs it in one place (`apply`). Nothing is remembered outside the
object's status, so restarts lose nothing.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from modelship.api.v1alpha1 import utcnow
from modelship.api.v1alpha1.base import parse_rfc3339
from modelship.operator.deployment.apply import apply
from modelship.operator.deployment.autoscale import Windows
from modelship.operator.deployment.builders.stages import LABEL_DEPLOYMENT
from modelship.operator.deployment.decide import decide
from modelship.operator.deployment.followers import DeploymentFollowers
from modelship.operator.deployment.observation import Observation, Subject
from modelship.operator.deployment.observe import observe
from modelship.operator.deployment.traffic import TrafficReader
from modelship.operator.kube.client import Kube
from modelship.operator.kube.naming import LABEL_STAGE
from modelship.operator.metrics import OperatorMetrics
from modelship.operator.settings import OperatorSettings

Obj = dict[str, Any]


def reconcile_deployment(
    kube: Kube,
    settings: OperatorSettings,
    body: Obj,
    metrics: OperatorMetrics | None = None,
    traffic: TrafficReader | None = None,
    windows: Windows | None = None,
    followers: DeploymentFollowers | None = None,
) -> float | None:
    """One reconcile; returns when to look again (seconds), or None when only an event can help.

    `metrics`, when given, sees the old and the new status once the decision is applied.
    `traffic` reads canary analysis windows and shadow figures from pods; without it (tests of
    other paths) an analysis window never gets a verdict and waits. `windows` holds what the
    autoscaler's readings recommend; without it autoscaled production waits for readings.
    `followers`, when given, learns which Model this reconcile read (its events then skip it).
    """
    subject = Subject.parse(body)
    # A suspended Deployment reads no child: nothing it would see could be acted on.
    active = subject.mdep is not None and not subject.mdep.spec.suspend
    now = utcnow()  # one clock reading: what observe judged closed, decide sees closed
    moment = parse_rfc3339(now)
    seen = observe(kube, subject, traffic, moment) if active else Observation()
    if windows is not None:
        seen = replace(seen, autoscale=windows.latest((subject.namespace, subject.name)))
    decision = decide(subject, seen, now, settings)
    apply(kube, subject, decision)
    if followers is not None and seen.model is not None:
        followers.saw(subject.namespace, subject.name, seen.model.fingerprint)
    if metrics is not None:
        metrics.deployment_written(subject.namespace, subject.name, subject.status, decision.status)
    return decision.requeue_after


def owner_deployment(labels: dict[str, str]) -> str | None:
    """The Deployment a stage child belongs to, from its labels."""
    return labels.get(LABEL_DEPLOYMENT) if labels.get(LABEL_STAGE) else None
