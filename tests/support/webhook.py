"""The approval webhook served by an operator running as a local process (`make run`).

An operator deployed in the cluster needs nothing from here: the API server calls it through its
Service, with the certificates it keeps itself (support/in_cluster.py). A local process is no
endpoint of that Service, so the tests point the shipped configurations at it by URL (what
`modelship dev webhook --url` does for `make run`) and remove them when that operator goes:
with failurePolicy Fail, a configuration left pointing at nothing would refuse every later
write of a modelship Deployment in the session.
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
