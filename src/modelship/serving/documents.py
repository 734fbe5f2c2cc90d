"""What the server says about the version it serves, built once when the version is loaded:
the OIP v2 model metadata document, the labels of `modelship_model_info`, and the buckets of
the predicted-value histogram for regressors. Pure functions of the loaded version.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from modelship.serving import codec
from modelship.serving.features import metadata_inputs
from modelship.serving.loader import LoadedVersion
from modelship.serving.settings import ServingSettings


def info_labels(loaded: LoadedVersion, settings: ServingSettings) -> dict[str, str]:
    """The labels of `modelship_model_info`: what is served, where, and by which engine."""
    metadata = loaded.metadata
    return {
        "model": metadata.model,
        "namespace": metadata.namespace,
        "version": str(metadata.version),
        "digest": metadata.digest,
        "stage": settings.stage,
        "engine": loaded.runtime.engine,
    }


def metadata_document(loaded: LoadedVersion, settings: ServingSettings) -> dict[str, Any]:
    """OIP v2 model metadata; our own facts (version, digest, stage) go under `parameters`."""
    metadata = loaded.metadata
    runtime = loaded.runtime
    features = list(runtime.features)
    outputs: list[dict[str, Any]] = []
    parameters: dict[str, Any] = {
        "namespace": metadata.namespace,
        "version": metadata.version,
        "digest": metadata.digest,
        "stage": settings.stage,
        "task": metadata.task,
        "algorithm": metadata.algorithm.name,
        "engine": runtime.engine,
        "features": features,
        # Either layout is accepted: this tensor, or one [-1] tensor per feature (`inputs`).
        "batch_input": {"name": "input", "datatype": "FP64", "shape": [-1, len(features)]},
    }
    if runtime.classes is not None:
        classes = runtime.classes
        outputs.append(
            {"name": codec.PREDICT, "datatype": codec.label_datatype(classes), "shape": [-1]}
        )
        outputs.append(
            {"name": codec.PREDICT_PROBA, "datatype": "FP64", "shape": [-1, len(classes)]}
        )
        parameters["classes"] = classes.tolist()
    else:
        outputs.append({"name": codec.PREDICT, "datatype": "FP64", "shape": [-1]})
    inputs = [{"name": name, "datatype": "FP64", "shape": [-1]} for name in features]
    if loaded.features is not None:
        # Typed features: one input per feature with its datatype, and the pandas content type
        # at model level, so MLServer's and KServe's codec clients build the request unchanged.
        schema = loaded.features.schema
        inputs = metadata_inputs(schema)
        parameters["features"] = list(schema.names)
        parameters["content_type"] = "pd"
        parameters["missing_values"] = sorted(schema.missing)
        if schema.categorical:
            del parameters["batch_input"]  # a [n, k] tensor cannot carry categories
        else:
            parameters["batch_input"]["shape"] = [-1, len(schema.names)]
    return {
        "name": metadata.model,
        "versions": [str(metadata.version)],
        "platform": "sklearn",
        "inputs": inputs,
        "outputs": outputs,
        "parameters": parameters,
    }


def value_buckets(predictions: np.ndarray[Any, Any]) -> tuple[float, ...]:
    """Deciles of the held-out predictions: buckets that fit the target's scale."""
    if not len(predictions):
        return ()
    deciles = np.quantile(predictions.astype(np.float64), np.linspace(0.1, 0.9, 9))
    return tuple(sorted({float(round(q, 6)) for q in deciles}))
