"""Installing the project's CustomResourceDefinitions into a dev cluster.

`up` installs whatever `crds/` holds (the generated files, not the kustomization) and returns
only once each definition is Established, so the first `kubectl apply` of a Model after `up`
never races the API server's discovery.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import yaml

from modelship.devcluster.kubeapi import JSON, ApiError, KubeClient

CRD_PATH = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"


def load_crds(crds_dir: Path) -> list[JSON]:
    """The CRD documents of every `*.yaml` in crds_dir except kustomization.yaml, sorted by file."""
    documents: list[JSON] = []
    for path in sorted(crds_dir.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for document in yaml.safe_load_all(path.read_text()):
            if document and document.get("kind") == "CustomResourceDefinition":
                documents.append(document)
    return documents


def apply_crd(client: KubeClient, crd: JSON) -> None:
    """Create the CRD, or replace the installed one (an `up` after `crds/` changed)."""
    name = crd["metadata"]["name"]
    try:
        client.post(CRD_PATH, crd)
    except ApiError as error:
        if error.status != 409:
            raise
        current = client.get(f"{CRD_PATH}/{name}")
        replacement = dict(crd)
        replacement["metadata"] = {
            **crd["metadata"],
            "resourceVersion": current["metadata"]["resourceVersion"],
        }
        client.put(f"{CRD_PATH}/{name}", replacement)


def is_established(crd: JSON) -> bool:
    conditions = crd.get("status", {}).get("conditions") or []
    return any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions)


def openapi_names(crd: JSON) -> list[str]:
    """The definition names kubectl explain looks up: `io.modelship.v1alpha1.Model`."""
    spec = crd["spec"]
    group = ".".join(reversed(spec["group"].split(".")))
    kind = spec["names"]["kind"]
    return [f"{group}.{v['name']}.{kind}" for v in spec["versions"] if v.get("served", True)]


def install_crds(client: KubeClient, crds_dir: Path, timeout: float = 60.0) -> list[str]:
    """Apply every CRD in crds_dir, wait until all are Established and published in OpenAPI
    (what `kubectl explain` reads, a few seconds later); returns their names."""
    crds = load_crds(crds_dir)
    for crd in crds:
        apply_crd(client, crd)
    names = [crd["metadata"]["name"] for crd in crds]
    deadline = time.monotonic() + timeout
    pending = list(names)
    while pending:
        pending = [n for n in pending if not is_established(client.get(f"{CRD_PATH}/{n}"))]
        if not pending:
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"CRDs not Established after {timeout:.0f}s: {', '.join(pending)}")
        time.sleep(0.1)
    wanted = {name for crd in crds for name in openapi_names(crd)}
    while wanted:
        wanted -= set(json.loads(client.get_text("/openapi/v2")).get("definitions", {}))
        if not wanted:
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"CRD schemas not published after {timeout:.0f}s: {sorted(wanted)}")
        time.sleep(0.5)
    return names
