"""Open Inference Protocol messages to and from the shapes the data plane speaks.

A `ModelInferRequest` becomes the same document a REST client sends (tensor data as numpy arrays
rather than lists), so `codec.decode_v2` validates gRPC and REST requests by the same rules;
an `InferResult` becomes a `ModelInferResponse` with `raw_output_contents`, which is what
Triton's client reads first and what costs least to build. Pure functions, tested without a
server.
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
from numpy.typing import NDArray

from modelship.serving import codec
from modelship.serving.dataplane import InferResult
from modelship.serving.errors import InvalidInputError
from modelship.serving.protocol import inference_pb2 as pb

# Little-endian, as the protocol's raw tensors are.
_RAW_DTYPES = {"FP64": "<f8", "FP32": "<f4", "INT64": "<i8", "BOOL": "|b1"}
_CONTENTS = {
    "FP64": "fp64_contents",
    "FP32": "fp32_contents",
    "INT64": "int64_contents",
    "BYTES": "bytes_contents",
}


def request_document(request: pb.ModelInferRequest) -> dict[str, Any]:
    """The request as a v2 JSON-shaped document for `DataPlane.infer_tensors`."""
    raw = request.raw_input_contents
    if raw and len(raw) != len(request.inputs):
        raise InvalidInputError(
            f"{len(raw)} raw_input_contents for {len(request.inputs)} inputs; send one per input"
        )
    inputs = [
        {
            "name": tensor.name,
            "datatype": tensor.datatype,
            "shape": list(tensor.shape),
            "data": _raw_data(raw[i], tensor.datatype) if raw else _contents(tensor),
        }
        for i, tensor in enumerate(request.inputs)
    ]
    document: dict[str, Any] = {"inputs": inputs}
    if request.outputs:
        document["outputs"] = [{"name": output.name} for output in request.outputs]
    if request.id:
        document["id"] = request.id
    return document


def infer_response(result: InferResult) -> pb.ModelInferResponse:
    response = pb.ModelInferResponse(
        model_name=result.model_name, model_version=result.model_version, id=result.request_id or ""
    )
    prediction = result.prediction
    for name in result.outputs:
        if name == codec.PREDICT:
            values: NDArray[Any] = prediction.labels
            datatype = codec.label_datatype(values)
        elif prediction.proba is not None:
            values, datatype = prediction.proba, "FP64"
        else:
            continue
        response.outputs.add(name=name, datatype=datatype, shape=list(values.shape))
        response.raw_output_contents.append(_raw_bytes(values, datatype))
    return response


def model_metadata(document: dict[str, Any]) -> pb.ModelMetadataResponse:
    """The REST metadata document (the data plane's) as the gRPC message."""

    def tensors(items: list[dict[str, Any]]) -> list[pb.ModelMetadataResponse.TensorMetadata]:
        return [
            pb.ModelMetadataResponse.TensorMetadata(
                name=t["name"], datatype=t["datatype"], shape=t["shape"]
            )
            for t in items
        ]

    return pb.ModelMetadataResponse(
        name=document["name"],
        versions=document["versions"],
        platform=document["platform"],
        inputs=tensors(document["inputs"]),
        outputs=tensors(document["outputs"]),
    )


def _raw_data(raw: bytes, datatype: str) -> Any:
    if datatype == "BYTES":
        return _unpack_strings(raw)
    dtype = _RAW_DTYPES.get(datatype)
    if dtype is None:
        return []  # decode_v2 refuses the datatype and names the supported ones
    if len(raw) % np.dtype(dtype).itemsize:
        raise InvalidInputError(f"raw {datatype} contents of {len(raw)} bytes are not whole values")
    return np.frombuffer(raw, dtype=dtype)


def _contents(tensor: pb.ModelInferRequest.InferInputTensor) -> Any:
    field = _CONTENTS.get(tensor.datatype)
    if field is None:
        return []
    values = getattr(tensor.contents, field)
    if field == "bytes_contents":
        return [_text(v) for v in values]
    return np.asarray(values)


def _unpack_strings(raw: bytes) -> list[str]:
    """BYTES raw contents: each element is a 4-byte little-endian length, then its bytes."""
    values: list[str] = []
    offset = 0
    while offset < len(raw):
        if offset + 4 > len(raw):
            raise InvalidInputError("raw BYTES contents end inside a length prefix")
        (size,) = struct.unpack_from("<I", raw, offset)
        offset += 4
        if offset + size > len(raw):
            raise InvalidInputError("raw BYTES contents end inside an element")
        values.append(_text(raw[offset : offset + size]))
        offset += size
    return values


def _text(value: bytes) -> str:
    try:
        return value.decode()
    except UnicodeDecodeError:
        raise InvalidInputError("BYTES elements must be UTF-8 text") from None


def _raw_bytes(values: NDArray[Any], datatype: str) -> bytes:
    if datatype == "BYTES":
        parts = [str(v).encode() for v in values.ravel().tolist()]
        return b"".join(struct.pack("<I", len(p)) + p for p in parts)
    return np.ascontiguousarray(values, dtype=_RAW_DTYPES[datatype]).tobytes()
