"""The approval webhook on the test cluster: pointed at an operator the API server can reach.

The shipped configurations (manifests/webhook) name a Service; on the local cluster nothing
routes one to a process, so the tests point them by URL at the operator under test (a local
process, or the operator pod's address) and remove them when that operator goes: with
failurePolicy Fail, a configuration left pointing at nothing would refuse every later write
of a modelship Deployment in the session.
"""

from __future__ import annotations

from pathlib import Path

from modelship.devcluster.kubeapi import ApiEndpoint, KubeClient
from modelship.devcluster.webhooks import point_webhooks, remove_webhooks, served_certificate
from support.kubectl import MANIFESTS

WEBHOOKS = MANIFESTS / "webhook" / "webhooks.yaml"


def serve_webhooks_from(kubeconfig: Path, host: str, port: int) -> None:
    """Point the approval webhooks at https://host:port (trusting the certificate it shows)."""
    ca = served_certificate(host, port)
    with KubeClient(ApiEndpoint.from_kubeconfig(kubeconfig)) as client:
        point_webhooks(client, WEBHOOKS, f"https://{host}:{port}", ca)


def remove_webhook_configurations(kubeconfig: Path) -> None:
    with KubeClient(ApiEndpoint.from_kubeconfig(kubeconfig)) as client:
        remove_webhooks(client, WEBHOOKS)
