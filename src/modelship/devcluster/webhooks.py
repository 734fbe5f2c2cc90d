"""Point admission webhooks at a process the local API server reaches by address.

On the local cluster nothing routes a Service to a pod (pods are processes on loopback
addresses), so a webhook configuration's `service:` reference cannot work there. This sets
each webhook of the given configurations to a URL instead, with the certificate the server
presents as its caBundle: the dev tooling trusts what it finds on the first connection, which
is sound only because everything runs on this one machine under the same user.
"""

from __future__ import annotations

import base64
import ssl
import time
from pathlib import Path
from typing import Any

import yaml

from modelship.devcluster.kubeapi import ApiError, KubeClient

API = "/apis/admissionregistration.k8s.io/v1"
PLURALS = {
    "MutatingWebhookConfiguration": "mutatingwebhookconfigurations",
    "ValidatingWebhookConfiguration": "validatingwebhookconfigurations",
}
JSON = dict[str, Any]
WEBHOOK_MANIFEST = Path("manifests/webhook/webhooks.yaml")
WEBHOOK_PORT = 9443  # the operator container's `webhook` port (manifests/operator)
OPERATOR_PODS = "app.kubernetes.io/name=modelship,app.kubernetes.io/component=operator"


def operator_pod_address(
    client: KubeClient, timeout: float, namespace: str = "modelship-system"
) -> str:
    """The address of a running operator pod (every replica serves the webhook)."""
    deadline = time.monotonic() + timeout
    path = f"/api/v1/namespaces/{namespace}/pods"
    while True:
        for pod in client.get(path, {"labelSelector": OPERATOR_PODS}).get("items", []):
            status = pod.get("status") or {}
            if status.get("phase") == "Running" and status.get("podIP"):
                return str(status["podIP"])
        if time.monotonic() > deadline:
            raise TimeoutError(f"no running operator pod in {namespace} after {timeout:.0f}s")
        time.sleep(1)


def served_certificate(host: str, port: int, timeout: float = 30.0) -> str:
    """The PEM certificate the HTTPS server at host:port presents (waits until it answers)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return ssl.get_server_certificate((host, port), timeout=5)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def pointed_at(config: JSON, base_url: str, ca_pem: str) -> JSON:
    """The configuration with every webhook calling `base_url` + its service path, by URL."""
    bundle = base64.b64encode(ca_pem.encode()).decode()
    webhooks = []
    for webhook in config["webhooks"]:
        path = (webhook["clientConfig"].get("service") or {}).get("path", "/")
        webhooks.append({**webhook, "clientConfig": {"url": base_url + path, "caBundle": bundle}})
    metadata = {"name": config["metadata"]["name"], "labels": config["metadata"].get("labels", {})}
    return {**config, "metadata": metadata, "webhooks": webhooks}


def configurations(manifest: Path) -> list[JSON]:
    return [doc for doc in yaml.safe_load_all(manifest.read_text()) if doc]


def point_webhooks(client: KubeClient, manifest: Path, base_url: str, ca_pem: str) -> list[str]:
    """Create or replace the configurations of `manifest`, pointed at `base_url`."""
    names = []
    for config in configurations(manifest):
        wanted = pointed_at(config, base_url, ca_pem)
        path = f"{API}/{PLURALS[config['kind']]}"
        name = wanted["metadata"]["name"]
        try:
            current = client.get(f"{path}/{name}")
        except ApiError as exc:
            if exc.status != 404:
                raise
            client.post(path, wanted)
        else:
            wanted["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
            client.put(f"{path}/{name}", wanted)
        names.append(f"{config['kind']}/{name}")
    return names


def remove_webhooks(client: KubeClient, manifest: Path) -> None:
    for config in configurations(manifest):
        client.delete(f"{API}/{PLURALS[config['kind']]}/{config['metadata']['name']}")
