"""`decide` for a canary rollout and shadow traffic: children, routing, steps, abort, completion."""

from __future__ import annotations

import dataclasses
from typing import Any

from modelship.api.v1alpha1.progressive import AnalysisResult, MetricComparison
from modelship.contracts.routing import RouteBackend, RoutingTable
from modelship.operator.deployment.actions import ApplyChild, Decision
from modelship.operator.deployment.builders.canary import production_selector
from modelship.operator.deployment.builders.stages import build_stage_service, service_selector
from modelship.operator.deployment.canary import ABORT_ANNOTATION, PROMOTE_ANNOTATION
from modelship.operator.deployment.decide import decide
from modelship.operator.deployment.observation import CanaryView, Observation, Stage, Subject
from modelship.operator.deployment.rollout import Applied, StageRollout, spec_hash
from modelship.operator.deployment.scrape import ShadowCounts
from modelship.operator.kube.conditions import get_condition
from support.deployments import (
    D1,
    D2,
    NOW,
    SETTINGS,
    body,
    kinds,
    model,
    observation,
    pdb,
    pod,
    rollout,
    service,
    serving_stage,
)

PASSED_2 = {"version": 2, "digest": D2, "service": "iris-test", "passed": True}
SERVING_1 = {"version": 1, "digest": D1, "service": "iris", "promotedAt": NOW, "readyReplicas": 2}
TWO = model((1, True, 0.9), (2, True, 0.95))
CANARY = {
    "production": {
        "replicas": 2,
        "rollout": {
            "strategy": "canary",
            "steps": [
                {"setWeight": 10},
                {"analysis": {"interval": "1m", "minRequests": 50}},
                {"setWeight": 100},
            ],
        },
    }
}
APPROVE_2 = {"approval": {"version": 2, "digest": D2}}


def run(status: dict[str, Any], seen: Observation, annotations: dict[str, str] | None = None,
        **spec: Any) -> Decision:  # fmt: skip
    raw = body(status, 1, **{**CANARY, **APPROVE_2, **spec})
    if annotations:
        raw["metadata"].setdefault("annotations", {}).update(annotations)
    return decide(Subject.parse(raw), seen, NOW, SETTINGS)


def seen(view: CanaryView | None = None, production: Stage | None = None) -> Observation:
    test = Stage(service("test"), rollout("test", 2), [])
    return observation(
        model=TWO,
        test=test,
        production=production or serving_stage(1),
        pdb=pdb(),
        canary=view or CanaryView(),
    )


def table(weight: int) -> RoutingTable:
    return RoutingTable(
        revision=3,
        stable=RouteBackend(version=1, digest=D1, service="iris-stable"),
        canary=RouteBackend(version=2, digest=D2, service="iris-canary"),
        canary_weight=weight,
    )


def running(weight: int, **extra: Any) -> CanaryView:
    """A canary at `weight`, its pods and the router ready, the table saying `weight`."""
    return CanaryView(
        canary=StageRollout("x", complete=True, ready_replicas=1),
        router=StageRollout("y", complete=True, ready_replicas=2),
        table=table(weight),
        routing=Applied("z"),
        router_pods=[pod("r1", 0), pod("r2", 0)],
        **extra,
    )


def canary_status(step: int, weight: int, started: str = NOW, **extra: Any) -> dict[str, Any]:
    return {"version": 2, "digest": D2, "step": step, "weight": weight, "stepStartedAt": started,
            **extra}  # fmt: skip


def routed_stage(version: int) -> Stage:
    """Production whose Service currently selects the router."""
    front = build_stage_service(body(), "production")
    front["spec"]["selector"] = service_selector(production_selector("iris", routed=True))
    return dataclasses.replace(serving_stage(version), service=Applied(spec_hash(front)))


def selector(decision: Decision) -> dict[str, str] | None:
    for action in decision.actions:
        if (
            isinstance(action, ApplyChild)
            and action.name == "iris"
            and action.body["kind"] == "Service"
        ):
            selected = action.body["spec"]["selector"].items()
            return {k: v for k, v in selected if v is not None}  # null: removed by the patch
    return None


def test_an_approval_starts_a_canary_beside_stable_production() -> None:
    decision = run({"test": PASSED_2, "production": SERVING_1}, seen())
    status = decision.status
    assert status.canary is not None
    assert (status.canary.version, status.canary.step, status.canary.weight) == (2, 0, 10)
    assert status.production is not None and status.production.version == 1  # stable serves
    assert status.phase == "Promoting"
    assert kinds(decision.actions) == [
        "create deployments/iris-canary",
        "create services/iris-stable",
        "create services/iris-canary",
        "create serviceaccounts/iris-router",
        "create roles/iris-router",
        "create rolebindings/iris-router",
        "create configmaps/iris-routing",
        "create deployments/iris-router",
        "create poddisruptionbudgets/iris-router",
        "event CanaryStarted",
    ]
    config = next(
        a for a in decision.actions if isinstance(a, ApplyChild) and a.name == "iris-routing"
    )
    routed = RoutingTable.from_data(config.body["data"])
    assert (routed.stable.version, routed.canary_weight) == (1, 10)
    assert routed.canary is not None and routed.canary.version == 2
    assert selector(decision) is None  # the router is not ready: production stays on stable


def test_the_weight_goes_into_status_and_the_table_never_the_spec() -> None:
    raw = body({}, 1, **CANARY)
    decision = run({"test": PASSED_2, "production": SERVING_1}, seen())
    assert "weight" not in str(raw["spec"])
    assert decision.status.canary is not None and decision.status.canary.weight == 10


def test_production_is_routed_once_the_router_is_ready_and_the_analysis_begins() -> None:
    status = {"test": PASSED_2, "production": SERVING_1, "canary": canary_status(0, 10)}
    decision = run(status, seen(running(10)))
    assert selector(decision) == {"modelship.io/deployment": "iris", "modelship.io/stage": "router"}
    canary = decision.status.canary
    assert canary is not None and canary.step == 1 and canary.state == "Waiting"
    assert "analysing 10% of traffic" in canary.waiting_for


def failed_latency() -> AnalysisResult:
    return AnalysisResult(
        step=1,
        outcome="Failed",
        at=NOW,
        stable_requests=500,
        canary_requests=60,
        comparisons=[
            MetricComparison(
                metric="latencyP95", stable=0.002, canary=0.2, limit="1.5x", passed=False
            )
        ],
        message="latencyP95 of the canary 200.0 ms against stable's 2.0 ms exceeds 1.5x",
    )


def test_a_failed_analysis_aborts_names_the_metric_and_sends_everything_back_to_stable() -> None:
    status = {
        "test": PASSED_2,
        "production": SERVING_1,
        "canary": canary_status(1, 10, started="2025-03-01T11:58:00Z"),
    }
    view = dataclasses.replace(
        running(10), verdict=failed_latency(), services={"stable": Applied("s")}
    )
    decision = run(status, seen(view, production=routed_stage(1)))
    result = decision.status
    rolled = get_condition(result.conditions, "RolledBack")
    assert rolled is not None and rolled.status == "True" and rolled.reason == "CanaryAborted"
    assert "latencyP95 of the canary 200.0 ms against stable's 2.0 ms" in rolled.message
    assert result.failed_rollout is not None and result.failed_rollout.version == 2
    assert result.canary is not None and (result.canary.state, result.canary.weight) == (
        "Aborted",
        0,
    )
    assert result.production is not None and result.production.version == 1
    assert selector(decision) == {
        "modelship.io/deployment": "iris",
        "modelship.io/stage": "production",
    }
    done = kinds(decision.actions)
    # production selects stable again before the router it was using goes away; the draining
    # router is pointed at stable alone, and the canary stays until no router pod is left
    assert done.index("patch services/iris") < done.index("delete deployments/iris-router")
    config = next(
        a for a in decision.actions if isinstance(a, ApplyChild) and a.name == "iris-routing"
    )
    drained = RoutingTable.from_data(config.body["data"])
    assert drained.canary is None and drained.stable.version == 1 and drained.revision == 4
    assert "delete deployments/iris-canary" not in done
    gone = dataclasses.replace(view, router=None, router_pods=[], router_pods_left=0)
    after = run(decision.status.to_wire(), seen(gone, production=serving_stage(1)))
    assert {"delete deployments/iris-canary", "delete configmaps/iris-routing",
            "delete services/iris-stable"} <= set(kinds(after.actions))  # fmt: skip
    assert "warning RolledBack" in kinds(decision.actions)
    assert result.phase == "AwaitingApproval"  # the same approval cannot retry it


def test_after_an_abort_the_same_approval_does_not_restart_the_canary() -> None:
    aborted = canary_status(1, 0, state="Aborted")
    failed = {"version": 2, "digest": D2, "generation": 1, "reason": "analysis failed"}
    status = {"test": PASSED_2, "production": SERVING_1, "canary": aborted, "failedRollout": failed}
    decision = run(status, seen())
    assert decision.status.canary is not None and decision.status.canary.state == "Aborted"
    assert not any(isinstance(a, ApplyChild) and "canary" in a.name for a in decision.actions)


def test_an_inconclusive_window_waits_at_the_same_weight() -> None:
    status = {
        "test": PASSED_2,
        "production": SERVING_1,
        "canary": canary_status(1, 10, started="2025-03-01T11:58:00Z"),
    }
    verdict = AnalysisResult(
        step=1,
        outcome="Inconclusive",
        at=NOW,
        message="canary answered 3 of the 50 requests needed",
    )
    decision = run(status, seen(dataclasses.replace(running(10), verdict=verdict)))
    canary = decision.status.canary
    assert canary is not None and (canary.step, canary.weight, canary.state) == (1, 10, "Waiting")
    assert canary.waiting_for.startswith("inconclusive: canary answered 3")
    assert decision.status.phase == "Promoting"


def test_passing_every_step_promotes_the_canary_version() -> None:
    status = {
        "test": PASSED_2,
        "production": SERVING_1,
        "canary": canary_status(2, 100),
    }
    decision = run(status, seen(running(100)))
    result = decision.status
    assert result.canary is not None and result.canary.state == "Completed"
    assert result.production is not None and result.production.version == 2
    assert result.previous is not None and result.previous.version == 1
    assert "patch deployments/iris" in kinds(decision.actions)  # stable rolls to version 2
    config = next(
        a for a in decision.actions if isinstance(a, ApplyChild) and a.name == "iris-routing"
    )
    routed = RoutingTable.from_data(config.body["data"])
    assert routed.stable.version == 1 and routed.canary_weight == 100  # canary answers meanwhile


def test_once_production_serves_the_new_version_the_canary_and_router_go() -> None:
    promoted = {
        "version": 2,
        "digest": D2,
        "service": "iris",
        "promotedAt": NOW,
        "readyReplicas": 2,
    }
    status = {"test": PASSED_2, "production": promoted, "previous": {"version": 1, "digest": D1},
              "canary": canary_status(2, 100, state="Completed")}  # fmt: skip
    first = run(status, seen(running(100), production=routed_stage(2)))
    assert kinds(first.actions)[:2] == ["patch services/iris", "delete deployments/iris-router"]
    gone = dataclasses.replace(running(100), router=None, router_pods=[], router_pods_left=0)
    decision = run(status, seen(gone, production=routed_stage(2)))
    assert decision.status.canary is None
    assert selector(decision) == {
        "modelship.io/deployment": "iris",
        "modelship.io/stage": "production",
    }
    assert {"delete deployments/iris-canary",
            "delete configmaps/iris-routing"} <= set(kinds(decision.actions))  # fmt: skip
    assert decision.status.phase == "Serving"


def test_modelship_abort_stops_the_canary() -> None:
    status = {"test": PASSED_2, "production": SERVING_1, "canary": canary_status(1, 10)}
    decision = run(status, seen(running(10)), annotations={ABORT_ANNOTATION: "2"})
    result = decision.status
    assert result.canary is not None and result.canary.state == "Aborted"
    assert result.failed_rollout is not None and "modelship abort" in result.failed_rollout.reason


def test_a_pause_waits_for_promote_of_that_step() -> None:
    spec = {"production": {"replicas": 2, "rollout": {"strategy": "canary", "steps": [
        {"setWeight": 20}, {"pause": {}}, {"setWeight": 100}]}}}  # fmt: skip
    status = {"test": PASSED_2, "production": SERVING_1, "canary": canary_status(1, 20)}
    waiting = run(status, seen(running(20)), **spec)
    assert (
        waiting.status.canary is not None
        and "modelship promote" in waiting.status.canary.waiting_for
    )
    stale = run(status, seen(running(20)), annotations={PROMOTE_ANNOTATION: "2/0"}, **spec)
    assert stale.status.canary is not None and stale.status.canary.step == 1
    released = run(status, seen(running(20)), annotations={PROMOTE_ANNOTATION: "2/1"}, **spec)
    assert released.status.canary is not None and released.status.canary.weight == 100


def test_the_first_promotion_surges_even_with_a_canary_strategy() -> None:
    decision = run({"test": PASSED_2}, seen(production=Stage()))
    assert decision.status.canary is None
    assert decision.status.production is not None and decision.status.production.version == 2


def test_shadow_mirrors_to_the_version_awaiting_approval_and_reports_it() -> None:
    shadow_table = RoutingTable(
        revision=1,
        stable=RouteBackend(version=1, digest=D1, service="iris-stable"),
        shadow=RouteBackend(version=2, digest=D2, service="iris-test"),
        shadow_percent=25,
    )
    counts = ShadowCounts(
        compared=400, errors=2, dropped=1, agree=380, disagree=20,
        production_latency={0.001: 0, 0.0025: 400, float("inf"): 400},
        shadow_latency={0.001: 0, 0.005: 400, float("inf"): 400},
    )  # fmt: skip
    view = dataclasses.replace(running(0), table=shadow_table, shadow=counts)
    spec = {"production": {"replicas": 2}, "test": {"shadow": {"percent": 25}}, "approval": None}
    decision = run({"test": PASSED_2, "production": SERVING_1}, seen(view), **spec)
    shadow = decision.status.test.shadow if decision.status.test else None
    assert shadow is not None
    assert (shadow.version, shadow.percent, shadow.requests, shadow.errors) == (2, 25, 400, 2)
    assert shadow.agreement == 0.95
    assert shadow.production_p95_ms is not None and shadow.shadow_p95_ms is not None
    assert shadow.shadow_p95_ms > shadow.production_p95_ms
    assert selector(decision) == {"modelship.io/deployment": "iris", "modelship.io/stage": "router"}
    assert decision.status.phase == "AwaitingApproval"
