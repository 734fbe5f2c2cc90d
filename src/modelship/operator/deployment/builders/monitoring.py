"""The serving pod's part of a Model's `spec.monitoring`: id input, capture and feedback token.

Pure: the Model's spec in, `ServingEnv` fields and extra container env out. The feedback token is
never copied into the pod spec: the container reads it from the Secret the Model names
(`valueFrom.secretKeyRef`, key `token`), and the operator never reads the Secret. The reference
is `optional`, so a missing or misnamed Secret leaves serving up and the feedback route closed
(403 to everyone) instead of blocking the rollout of a version on a labelling concern.
"""

from __future__ import annotations

from typing import Any

from modelship.api.v1alpha1 import MonitoringSpec
from modelship.contracts.capture import FEEDBACK_TOKEN_ENV, CaptureEnv

Obj = dict[str, Any]
TOKEN_KEY = "token"


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
