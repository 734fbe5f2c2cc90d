"""Capture of a model with typed features: the columns as received, missing values as null,
excluded columns never written, probabilities kept when the request asked for them."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from modelship.catalog.segments import DirectorySegmentStore, segments
from modelship.serving import ServingSettings, create_app
from support.serving import NAMESPACE
from support.typed import FEATURES, sample_rows, train_churn


def test_typed_rows_are_captured_as_received(tmp_path: Path) -> None:
    features = [f for f in FEATURES if f != {"name": "age", "impute": "none"}]
    (tmp_path / "catalog").mkdir()
    version = train_churn(tmp_path / "catalog", "churn", "logistic_regression", features)
    store = tmp_path / "captures"
    settings = ServingSettings(
        model_name="churn", namespace=NAMESPACE, version=version.metadata.version,
        catalog_root=str(tmp_path / "catalog"), expected_digest=version.metadata.digest,
        capture={"sample_rate": 1.0, "store": store.as_uri(), "exclude": ["income"]},
    )  # fmt: skip
    rows = {k: v for k, v in sample_rows(4).items() if k != "age"}
    inputs = [
        {"name": name, "datatype": "FP64" if name == "tenure" else "BYTES",
         "shape": [4], "data": values}
        for name, values in rows.items() if name != "income"
    ] + [{"name": "income", "datatype": "FP64", "shape": [4], "data": rows["income"]}]  # fmt: skip
    outputs = [{"name": "predict"}, {"name": "predict_proba"}]
    body = {"id": "t", "inputs": inputs, "outputs": outputs}
    with TestClient(create_app(settings, registry=CollectorRegistry())) as client:
        answer = client.post("/v2/models/churn/infer", json=body)
        assert answer.status_code == 200, answer.text
        client.app.state.capture.flush()  # type: ignore[attr-defined]
    records = [r for _, recs in segments(DirectorySegmentStore(store), "captures") for r in recs]
    assert [r["id"] for r in records] == ["t/0", "t/1", "t/2", "t/3"]
    assert set(records[0]["inputs"]) == {"tenure", "city", "plan", "has_card"}  # no income
    assert records[1]["inputs"]["city"] is None  # missing, as null
    assert records[2]["inputs"]["city"] == "atlantis"  # unseen, as received
    assert records[3]["inputs"]["has_card"] is None  # the missing vocabulary ("NA")
    answered = {o["name"]: o["data"] for o in answer.json()["outputs"]}
    assert [r["prediction"] for r in records] == answered["predict"]
    assert len(records[0]["proba"]) == 2
