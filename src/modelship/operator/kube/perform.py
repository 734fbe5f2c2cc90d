"""Performing the shared actions (`kube.actions`) and the one status write of every kind.

The I/O half of the vocabulary: each controller's `apply` calls these, so creating a Job,
writing status and posting an Event mean the same thing for a Model, a TrainingJob and a
Deployment.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel

from modelship.operator.kube import events
from modelship.operator.kube.actions import CreateJob, PostEvent
from modelship.operator.kube.client import Kube, KubeError
from modelship.operator.kube.resources import JOBS, Resource
from modelship.operator.kube.status import typed_status_patch

Obj = dict[str, Any]


def create_job(kube: Kube, owner: Obj, action: CreateJob) -> bool:
    """Create the Job unless it exists; post its announcement if this call created it."""
    _, created = kube.ensure(JOBS, owner["metadata"]["namespace"], action.body)
    if created and action.announce is not None:
        post_events(owner, [action.announce])
    return created


def write_status(
    kube: Kube, resource: Resource, body: Mapping[str, Any], old: BaseModel, new: BaseModel
) -> bool:
    """The status write of every kind: the merge patch from `old` to `new` (typed, rendered as
    the API server stores them), none when it is empty, so a pass that changes nothing makes no
    call. Returns whether it wrote."""
    patch = typed_status_patch(old, new)
    if not patch:
        return False
    meta = body["metadata"]
    kube.patch(resource, meta["namespace"], meta["name"], {"status": patch}, status=True)
    return True


def write_status_over(
    kube: Kube, resource: Resource, body: Mapping[str, Any], old: BaseModel, new: BaseModel
) -> Obj | None:
    """`write_status` of a kept (perhaps stale) `body`: the patch names body's resourceVersion,
    so it applies only if nothing wrote since. Returns the object as written (`body` itself
    when there was nothing to write), None when it had moved or is gone."""
    patch = typed_status_patch(old, new)
    if not patch:
        return dict(body)
    meta = body["metadata"]
    guarded: Obj = {"status": patch}
    if version := meta.get("resourceVersion"):
        guarded["metadata"] = {"resourceVersion": version}
    try:
        written: Obj = kube.patch(resource, meta["namespace"], meta["name"], guarded, status=True)
    except KubeError as exc:
        if exc.status in (404, 409):
            return None
        raise
    return written


def post_events(owner: Obj, posts: Iterable[PostEvent]) -> None:
    for event in posts:
        post = events.warning if event.type == "Warning" else events.normal
        post(owner, event.reason, event.message)
