"""Triton's binary tensor data extension, decoded and encoded without a server: the bytes a
`tritonclient.http` request carries become the document a JSON client sends, and the answer's
raw outputs are exactly the values the JSON answer would hold."""

from __future__ import annotations

import json
import struct
from typing import Any

import numpy as np
import pytest

from modelship.serving import binary_extension as ext
from modelship.serving.errors import InvalidInputError


def request(document: dict[str, Any], *blobs: bytes) -> tuple[bytes, str]:
    header = json.dumps(document).encode()
    return header + b"".join(blobs), str(len(header))


def test_raw_inputs_become_the_tensors_a_json_client_sends() -> None:
    rows = np.array([[5.1, 3.5, 1.4, 0.2], [6.2, 2.9, 4.3, 1.3]])
    names = ["a", "bb"]
    strings = b"".join(struct.pack("<I", len(n)) + n.encode() for n in names)
    body, header = request(
        {
            "inputs": [
                {
                    "name": "x",
                    "datatype": "FP64",
                    "shape": [2, 4],
                    "parameters": {"binary_data_size": rows.nbytes},
                },
                {
                    "name": "s",
                    "datatype": "BYTES",
                    "shape": [2],
                    "parameters": {"binary_data_size": len(strings)},
                },
                {"name": "j", "datatype": "INT64", "shape": [1], "data": [7]},
            ],
        },
        rows.astype("<f8").tobytes(),
        strings,
    )
    payload = ext.decode_request(body, header)
    x, s, j = payload["inputs"]
    assert np.asarray(x["data"]).reshape(2, 4).tolist() == rows.tolist()
    assert s["data"] == names
    assert j["data"] == [7]


def test_a_plain_json_request_is_recognised_without_parsing() -> None:
    plain = json.dumps({"inputs": [{"name": "x", "datatype": "FP64", "shape": [1], "data": [1]}]})
    assert ext.is_plain(plain.encode(), None)
    assert not ext.is_plain(plain.encode(), "10")
    assert not ext.is_plain(b'{"parameters": {"binary_data_output": true}}', None)


@pytest.mark.parametrize(
    ("document", "blob", "header", "message"),
    [
        ({"inputs": [{"name": "x", "datatype": "FP64", "shape": [1],
                      "parameters": {"binary_data_size": 16}}]}, b"\0" * 8, None,
         "declares 16 binary bytes but only 8"),
        ({"inputs": [{"name": "x", "datatype": "FP64", "shape": [1],
                      "parameters": {"binary_data_size": 8}}]}, b"\0" * 12, None,
         "4 bytes after the JSON header belong to no input"),
        ({"inputs": [{"name": "x", "datatype": "FP64", "shape": [1], "data": [1.0],
                      "parameters": {"binary_data_size": 8}}]}, b"\0" * 8, None,
         "both data and binary_data_size"),
        ({"inputs": [{"name": "x", "datatype": "FP64", "shape": [1],
                      "parameters": {"binary_data_size": -1}}]}, b"", None,
         "must be a non-negative integer"),
        ({"inputs": [{"name": "x", "datatype": "FP64", "shape": [1],
                      "parameters": {"binary_data_size": 7}}]}, b"\0" * 7, None,
         "not whole values"),
        ({"inputs": []}, b"", "many", "must be a number of bytes"),
        ({"inputs": []}, b"", "4096", "the body has only"),
    ],
)  # fmt: skip
def test_inconsistent_binary_requests_are_refused_with_the_reason(
    document: dict[str, Any], blob: bytes, header: str | None, message: str
) -> None:
    body, length = request(document, blob)
    with pytest.raises(InvalidInputError, match=message):
        ext.decode_request(body, length if header is None else header)


def answer() -> dict[str, Any]:
    return {
        "model_name": "iris",
        "model_version": "1",
        "outputs": [
            {"name": "predict", "datatype": "INT64", "shape": [2], "data": [0, 2]},
            {"name": "predict_proba", "datatype": "FP64", "shape": [2, 3],
             "data": [0.9, 0.05, 0.05, 0.1, 0.2, 0.7]},
        ],
    }  # fmt: skip


def split(body: bytes, length: int) -> tuple[dict[str, Any], bytes]:
    return json.loads(body[:length]), body[length:]


def test_binary_data_output_sends_every_output_raw_in_order() -> None:
    encoded = ext.encode_response(answer(), {"parameters": {"binary_data_output": True}})
    assert encoded is not None
    header, raw = split(*encoded)
    sizes = [o["parameters"]["binary_data_size"] for o in header["outputs"]]
    assert sizes == [16, 48] and len(raw) == 64
    assert all("data" not in o for o in header["outputs"])
    assert np.frombuffer(raw[:16], "<i8").tolist() == [0, 2]
    assert np.frombuffer(raw[16:], "<f8").tolist() == answer()["outputs"][1]["data"]


def test_each_output_may_choose_raw_or_json() -> None:
    payload = {
        "parameters": {"binary_data_output": True},
        "outputs": [
            {"name": "predict", "parameters": {"binary_data": False}},
            {"name": "predict_proba"},
        ],
    }
    encoded = ext.encode_response(answer(), payload)
    assert encoded is not None
    header, raw = split(*encoded)
    predict, proba = header["outputs"]
    assert predict["data"] == [0, 2] and "parameters" not in predict
    assert proba["parameters"] == {"binary_data_size": 48} and len(raw) == 48
    only = {"outputs": [{"name": "predict", "parameters": {"binary_data": True}}]}
    encoded = ext.encode_response(answer(), only)
    assert encoded is not None
    header, raw = split(*encoded)
    assert header["outputs"][1]["data"] == answer()["outputs"][1]["data"] and len(raw) == 16


def test_no_raw_output_asked_keeps_the_answer_json() -> None:
    assert ext.encode_response(answer(), {"outputs": [{"name": "predict"}]}) is None
    no = {"parameters": {"binary_data_output": False}}
    assert ext.encode_response(answer(), no) is None


def test_string_labels_are_sent_as_length_prefixed_bytes() -> None:
    document = {
        "outputs": [{"name": "predict", "datatype": "BYTES", "shape": [2], "data": ["setosa", "x"]}]
    }
    encoded = ext.encode_response(document, {"parameters": {"binary_data_output": True}})
    assert encoded is not None
    _, raw = split(*encoded)
    assert raw == struct.pack("<I", 6) + b"setosa" + struct.pack("<I", 1) + b"x"
