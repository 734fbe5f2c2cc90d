"""Kubernetes Events for the transitions a user cares about, and nothing else.

Kopf's own handler chatter stays out of Events (posting level WARNING, set at startup); the
controllers call these only when a transition actually happened, so resyncs post nothing.
"""

from __future__ import annotations

from typing import Any, cast

import kopf


def _ref(body: dict[str, Any]) -> kopf.Body:
    meta = body["metadata"]
    ref = {
        "apiVersion": body.get("apiVersion"),
        "kind": body.get("kind"),
        "metadata": {"name": meta["name"], "namespace": meta["namespace"], "uid": meta.get("uid")},
    }
    return cast(kopf.Body, ref)  # kopf posts Events for any body-shaped mapping


# kopf.event, not kopf.info/kopf.warn: those two also apply `settings.posting.level`, which is
# meant for Kopf's own log-derived chatter; at WARNING it silently dropped every Normal event.


def normal(body: dict[str, Any], reason: str, message: str) -> None:
    kopf.event(_ref(body), type="Normal", reason=reason, message=message)


def warning(body: dict[str, Any], reason: str, message: str) -> None:
    kopf.event(_ref(body), type="Warning", reason=reason, message=message)
