"""`decide` for canaries that split traffic without the router: by replica ratio, by HTTPRoute."""

from __future__ import annotations

import dataclasses
from typing import Any

from modelship.api.v1alpha1.progressive import AnalysisResult
from modelship.operator.deployment.actions import ApplyChild, Decision
from modelship.operator.deployment.apply import apply
from modelship.operator.deployment.decide import IN_FLIGHT_SECONDS, SETTLED_SECONDS, decide
from modelship.operator.deployment.observation import (
    CanaryView,
    Observation,
    RouteState,
    Stage,
    Subject,
)
from modelship.operator.deployment.rollout import Applied, StageRollout, spec_hash
from modelship.operator.deployment.traffic_modes import NOT_SERVED, shared_service
from modelship.operator.kube.conditions import get_condition
from modelship.operator.kube.resources import MODEL_DEPLOYMENTS
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
    service,
    stage_hash,
)
from support.deployments import rollout as stage_rollout
from support.fake_kube import FakeKube

PASSED_2 = {"version": 2, "digest": D2, "service": "iris-test", "passed": True}
SERVING_1 = {"version": 1, "digest": D1, "service": "iris", "promotedAt": NOW, "readyReplicas": 4}
TWO = model((1, True, 0.9), (2, True, 0.95))
GATEWAY = {"parentRefs": [{"name": "public"}]}
STABLE_ONLY = {"modelship.io/deployment": "iris", "modelship.io/stage": "production"}
SHARED = {"modelship.io/deployment": "iris", "modelship.io/serves": "production"}


def spec(traffic: str) -> dict[str, Any]:
    rollout: dict[str, Any] = {
        "strategy": "canary",
        "traffic": traffic,
        "steps": [{"setWeight": 25}, {"analysis": {"interval": "1m"}}, {"setWeight": 100}],
    }
    if traffic == "gatewayAPI":
        rollout["gateway"] = GATEWAY
    return {"production": {"replicas": 4, "rollout": rollout}, "approval": {"version": 2,
            "digest": D2}}  # fmt: skip


def run(traffic: str, status: dict[str, Any], seen: Observation) -> Decision:
    return decide(Subject.parse(body(status, 1, **spec(traffic))), seen, NOW, SETTINGS)


def production(version: int, replicas: int = 4, selector: dict[str, str] | None = None) -> Stage:
    """Production rolled out at `replicas` pods, its Service selecting `selector`."""
    front = service("production")
    if selector == SHARED:
        front = Applied(spec_hash(shared_service(body(**spec("replicas")), "iris")))
    rolled = StageRollout(
        stage_hash("production", version, replicas), complete=True, ready_replicas=replicas
    )
    return Stage(front, rolled, [])


def seen(view: CanaryView | None = None, stage: Stage | None = None) -> Observation:
    return observation(
        model=TWO,
        test=Stage(service("test"), stage_rollout("test", 2), []),
        production=stage or production(1),
        pdb=pdb(),
        canary=view or CanaryView(),
    )


def canary(step: int, weight: int, traffic: str, **extra: Any) -> dict[str, Any]:
    return {"version": 2, "digest": D2, "step": step, "weight": weight, "stepStartedAt": NOW,
            "traffic": traffic, **extra}  # fmt: skip


def split_view(canary_pods: int, stable_pods: int, **extra: Any) -> CanaryView:
    return CanaryView(
        canary=StageRollout("c", complete=True, ready_replicas=canary_pods),
        canary_pods=[pod(f"c{i}", 2) for i in range(canary_pods)],
        stable_pods=[pod(f"s{i}", 1) for i in range(stable_pods)],
        **extra,
    )


def applied(decision: Decision, name: str, kind: str = "Deployment") -> dict[str, Any]:
    return next(
        a.body
        for a in decision.actions
        if isinstance(a, ApplyChild) and a.name == name and a.body["kind"] == kind
    )


def selector(decision: Decision) -> dict[str, str] | None:
    for action in decision.actions:
        if (
            isinstance(action, ApplyChild)
            and action.body["kind"] == "Service"
            and action.name == "iris"
        ):
            selected = action.body["spec"]["selector"].items()
            return {k: v for k, v in selected if v is not None}  # null: removed by the patch
    return None


# -- traffic: replicas ----------------------------------------------------------------------------


def test_a_replica_ratio_canary_scales_both_sides_and_shares_the_service_without_a_router() -> None:
    decision = run("replicas", {"test": PASSED_2, "production": SERVING_1}, seen())
    result = decision.status.canary
    assert result is not None and (result.traffic, result.weight) == ("replicas", 25)
    done = kinds(decision.actions)
    assert done == [
        "create deployments/iris-canary",
        "patch services/iris",
        "patch deployments/iris",
        "event CanaryStarted",
    ]  # no router, routing table, backend Services or router identity
    assert applied(decision, "iris-canary")["spec"]["replicas"] == 1
    assert applied(decision, "iris")["spec"]["replicas"] == 3  # 4 pods: 1 canary, 3 stable
    assert selector(decision) == SHARED
    assert result.effective_weight is None  # no ready pod behind the shared Service yet


def test_the_step_waits_until_the_pods_of_the_split_are_ready_behind_the_service() -> None:
    status = {"test": PASSED_2, "production": SERVING_1, "canary": canary(0, 25, "replicas")}
    scaling = run("replicas", status, seen(split_view(1, 4), production(1, 4)))
    waiting = scaling.status.canary
    assert waiting is not None and (waiting.step, waiting.state) == (0, "Waiting")
    assert waiting.waiting_for == "scaling to 1 canary and 3 stable pod(s) for 25%"
    assert (waiting.canary_pods, waiting.stable_pods, waiting.effective_weight) == (0, 4, 0.0)
    ready = run("replicas", status, seen(split_view(1, 3), production(1, 3, SHARED)))
    moved = ready.status.canary
    assert moved is not None and (moved.step, moved.weight) == (1, 25)
    assert "analysing 25% of traffic" in moved.waiting_for
    assert (moved.canary_pods, moved.stable_pods, moved.effective_weight) == (1, 3, 25.0)


def test_pods_of_an_older_template_keep_production_on_the_stable_selector() -> None:
    status = {"test": PASSED_2, "production": SERVING_1, "canary": canary(0, 25, "replicas")}
    view = split_view(1, 3, unshared_pods=2)
    decision = run("replicas", status, seen(view, production(1, 3)))
    assert selector(decision) is None  # unchanged: still the stable pods only
    result = decision.status.canary
    assert result is not None and result.step == 0
    assert result.waiting_for == "2 stable pod(s) still run a template without the label"
    assert result.effective_weight == 0.0  # honest: the Service does not reach the canary


def failed() -> AnalysisResult:
    return AnalysisResult(step=1, outcome="Failed", at=NOW, message="errorRate 0.2 over 0.01")


def test_a_failed_replica_ratio_canary_goes_and_stable_scales_back() -> None:
    status = {"test": PASSED_2, "production": SERVING_1, "canary": canary(1, 25, "replicas",
              stepStartedAt="2025-03-01T11:58:00Z")}  # fmt: skip
    view = split_view(1, 3, verdict=failed())
    decision = run("replicas", status, seen(view, production(1, 3, SHARED)))
    rolled = get_condition(decision.status.conditions, "RolledBack")
    assert rolled is not None and rolled.reason == "CanaryAborted"
    assert selector(decision) == STABLE_ONLY
    assert applied(decision, "iris")["spec"]["replicas"] == 4
    done = kinds(decision.actions)
    assert done.index("patch services/iris") < done.index("delete deployments/iris-canary")


def test_a_completed_replica_ratio_canary_rolls_stable_at_full_size_then_goes() -> None:
    status = {"test": PASSED_2, "production": SERVING_1, "canary": canary(2, 100, "replicas")}
    decision = run("replicas", status, seen(split_view(4, 1), production(1, 1, SHARED)))
    assert decision.status.canary is not None and decision.status.canary.state == "Completed"
    stable = applied(decision, "iris")
    assert stable["spec"]["replicas"] == 4
    assert stable["spec"]["template"]["metadata"]["labels"]["modelship.io/version"] == "2"
    assert "patch services/iris" not in kinds(decision.actions)  # both sets stay behind it
    promoted = {**SERVING_1, "version": 2, "digest": D2}
    after = run(
        "replicas",
        {**decision.status.to_wire(), "production": promoted},
        seen(split_view(4, 4), production(2, 4, SHARED)),
    )
    assert selector(after) == STABLE_ONLY
    assert "delete deployments/iris-canary" in kinds(after.actions)
    assert after.status.canary is None and after.status.phase == "Serving"


def test_the_reconcile_that_completes_production_looks_again_soon_to_retire_the_canary() -> None:
    # No event may follow the promotion (production is settled): the canary's status and pods
    # must not wait for the ten-minute settled look.
    rolling = {"version": 2, "digest": D2, "service": "iris", "readyReplicas": 0}
    status = {"test": PASSED_2, "production": rolling, "canary": canary(2, 100, "replicas",
              state="Completed")}  # fmt: skip
    decision = run("replicas", status, seen(split_view(4, 4), production(2, 4, SHARED)))
    assert decision.status.production is not None and decision.status.production.promoted_at
    assert decision.status.canary is not None and decision.status.phase == "Serving"
    assert decision.requeue_after == IN_FLIGHT_SECONDS
    after = run("replicas", decision.status.to_wire(), seen(split_view(4, 4), production(2, 4)))
    assert after.status.canary is None
    assert after.requeue_after == IN_FLIGHT_SECONDS  # the canary's pods are still there
    gone = run("replicas", after.status.to_wire(), seen(CanaryView(), production(2, 4)))
    assert gone.requeue_after == SETTLED_SECONDS


# -- traffic: gatewayAPI ---------------------------------------------------------------------------


def test_without_the_gateway_api_the_canary_does_not_start_and_says_why() -> None:
    view = CanaryView(gateway_served=False)
    decision = run("gatewayAPI", {"test": PASSED_2, "production": SERVING_1}, seen(view))
    result = decision.status.canary
    assert result is not None and (result.state, result.weight) == ("Waiting", 0)
    assert result.waiting_for == NOT_SERVED
    condition = get_condition(decision.status.conditions, "GatewayRoute")
    assert condition is not None and (condition.status, condition.reason) == (
        "False", "GatewayAPINotServed",
    )  # fmt: skip
    assert kinds(decision.actions) == ["event CanaryStarted"]  # no pod, no route, no fallback
    assert decision.status.production is not None and decision.status.production.version == 1


def route_state(weight: int | None, accepted: bool, stale: bool = False) -> RouteState:
    return RouteState("r", canary_weight=weight, accepted=accepted, stale=stale)


def weights(decision: Decision) -> list[tuple[str, int]]:
    rules = applied(decision, "iris", "HTTPRoute")["spec"]["rules"]
    (weighted,) = [rule for rule in rules if "matches" not in rule]
    return [(ref["name"], ref.get("weight", 1)) for ref in weighted["backendRefs"]]


def test_a_gateway_canary_gets_its_weight_in_the_http_route_once_its_pods_are_ready() -> None:
    view = CanaryView(gateway_served=True, route=route_state(None, True))
    decision = run("gatewayAPI", {"test": PASSED_2, "production": SERVING_1}, seen(view))
    assert kinds(decision.actions) == [
        "create deployments/iris-canary",
        "create services/iris-canary",
        "patch httproutes/iris",
        "event CanaryStarted",
    ]
    assert applied(decision, "iris-canary")["spec"]["replicas"] == 1
    assert weights(decision) == [("iris", 100), ("iris-canary", 0)]  # no pod to send to yet
    assert selector(decision) is None  # the production Service keeps selecting stable pods
    condition = get_condition(decision.status.conditions, "GatewayRoute")
    assert condition is not None and condition.status == "True"
    status = {"test": PASSED_2, "production": SERVING_1, "canary": canary(0, 25, "gatewayAPI")}
    started = dataclasses.replace(
        view,
        canary=StageRollout(spec_hash(applied(decision, "iris-canary")), complete=True,
                            ready_replicas=1),
        services={"canary": Applied(spec_hash(applied(decision, "iris-canary", "Service")))},
        route=route_state(0, True),
    )  # fmt: skip
    ready = run("gatewayAPI", status, seen(started))
    assert weights(ready) == [("iris", 75), ("iris-canary", 25)]
    assert ready.status.canary is not None and ready.status.canary.step == 0  # not yet accepted


def test_a_gateway_step_moves_only_once_every_gateway_accepted_the_weight() -> None:
    status = {"test": PASSED_2, "production": SERVING_1, "canary": canary(0, 25, "gatewayAPI")}
    pending = CanaryView(
        canary=StageRollout("c", complete=True, ready_replicas=1),
        gateway_served=True,
        route=route_state(25, accepted=False, stale=True),
    )
    waiting = run("gatewayAPI", status, seen(pending)).status.canary
    assert waiting is not None and waiting.step == 0
    assert waiting.waiting_for.startswith("waiting for every Gateway to accept HTTPRoute iris")
    taken = dataclasses.replace(pending, route=route_state(25, accepted=True))
    moved = run("gatewayAPI", status, seen(taken)).status.canary
    assert moved is not None and moved.step == 1 and moved.effective_weight is None


def test_the_gateway_canary_goes_only_once_no_gateway_can_send_to_it() -> None:
    promoted = {**SERVING_1, "version": 2, "digest": D2}
    status = {"test": PASSED_2, "production": promoted, "previous": {"version": 1, "digest": D1},
              "canary": canary(2, 100, "gatewayAPI", state="Completed")}  # fmt: skip
    view = CanaryView(
        canary=StageRollout("c", complete=True, ready_replicas=4),
        services={"canary": Applied("s")},
        gateway_served=True,
        route=route_state(100, accepted=True),
    )
    first = run("gatewayAPI", status, seen(view, production(2)))
    route = applied(first, "iris", "HTTPRoute")
    weighted = [r for r in route["spec"]["rules"] if "matches" not in r]
    assert [b["name"] for b in weighted[0]["backendRefs"]] == ["iris"]
    assert "delete deployments/iris-canary" not in kinds(first.actions)
    lagging = dataclasses.replace(view, route=route_state(None, accepted=False, stale=True))
    assert "delete deployments/iris-canary" not in kinds(
        run("gatewayAPI", status, seen(lagging, production(2))).actions
    )
    gone = dataclasses.replace(view, route=route_state(None, accepted=True))
    last = kinds(run("gatewayAPI", status, seen(gone, production(2))).actions)
    assert {"delete deployments/iris-canary", "delete services/iris-canary"} <= set(last)


def test_the_service_really_moves_between_selectors_under_merge_patches() -> None:
    """The Service is written by JSON merge patch, which keeps keys it does not mention."""
    kube = FakeKube()
    subject = Subject.parse(kube.put(MODEL_DEPLOYMENTS, body({}, 1, **spec("replicas"))))
    aborted = {"test": PASSED_2, "production": SERVING_1,
               "canary": canary(1, 25, "replicas", state="Aborted")}  # fmt: skip
    no_service = Stage(None, production(1).deployment, [])
    apply(kube, subject, only_service(run("replicas", aborted, seen(stage=no_service))))
    assert kube.objects[SERVICE]["spec"]["selector"] == STABLE_ONLY  # created without nulls
    started = run("replicas", {"test": PASSED_2, "production": SERVING_1}, seen())
    apply(kube, subject, only_service(started))
    assert kube.objects[SERVICE]["spec"]["selector"] == SHARED  # the stage key is gone
    apply(
        kube, subject, only_service(run("replicas", aborted, seen(stage=production(1, 3, SHARED))))
    )
    assert kube.objects[SERVICE]["spec"]["selector"] == STABLE_ONLY  # and the serves key


SERVICE = ("services", "ml", "iris")


def only_service(decision: Decision) -> Decision:
    """The decision with the production Service's write alone."""
    writes = [
        a
        for a in decision.actions
        if isinstance(a, ApplyChild) and a.body["kind"] == "Service" and a.name == "iris"
    ]
    assert len(writes) == 1
    return dataclasses.replace(decision, actions=writes)


def test_a_replica_ratio_canary_splits_the_autoscaled_count_not_the_spec() -> None:
    """Autoscaled to 8 pods (held during the canary), weight 25 is 2 canary and 6 stable pods."""
    autoscaled = {**spec("replicas")}
    autoscaled["production"] = {
        **autoscaled["production"],
        "autoscaling": {"minReplicas": 2, "maxReplicas": 10, "targetConcurrency": 4},
    }
    status = {
        "test": PASSED_2,
        "production": SERVING_1,
        "autoscaling": {"mode": "operator", "desiredReplicas": 8, "reason": "steady"},
    }
    decision = decide(Subject.parse(body(status, 1, **autoscaled)), seen(stage=production(1, 8)),
                      NOW, SETTINGS)  # fmt: skip
    assert applied(decision, "iris-canary")["spec"]["replicas"] == 2
    assert applied(decision, "iris")["spec"]["replicas"] == 6
