"""Every kustomization under manifests/ against the real API server of the local cluster.

`kubectl apply --dry-run=server` runs each object through the API server's decoding, defaulting,
schema validation (our CRDs included) and admission, without persisting it. The one exception is
manifests/prometheus: the local cluster has no Prometheus Operator, so no ServiceMonitor kind to
dry-run against; that object is checked against the Services the operator really builds instead.
"""

from __future__ import annotations

import pytest

from modelship.operator.deployment.builders.stages import build_stage_service
from support.factories import iris_deployment
from support.kubectl import MANIFESTS, Kubectl, named, render

pytestmark = pytest.mark.integration
SYSTEM_NAMESPACE = "modelship-system"


def dry_run(kubectl: Kubectl, directory: str, *extra: str) -> list[str]:
    """Server-side dry run of a kustomization; returns kubectl's per-object lines."""
    result = kubectl("apply", "--dry-run=server", "-k", str(MANIFESTS / directory), *extra)
    return [line for line in result.stdout.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def system_namespace(kubectl: Kubectl) -> str:
    """Namespaced objects can only be dry-run into a namespace that exists."""
    kubectl("apply", "-f", str(MANIFESTS / "operator" / "namespace.yaml"))
    return SYSTEM_NAMESPACE


def test_default_passes_a_server_side_dry_run(kubectl: Kubectl, system_namespace: str) -> None:
    objects = render("default")
    lines = dry_run(kubectl, "default")
    assert len(lines) == len(objects), "\n".join(lines)
    assert all(line.endswith("(server dry run)") for line in lines), "\n".join(lines)
    kinds = {(o["kind"], o["metadata"]["name"]) for o in objects}
    assert {
        ("Namespace", SYSTEM_NAMESPACE),
        ("CustomResourceDefinition", "models.modelship.io"),
        ("CustomResourceDefinition", "trainingjobs.modelship.io"),
        ("CustomResourceDefinition", "deployments.modelship.io"),
        ("ServiceAccount", "modelship-operator"),
        ("ClusterRole", "modelship-operator"),
        ("ClusterRoleBinding", "modelship-operator"),
        ("ClusterRole", "modelship-view"),
        ("ClusterRole", "modelship-edit"),
        ("ClusterRole", "modelship-admin"),
        ("Deployment", "modelship-operator"),
        ("PodDisruptionBudget", "modelship-operator"),
        ("Role", "modelship-leader-election"),
        ("RoleBinding", "modelship-leader-election"),
        ("Role", "modelship-webhook-certificates"),
        ("RoleBinding", "modelship-webhook-certificates"),
        ("ClusterRole", "modelship-approver"),
        ("MutatingWebhookConfiguration", "modelship-approvals"),
        ("ValidatingWebhookConfiguration", "modelship-approvals"),
        ("Service", "modelship-operator-webhook"),
    } <= kinds
    namespaced = [o for o in objects if o["kind"] in ("ServiceAccount", "Deployment")]
    assert {o["metadata"]["namespace"] for o in namespaced} == {SYSTEM_NAMESPACE}


@pytest.mark.parametrize("directory", ["operator", "rbac"])
def test_parts_pass_a_server_side_dry_run(
    kubectl: Kubectl, system_namespace: str, directory: str
) -> None:
    objects = render(directory)
    result = kubectl.apply(objects, "--dry-run=server", "-n", system_namespace)
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert len(lines) == len(objects), "\n".join(lines)


@pytest.mark.parametrize("directory", ["samples", "catalog", "model-namespace"])
def test_model_namespace_kustomizations_pass_a_server_side_dry_run(
    kubectl: Kubectl, namespace: str, directory: str
) -> None:
    lines = dry_run(kubectl, directory, "-n", namespace)
    assert len(lines) == len(render(directory)), "\n".join(lines)
    assert all(line.endswith("(server dry run)") for line in lines), "\n".join(lines)


def test_a_dry_run_does_reject_what_the_server_would(kubectl: Kubectl, namespace: str) -> None:
    """The dry runs above could not pass vacuously: a schema violation fails the same way."""
    model = named(render("samples"), "Model", "iris")
    model["spec"]["evaluation"]["testFraction"] = 5
    result = kubectl.apply([model], "--dry-run=server", "-n", namespace, check=False)
    assert result.returncode != 0
    assert "testFraction" in result.stderr


def test_the_operator_runs_its_pods_from_its_own_image() -> None:
    operator = named(render("default"), "Deployment", "modelship-operator")
    spec = operator["spec"]
    container = spec["template"]["spec"]["containers"][0]
    env = {e["name"]: e for e in container["env"]}
    assert env["MODELSHIP_OPERATOR_IMAGE"]["value"] == container["image"] == "modelship:0.1.0"
    assert container["command"] == ["python", "-m", "modelship.operator"]
    # Two replicas, one leading (the Lease decides, in the pod's own namespace), rolled one at
    # a time with none unavailable; a PodDisruptionBudget keeps one through drains.
    assert spec["replicas"] == 2
    assert spec["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
    }
    assert env["MODELSHIP_OPERATOR_LEASE_NAMESPACE"]["valueFrom"] == {
        "fieldRef": {"fieldPath": "metadata.namespace"}
    }
    pdb = named(render("default"), "PodDisruptionBudget", "modelship-operator")
    assert pdb["spec"]["minAvailable"] == 1
    assert pdb["spec"]["selector"]["matchLabels"].items() <= (
        spec["template"]["metadata"]["labels"].items()
    )
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert env["MODELSHIP_OPERATOR_HEALTH_ENDPOINT"]["value"] == (
        f"http://$(POD_IP):{ports['health']}/healthz"
    )
    assert container["resources"]["requests"] and container["resources"]["limits"]
    assert spec["template"]["spec"]["serviceAccountName"] == "modelship-operator"


def test_servicemonitor_selects_the_inference_services_the_operator_builds() -> None:
    """No ServiceMonitor CRD on the local cluster: checked client-side against real Services."""
    monitor = named(render("prometheus"), "ServiceMonitor", "modelship-serving")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    mdep = iris_deployment(metadata={"namespace": "ml", "uid": "u-1"})
    for stage in ("test", "production"):
        service = build_stage_service(mdep, stage)
        labels = service["metadata"]["labels"]
        assert monitor["spec"]["selector"]["matchLabels"].items() <= labels.items()
        assert set(monitor["spec"]["targetLabels"]) <= labels.keys()
        port_names = {p["name"] for p in service["spec"]["ports"]}
        assert {e["port"] for e in monitor["spec"]["endpoints"]} <= port_names
    assert monitor["spec"]["endpoints"][0]["path"] == "/metrics"
    assert monitor["spec"]["namespaceSelector"] == {"any": True}


def test_the_operator_servicemonitor_scrapes_every_replica_s_metrics_port() -> None:
    """Checked client-side too: the Service selects the operator pods, whose port it names."""
    monitor = named(render("prometheus"), "ServiceMonitor", "modelship-operator")
    objects = render("default")
    service = named(objects, "Service", "modelship-operator-metrics")
    operator = named(objects, "Deployment", "modelship-operator")
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )
    pod = operator["spec"]["template"]
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    (container,) = pod["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    (endpoint,) = monitor["spec"]["endpoints"]
    (port,) = service["spec"]["ports"]
    assert (endpoint["port"], port["targetPort"], port["port"]) == ("metrics", "metrics", 8081)
    env = {e["name"]: e for e in container["env"]}
    assert env["MODELSHIP_OPERATOR_METRICS_ENDPOINT"]["value"] == (
        f"http://$(POD_IP):{ports['metrics']}{endpoint['path']}"
    )
