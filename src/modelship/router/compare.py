"""Whether the shadow predicted what production predicted, row by row (pure).

Open Inference Protocol v2 answers carry `outputs` (tensors with a shape and flat data); v1
answers carry `predictions` (one item per row). When a v2 answer has a `predict` output, only it
decides (a classifier's probabilities may move a little while its labels agree, and the labels
are what callers act on); otherwise every output must agree. Labels (strings, booleans,
integers) must be equal; floating-point values must be within `tolerance` of the larger
magnitude, the same rule as SHADOW_TOLERANCE documents.
"""

from __future__ import annotations

from typing import Any

PREDICT = "predict"


class IncomparableError(ValueError):
    """The answers do not have a shape we can compare (counted as a shadow error)."""


def compare(production: Any, shadow: Any, tolerance: float) -> tuple[int, int]:
    """(rows that agree, rows that disagree) of two parsed answers to the same request."""
    if isinstance(production, dict) and "outputs" in production:
        return _compare_v2(production, shadow, tolerance)
    if isinstance(production, dict) and "predictions" in production:
        rows = _rows_v1(production)
        other = _rows_v1(shadow) if isinstance(shadow, dict) else None
        if other is None or len(other) != len(rows):
            return 0, len(rows)
        agree = sum(_same(a, b, tolerance) for a, b in zip(rows, other, strict=True))
        return agree, len(rows) - agree
    raise IncomparableError("the production answer has neither outputs nor predictions")


def _compare_v2(production: dict[str, Any], shadow: Any, tolerance: float) -> tuple[int, int]:
    produced = _tensors(production)
    names = [PREDICT] if PREDICT in produced else list(produced)
    if not names:
        raise IncomparableError("the production answer has no outputs")
    rows = _rows(produced[names[0]])
    theirs = _tensors(shadow) if isinstance(shadow, dict) else {}
    agreeing = [True] * len(rows)
    for name in names:
        mine = _rows(produced[name])
        other = _rows(theirs[name]) if name in theirs else None
        if other is None or len(other) != len(mine) or len(mine) != len(rows):
            return 0, len(rows)
        for index, (a, b) in enumerate(zip(mine, other, strict=True)):
            if agreeing[index] and not _same(a, b, tolerance):
                agreeing[index] = False
    agree = sum(agreeing)
    return agree, len(rows) - agree


def _tensors(answer: dict[str, Any]) -> dict[str, dict[str, Any]]:
    outputs = answer.get("outputs")
    if not isinstance(outputs, list):
        return {}
    return {o["name"]: o for o in outputs if isinstance(o, dict) and "name" in o}


def _rows(tensor: dict[str, Any]) -> list[list[Any]]:
    """A tensor's flat data cut into rows along its first dimension."""
    data = tensor.get("data")
    shape = tensor.get("shape")
    if not isinstance(data, list) or not isinstance(shape, list) or not shape:
        raise IncomparableError(f"output {tensor.get('name')!r} has no data or shape")
    count = int(shape[0])
    if count == 0:
        return []
    width = len(data) // count
    if width * count != len(data):
        raise IncomparableError(f"output {tensor.get('name')!r}: data does not match its shape")
    return [data[i * width : (i + 1) * width] for i in range(count)]


def _rows_v1(answer: dict[str, Any]) -> list[Any]:
    predictions = answer.get("predictions")
    if not isinstance(predictions, list):
        raise IncomparableError("predictions is not a list")
    return predictions


def _same(a: Any, b: Any, tolerance: float) -> bool:
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y, tolerance) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) or isinstance(b, float):
        if isinstance(a, bool | str) or isinstance(b, bool | str):
            return False
        if not isinstance(a, int | float) or not isinstance(b, int | float):
            return False
        return abs(a - b) <= tolerance * max(abs(a), abs(b))
    return bool(a == b) and type(a) is type(b)
