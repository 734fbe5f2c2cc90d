"""The serving pod's part of a Model's `spec.monitoring`: id input, capture and feedback token.

Pure: the Model's spec in, `ServingEnv` fields and extra container env out. The feedback token is
never copied into the pod spec: the container reads it from the Secret the Model names
(`valueFrom.secretKeyRef`, key `token`), and the operator never reads the Secret. The reference
is `optional`, so a missing or misnamed Secret leaves serving up and the feedback route closed
(403 to everyone) instead of blocking the rollout of a version on a labelling concern.

On a volume catalog the serving pod mounts the catalog read-only, so the default capture store
beside it (`<ns>/<model>/.monitoring`, where the evaluation Job and the trainer read) would be
unwritable: the same claim is mounted a second time, writable, by that subPath only, and the pod
is told that path as its store. A serving pod can then write its captures and labels and still
not touch a version.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from modelship.api.v1alpha1 import MonitoringSpec
from modelship.contracts.capture import FEEDBACK_TOKEN_ENV, CaptureEnv, volume_store_path
from modelship.operator.kube.catalog_access import uses_volume
from modelship.operator.kube.pods import PodStorage
from modelship.operator.settings import OperatorSettings

Obj = dict[str, Any]
TOKEN_KEY = "token"
CAPTURE_VOLUME = "capture-store"
CAPTURE_MOUNT = "/var/lib/modelship/capture"


def monitoring_fields(spec: MonitoringSpec | None) -> dict[str, Any]:
    """`ServingEnv` fields: the id input, and capture when it samples anything."""
    if spec is None:
        return {}
    fields: dict[str, Any] = {}
    if spec.id_input is not None:
        fields["id_input"] = spec.id_input
    capture = spec.capture
    if capture.sample_rate > 0:
        fields["capture"] = CaptureEnv(
            sample_rate=capture.sample_rate,
            store=capture.store,
            exclude=list(capture.exclude),
            flush_seconds=capture.flush_seconds,
            retention_days=capture.retention_days,
        )
    return fields


def feedback_env(spec: MonitoringSpec | None) -> list[Obj]:
    """The token variable, from the named Secret; nothing (route closed) when none is named."""
    if spec is None or spec.feedback.token_secret is None:
        return []
    return [
        {
            "name": FEEDBACK_TOKEN_ENV,
            "valueFrom": {
                "secretKeyRef": {
                    "name": spec.feedback.token_secret,
                    "key": TOKEN_KEY,
                    "optional": True,
                }
            },
        }
    ]


def writable_capture_store(
    fields: dict[str, Any],
    storage: PodStorage,
    settings: OperatorSettings,
    namespace: str,
    model: str,
) -> tuple[dict[str, Any], PodStorage]:
    """`fields` and `storage` with the default capture store mounted writable, when the pod
    captures into it on a volume catalog; unchanged otherwise (a registry, or a store named)."""
    capture = fields.get("capture")
    if not isinstance(capture, CaptureEnv) or capture.store is not None:
        return fields, storage
    if not uses_volume(settings):
        return fields, storage
    volume = {
        "name": CAPTURE_VOLUME,
        "persistentVolumeClaim": {"claimName": settings.catalog_claim},
    }
    mount = {
        "name": CAPTURE_VOLUME,
        "mountPath": CAPTURE_MOUNT,
        "subPath": volume_store_path(namespace, model),
    }
    storage = replace(storage, volumes=[*storage.volumes, volume], mounts=[*storage.mounts, mount])
    store = Path(CAPTURE_MOUNT).as_uri()
    return {**fields, "capture": capture.model_copy(update={"store": store})}, storage
