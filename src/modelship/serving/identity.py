"""Prediction identity: every row of every answer has an id a label can later name.

A row's id is `<request id>/<row index>`. The request id is the Open Inference Protocol's `id`
when the client sends one, else its `X-Request-Id` header (what proxies and KServe's logger
propagate), else one generated here (a UUIDv7: time-ordered, so ids sort by arrival). A Model
whose callers have their own business key per row names an id input (`spec.monitoring.idInput`):
a `[n]` tensor of that name carries one key per row, is removed before the codec sees the
request, and its keys are the rows' ids.

How the ids travel back, and why this way: the answer's `id` is always the request id (the
protocol's own field, which every client already reads and echoes), so a client that did not
send an id learns the one generated for it and can name row i as `<id>/<i>` without extra
bytes on every answer. A client that wants the ids spelled out, or the capture decision per row,
asks for them as outputs, `modelship_id` (BYTES [n]) and `modelship_captured` (BOOL [n]), and
gets them as ordinary output tensors. Output tensors rather than `parameters`: OIP parameter
values are scalars (bool, number, string), so a per-row list does not fit there; and they are
only sent when asked for because KServe's and Triton's clients accept extra outputs but an
answer that grew unasked would cost every existing caller bytes and encoding time.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np

from modelship.contracts.capture import MAX_ID_CHARS
from modelship.serving.errors import InvalidInputError

ID_OUTPUT: Final = "modelship_id"
CAPTURED_OUTPUT: Final = "modelship_captured"
OUTPUTS: Final = (ID_OUTPUT, CAPTURED_OUTPUT)
REQUEST_ID_HEADER: Final = "x-request-id"
# Leaves room for "/<row index>" within MAX_ID_CHARS.
MAX_REQUEST_ID_CHARS: Final = MAX_ID_CHARS - 16


@dataclass(frozen=True, slots=True)
class Identity:
    """What a request says about its ids, and the request without the parts only we read."""

    request_id: str
    keys: tuple[str, ...] | None
    outputs: tuple[str, ...]
    payload: dict[str, Any]

    def row_ids(self, rows: int) -> tuple[str, ...]:
        """One id per predicted row; the caller's keys must be one per row."""
        if self.keys is None:
            return tuple(f"{self.request_id}/{i}" for i in range(rows))
        if len(self.keys) != rows:
            raise InvalidInputError(
                f"the id input carries {len(self.keys)} keys for {rows} rows; send one per row"
            )
        return self.keys


def take(payload: dict[str, Any], id_input: str | None, header_id: str | None) -> Identity:
    """Split a v2 request into its identity and the request the codecs validate.

    The caller's document is not changed (the binary extension reads its `outputs` again to
    encode the answer); the returned payload is a shallow copy without the id input and without
    the outputs this module answers.
    """
    request_id = _request_id(payload.get("id"), header_id)
    if id_input is None and "outputs" not in payload:
        return Identity(request_id, None, (), payload)  # the common case: nothing to strip
    stripped = dict(payload)
    keys: tuple[str, ...] | None = None
    inputs = payload.get("inputs")
    if id_input is not None and isinstance(inputs, list):
        kept = [t for t in inputs if not (isinstance(t, dict) and t.get("name") == id_input)]
        if len(kept) != len(inputs):
            if len(inputs) - len(kept) > 1:
                raise InvalidInputError(f"id input {id_input!r} is given more than once")
            tensor = next(t for t in inputs if t.get("name") == id_input)
            keys = _keys(tensor, id_input)
            stripped["inputs"] = kept
    ours: tuple[str, ...] = ()
    outputs = payload.get("outputs")
    if isinstance(outputs, list):
        named = [o for o in outputs if isinstance(o, dict) and o.get("name") in OUTPUTS]
        if named:
            ours = tuple(dict.fromkeys(str(o["name"]) for o in named))
            rest = [o for o in outputs if o not in named]
            # Asking only for ids still means the prediction as well (the default output).
            stripped["outputs"] = rest or None
    return Identity(request_id, keys, ours, stripped)


def add_outputs(
    document: dict[str, Any], identity: Identity, row_ids: Sequence[str], captured: Sequence[bool]
) -> None:
    """Append the outputs of this module the request asked for to a v2 response document."""
    document["id"] = identity.request_id
    for name in identity.outputs:
        if name == ID_OUTPUT:
            document["outputs"].append(
                {"name": ID_OUTPUT, "datatype": "BYTES", "shape": [len(row_ids)],
                 "data": list(row_ids)}
            )  # fmt: skip
        else:
            document["outputs"].append(
                {"name": CAPTURED_OUTPUT, "datatype": "BOOL", "shape": [len(captured)],
                 "data": list(captured)}
            )  # fmt: skip


def output_arrays(
    identity: Identity, row_ids: Sequence[str], captured: Sequence[bool]
) -> list[tuple[str, str, np.ndarray[Any, Any]]]:
    """The same outputs as (name, datatype, values), for protocols that encode raw tensors."""
    arrays: list[tuple[str, str, np.ndarray[Any, Any]]] = []
    for name in identity.outputs:
        if name == ID_OUTPUT:
            arrays.append((ID_OUTPUT, "BYTES", np.asarray(row_ids, dtype=object)))
        else:
            arrays.append((CAPTURED_OUTPUT, "BOOL", np.asarray(captured, dtype=bool)))
    return arrays


def uuid7() -> str:
    """A version-7 UUID (RFC 9562): 48 bits of Unix milliseconds, a 12-bit counter (its
    method 1, so ids of one process are unique and ordered within a millisecond), and 62 bits
    drawn once per process (so processes, workers and replicas never collide). Built as hex
    directly: `uuid.uuid4()` and `str(UUID)` cost several µs on every request."""
    count = next(_SOURCE.counter) & 0xFFF
    millis = time.time_ns() // 1_000_000 & 0xFFFF_FFFF_FFFF
    text = f"{millis:012x}7{count:03x}{_SOURCE.tail}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


class _IdSource:
    """The per-process part of generated ids, drawn again in a forked child."""

    def __init__(self) -> None:
        self.reseed()

    def reseed(self) -> None:
        # The variant (0b10) and 62 random bits, as 16 hex digits.
        value = (0b10 << 62) | (int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1))
        self.tail = f"{value:016x}"
        self.counter = itertools.count()


_SOURCE = _IdSource()
os.register_at_fork(after_in_child=_SOURCE.reseed)


def _request_id(sent: Any, header: str | None) -> str:
    if isinstance(sent, str) and sent:
        return _bounded(sent, "'id'")
    if header:
        return _bounded(header, "X-Request-Id")
    return uuid7()


def _bounded(request_id: str, where: str) -> str:
    if len(request_id) > MAX_REQUEST_ID_CHARS:
        raise InvalidInputError(
            f"{where} is {len(request_id)} characters; at most {MAX_REQUEST_ID_CHARS}"
        )
    return request_id


def _keys(tensor: dict[str, Any], name: str) -> tuple[str, ...]:
    shape = tensor.get("shape")
    data = tensor.get("data")
    if (
        not isinstance(shape, list)
        or len(shape) not in (1, 2)
        or (len(shape) == 2 and shape[1] != 1)
    ):
        raise InvalidInputError(f"id input {name!r} must have shape [n] (one key per row)")
    values = np.asarray(data if data is not None else [], dtype=object).reshape(-1).tolist()
    keys: list[str] = []
    for value in values:
        if isinstance(value, bytes):
            try:
                value = value.decode("utf-8")
            except UnicodeDecodeError:
                raise InvalidInputError(f"id input {name!r}: a key is not UTF-8") from None
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise InvalidInputError(f"id input {name!r}: keys must be strings or integers")
        key = str(value)
        if not key or len(key) > MAX_ID_CHARS:
            raise InvalidInputError(
                f"id input {name!r}: every key needs 1 to {MAX_ID_CHARS} characters"
            )
        keys.append(key)
    if len(set(keys)) != len(keys):
        duplicate = next(k for k in keys if keys.count(k) > 1)
        raise InvalidInputError(f"id input {name!r}: key {duplicate!r} appears twice")
    if shape[0] != len(keys):
        raise InvalidInputError(
            f"id input {name!r} declares {shape[0]} rows but carries {len(keys)} keys"
        )
    return tuple(keys)
