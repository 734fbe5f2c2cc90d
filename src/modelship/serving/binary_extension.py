"""Triton's binary tensor data extension to the v2 REST protocol.

NVIDIA's `tritonclient.http` sends tensors as raw bytes after the JSON request by default, and
asks for its outputs the same way: the JSON part's length is the `Inference-Header-Content-Length`
header, an input carries `parameters.binary_data_size` instead of `data`, and an output is
wanted raw when the request says `parameters.binary_data_output` (all outputs) or the output
says `parameters.binary_data`. The answer then carries the same header, and each raw output its
`binary_data_size`. Pure functions: the bytes become the same document a JSON client sends, so
validation (codec.decode_v2) stays in one place.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pydantic_core

from modelship.contracts import raw_tensors as wire
from modelship.serving import codec, raw_tensors
from modelship.serving.errors import InvalidInputError

HEADER, BINARY_SIZE = wire.HEADER, wire.BINARY_SIZE
# A request that names none of these is plain JSON both ways (the endpoint's fast path).
MARKERS = (b"binary_data",)


def is_plain(body: bytes, header: str | None) -> bool:
    """Neither binary inputs nor binary outputs can be asked for in this request."""
    return header is None and not any(marker in body for marker in MARKERS)


def decode_request(body: bytes, header: str | None) -> dict[str, Any]:
    """The request document, raw inputs decoded into their tensors' `data`."""
    if header is None:
        payload = codec.parse_object(body)
        binary = b""
    else:
        if not header.strip().isdigit():
            raise InvalidInputError(f"{HEADER} must be a number of bytes, not {header!r}")
        length = int(header)
        if length > len(body):
            raise InvalidInputError(f"{HEADER} is {length} but the body has only {len(body)} bytes")
        payload = codec.parse_object(body[:length])
        binary = body[length:]
    offset = 0
    inputs = payload.get("inputs")
    for item in inputs if isinstance(inputs, list) else []:
        size = _binary_size(item)
        if size is None:
            continue
        name = item.get("name")
        if "data" in item:
            raise InvalidInputError(f"input {name!r} has both data and {BINARY_SIZE}")
        if offset + size > len(binary):
            raise InvalidInputError(
                f"input {name!r} declares {size} binary bytes but only {len(binary) - offset} "
                f"follow the JSON header" + ("" if header else f" (no {HEADER} header was sent)")
            )
        item["data"] = raw_tensors.decode(
            binary[offset : offset + size], item.get("datatype"), str(name)
        )
        offset += size
    if offset != len(binary):
        raise InvalidInputError(
            f"{len(binary) - offset} bytes after the JSON header belong to no input's {BINARY_SIZE}"
        )
    return payload


def raw_outputs(payload: dict[str, Any], produced: list[str]) -> list[str]:
    """Which of the `produced` outputs the request wants as raw bytes: those whose request
    says `binary_data: true`, or all but those saying `false` under `binary_data_output`."""
    parameters = payload.get("parameters")
    default = isinstance(parameters, dict) and parameters.get("binary_data_output") is True
    asked: dict[str, bool] = {}
    outputs = payload.get("outputs")
    for output in outputs if isinstance(outputs, list) else []:
        options = output.get("parameters") if isinstance(output, dict) else None
        if isinstance(options, dict) and isinstance(options.get("binary_data"), bool):
            asked[output["name"]] = options["binary_data"]
    return [name for name in produced if asked.get(name, default)]


def encode_response(document: dict[str, Any], payload: dict[str, Any]) -> tuple[bytes, int] | None:
    """(body, JSON header length) with the outputs the request wants raw as raw bytes; None
    when it wants none, and the answer stays plain JSON."""
    raw = set(raw_outputs(payload, [t["name"] for t in document["outputs"]]))
    if not raw:
        return None
    blobs: list[bytes] = []
    for tensor in document["outputs"]:
        if tensor["name"] not in raw:
            continue
        datatype = tensor["datatype"]
        values = np.asarray(tensor.pop("data"), dtype=object if datatype == "BYTES" else None)
        blob = raw_tensors.encode(values, datatype)
        tensor["parameters"] = {BINARY_SIZE: len(blob)}
        blobs.append(blob)
    header = pydantic_core.to_json(document)
    return header + b"".join(blobs), len(header)


def _binary_size(item: Any) -> int | None:
    if not isinstance(item, dict):
        return None
    parameters = item.get("parameters")
    if not isinstance(parameters, dict) or BINARY_SIZE not in parameters:
        return None
    size = parameters[BINARY_SIZE]
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise InvalidInputError(
            f"input {item.get('name')!r}: {BINARY_SIZE} must be a non-negative integer"
        )
    return size
