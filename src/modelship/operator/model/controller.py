"""Keep each Model trained: observe its TrainingJobs and Deployments, decide, apply.

`observe` reads what the decision needs (the Model's own TrainingJobs, its Deployments when drift
can retrain it, the dataset's validator when its changes can), `decide` is pure, and
`apply` performs the actions in one place and writes status once (`kube.perform.write_status`).
"""

from __future__ import annotations

from typing import Any

import kopf
from pydantic import ValidationError

from modelship.api.v1alpha1 import Model, ModelStatus
from modelship.operator.kube.actions import now
from modelship.operator.kube.client import Kube
from modelship.operator.kube.status import first_error
from modelship.operator.metrics import OperatorMetrics
from modelship.operator.model.apply import apply
from modelship.operator.model.dataset_probe import DatasetProbe
from modelship.operator.model.decide import decide, decide_invalid
from modelship.operator.model.observation import ModelMeta
from modelship.operator.model.observe import observe
from modelship.operator.settings import OperatorSettings

Obj = dict[str, Any]

__all__ = ["reconcile_model"]


def reconcile_model(
    kube: Kube,
    settings: OperatorSettings,
    body: Obj,
    logger: kopf.Logger,
    probe: DatasetProbe | None = None,
    metrics: OperatorMetrics | None = None,
) -> None:
    meta = ModelMeta.from_body(body)
    moment = now()
    try:
        model = Model.model_validate(body)
    except ValidationError as exc:
        old = ModelStatus.model_validate(body.get("status") or {})
        decision = decide_invalid(old, meta.generation, first_error(exc), moment)
        apply(kube, settings, body, None, decision, logger)
        return
    observed = observe(kube, body, model, probe)
    decision = decide(model, meta, observed, moment, settings.versions_in_status)
    old = ModelStatus.model_validate(body.get("status") or {})
    apply(kube, settings, body, model, decision, logger)
    if metrics is not None:
        metrics.model_written(meta.namespace, meta.name, old, decision.status)
