"""`decide` with spec.production.autoscaling: what is written to the production Deployment, the
HPA and the budget, and what status says (no cluster)."""

from __future__ import annotations

from typing import Any

from modelship.api.v1alpha1 import DeploymentStatus
from modelship.operator.deployment.actions import ApplyChild, Decision
from modelship.operator.deployment.autoscale import Recommendation
from modelship.operator.deployment.decide import IN_FLIGHT_SECONDS, SETTLED_SECONDS, decide
from modelship.operator.deployment.observation import Stage
from modelship.operator.deployment.rollout import Applied, StageRollout
from modelship.operator.kube.conditions import get_condition
from support.deployments import (
    D1,
    D2,
    NOW,
    SETTINGS,
    kinds,
    model,
    observation,
    pdb,
    rollout,
    service,
    stage_hash,
    subject,
)

TESTED_1 = {"version": 1, "digest": D1, "service": "iris-test", "passed": True}
SERVING_1 = {"version": 1, "digest": D1, "service": "iris", "promotedAt": NOW, "readyReplicas": 2}
SETTLED = {"test": TESTED_1, "production": SERVING_1}
APPROVAL = {"version": 1, "digest": D1}
AUTO = {"minReplicas": 2, "maxReplicas": 5, "targetConcurrency": 10}


def production(replicas: int, ready: int | None = None, old_pods: int = 0) -> Stage:
    """Production serving version 1 with `replicas` asked for, as the operator last wrote it."""
    ready = replicas if ready is None else ready
    rolled = StageRollout(
        stage_hash("production", 1, replicas), complete=ready == replicas and not old_pods,
        ready_replicas=ready, replicas=replicas, old_pods=old_pods,
    )  # fmt: skip
    return Stage(service("production"), rolled, [])


def run(
    status: dict[str, Any],
    stage: Stage,
    autoscaling: dict[str, Any] | None,
    recommendation: Recommendation | None = None,
    hpa: Applied | None = None,
) -> Decision:
    spec: dict[str, Any] = {"replicas": 2}
    if autoscaling is not None:
        spec["autoscaling"] = autoscaling
    seen = observation(
        test=Stage(service("test"), rollout("test", 1)), production=stage, pdb=pdb(),
        hpa=hpa, autoscale=recommendation,
    )  # fmt: skip
    mdep = subject(status, approval=APPROVAL, production=spec)
    return decide(mdep, seen, NOW, SETTINGS)


def load(replicas: int, concurrency: float) -> Recommendation:
    return Recommendation(replicas, False, concurrency, concurrency, 30, True, 2, 10.0)


def written_replicas(decision: Decision) -> Any:
    apps = [a for a in decision.actions if isinstance(a, ApplyChild) and a.resource.group == "apps"]
    assert len(apps) == 1
    return apps[0].body["spec"].get("replicas", "absent")


def condition(status: DeploymentStatus) -> tuple[str, str]:
    found = get_condition(status.conditions, "Autoscaling")
    assert found is not None
    return str(found.status), found.reason


def test_load_scales_the_production_deployment_and_status_says_why() -> None:
    decision = run(SETTLED, production(2), AUTO, load(4, 37.5))
    assert kinds(decision.actions) == ["patch deployments/iris", "event Scaled"]
    assert written_replicas(decision) == 4
    scaled = decision.status.autoscaling
    assert scaled is not None and scaled.mode == "operator"
    assert (scaled.desired_replicas, scaled.stable_concurrency) == (4, 37.5)
    assert scaled.reason == "4: stable window: 37.5 in flight / target 10"
    assert scaled.last_scale_time == NOW
    assert condition(decision.status) == ("True", "Operator")


def test_a_steady_load_writes_nothing() -> None:
    first = run(SETTLED, production(3), AUTO, load(3, 25))
    assert kinds(first.actions) == []
    settled = first.status.model_dump(by_alias=True, exclude_none=True)
    again = run(settled, production(3), AUTO, load(3, 25))
    assert kinds(again.actions) == [] and again.status == first.status


def test_a_running_canary_holds_production_where_it_is() -> None:
    canary = {"version": 2, "digest": D1, "state": "Progressing", "step": 1, "weight": 10}
    decision = run({**SETTLED, "canary": canary}, production(2), AUTO, load(5, 50))
    assert written_replicas_or_none(decision) is None
    scaled = decision.status.autoscaling
    assert scaled is not None and scaled.desired_replicas == 2
    assert scaled.reason == "held at 2: canary of version 2 in progress (step 1)"


def test_a_surge_rollout_in_progress_holds_production() -> None:
    decision = run(SETTLED, production(2, old_pods=1), AUTO, load(5, 50))
    assert written_replicas_or_none(decision) is None
    scaled = decision.status.autoscaling
    assert scaled is not None
    assert scaled.reason == "held at 2: a rollout is replacing 1 pod(s) of an earlier template"


def written_replicas_or_none(decision: Decision) -> Any:
    """The replicas written to production's apps/v1 Deployment (`iris`), None: not written."""
    apps = [
        a
        for a in decision.actions
        if isinstance(a, ApplyChild) and a.resource.group == "apps" and a.name == "iris"
    ]
    return apps[0].body["spec"].get("replicas") if apps else None


def test_min_replicas_one_drops_the_disruption_budget() -> None:
    decision = run(SETTLED, production(2), {**AUTO, "minReplicas": 1}, load(1, 3))
    assert kinds(decision.actions) == [
        "delete poddisruptionbudgets/iris",
        "patch deployments/iris",
        "event Scaled",
    ]
    assert written_replicas(decision) == 1


def test_hpa_mode_applies_the_hpa_and_leaves_the_count_to_it() -> None:
    stage = production(2)
    decision = run(SETTLED, stage, {**AUTO, "mode": "hpa"}, load(5, 50))
    assert kinds(decision.actions) == [
        "create horizontalpodautoscalers/iris",
        "patch deployments/iris",  # the same template, without a replica count
    ]
    assert written_replicas(decision) == "absent"
    hpa = next(a for a in decision.actions if isinstance(a, ApplyChild)).body
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["minReplicas"] == 2 and hpa["spec"]["maxReplicas"] == 5
    assert condition(decision.status) == ("True", "HPA")
    assert decision.status.autoscaling is not None
    assert decision.status.autoscaling.desired_replicas is None  # the HPA decides, not us


def test_leaving_hpa_mode_deletes_the_hpa_and_the_condition() -> None:
    decision = run(SETTLED, production(2), None, hpa=Applied("old"))
    assert kinds(decision.actions) == ["delete horizontalpodautoscalers/iris"]
    assert decision.status.autoscaling is None
    assert get_condition(decision.status.conditions, "Autoscaling") is None


def test_a_canary_is_sized_from_the_autoscaled_production_it_holds() -> None:
    passed_2 = {"version": 2, "digest": D2, "service": "iris-test", "passed": True}
    scaled = {"mode": "operator", "desiredReplicas": 6, "reason": "6: stable window"}
    status = {"test": passed_2, "production": SERVING_1, "autoscaling": scaled}
    steps = [{"setWeight": 50}, {"analysis": {"interval": "1m"}}, {"setWeight": 100}]
    production_spec = {
        "replicas": 2,
        "autoscaling": {**AUTO, "maxReplicas": 8},
        "rollout": {"strategy": "canary", "steps": steps},
    }
    seen = observation(
        model=model((1, True, 0.9), (2, True, 0.95)),
        test=Stage(service("test"), rollout("test", 2)),
        production=production(6), pdb=pdb(), autoscale=load(8, 80),
    )  # fmt: skip
    mdep = subject(status, approval={"version": 2, "digest": D2}, production=production_spec)
    decision = decide(mdep, seen, NOW, SETTINGS)
    canary = next(
        a for a in decision.actions if isinstance(a, ApplyChild) and a.name == "iris-canary"
    )
    assert canary.body["spec"]["replicas"] == 3  # 50 % of the 6 production pods
    assert written_replicas_or_none(decision) is None  # production held at 6
    assert decision.status.autoscaling is not None
    assert decision.status.autoscaling.reason.startswith("held at 6: canary of version 2")


def test_the_pass_that_completes_a_promotion_looks_again_soon_and_the_next_stops_holding() -> None:
    """The hold is decided before the rollout is seen complete in the same pass: without a
    prompt second look, status would say "held ... being promoted" while serving (no event
    follows a completed rollout)."""
    promoting = {**SETTLED, "production": {**SERVING_1, "promotedAt": None}}
    first = run(promoting, production(2), AUTO, load(2, 5))
    assert first.status.production is not None and first.status.production.promoted_at == NOW
    assert first.status.phase == "Serving"
    held = first.status.autoscaling
    assert held is not None and held.reason == "held at 2: version 1 is being promoted"
    assert first.requeue_after == IN_FLIGHT_SECONDS
    settled = first.status.model_dump(by_alias=True, exclude_none=True)
    second = run(settled, production(2), AUTO, load(2, 5))
    following = second.status.autoscaling
    assert following is not None and not following.reason.startswith("held")
    assert second.requeue_after == SETTLED_SECONDS
