"""The feedback route: refused without the right token, every item judged on its own, accepted
labels written as a segment before the answer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from modelship.catalog.segments import DirectorySegmentStore, segments
from modelship.contracts.capture import FEEDBACK_TOKEN_ENV, LabelRecord, sampled
from modelship.serving import ServingSettings
from support.monitoring import MakeClient, metric

TOKEN = "s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
URL = "/v2/models/iris/feedback"


def capture(store: Path, rate: float = 1.0) -> dict[str, Any]:
    return {"sample_rate": rate, "store": store.as_uri(), "flush_seconds": 3600}


@pytest.fixture
def labelled(make_client: MakeClient, tmp_path: Path) -> TestClient:
    return make_client(capture=capture(tmp_path), feedback_token=TOKEN)


def stored_labels(root: Path) -> list[dict[str, Any]]:
    return [r for _, recs in segments(DirectorySegmentStore(root), "labels") for r in recs]


def test_the_server_reads_the_token_from_the_contracts_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(FEEDBACK_TOKEN_ENV, TOKEN)
    settings = ServingSettings(model_name="iris", version=1, catalog_root="/catalog")
    assert settings.feedback_token is not None
    assert settings.feedback_token.get_secret_value() == TOKEN
    assert TOKEN not in repr(settings)  # a secret, never logged


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        pytest.param({}, 401, id="no-header"),
        pytest.param({"Authorization": f"Basic {TOKEN}"}, 401, id="not-bearer"),
        pytest.param({"Authorization": "Bearer "}, 401, id="empty-token"),
        pytest.param({"Authorization": "Bearer wrong"}, 403, id="wrong-token"),
    ],
)
def test_callers_without_the_token_are_refused(
    labelled: TestClient, tmp_path: Path, headers: dict[str, str], status: int
) -> None:
    answer = labelled.post(URL, json={"labels": [{"id": "r/0", "label": 1}]}, headers=headers)
    assert answer.status_code == status, answer.text
    assert stored_labels(tmp_path) == []


def test_a_pod_without_a_token_refuses_everyone(make_client: MakeClient, tmp_path: Path) -> None:
    client = make_client(capture=capture(tmp_path))
    answer = client.post(URL, json={"labels": [{"id": "r/0", "label": 1}]}, headers=AUTH)
    assert answer.status_code == 403 and "no feedback token" in answer.json()["error"]


def test_labels_are_stored_as_a_segment(labelled: TestClient, tmp_path: Path) -> None:
    body = {"labels": [{"id": "r/0", "label": 1}, {"id": "r/1", "label": "2"}], "source": "crm"}
    answer = labelled.post(URL, json=body, headers=AUTH)
    assert answer.status_code == 200, answer.text
    assert answer.json()["accepted"] == 2 and answer.json()["rejected"] == []
    records = [LabelRecord.model_validate(r) for r in stored_labels(tmp_path)]
    assert [(r.id, r.label, r.source) for r in records] == [("r/0", 1, "crm"), ("r/1", 2, "crm")]
    assert metric(labelled, "modelship_feedback_labels_total", outcome="accepted") == 2


def test_bad_items_are_counted_and_reported_and_the_rest_kept(
    labelled: TestClient, tmp_path: Path
) -> None:
    body = {
        "labels": [
            {"id": "ok/0", "label": 0},
            {"id": 17, "label": 0},
            {"id": "", "label": 0},
            {"id": "x" * 300, "label": 0},
            "not an object",
            {"id": "r/1", "label": "setosa-ish"},
            {"id": "r/2"},
            {"id": "r/3", "label": [1]},
        ]
    }
    answer = labelled.post(URL, json=body, headers=AUTH).json()
    assert answer["accepted"] == 1
    assert answer["counts"] == {
        "accepted": 1, "malformed_id": 4, "malformed_label": 2, "unknown_class": 1,
        "unknown_id": 0,
    }  # fmt: skip
    assert [r["index"] for r in answer["rejected"]] == [1, 2, 3, 4, 5, 6, 7]
    assert answer["rejected"][2]["id"] is None  # an overlong id is not echoed
    assert "unknown class 'setosa-ish'" in answer["rejected"][4]["reason"]
    assert [r["id"] for r in stored_labels(tmp_path)] == ["ok/0"]
    assert metric(labelled, "modelship_feedback_labels_total", outcome="malformed_id") == 4


def test_ids_outside_the_capture_sample_are_unknown(
    make_client: MakeClient, tmp_path: Path
) -> None:
    client = make_client(capture=capture(tmp_path, rate=0.5), feedback_token=TOKEN)
    ids = [f"q/{i}" for i in range(40)]
    kept = [i for i in ids if sampled(i, 0.5)]
    answer = client.post(
        URL, json={"labels": [{"id": i, "label": 1} for i in ids]}, headers=AUTH
    ).json()
    assert answer["accepted"] == len(kept) and answer["counts"]["unknown_id"] == 40 - len(kept)
    assert [r["id"] for r in stored_labels(tmp_path)] == kept


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"not json", id="not-json"),
        pytest.param(b"[]", id="not-an-object"),
        pytest.param(b'{"labels": []}', id="no-labels"),
        pytest.param(b'{"labels": {"id": "r/0"}}', id="labels-not-a-list"),
        pytest.param(b'{"labels": [{"id": "r/0", "label": 1}], "source": 5}', id="bad-source"),
    ],
)
def test_a_malformed_body_is_a_400(labelled: TestClient, body: bytes) -> None:
    answer = labelled.post(URL, content=body, headers=AUTH)
    assert answer.status_code == 400 and answer.json()["error"]


def test_a_regressor_takes_finite_numbers(make_client: MakeClient, tmp_path: Path) -> None:
    client = make_client("diabetes", capture=capture(tmp_path), feedback_token=TOKEN)
    labels = [{"id": "d/0", "label": 151.5}, {"id": "d/1", "label": "high"}]
    answer = client.post("/v2/models/diabetes/feedback", json={"labels": labels}, headers=AUTH)
    assert answer.json()["accepted"] == 1 and answer.json()["counts"]["malformed_label"] == 1


def test_another_model_is_a_404_and_an_unwritable_store_a_503(
    make_client: MakeClient, tmp_path: Path
) -> None:
    (tmp_path / "labels").write_text("a file where the directory should be")
    client = make_client(capture=capture(tmp_path), feedback_token=TOKEN)
    body = {"labels": [{"id": "r/0", "label": 1}]}
    assert client.post("/v2/models/other/feedback", json=body, headers=AUTH).status_code == 404
    answer = client.post(URL, json=body, headers=AUTH)
    assert answer.status_code == 503 and "retry" in answer.json()["error"]
    assert metric(client, "modelship_feedback_labels_total", outcome="accepted") == 0


def test_without_capture_labels_cannot_be_taken(make_client: MakeClient) -> None:
    client = make_client(feedback_token=TOKEN)
    answer = client.post(URL, json={"labels": [{"id": "r/0", "label": 1}]}, headers=AUTH)
    assert answer.status_code == 200 and answer.json()["counts"]["unknown_id"] == 1
