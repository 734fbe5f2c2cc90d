"""The clocks start from a handler's context, where Kopf's Event posting works (startup.Clocks).

Started at startup, as first written, every reconcile a clock ran failed at its first Event
(`LookupError` on Kopf's posting context variable): caught by the live Traefik canary test.
"""

from __future__ import annotations

import asyncio
import contextvars
import time
from typing import Any

import kopf
from kopf._core.engines import posting

from modelship.operator import deployment_handlers as handlers
from modelship.operator import startup
from modelship.operator.kube import events
from modelship.operator.model.clock import ModelClock
from support.deployments import cluster
from support.handler_memo import handler_memo

BODY = {"metadata": {"namespace": "ml", "name": "iris"}, "spec": {"modelRef": {"name": "iris"}}}


def kopf_handler_context(queue: asyncio.Queue[Any]) -> contextvars.Context:
    """The context Kopf runs handlers in: its Event queue and loop are set."""
    context = contextvars.copy_context()
    loop = asyncio.get_running_loop()
    context.run(posting.event_queue_var.set, queue)
    context.run(posting.event_queue_loop_var.set, loop)
    context.run(posting.settings_var.set, kopf.OperatorSettings())
    return context


async def events_posted_by_a_clock_pass(monkeypatch: Any, from_handler: bool) -> list[Any]:
    memo = handler_memo(cluster(), time.monotonic, model_clock=ModelClock())
    memo.clocks = startup.Clocks(memo)
    monkeypatch.setattr(
        handlers,
        "reconcile_deployment",
        lambda *args: events.normal(args[2], "Checked", "looked again") or None,
    )
    queue: asyncio.Queue[Any] = asyncio.Queue()
    seen = handlers.deployment_seen(body=BODY, memo=memo, type="ADDED")
    if from_handler:
        await asyncio.create_task(seen, context=kopf_handler_context(queue))
    else:
        await seen  # a context without Kopf's posting, like a startup activity's
    memo.deployment_requeues.request(("ml", "iris"), 0)
    await asyncio.sleep(0.3)
    assert await memo.clocks.stop()
    return [queue.get_nowait() for _ in range(queue.qsize())]


async def test_a_clock_started_by_a_watch_event_posts_the_events_of_its_reconciles(
    monkeypatch: Any,
) -> None:
    posted = await events_posted_by_a_clock_pass(monkeypatch, from_handler=True)
    assert [(e.reason, e.message) for e in posted] == [("Checked", "looked again")]


async def test_started_outside_a_handlers_context_its_reconciles_fail(monkeypatch: Any) -> None:
    """What the first version did: the pass fails (and is retried) and nothing is posted."""
    memo_errors: list[str] = []
    monkeypatch.setattr(handlers.log, "exception", lambda msg, *a: memo_errors.append(msg % a))
    posted = await events_posted_by_a_clock_pass(monkeypatch, from_handler=False)
    assert posted == [] and memo_errors == ["reconcile of Deployment ml/iris failed"]


async def test_the_clocks_start_once_and_not_after_stopping() -> None:
    memo = handler_memo(cluster(), time.monotonic, model_clock=ModelClock())
    clocks = startup.Clocks(memo)
    clocks.ensure_running()
    first = list(clocks._tasks)
    clocks.ensure_running()
    assert clocks._tasks == first and len(first) == 2
    assert await clocks.stop()
    late = startup.Clocks(memo)
    assert await late.stop()
    late.ensure_running()
    assert late._tasks == []  # stopped before any event: never starts
