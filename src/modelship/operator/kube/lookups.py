"""Reads of objects that belong together by reference, not by owner or label.

A Deployment names its Model in `spec.modelRef.name`. The Deployment CRD declares that field
selectable, so the API server returns a Model's few Deployments. Listing the namespace and
filtering here made every Model and TrainingJob reconcile read every Deployment of it: at
thousands of Models in one namespace, each read carried thousands of objects.
"""

from __future__ import annotations

import logging
from typing import Any

from modelship.operator.kube.client import Kube, KubeError
from modelship.operator.kube.resources import MODEL_DEPLOYMENTS

MODEL_REF_FIELD = "spec.modelRef.name"

log = logging.getLogger(__name__)
Obj = dict[str, Any]


def deployments_of_model(kube: Kube, namespace: str, model: str) -> list[Obj]:
    """The Deployments of `namespace` whose modelRef names `model`."""
    try:
        return kube.list(MODEL_DEPLOYMENTS, namespace, fields={MODEL_REF_FIELD: model})
    except KubeError as exc:
        if exc.status != 400:
            raise
        # The Deployment CRD predates the selectable field (the operator was upgraded before
        # its CRDs): still right, at the old cost, and said on every read until fixed.
        log.warning(
            "the Deployment CRD cannot select %s (%s); listing the namespace instead: "
            "apply this release's CRDs",
            MODEL_REF_FIELD,
            exc,
        )
    return [
        body
        for body in kube.list(MODEL_DEPLOYMENTS, namespace)
        if ((body.get("spec") or {}).get("modelRef") or {}).get("name") == model
    ]
