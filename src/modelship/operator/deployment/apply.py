"""Apply: perform a decision's writes in order, then write status once, then post Events.

Events go last so that a reconcile whose writes fail posts nothing; the next reconcile decides
again from what then exists and posts them with the writes that finally happened.
"""

from __future__ import annotations

from typing import Any

from modelship.api.v1alpha1 import DeploymentStatus
from modelship.operator.deployment.actions import ApplyChild, Decision, DeleteChild
from modelship.operator.deployment.observation import Subject
from modelship.operator.deployment.rollout import desired_content
from modelship.operator.kube import perform
from modelship.operator.kube.actions import CreateJob, PostEvent
from modelship.operator.kube.client import Kube, KubeError
from modelship.operator.kube.perform import create_job, post_events
from modelship.operator.kube.resources import MODEL_DEPLOYMENTS


def apply(kube: Kube, subject: Subject, decision: Decision) -> bool:
    """Perform `decision` for `subject`; returns whether status was written."""
    ns = subject.namespace
    for action in decision.actions:
        if isinstance(action, ApplyChild):
            _apply_child(kube, ns, action)
        elif isinstance(action, DeleteChild):
            kube.delete(action.resource, ns, action.name)
        elif isinstance(action, CreateJob):
            create_job(kube, subject.body, action)
    written = write_status(kube, subject, subject.status, decision.status)
    post_events(subject.body, (a for a in decision.actions if isinstance(a, PostEvent)))
    return written


def write_status(
    kube: Kube, subject: Subject, old: DeploymentStatus, new: DeploymentStatus
) -> bool:
    """The one status write of a Deployment, the reconcile's and the drift reader's: the merge
    patch from `old` to `new`, if any."""
    return perform.write_status(kube, MODEL_DEPLOYMENTS, subject.body, old, new)


def _apply_child(kube: Kube, namespace: str, action: ApplyChild) -> None:
    """Create the child, or patch what we own of it (labels, annotations, spec)."""
    body = action.body
    if not action.exists:
        try:
            kube.create(action.resource, namespace, _without_nulls(body))
            return
        except KubeError as exc:
            if exc.status != 409:  # created meanwhile (or not observed): patch it instead
                raise
    meta = body["metadata"]
    kube.patch(
        action.resource,
        namespace,
        action.name,
        {
            "metadata": {"annotations": meta["annotations"], "labels": meta["labels"]},
            **desired_content(body),
        },
    )


def _without_nulls(value: Any) -> Any:
    """A desired body is a merge patch, where null removes a key; created, the key is absent."""
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value
