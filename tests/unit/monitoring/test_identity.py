"""Prediction identity: request ids, per-row ids, the caller's id input, ids in the answer."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient

from modelship.serving import identity
from modelship.serving.errors import InvalidInputError
from support.monitoring import MakeClient, infer_body

ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]


def tensor(name: str, data: list[Any], datatype: str = "BYTES") -> dict[str, Any]:
    return {"name": name, "datatype": datatype, "shape": [len(data)], "data": data}


def test_request_id_is_the_protocol_id_then_the_header_then_generated() -> None:
    assert identity.take({"id": "r-1"}, None, "h-1").request_id == "r-1"
    assert identity.take({}, None, "h-1").request_id == "h-1"
    generated = identity.take({}, None, None).request_id
    assert uuid.UUID(generated).version == 7
    assert identity.take({}, None, None).request_id != generated
    assert identity.take({"id": "r-1"}, None, None).row_ids(3) == ("r-1/0", "r-1/1", "r-1/2")


def test_generated_ids_sort_by_time() -> None:
    ids = [identity.uuid7() for _ in range(3)]
    assert [i[:13] for i in ids] == sorted(i[:13] for i in ids)  # the millisecond prefix


def test_an_overlong_request_id_is_refused_naming_it() -> None:
    with pytest.raises(InvalidInputError, match="'id' is 300 characters"):
        identity.take({"id": "x" * 300}, None, None)
    with pytest.raises(InvalidInputError, match="X-Request-Id"):
        identity.take({}, None, "y" * 300)


def test_the_id_input_is_stripped_and_its_keys_are_the_row_ids() -> None:
    payload = {
        "inputs": [tensor("input", ROWS, "FP64"), tensor("row_id", ["a", 7])],
        "outputs": [{"name": "predict"}, {"name": "modelship_id"}],
    }
    found = identity.take(payload, "row_id", None)
    assert [t["name"] for t in found.payload["inputs"]] == ["input"]
    assert found.payload["outputs"] == [{"name": "predict"}]
    assert found.outputs == ("modelship_id",)
    assert found.row_ids(2) == ("a", "7")
    assert len(payload["inputs"]) == 2  # the caller's document is untouched


@pytest.mark.parametrize(
    ("keys", "rows", "message"),
    [
        pytest.param(["a", "a"], 2, "key 'a' appears twice", id="duplicate"),
        pytest.param(["a"], 2, "1 keys for 2 rows", id="too-few"),
        pytest.param(["a", ""], 2, "every key needs 1 to 256", id="empty"),
        pytest.param(["a", 1.5], 2, "strings or integers", id="float"),
    ],
)
def test_bad_keys_are_refused(keys: list[Any], rows: int, message: str) -> None:
    payload = {"inputs": [tensor("input", ROWS, "FP64"), tensor("row_id", keys)]}
    with pytest.raises(InvalidInputError, match=message):
        identity.take(payload, "row_id", None).row_ids(rows)


def test_asking_only_for_ids_still_answers_the_prediction() -> None:
    found = identity.take({"outputs": [{"name": "modelship_captured"}]}, None, None)
    assert found.payload["outputs"] is None and found.outputs == ("modelship_captured",)


# --- over HTTP ---------------------------------------------------------------------------


def test_every_answer_carries_a_request_id(make_client: MakeClient) -> None:
    client: TestClient = make_client()
    plain = client.post("/v2/models/iris/infer", json=infer_body(ROWS)).json()
    assert uuid.UUID(plain["id"]).version == 7
    assert [o["name"] for o in plain["outputs"]] == ["predict"]  # nothing unasked for
    headed = client.post(
        "/v2/models/iris/infer", json=infer_body(ROWS), headers={"X-Request-Id": "abc"}
    )
    assert headed.json()["id"] == "abc"


def test_row_ids_and_capture_flags_are_outputs_on_request(make_client: MakeClient) -> None:
    client: TestClient = make_client()
    body = infer_body(
        ROWS, id="req-9", outputs=[{"name": "modelship_id"}, {"name": "modelship_captured"}]
    )
    answer = client.post("/v2/models/iris/infer", json=body).json()
    outputs = {o["name"]: o for o in answer["outputs"]}
    assert list(outputs) == ["predict", "modelship_id", "modelship_captured"]
    assert outputs["modelship_id"] == {
        "name": "modelship_id", "datatype": "BYTES", "shape": [2], "data": ["req-9/0", "req-9/1"]
    }  # fmt: skip
    assert outputs["modelship_captured"]["data"] == [False, False]  # capture is off


def test_the_id_input_names_rows_and_never_reaches_the_model(make_client: MakeClient) -> None:
    client: TestClient = make_client(id_input="row_id")
    body = infer_body(ROWS, outputs=[{"name": "modelship_id"}])
    body["inputs"].append(tensor("row_id", ["cust-1", "cust-2"]))
    answer = client.post("/v2/models/iris/infer", json=body)
    assert answer.status_code == 200, answer.text
    ids = next(o for o in answer.json()["outputs"] if o["name"] == "modelship_id")
    assert ids["data"] == ["cust-1", "cust-2"]
    body["inputs"][-1] = tensor("row_id", ["cust-1"])
    refused = client.post("/v2/models/iris/infer", json=body)
    assert refused.status_code == 400 and "1 keys for 2 rows" in refused.json()["error"]


def test_without_id_input_setting_the_tensor_is_unknown(make_client: MakeClient) -> None:
    client: TestClient = make_client()
    body = {"inputs": [*infer_body(ROWS)["inputs"], tensor("row_id", ["a", "b"])]}
    refused = client.post("/v2/models/iris/infer", json=body)
    assert refused.status_code == 400
