"""Tensors as the Open Inference Protocol's raw bytes: one encoding for every process.

The server reads and writes them (gRPC's `raw_input_contents` / `raw_output_contents`, and REST
under Triton's binary tensor data extension, where they follow the JSON header); the router
reads them back to compare a shadow's raw answer with production's. Little-endian: numbers as
packed values, BYTES as a 4-byte length before each element.
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
import pydantic_core
from numpy.typing import NDArray

# The REST extension's names: the JSON header's length, and a raw tensor's size in it.
HEADER = "inference-header-content-length"
BINARY_SIZE = "binary_data_size"
RAW_DTYPES = {
    "FP64": "<f8", "FP32": "<f4", "FP16": "<f2",
    "INT64": "<i8", "INT32": "<i4", "INT16": "<i2", "INT8": "|i1",
    "UINT64": "<u8", "UINT32": "<u4", "UINT16": "<u2", "UINT8": "|u1",
    "BOOL": "|b1",
}  # fmt: skip


class RawTensorError(ValueError):
    """Bytes that are not whole values of the declared datatype."""


def decode(raw: bytes, datatype: str) -> Any:
    """One tensor's values (an array, or strings for BYTES); none for a datatype not listed in
    RAW_DTYPES, which the reader then refuses by name."""
    if datatype == "BYTES":
        return unpack_strings(raw)
    dtype = RAW_DTYPES.get(datatype)
    if dtype is None:
        return []
    if len(raw) % np.dtype(dtype).itemsize:
        raise RawTensorError(f"raw {datatype} contents of {len(raw)} bytes are not whole values")
    return np.frombuffer(raw, dtype=dtype)


def encode(values: NDArray[Any], datatype: str) -> bytes:
    if datatype == "BYTES":
        parts = [str(v).encode() for v in values.ravel().tolist()]
        return b"".join(struct.pack("<I", len(p)) + p for p in parts)
    return np.ascontiguousarray(values, dtype=RAW_DTYPES[datatype]).tobytes()


def unpack_strings(raw: bytes) -> list[str]:
    """BYTES raw contents: each element is a 4-byte little-endian length, then its bytes."""
    values: list[str] = []
    offset = 0
    while offset < len(raw):
        if offset + 4 > len(raw):
            raise RawTensorError("raw BYTES contents end inside a length prefix")
        (size,) = struct.unpack_from("<I", raw, offset)
        offset += 4
        if offset + size > len(raw):
            raise RawTensorError("raw BYTES contents end inside an element")
        values.append(text(raw[offset : offset + size]))
        offset += size
    return values


def text(value: bytes) -> str:
    try:
        return value.decode()
    except UnicodeDecodeError:
        raise RawTensorError("BYTES elements must be UTF-8 text") from None


def inline_outputs(body: bytes, header_length: int) -> Any:
    """A REST answer with raw outputs as the JSON answer it stands for: each raw output's values
    back in its `data`. ValueError when the body does not hold what its header declares."""
    if not 0 < header_length <= len(body):
        raise RawTensorError(f"header length {header_length} for a body of {len(body)} bytes")
    document = pydantic_core.from_json(body[:header_length])
    outputs = document.get("outputs") if isinstance(document, dict) else None
    offset = header_length
    for tensor in outputs if isinstance(outputs, list) else []:
        parameters = tensor.get("parameters") if isinstance(tensor, dict) else None
        if not isinstance(parameters, dict) or BINARY_SIZE not in parameters:
            continue
        size = int(parameters[BINARY_SIZE])
        if offset + size > len(body):
            raise RawTensorError(f"output {tensor.get('name')!r} runs past the body")
        values = decode(body[offset : offset + size], str(tensor.get("datatype")))
        tensor["data"] = values if isinstance(values, list) else values.tolist()
        offset += size
    return document
