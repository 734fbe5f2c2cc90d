"""Request decoding and response encoding for the Open Inference Protocol v2 and KServe v1.

Pure functions from parsed JSON to a validated float64 array and back, so every rule about
what a valid request is lives here (one input tensor's own rules in `input_tensors`), is tested
without HTTP, and is checked exactly once per request (the runtime does not validate again).
Each refusal names the problem.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pydantic_core
from numpy.typing import NDArray

from modelship.serving.errors import InvalidInputError, MalformedJSONError, TooManyRowsError
from modelship.serving.input_tensors import input_tensor, numbers
from modelship.serving.runtime import Prediction

PREDICT = "predict"
PREDICT_PROBA = "predict_proba"


@dataclass(frozen=True, slots=True)
class Decoded:
    rows: NDArray[np.float64]
    outputs: tuple[str, ...]
    request_id: str | None


def parse_object(body: bytes) -> dict[str, Any]:
    """Parse a JSON object body (pydantic-core's parser: fast, and already a dependency)."""
    if not body:
        raise MalformedJSONError("request body is empty; expected a JSON object")
    try:
        payload = pydantic_core.from_json(body)
    except ValueError as error:
        raise MalformedJSONError(f"request body is not valid JSON: {error}") from None
    if not isinstance(payload, dict):
        raise MalformedJSONError("request body must be a JSON object")
    return payload


def decode_v2(
    payload: dict[str, Any], features: Sequence[str], classifier: bool, max_rows: int
) -> Decoded:
    """A v2 infer request: one [n, features] tensor, or one [n] tensor per feature by name."""
    inputs = payload.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise InvalidInputError("'inputs' must be a non-empty list of tensors")
    tensors = [input_tensor(item, max_rows) for item in inputs]
    if len(tensors) == 1 and len(tensors[0][1]) == 2:
        name, shape, values = tensors[0]
        if shape[1] != len(features):
            raise InvalidInputError(
                f"input '{name}' has shape {shape}; the model expects [n, {len(features)}] "
                f"(features {', '.join(features)})"
            )
        rows = values
    else:
        rows = _by_feature(tensors, features)
    _require_finite(rows, features)
    request_id = payload.get("id")
    return Decoded(
        rows,
        requested_outputs(payload.get("outputs"), classifier),
        request_id if isinstance(request_id, str) else None,
    )


def decode_v1(payload: dict[str, Any], features: Sequence[str], max_rows: int) -> NDArray[Any]:
    """A KServe v1 predict request: `instances` as rows of numbers or objects keyed by feature."""
    instances = payload.get("instances")
    if not isinstance(instances, list) or not instances:
        raise InvalidInputError("'instances' must be a non-empty list")
    if len(instances) > max_rows:
        raise TooManyRowsError(f"{len(instances)} instances exceed the limit of {max_rows} rows")
    if all(isinstance(item, dict) for item in instances):
        missing = sorted({f for item in instances for f in features if f not in item})
        if missing:
            raise InvalidInputError(f"instances lack features: {', '.join(missing)}")
        instances = [[item[f] for f in features] for item in instances]
    array = numbers(instances, "instances", "fiu")
    if array.ndim != 2 or array.shape[1] != len(features):
        raise InvalidInputError(
            f"instances must be rows of {len(features)} numbers ({', '.join(features)})"
        )
    rows = array.astype(np.float64, copy=False)
    _require_finite(rows, features)
    return rows


def encode_v2(
    prediction: Prediction,
    outputs: tuple[str, ...],
    *,
    model_name: str,
    model_version: str,
    request_id: str | None,
) -> dict[str, Any]:
    tensors: list[dict[str, Any]] = []
    for name in outputs:
        if name == PREDICT:
            labels = prediction.labels
            tensors.append(
                {
                    "name": PREDICT,
                    "datatype": label_datatype(labels),
                    "shape": [len(labels)],
                    "data": labels.tolist(),
                }
            )
        elif prediction.proba is not None:
            tensors.append(
                {
                    "name": PREDICT_PROBA,
                    "datatype": "FP64",
                    "shape": list(prediction.proba.shape),
                    "data": prediction.proba.ravel().tolist(),
                }
            )
    response: dict[str, Any] = {
        "model_name": model_name,
        "model_version": model_version,
        "outputs": tensors,
    }
    if request_id is not None:
        response["id"] = request_id
    return response


def label_datatype(labels: NDArray[Any]) -> str:
    kind = labels.dtype.kind
    if kind in "iu":
        return "INT64"
    if kind == "f":
        return "FP64"
    if kind == "b":
        return "BOOL"
    return "BYTES"


def _by_feature(
    tensors: list[tuple[str, list[int], NDArray[np.float64]]], features: Sequence[str]
) -> NDArray[np.float64]:
    by_name = {name: (shape, values) for name, shape, values in tensors}
    if len(by_name) != len(tensors):
        raise InvalidInputError("input names must be unique")
    missing = [f for f in features if f not in by_name]
    unknown = [n for n in by_name if n not in features]
    if missing or unknown:
        raise InvalidInputError(
            "send one [n, features] tensor or one [n] tensor per feature; "
            + "; ".join(
                part
                for part in (
                    f"missing features: {', '.join(missing)}" if missing else "",
                    f"unknown inputs: {', '.join(unknown)}" if unknown else "",
                )
                if part
            )
        )
    rows = {shape[0] for shape, _ in by_name.values()}
    if len(rows) != 1 or any(len(s) == 2 and s[1] != 1 for s, _ in by_name.values()):
        raise InvalidInputError(
            "per-feature inputs must all have shape [n] (or [n, 1]) with equal n"
        )
    return np.column_stack([by_name[f][1].reshape(-1) for f in features])


def _require_finite(rows: NDArray[np.float64], features: Sequence[str]) -> None:
    if not np.isfinite(rows).all():
        bad = sorted({features[c] for c in np.argwhere(~np.isfinite(rows))[:, 1].tolist()})
        raise InvalidInputError(f"non-finite values (NaN or infinity) in: {', '.join(bad)}")


def requested_outputs(requested: Any, classifier: bool) -> tuple[str, ...]:
    if requested is None:
        return (PREDICT,)
    if not isinstance(requested, list) or not all(
        isinstance(o, dict) and isinstance(o.get("name"), str) for o in requested
    ):
        raise InvalidInputError("'outputs' must be a list of objects with a 'name'")
    names = tuple(dict.fromkeys(o["name"] for o in requested))
    known = (PREDICT, PREDICT_PROBA) if classifier else (PREDICT,)
    unknown = [n for n in names if n not in known]
    if unknown:
        raise InvalidInputError(
            f"unknown outputs {', '.join(unknown)}; available: {', '.join(known)}"
        )
    return names or (PREDICT,)
