"""Namespaces and ServiceAccount tokens as a current cluster hands them out.

Since Kubernetes 1.24 no token Secret is created for a ServiceAccount: a client asks the
TokenRequest API for a short-lived token (what `kubectl create token` does), and a namespace is
ready for pods once its `default` ServiceAccount and the CA ConfigMap pods mount exist.
"""

from __future__ import annotations

import kubernetes

from support.waiting import wait_for

CA_CONFIG_MAP = "kube-root-ca.crt"
# What a model namespace should carry: the API server checks every pod against the restricted
# Pod Security Standard (and warns the applier of any that breaks it).
RESTRICTED = {
    "pod-security.kubernetes.io/enforce": "restricted",
    "pod-security.kubernetes.io/warn": "restricted",
}


def service_account_token(
    core: kubernetes.client.CoreV1Api, namespace: str, name: str, seconds: int = 3600
) -> str:
    """A bound token for the ServiceAccount (waiting for the account to exist)."""
    wait_for(
        lambda: name in _accounts(core, namespace),
        timeout=60,
        interval=0.2,
        what=f"ServiceAccount {namespace}/{name}",
    )
    request = {"spec": {"expirationSeconds": seconds}}
    answer = core.create_namespaced_service_account_token(name, namespace, request)
    return str(answer.status.token)


def create_model_namespace(core: kubernetes.client.CoreV1Api, name: str) -> str:
    """A namespace enforcing the restricted profile, returned once pods can be admitted in it."""
    return create_namespace(core, name, RESTRICTED)


def create_namespace(
    core: kubernetes.client.CoreV1Api, name: str, labels: dict[str, str] | None = None
) -> str:
    """A namespace, returned once pods can be admitted in it and their token volume filled."""
    core.create_namespace({"metadata": {"name": name, "labels": labels or {}}})
    wait_for(
        lambda: "default" in _accounts(core, name) and CA_CONFIG_MAP in _config_maps(core, name),
        timeout=30,
        interval=0.2,
        what=f"the default ServiceAccount and kube-root-ca.crt in {name}",
    )
    return name


def _accounts(core: kubernetes.client.CoreV1Api, namespace: str) -> set[str]:
    return {a.metadata.name for a in core.list_namespaced_service_account(namespace).items}


def _config_maps(core: kubernetes.client.CoreV1Api, namespace: str) -> set[str]:
    return {c.metadata.name for c in core.list_namespaced_config_map(namespace).items}
