"""The shipped manifests agree with the operator's certificate keeping (rendered with
`kubectl kustomize`, no cluster): the configurations name the Service and leave caBundle to the
operator, the Secret the Deployment names is the one RBAC grants, and the cert-manager variant
marks the configurations so the operator keeps off."""

from __future__ import annotations

from typing import Any

from modelship.operator.admission.keeper import INJECT_CA_FROM
from modelship.operator.settings import OperatorSettings
from support.kubectl import named, render

Obj = dict[str, Any]
KINDS = ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration")


def env(objects: list[Obj]) -> dict[str, Obj]:
    deployment = named(objects, "Deployment", "modelship-operator")
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e for e in container["env"]}


def test_default_calls_the_webhook_through_its_service_with_the_operators_certificates() -> None:
    objects = render("default")
    settings = OperatorSettings()
    for kind in KINDS:
        config = named(objects, kind, settings.admission_configurations)
        assert INJECT_CA_FROM not in (config["metadata"].get("annotations") or {})
        for hook in config["webhooks"]:
            client = hook["clientConfig"]
            assert "url" not in client and not client.get("caBundle")
            assert client["service"]["name"] == settings.admission_service
            assert client["service"]["namespace"] == "modelship-system"
    service = named(objects, "Service", settings.admission_service)
    assert service["metadata"]["namespace"] == "modelship-system"
    variables = env(objects)
    secret = variables["MODELSHIP_OPERATOR_ADMISSION_SECRET"]["value"]
    assert variables["MODELSHIP_OPERATOR_ADMISSION_NAMESPACE"]["valueFrom"] == {
        "fieldRef": {"fieldPath": "metadata.namespace"}
    }
    role = named(objects, "Role", "modelship-webhook-certificates")
    assert role["metadata"]["namespace"] == "modelship-system"
    assert [r.get("resourceNames") for r in role["rules"]] == [None, [secret]]
    cluster_role = named(objects, "ClusterRole", "modelship-operator")
    [webhooks] = [r for r in cluster_role["rules"] if "resourceNames" in r]
    assert webhooks["resourceNames"] == [settings.admission_configurations]
    # No volume for the pair: every replica reads the Secret through the API.
    volumes = named(objects, "Deployment", "modelship-operator")["spec"]["template"]["spec"]
    assert [v["name"] for v in volumes["volumes"]] == ["tmp"]


def test_the_cert_manager_variant_annotates_both_configurations_and_issues_the_secret() -> None:
    objects = render("cert-manager")
    for kind in KINDS:
        annotations = named(objects, kind, "modelship-approvals")["metadata"]["annotations"]
        assert annotations[INJECT_CA_FROM] == "modelship-system/modelship-operator-webhook"
    certificate = named(objects, "Certificate", "modelship-operator-webhook")
    assert (
        certificate["spec"]["secretName"]
        == env(objects)["MODELSHIP_OPERATOR_ADMISSION_SECRET"]["value"]
    )
    assert set(certificate["spec"]["dnsNames"]) == {
        "modelship-operator-webhook.modelship-system.svc",
        "modelship-operator-webhook.modelship-system.svc.cluster.local",
    }


def test_a_replica_is_ready_only_once_its_webhook_listens() -> None:
    """The webhook Service routes to ready pods: a replica ready before it loaded the Secret's
    pair (a first install: the leader writes it, the others see it at their next check) got
    webhook calls it refused at the TCP level, and the API server refused the write."""
    objects = render("default")
    deployment = named(objects, "Deployment", "modelship-operator")
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    probe = container["readinessProbe"]
    assert probe["tcpSocket"]["port"] == "webhook"
    assert ports["webhook"] == OperatorSettings().admission_port
    service = named(objects, "Service", OperatorSettings().admission_service)
    assert service["spec"]["ports"][0]["targetPort"] in ("webhook", ports["webhook"])
