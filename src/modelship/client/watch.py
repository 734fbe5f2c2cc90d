"""Follow one object through the API server's watch until a verdict, or a deadline.

One list (for the current state and its resourceVersion), then a watch from there: the API server
pushes every change, so nothing is polled. A watch the server ends (its timeout, a compaction:
410 Gone) is re-established from a fresh list, the way client-go's reflector does it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, cast

from kubernetes import client, watch

from modelship.api.v1alpha1 import GROUP, VERSION
from modelship.client.waiting import Kind, State, Verdict

Obj = dict[str, Any]
Judge = Callable[[Obj], Verdict]


def follow(
    api: client.ApiClient,
    kind: Kind,
    namespace: str,
    name: str,
    judge: Judge,
    timeout: float,
    clock: Callable[[], float] = time.monotonic,
    seen: Callable[[Verdict], None] | None = None,
) -> Verdict:
    """The first verdict that is not WAITING, or the last WAITING one when `timeout` passes.

    `seen` is told every verdict as it comes (a progress display).
    """
    custom = client.CustomObjectsApi(api)
    deadline = clock() + timeout
    selector = f"metadata.name={name}"
    verdict = Verdict(State.WAITING, f"{kind.plural}/{name} not found in {namespace}")
    while (remaining := deadline - clock()) > 0:
        listing = cast(
            Obj,
            custom.list_namespaced_custom_object(
                GROUP, VERSION, namespace, kind.plural, field_selector=selector
            ),
        )
        for item in listing.get("items", []):
            verdict = judge(item)
            if seen is not None:
                seen(verdict)
            if verdict.state is not State.WAITING:
                return verdict
        stream = watch.Watch()  # type: ignore[no-untyped-call]
        for event in stream.stream(  # type: ignore[no-untyped-call]
            custom.list_namespaced_custom_object,
            GROUP,
            VERSION,
            namespace,
            kind.plural,
            field_selector=selector,
            resource_version=listing["metadata"]["resourceVersion"],
            # The server ends the watch at the deadline; the client gives it a moment more.
            timeout_seconds=max(1, int(remaining)),
            _request_timeout=remaining + 5,
        ):
            if event["type"] == "ERROR":
                break  # e.g. 410 Gone: list again
            if event["type"] == "DELETED":
                stream.stop()  # type: ignore[no-untyped-call]
                return Verdict(State.UNREACHABLE, f"{kind.plural}/{name} was deleted")
            verdict = judge(event["object"])
            if seen is not None:
                seen(verdict)
            if verdict.state is not State.WAITING:
                stream.stop()  # type: ignore[no-untyped-call]
                return verdict
    return verdict
