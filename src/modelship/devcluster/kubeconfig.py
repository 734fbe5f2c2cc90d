"""Rendering kubeconfig files for the dev cluster's clients.

The CA is embedded so a kubeconfig is self-contained: it can be copied, or handed to a pod,
without the pki directory next to it.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import yaml


def render_kubeconfig(
    server: str, ca_pem: bytes, token: str, user: str, name: str = "modelship-dev"
) -> dict[str, Any]:
    """A kubeconfig with one cluster, one token user and one current context."""
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": name,
                "cluster": {
                    "server": server,
                    "certificate-authority-data": base64.b64encode(ca_pem).decode(),
                },
            }
        ],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": user}}],
        "current-context": name,
    }


def write_kubeconfig(path: Path, config: dict[str, Any]) -> None:
    """Write atomically with owner-only permissions (it holds a cluster-admin token)."""
    partial = path.with_name(path.name + ".partial")
    partial.write_text(yaml.safe_dump(config, sort_keys=False))
    partial.chmod(0o600)
    partial.replace(path)


def read_kubeconfig(path: Path) -> tuple[str, bytes, str]:
    """(server, CA PEM, token) of the current context of a kubeconfig written here."""
    config = yaml.safe_load(path.read_text())
    context = next(c for c in config["contexts"] if c["name"] == config["current-context"])
    cluster = next(c for c in config["clusters"] if c["name"] == context["context"]["cluster"])
    user = next(u for u in config["users"] if u["name"] == context["context"]["user"])
    ca = base64.b64decode(cluster["cluster"]["certificate-authority-data"])
    return cluster["cluster"]["server"], ca, user["user"]["token"]
