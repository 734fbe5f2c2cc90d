"""The contract's raw tensors (contracts.raw_tensors), with its refusals as the 400 every other
invalid input gets."""

from __future__ import annotations

from typing import Any

from modelship.contracts import raw_tensors as wire
from modelship.serving.errors import InvalidInputError

encode = wire.encode


def decode(raw: bytes, datatype: str, name: str | None = None) -> Any:
    try:
        return wire.decode(raw, datatype)
    except wire.RawTensorError as error:
        raise InvalidInputError(_named(name, error)) from None


def text(value: bytes, name: str | None = None) -> str:
    try:
        return wire.text(value)
    except wire.RawTensorError as error:
        raise InvalidInputError(_named(name, error)) from None


def _named(name: str | None, error: Exception) -> str:
    """The refusal with the input (the column) it concerns, when known."""
    return str(error) if name is None else f"input {name!r}: {error}"
