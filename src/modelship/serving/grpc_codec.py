"""Open Inference Protocol messages to and from the shapes the data plane speaks.

A `ModelInferRequest` becomes the same document a REST client sends (tensor data as numpy arrays
rather than lists), so `codec.decode_v2` validates gRPC and REST requests by the same rules;
an `InferResult` becomes a `ModelInferResponse` with `raw_output_contents`, which is what
Triton's client reads first and what costs least to build. Pure functions, tested without a
server.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from modelship.serving import codec, identity, raw_tensors
from modelship.serving.dataplane import InferResult
from modelship.serving.errors import InvalidInputError
from modelship.serving.protocol import inference_pb2 as pb

# The typed contents field of each datatype (FP16 has none: it travels only as raw bytes).
_CONTENTS = {
    "BOOL": "bool_contents",
    "INT8": "int_contents", "INT16": "int_contents", "INT32": "int_contents",
    "INT64": "int64_contents",
    "UINT8": "uint_contents", "UINT16": "uint_contents", "UINT32": "uint_contents",
    "UINT64": "uint64_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
    "BYTES": "bytes_contents",
}  # fmt: skip


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
            "data": (
                raw_tensors.decode(raw[i], tensor.datatype, tensor.name)
                if raw
                else _contents(tensor)
            ),
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
        response.raw_output_contents.append(raw_tensors.encode(values, datatype))
    if result.identity is not None:  # the ids and capture flags the request asked for
        extra = identity.output_arrays(result.identity, result.row_ids, result.captured)
        for name, datatype, values in extra:
            response.outputs.add(name=name, datatype=datatype, shape=list(values.shape))
            response.raw_output_contents.append(raw_tensors.encode(values, datatype))
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


def _contents(tensor: pb.ModelInferRequest.InferInputTensor) -> Any:
    field = _CONTENTS.get(tensor.datatype)
    if field is None:
        return []
    values = getattr(tensor.contents, field)
    if field == "bytes_contents":
        return [raw_tensors.text(v, tensor.name) for v in values]
    return np.asarray(values)
