"""An infer request's tensors to the estimator's matrix: the one decoding online and batch share.

The data plane calls `decode_request` for every REST and gRPC request; the batch worker
(`modelship.batch`) builds the same v2 document from a table's rows and calls `predict_request`.
So a row scored in batch meets exactly the validation, missing-value rules, category codes and
engine that it meets online, and the two answers are the same by construction (and by test).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from modelship.serving import codec
from modelship.serving.loader import LoadedVersion
from modelship.serving.runtime import Prediction


@dataclass(frozen=True, slots=True)
class DecodedRequest:
    """What the runtime predicts on, and what the bookkeeping around it needs."""

    matrix: NDArray[np.float64]
    outputs: tuple[str, ...]
    request_id: str | None
    drift_rows: NDArray[np.float64] | None = None
    """Typed features: the features as received, for the drift monitor (None: the matrix)."""
    unknown: dict[str, int] = field(default_factory=dict)
    """Per categorical feature, values outside its vocabulary (`onUnknown: ignore`)."""


def decode_request(loaded: LoadedVersion, payload: dict[str, Any], max_rows: int) -> DecodedRequest:
    """A v2 request document to the estimator's matrix; InvalidInputError names what is wrong."""
    classifier = loaded.runtime.classes is not None
    features = loaded.features
    if features is not None:
        # The version's checked fast path when the request takes it, else the general decoding.
        typed = features.decode_v2(payload, classifier, max_rows)
        encoded = typed.encoded
        return DecodedRequest(
            encoded.matrix, typed.outputs, typed.request_id, encoded.drift_rows, encoded.unknown
        )
    decoded = codec.decode_v2(payload, loaded.runtime.features, classifier, max_rows)
    return DecodedRequest(decoded.rows, decoded.outputs, decoded.request_id)


def predict_request(
    loaded: LoadedVersion, payload: dict[str, Any], max_rows: int
) -> tuple[Prediction, DecodedRequest]:
    """Decode and predict in the caller's thread (the batch worker has no event loop to spare)."""
    decoded = decode_request(loaded, payload, max_rows)
    proba = codec.PREDICT_PROBA in decoded.outputs
    return loaded.runtime.predict(decoded.matrix, proba), decoded
