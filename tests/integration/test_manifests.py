"""Every kustomization under manifests/ against the real API server of the local cluster.

`kubectl apply --dry-run=server` runs each object through the API server's decoding, defaulting,
schema validation (our CRDs included) and admission, without persisting it. The one exception is
manifests/prometheus: the local cluster has no Prometheus Operator, so no ServiceMonitor kind to
dry-run against; that object is checked against the Services the operator really builds instead.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from modelship.operator.serving_builders import build_stage_service

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = ROOT / "manifests"
KUBECTL = str(ROOT / ".venv" / "bin" / "kubectl")
SYSTEM_NAMESPACE = "modelship-system"


def kubectl(kubeconfig: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [KUBECTL, "--kubeconfig", str(kubeconfig), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)} failed:\n{result.stderr}{result.stdout}")
    return result


def render(directory: str) -> list[dict[str, Any]]:
    """`kubectl kustomize` needs no cluster; the objects exactly as `apply -k` would send them."""
    out = subprocess.run(
        [KUBECTL, "kustomize", str(MANIFESTS / directory)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def dry_run(kubeconfig: Path, directory: str, *extra: str) -> list[str]:
    """Server-side dry run of a kustomization; returns kubectl's per-object lines."""
    result = kubectl(
        kubeconfig, "apply", "--dry-run=server", "-k", str(MANIFESTS / directory), *extra
    )
    return [line for line in result.stdout.splitlines() if line.strip()]


def named(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    matches = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind}/{name}, found {len(matches)}"
    return matches[0]


@pytest.fixture(scope="module")
def system_namespace(dev_cluster: Any) -> str:
    """Namespaced objects can only be dry-run into a namespace that exists."""
    kubectl(dev_cluster.kubeconfig, "apply", "-f", str(MANIFESTS / "operator" / "namespace.yaml"))
    return SYSTEM_NAMESPACE


def test_default_passes_a_server_side_dry_run(dev_cluster: Any, system_namespace: str) -> None:
    objects = render("default")
    lines = dry_run(dev_cluster.kubeconfig, "default")
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
    } <= kinds
    namespaced = [o for o in objects if o["kind"] in ("ServiceAccount", "Deployment")]
    assert {o["metadata"]["namespace"] for o in namespaced} == {SYSTEM_NAMESPACE}


@pytest.mark.parametrize("directory", ["operator", "rbac"])
def test_parts_pass_a_server_side_dry_run(
    dev_cluster: Any, system_namespace: str, directory: str
) -> None:
    lines = dry_run(dev_cluster.kubeconfig, directory, "-n", system_namespace)
    assert len(lines) == len(render(directory))


@pytest.mark.parametrize("directory", ["samples", "catalog", "model-namespace"])
def test_model_namespace_kustomizations_pass_a_server_side_dry_run(
    dev_cluster: Any, namespace: str, directory: str
) -> None:
    lines = dry_run(dev_cluster.kubeconfig, directory, "-n", namespace)
    assert len(lines) == len(render(directory)), "\n".join(lines)
    assert all(line.endswith("(server dry run)") for line in lines), "\n".join(lines)


def test_a_dry_run_does_reject_what_the_server_would(dev_cluster: Any, namespace: str) -> None:
    """The dry runs above could not pass vacuously: a schema violation fails the same way."""
    model = named(render("samples"), "Model", "iris")
    model["spec"]["evaluation"]["testFraction"] = 5
    result = subprocess.run(
        [KUBECTL, "--kubeconfig", str(dev_cluster.kubeconfig), "apply", "--dry-run=server",
         "-n", namespace, "-f", "-"],
        input=yaml.safe_dump(model), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode != 0
    assert "testFraction" in result.stderr


def test_the_operator_runs_its_pods_from_its_own_image() -> None:
    operator = named(render("default"), "Deployment", "modelship-operator")
    spec = operator["spec"]
    container = spec["template"]["spec"]["containers"][0]
    env = {e["name"]: e for e in container["env"]}
    assert env["MODELSHIP_OPERATOR_IMAGE"]["value"] == container["image"] == "modelship:0.1.0"
    assert container["command"] == ["python", "-m", "modelship.operator"]
    # Standalone Kopf: never two operators at once.
    assert spec["replicas"] == 1 and spec["strategy"] == {"type": "Recreate"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert env["MODELSHIP_OPERATOR_HEALTH_ENDPOINT"]["value"] == (
        f"http://$(POD_IP):{ports['health']}/healthz"
    )
    assert container["resources"]["requests"] and container["resources"]["limits"]
    assert spec["template"]["spec"]["serviceAccountName"] == "modelship-operator"


def test_servicemonitor_selects_the_inference_services_the_operator_builds() -> None:
    """No ServiceMonitor CRD on the local cluster: checked client-side against real Services."""
    (monitor,) = render("prometheus")
    assert (monitor["apiVersion"], monitor["kind"]) == (
        "monitoring.coreos.com/v1",
        "ServiceMonitor",
    )
    mdep = {
        "metadata": {"name": "iris", "namespace": "ml", "uid": "u-1"},
        "spec": {"modelRef": {"name": "iris"}},
    }
    for stage in ("test", "production"):
        service = build_stage_service(mdep, stage)
        labels = service["metadata"]["labels"]
        assert monitor["spec"]["selector"]["matchLabels"].items() <= labels.items()
        assert set(monitor["spec"]["targetLabels"]) <= labels.keys()
        port_names = {p["name"] for p in service["spec"]["ports"]}
        assert {e["port"] for e in monitor["spec"]["endpoints"]} <= port_names
    assert monitor["spec"]["endpoints"][0]["path"] == "/metrics"
    assert monitor["spec"]["namespaceSelector"] == {"any": True}
