"""An optional ONNX Runtime path for the models the compiled numpy path does not cover.

Gradient boosting, SVC and the like fall back to scikit-learn's predict, whose per-call
overhead (input validation, joblib, Python loops over estimators) dwarfs the arithmetic for one
row. skl2onnx converts many of them to an ONNX graph that onnxruntime evaluates in one native
call. Both packages are an optional extra (`pip install modelship[onnx]`); without them, or when
skl2onnx cannot convert a model, this returns None and scikit-learn keeps serving it.

ONNX's tree and kernel operators compute in float32, so the runtime accepts the graph only when
it predicts the very same labels as the estimator on every held-out row of the version and its
probabilities or values agree within float32 precision (runtime.FLOAT32_TOLERANCE), and only
when one row goes through it faster than through scikit-learn.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

log = logging.getLogger(__name__)

Outputs = Callable[[NDArray[np.float64]], list[NDArray[Any]]]


def compile_onnx(estimator: Any, width: int, classifier: bool) -> Outputs | None:
    """`run(x)` -> onnxruntime's outputs ([labels, probabilities] or [values]), or None."""
    try:
        import onnxruntime
        from skl2onnx import to_onnx
    except ImportError:
        return None
    # Probabilities as a plain (n, k) tensor rather than a list of {class: p} maps.
    options = {id(estimator): {"zipmap": False}} if classifier else None
    try:
        graph = to_onnx(estimator, np.zeros((1, width), dtype=np.float32), options=options)
    except Exception as error:
        reason = str(error).splitlines()[0][:200] if str(error) else type(error).__name__
        log.info("skl2onnx cannot convert %s (%s); keeping scikit-learn", _name(estimator), reason)
        return None
    session_options = onnxruntime.SessionOptions()
    # One core per server process: intra-op threads would compete with the event loop.
    session_options.intra_op_num_threads = 1
    session_options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(
        graph.SerializeToString(), session_options, providers=["CPUExecutionProvider"]
    )
    input_name = session.get_inputs()[0].name

    def run(x: NDArray[np.float64]) -> list[NDArray[Any]]:
        outputs: list[NDArray[Any]] = session.run(None, {input_name: x.astype(np.float32)})
        return outputs

    return run


def _name(estimator: Any) -> str:
    steps = getattr(estimator, "steps", None)
    if steps:
        return " > ".join(type(step).__name__ for _, step in steps)
    return type(estimator).__name__
