"""The batch worker end to end on a real catalog: plan, shards, assemble, resume, errors.

A typed churn version is trained by the real trainer; a CSV of fresh rows (an id column, a row
the version refuses) is scored in three shards, and the output is checked against the stored
estimator in-process and against the online server answering the same rows.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from modelship.batch import arrow, steps, stream
from modelship.batch import rows as batch_rows
from modelship.batch.parts import PARTS_DIR, RunOptions, part_paths, shard_bounds, shard_count
from modelship.batch.settings import BatchSettings
from modelship.serving import ServingSettings, create_app
from modelship.training import synthetic
from modelship.training.errors import BadInput
from support.serving import NAMESPACE
from support.typed import FEATURES, in_process, train_churn

ROWS = 130
BAD_ROW = 57


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("batch-catalog")
    version = train_churn(root, "churn", "hist_gradient_boosting", FEATURES)
    table = synthetic.churn_table(ROWS, 41)
    del table["churned"]
    table["plan"][BAD_ROW] = "gold"  # outside plan's `reject` vocabulary: unscorable
    columns = {"cid": np.array([f"c{i:04d}" for i in range(ROWS)]), **table}
    data = root / "score.csv"
    data.write_bytes(synthetic.to_csv(columns))
    return {"root": root, "version": version, "csv": data, "columns": columns}


def settings(world: dict[str, Any], out: Path, **fields: Any) -> BatchSettings:
    metadata = world["version"].metadata
    values: dict[str, Any] = {
        "step": "shard", "name": "bp", "namespace": NAMESPACE, "model_name": "churn",
        "version": metadata.version, "digest": metadata.digest, "approved": True,
        "catalog_root": str(world["root"]), "input_uri": world["csv"].as_uri(),
        "id_column": "cid", "passthrough": ["city"], "output_dir": str(out),
        "rows_per_shard": 50, "max_failed_rows": 1, "chunk_rows": 16,
    }  # fmt: skip
    values.update(fields)
    return BatchSettings(**values)


def run(world: dict[str, Any], out: Path, **fields: Any) -> tuple[Any, list[Any]]:
    planned = steps.plan(settings(world, out, step="plan", **fields))
    assert planned.rows == ROWS
    base = {"input_digest": planned.input_digest, "shards": shard_count(ROWS, 50), **fields}
    shards = [
        steps.shard(settings(world, out, shard_index=i, **base)) for i in range(base["shards"])
    ]
    return steps.assemble(settings(world, out, step="assemble", **base)), shards


def read_csv(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text())))


def test_plan_reports_rows_digest_and_columns(world: dict[str, Any], tmp_path: Path) -> None:
    report = steps.plan(settings(world, tmp_path, step="plan"))
    assert report.rows == ROWS
    assert report.columns is not None and report.columns[0] == "cid"
    assert report.input_digest is not None and report.input_digest.startswith("sha256:")


def test_plan_refuses_an_input_digest_pin_that_differs(
    world: dict[str, Any], tmp_path: Path
) -> None:
    pin = "sha256:" + "1" * 64
    with pytest.raises(BadInput) as refused:
        steps.plan(settings(world, tmp_path, step="plan", input_digest=pin))
    assert refused.value.reason == "InputDigestMismatch"
    assert pin in refused.value.message and "sha256:" in refused.value.message.replace(pin, "")


def test_plan_names_a_passthrough_column_the_input_lacks(
    world: dict[str, Any], tmp_path: Path
) -> None:
    with pytest.raises(BadInput, match="'region'"):
        steps.plan(settings(world, tmp_path, step="plan", passthrough=["region"]))


def test_shards_assemble_in_input_order_with_ids_passthrough_and_errors(
    world: dict[str, Any], tmp_path: Path
) -> None:
    report, shards = run(world, tmp_path)
    assert report.ok, report.error
    assert [s.shard for s in shards] == [0, 1, 2] and not any(s.reused for s in shards)
    assert report.rows == ROWS - 1 and report.error_rows == 1
    rows = read_csv(tmp_path / "predictions.csv")
    expected_ids = [f"c{i:04d}" for i in range(ROWS) if i != BAD_ROW]
    assert [r["id"] for r in rows] == expected_ids
    kept = [i for i in range(ROWS) if i != BAD_ROW]
    assert [r["city"] for r in rows] == [world["columns"]["city"][i] for i in kept]
    assert {r["model_version"] for r in rows} == {str(world["version"].metadata.version)}
    # The stored estimator in-process on the same rows (the bad one left out) agrees.
    typed = {
        name: [None if c == "" else (c if name in {"city", "plan", "has_card"} else float(c))
               for c in world["columns"][name][kept].tolist()]
        for name in ("age", "income", "tenure", "city", "plan", "has_card")
    }  # fmt: skip
    labels, proba = in_process(world["version"], typed)
    assert [r["prediction"] for r in rows] == [str(v) for v in labels.tolist()]
    classes = [str(c) for c in world["version"].metadata.target.classes]
    got = np.array([[float(r[f"proba_{c}"]) for c in classes] for r in rows])
    np.testing.assert_allclose(got, proba, rtol=1e-12)
    errors = [json.loads(line) for line in (tmp_path / "errors.jsonl").read_text().splitlines()]
    assert errors == [{"row": BAD_ROW, "id": f"c{BAD_ROW:04d}", "reason": errors[0]["reason"]}]
    assert "plan" in errors[0]["reason"] and "gold" in errors[0]["reason"]
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["modelDigest"] == world["version"].metadata.digest
    assert manifest["output"]["digest"] == report.output_digest
    assert manifest["approved"] is True and manifest["rows"] == ROWS - 1


def test_a_row_scores_the_same_in_batch_and_online(world: dict[str, Any], tmp_path: Path) -> None:
    report, _ = run(world, tmp_path)
    assert report.ok
    rows = read_csv(tmp_path / "predictions.csv")[:40]
    metadata = world["version"].metadata
    online = ServingSettings(
        model_name="churn", namespace=NAMESPACE, version=metadata.version,
        catalog_root=str(world["root"]), expected_digest=metadata.digest, stage="production",
    )  # fmt: skip
    indices = [int(r["id"][1:]) for r in rows]
    categorical = {"city", "plan", "has_card"}
    inputs = [
        {
            "name": name,
            "datatype": "BYTES" if name in categorical else "FP64",
            "shape": [len(indices)],
            "data": [
                (c if name in categorical else (None if c == "" else float(c)))
                for c in world["columns"][name][indices].tolist()
            ],
        }
        for name in ("age", "income", "tenure", "city", "plan", "has_card")
    ]
    body = {"inputs": inputs, "outputs": [{"name": "predict"}, {"name": "predict_proba"}]}
    with TestClient(create_app(online, registry=CollectorRegistry())) as client:
        answer = client.post("/v2/models/churn/infer", json=body).json()
    outputs = {o["name"]: o for o in answer["outputs"]}
    assert [r["prediction"] for r in rows] == [str(v) for v in outputs["predict"]["data"]]
    classes = [str(c) for c in metadata.target.classes]
    batch_proba = [float(r[f"proba_{c}"]) for r in rows for c in classes]
    assert batch_proba == outputs["predict_proba"]["data"]


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_column_at_a_time_writes_what_cell_at_a_time_writes(
    world: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    """Typed features, categories, missing cells and a refused row: the shortcuts (pyarrow's
    reader, numeric text parsed per column, lines built per column) change no byte of the
    output or the errors."""
    fast, _ = run(world, tmp_path / "fast", format=fmt)
    monkeypatch.setattr(batch_rows, "parsing_for", lambda loaded: None)
    monkeypatch.setattr(batch_rows, "render", batch_rows.render_rows)

    def python_reader(*args: Any, **kwargs: Any) -> Any:
        raise arrow.NotPlain("the csv module reads it")

    monkeypatch.setattr(stream, "_plain_pass", python_reader)
    slow, _ = run(world, tmp_path / "slow", format=fmt)
    assert fast.ok and slow.ok and fast.error_rows == slow.error_rows == 1
    for name in (f"predictions.{fmt}", "errors.jsonl"):
        assert (tmp_path / "fast" / name).read_bytes() == (tmp_path / "slow" / name).read_bytes()
    assert fast.output_digest == slow.output_digest


def test_a_deleted_part_is_the_only_one_redone(world: dict[str, Any], tmp_path: Path) -> None:
    first, _ = run(world, tmp_path)
    assert first.ok
    before = {p.name: p.read_bytes() for p in (tmp_path / PARTS_DIR).glob("*.part")}
    victim = sorted(before)[1]
    (tmp_path / PARTS_DIR / victim).unlink()
    planned = steps.plan(settings(world, tmp_path, step="plan"))
    base = {"input_digest": planned.input_digest, "shards": 3}
    missing = steps.assemble(settings(world, tmp_path, step="assemble", **base))
    assert not missing.ok and missing.reason == "PartsMissing" and missing.missing_shards == [1]
    redone = [steps.shard(settings(world, tmp_path, shard_index=i, **base)) for i in range(3)]
    assert [s.reused for s in redone] == [True, False, True]
    second = steps.assemble(settings(world, tmp_path, step="assemble", **base))
    assert second.ok and second.output_digest == first.output_digest
    after = {p.name: p.read_bytes() for p in (tmp_path / PARTS_DIR).glob("*.part")}
    assert after == before


def test_a_damaged_part_is_redone_too(world: dict[str, Any], tmp_path: Path) -> None:
    first, _ = run(world, tmp_path)
    part = sorted((tmp_path / PARTS_DIR).glob("*.part"))[2]
    part.write_bytes(part.read_bytes() + b"tampered\n")
    planned = steps.plan(settings(world, tmp_path, step="plan"))
    base = {"input_digest": planned.input_digest, "shards": 3}
    report = steps.assemble(settings(world, tmp_path, step="assemble", **base))
    assert report.missing_shards == [2]
    assert steps.shard(settings(world, tmp_path, shard_index=2, **base)).reused is False
    assert steps.assemble(settings(world, tmp_path, step="assemble", **base)).output_digest == (
        first.output_digest
    )


def test_over_max_failed_rows_fails_naming_the_row(world: dict[str, Any], tmp_path: Path) -> None:
    report, _ = run(world, tmp_path, max_failed_rows=0)
    assert not report.ok and report.reason == "TooManyFailedRows"
    assert f"row {BAD_ROW} (id c{BAD_ROW:04d})" in (report.error or "")
    assert not (tmp_path / "predictions.csv").exists()


def test_jsonl_output_without_probabilities(world: dict[str, Any], tmp_path: Path) -> None:
    report, _ = run(world, tmp_path, format="jsonl", include=["prediction"], id_column=None)
    assert report.ok
    lines = [json.loads(x) for x in (tmp_path / "predictions.jsonl").read_text().splitlines()]
    assert [x["id"] for x in lines] == [str(i) for i in range(ROWS) if i != BAD_ROW]
    assert set(lines[0]) == {"id", "city", "prediction", "model_version"}


def test_a_version_with_another_digest_is_refused(world: dict[str, Any], tmp_path: Path) -> None:
    planned = steps.plan(settings(world, tmp_path, step="plan"))
    other = {"input_digest": planned.input_digest, "shards": 3, "digest": "sha256:" + "2" * 64}
    with pytest.raises(BadInput) as refused:
        steps.shard(settings(world, tmp_path, shard_index=0, **other))
    assert refused.value.reason == "VersionNotLoadable"


def test_shard_planning_and_part_names() -> None:
    assert shard_count(0, 10) == 1 and shard_count(100, 10) == 10 and shard_count(101, 10) == 11
    assert shard_bounds(10, 10, 101) == (100, 101) and shard_bounds(0, 10, 5) == (0, 5)
    options = RunOptions(
        input_digest="sha256:a", model_digest="sha256:b", id_column=None, passthrough=(),
        format="csv", include=("prediction",), rows_per_shard=10,
    )  # fmt: skip
    same = part_paths(Path("/o"), options, 3)
    assert same == part_paths(Path("/o"), options, 3)
    assert same.part != part_paths(Path("/o"), options, 4).part
    other_model = options.model_copy(update={"model_digest": "sha256:c"})
    assert part_paths(Path("/o"), other_model, 3).part != same.part
    assert same.part.name.startswith("000003-")
