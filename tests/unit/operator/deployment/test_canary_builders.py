"""The router's pods and the backend Services, as the operator builds them: whatever port the
production Service targets must exist on the router's pods, or callers on that port are refused
for the length of a canary."""

from __future__ import annotations

from modelship.contracts.routing import RouterEnv
from modelship.operator.deployment.builders.canary import (
    build_backend_service,
    build_router_deployment,
)
from modelship.operator.deployment.builders.stages import build_stage_service
from support.deployments import SETTINGS, body


def test_every_port_the_production_service_targets_is_served_by_the_router() -> None:
    router = build_router_deployment(body(), SETTINGS)
    (container,) = router["spec"]["template"]["spec"]["containers"]
    named = {port["name"]: port["containerPort"] for port in container["ports"]}
    targeted = {
        port["targetPort"] for port in build_stage_service(body(), "production")["spec"]["ports"]
    }
    assert targeted <= set(named)
    env = {entry["name"]: entry["value"] for entry in container["env"]}
    settings = RouterEnv.model_validate(
        {
            name: env[f"{RouterEnv.env_prefix}{name.upper()}"]
            for name in (
                "namespace",
                "deployment",
                "model_name",
                "routing_config_map",
                "port",
                "grpc_port",
            )
        }
    )
    assert (settings.port, settings.grpc_port) == (named["http"], named["grpc"])


def test_backend_services_list_the_grpc_port_the_router_passes_through_to() -> None:
    for backend in ("stable", "canary"):
        ports = {
            p["name"]: p["targetPort"]
            for p in build_backend_service(body(), backend)["spec"]["ports"]
        }
        assert ports == {"http": "http", "grpc": "grpc"}


def test_the_router_has_the_serving_pods_probes() -> None:
    router = build_router_deployment(body(), SETTINGS)
    (container,) = router["spec"]["template"]["spec"]["containers"]
    assert container["startupProbe"]["httpGet"]["path"] == "/router/live"
    assert container["livenessProbe"]["timeoutSeconds"] >= 5
    assert container["readinessProbe"]["httpGet"]["path"] == "/router/ready"
