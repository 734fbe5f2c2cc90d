"""Kopf's handler ids are what its progress annotations on every object are keyed by: an id that
changes across an upgrade makes the new operator treat half-done work as new (or never finish
it). Kopf derives an id from the function's `__qualname__` alone (not its module), so moving
modules keeps them; renaming or re-wrapping a handler does not. These are the ids of the layout
before the move to one package per controller, pinned."""

from __future__ import annotations

import kopf

import modelship.operator  # noqa: F401  (registers every handler)

REGISTRY = kopf.get_default_registry()


def ids(handlers: object) -> list[str]:
    """The distinct ids (one function decorated for create, update and resume has one id)."""
    return sorted({h.id for h in handlers.get_all_handlers()})  # type: ignore[attr-defined]


def test_resource_handler_ids_are_those_of_the_previous_layout() -> None:
    # `deployment_clock` (a daemon per Deployment) and `model_clock` (a timer per Model) are
    # gone: one clock each runs their time-driven work (deployment/clock.py, model/clock.py).
    # Kopf keeps no progress for daemons and timers, so nothing on an object was keyed by them;
    # the finalizer they required is removed by Kopf when it next handles the object.
    assert ids(REGISTRY._changing) == ["deployment_changed", "model_changed"]
    assert ids(REGISTRY._spawning) == [
        "batch_prediction_driver",
        "training_job_driver",
    ]
    assert ids(REGISTRY._watching) == [
        "batch_job_event",
        "dataset_probe_event",
        "deployment_seen",
        "drift_recorded",
        "model_event",
        "model_seen",
        "stage_event",
        "training_job_event",
        "training_pod_job_event",
    ]
    # No Kopf index: with one, Kopf holds every handler at start until all objects are indexed,
    # at a cost quadratic in their number (deployment/followers.py).
    assert ids(REGISTRY._indexing) == []


def test_startup_runs_the_webhook_then_the_election_then_the_configuration() -> None:
    """Kopf runs activities in registration order: the webhook serves at once, the Lease is
    awaited before the webhook's certificates are kept and the process state is configured
    (operator/__init__.py keeps the order)."""
    order = [h.id for h in REGISTRY._activities.get_all_handlers()]
    assert order == [
        "login_via_client",
        "serve_admission",
        "stop_admission",
        "stop_metrics",
        "lead",
        "step_down",
        "keep_webhook_certificates",
        "stop_keeping_webhook_certificates",
        "configure",
        "start_clock",
        "stop_clock",
        "finish_handoffs",
        "close",
        "start_releasing_memory",
        "stop_releasing_memory",
    ]
