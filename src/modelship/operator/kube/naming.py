"""Names and labels of the objects the operator creates.

Names are deterministic (derived from the parent and what caused the child), so a handler that
runs twice, or after a crash between "create" and "record", finds its earlier child instead of
making a second one. Pod-owning children stay within 63 characters, the label-value limit that
Job and Deployment controllers impose on the names they copy into labels.
"""

from __future__ import annotations

import hashlib

from modelship.api.v1alpha1 import API_VERSION

MANAGED_BY = "app.kubernetes.io/managed-by"
LABEL_MODEL = "modelship.io/model"
LABEL_VERSION = "modelship.io/version"
LABEL_STAGE = "modelship.io/stage"
# On every pod that answers production traffic, stable and canary alike: with `traffic: replicas`
# the production Service selects this label, because the stage label tells the two apart and
# a Deployment's selector (deployment + stage) is immutable.
LABEL_SERVES = "modelship.io/serves"
LABEL_TRAINING_JOB = "modelship.io/trainingjob"
LABEL_COMPONENT = "app.kubernetes.io/component"
RETRAIN_ANNOTATION = "modelship.io/retrain"
MAX_NAME = 63


def short_hash(text: str, length: int = 6) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def child_name(parent: str, suffix: str, limit: int = MAX_NAME) -> str:
    """`<parent>-<suffix>`, shortened with a hash of the full name when it would be too long."""
    full = f"{parent}-{suffix}"
    if len(full) <= limit:
        return full
    digest = short_hash(full)
    keep = limit - len(suffix) - len(digest) - 2
    return f"{parent[:keep].rstrip('-.')}-{digest}-{suffix}"


def base_labels(model: str, component: str) -> dict[str, str]:
    return {MANAGED_BY: "modelship", LABEL_MODEL: model, LABEL_COMPONENT: component}


def owner_reference(
    body: dict[str, object], kind: str, controller: bool = True
) -> dict[str, object]:
    """An owner reference to one of our custom resources, so deleting it cleans up its children."""
    metadata = body["metadata"]
    assert isinstance(metadata, dict)
    return {
        "apiVersion": API_VERSION,
        "kind": kind,
        "name": metadata["name"],
        "uid": metadata["uid"],
        "controller": controller,
        "blockOwnerDeletion": True,
    }
