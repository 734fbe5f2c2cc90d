"""The trainer with `spec.dataset.production`, end to end on a directory capture store and a file
catalog: the issue's concept change (breast_cancer's labels flipped where `mean radius` is above
its median, inputs unchanged) makes the version trained on the dataset alone wrong on half the
production rows; trained with the labelled production rows it beats that version on the
held-out newest window, and the lineage says what it used. The other way round the live gate
fails, naming both figures; an estimator without sample weights is refused before any read;
typed features convert production rows by feature name as they convert the dataset's."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer

from modelship.api.v1alpha1 import TrainingSnapshot
from modelship.catalog import FileCatalog
from modelship.catalog.segments import DirectorySegmentStore, encode_segment, segment_name
from modelship.contracts.production_data import ProductionSource
from modelship.training import synthetic
from modelship.training.errors import BadInput
from modelship.training.run import train
from modelship.training.settings import TrainerSettings

NOW = 1_800_000_000.0
DAY = 86_400.0
MODEL, NAMESPACE = "cancer", "team-a"


def snapshot(
    production: dict[str, Any] | None,
    algorithm: str = "random_forest",
    dataset: str = "builtin:breast_cancer",
    **dataset_fields: Any,
) -> TrainingSnapshot:
    data: dict[str, Any] = {"uri": dataset, **dataset_fields}
    if production is not None:
        data["production"] = production
    params = {"n_estimators": 30} if algorithm == "random_forest" else {}
    return TrainingSnapshot.model_validate({
        "task": "classification", "dataset": data,
        "algorithm": {"name": algorithm, "params": params},
        "evaluation": {"testFraction": 0.25, "seed": 7},
    })  # fmt: skip


def settings(tmp_path: Path, champion: Any = None, **extra: Any) -> TrainerSettings:
    extra.setdefault("catalog_root", str(tmp_path / "catalog"))
    source = ProductionSource(
        store=(tmp_path / "capture").as_uri(),
        champion_version=champion.version if champion is not None else None,
        champion_digest=champion.digest if champion is not None else None,
        now=NOW,
    )
    return TrainerSettings(
        namespace=NAMESPACE, model_name=MODEL, training_job_name="tj", production=source, **extra
    )


def flipped_production(tmp_path: Path, rows: int = 400, store: Any = None) -> None:
    """Production rows drawn from the dataset's inputs, labelled under the new concept: the
    label flips where mean radius is above its median. Answered over ten days, the newest last;
    labels arrive an hour after the answer."""
    bunch = load_breast_cancer()
    names = [str(n) for n in bunch.feature_names]
    rng = np.random.default_rng(3)
    picks = rng.choice(len(bunch.target), rows, replace=True)
    radius = bunch.data[:, 0]
    flipped = np.where(radius > np.median(radius), 1 - bunch.target, bunch.target)
    times = np.sort(NOW - 10 * DAY + rng.random(rows) * (10 * DAY - 2 * 3600))
    captures: list[dict[str, Any]] = [
        {"id": f"req-{i}/0", "ts": float(t), "model": MODEL, "version": 1,
         "digest": "sha256:" + "a" * 64, "stage": "production",
         "inputs": dict(zip(names, bunch.data[p].tolist(), strict=True)),
         "prediction": int(bunch.target[p]), "proba": None}
        for i, (p, t) in enumerate(zip(picks.tolist(), times.tolist(), strict=True))
    ]  # fmt: skip
    labels = [{"id": c["id"], "ts": c["ts"] + 3600, "label": int(flipped[p]), "source": "crm"}
              for c, p in zip(captures, picks.tolist(), strict=True)]  # fmt: skip
    store = store or DirectorySegmentStore(tmp_path / "capture")
    for seq, start in enumerate(range(0, rows, 100)):
        at = datetime.fromtimestamp(captures[start]["ts"], UTC)
        store.write(segment_name("captures", "w", seq, at),
                    encode_segment(captures[start : start + 100]), {})  # fmt: skip
    store.write(segment_name("labels", "f", 0, datetime.fromtimestamp(NOW - 60, UTC)),
                encode_segment(labels), {})  # fmt: skip


@pytest.fixture
def catalog(tmp_path: Path) -> FileCatalog:
    return FileCatalog(tmp_path / "catalog")


def test_trained_with_production_labels_it_beats_production_on_the_newest_window(
    tmp_path: Path, catalog: FileCatalog
) -> None:
    flipped_production(tmp_path)
    base = train(snapshot(None), settings(tmp_path), catalog)
    champion = catalog.get(NAMESPACE, MODEL, base.version)

    spec = {"weight": 10, "holdoutSeconds": int(2 * DAY), "minHoldoutRows": 30}
    summary = train(snapshot(spec), settings(tmp_path, champion), catalog)

    used = summary.production
    assert used is not None and used.live_gate is not None
    gate = used.live_gate
    assert gate.passed, gate.reason
    assert gate.candidate is not None and gate.champion is not None
    # The dataset's old concept is wrong on about half the flipped rows; the candidate learnt
    # the new one from the production rows.
    assert gate.champion < 0.75 and gate.candidate >= gate.champion + 0.1
    assert gate.champion_version == base.version and gate.rows == used.holdout_rows
    assert used.rows + used.holdout_rows == 400 and used.holdout_rows > 30
    assert used.weight == 10 and used.refused == {}
    assert used.captures.count == 4 and used.labels.count == 1
    assert used.rows_digest.startswith("sha256:")
    assert summary.gates_passed is True
    live = [g for g in summary.gates if g.metric == "live accuracy"]
    assert len(live) == 1 and live[0].passed and live[0].value == gate.candidate
    # Lineage in the catalog: the rows, their window and segments, the gate.
    recorded = catalog.get(NAMESPACE, MODEL, summary.version)
    assert recorded.production == used
    assert recorded.evaluation is not None
    assert recorded.evaluation.train_rows == base_train_rows(catalog, base.version) + used.rows
    # The dataset's held-out rows still judge the version (same test split as before).
    first = catalog.get(NAMESPACE, MODEL, 1).evaluation
    assert first is not None and recorded.evaluation.test_rows == first.test_rows


def base_train_rows(catalog: FileCatalog, version: int) -> int:
    evaluation = catalog.get(NAMESPACE, MODEL, version).evaluation
    assert evaluation is not None
    return evaluation.train_rows


def test_a_candidate_that_loses_on_the_newest_window_fails_its_live_gate(
    tmp_path: Path, catalog: FileCatalog
) -> None:
    flipped_production(tmp_path)
    learnt = {"weight": 10, "holdoutSeconds": int(2 * DAY)}
    strong = train(snapshot(learnt), settings(tmp_path), catalog)
    champion = catalog.get(NAMESPACE, MODEL, strong.version)

    # Barely weighted, the production rows cannot outvote the dataset's old concept.
    weak = train(snapshot(learnt | {"weight": 0.001}), settings(tmp_path, champion), catalog)

    gate = weak.production.live_gate  # type: ignore[union-attr]
    assert gate is not None and not gate.passed
    assert gate.candidate is not None and gate.champion is not None
    assert gate.candidate < gate.champion
    assert f"candidate {gate.candidate:.4g} is not >= {gate.champion:.4g}" in gate.reason
    assert f"production version {strong.version}" in gate.reason
    assert weak.gates_passed is False
    assert not catalog.get(NAMESPACE, MODEL, weak.version).gates_passed


def test_too_few_held_out_rows_fail_closed_and_no_champion_passes(
    tmp_path: Path, catalog: FileCatalog
) -> None:
    flipped_production(tmp_path, rows=120)
    spec = {"weight": 5, "holdoutSeconds": 3600 * 3, "minHoldoutRows": 50}
    alone = train(snapshot(spec), settings(tmp_path), catalog)
    assert alone.production is not None and alone.production.live_gate is not None
    assert alone.production.live_gate.passed
    assert "no version in production" in alone.production.live_gate.reason

    champion = catalog.get(NAMESPACE, MODEL, alone.version)
    again = train(snapshot(spec), settings(tmp_path, champion), catalog)
    gate = again.production.live_gate  # type: ignore[union-attr]
    assert gate is not None and not gate.passed
    assert "at least 50 held-out production row(s) (minHoldoutRows)" in gate.reason
    assert again.gates_passed is False


def test_weights_need_an_estimator_that_takes_them(tmp_path: Path, catalog: FileCatalog) -> None:
    # No store exists: the refusal comes before anything is read.
    with pytest.raises(BadInput, match=r"weight 10 needs an estimator .* knn does not") as err:
        train(snapshot({"weight": 10}, algorithm="knn"), settings(tmp_path), catalog)
    assert err.value.reason == "InvalidConfiguration"
    # Weight 1 needs none: knn trains on the production rows as they are.
    flipped_production(tmp_path, rows=60)
    summary = train(snapshot({"weight": 1}, algorithm="knn"), settings(tmp_path), catalog)
    assert summary.production is not None and summary.production.rows > 0


def test_typed_features_convert_production_rows_by_name(
    tmp_path: Path, catalog: FileCatalog
) -> None:
    features = [
        {"name": "age", "type": "numeric", "impute": "median"},
        {"name": "tenure", "type": "numeric"},
        {"name": "city", "type": "categorical", "onUnknown": "ignore"},
        {"name": "plan", "type": "categorical"},
    ]
    store = DirectorySegmentStore(tmp_path / "capture")
    rows = []
    for i in range(80):
        inputs = {"age": None if i % 10 == 0 else 30 + i % 40, "tenure": i % 60,
                  "city": "atlantis" if i % 4 == 0 else ("north" if i % 2 else None),
                  "plan": "basic", "income": 1.0}  # fmt: skip
        rows.append({"id": f"r{i}", "ts": NOW - DAY + i * 60, "model": MODEL, "version": 1,
                     "digest": "d", "stage": "production", "inputs": inputs,
                     "prediction": "0", "proba": None})  # fmt: skip
    store.write(segment_name("captures", "w", 0, datetime.fromtimestamp(NOW - DAY, UTC)),
                encode_segment(rows), {})  # fmt: skip
    labels = [{"id": f"r{i}", "ts": NOW - 60, "label": str(i % 2)} for i in range(80)]
    labels.append({"id": "r1", "ts": NOW - 30, "label": "maybe"})  # a class churn does not have
    labels.append({"id": "r2", "ts": "yesterday", "label": "1"})  # a damaged record
    store.write(segment_name("labels", "f", 0, datetime.fromtimestamp(NOW - 60, UTC)),
                encode_segment(labels), {})  # fmt: skip

    spec = {"weight": 2, "holdoutSeconds": 1200}
    summary = train(
        snapshot(spec, algorithm="logistic_regression", dataset=f"builtin:{synthetic.NAME}",
                 features=features),
        settings(tmp_path),
        catalog,
    )  # fmt: skip

    used = summary.production
    assert used is not None
    assert used.refused == {"invalid_record": 1, "unknown_class": 1}
    assert used.holdout_rows == 21 and used.rows == 80 - 21 - 1
    plan = catalog.open_verified(NAMESPACE, MODEL, summary.version).feature_plan()
    assert plan is not None
    city = next(step for step in plan.features if step.name == "city")
    # A category only production has seen is learnt as the dataset's would be.
    assert "atlantis" in city.vocabulary  # type: ignore[union-attr]


def test_a_production_version_that_cannot_be_read_fails_the_gate_closed(
    tmp_path: Path, catalog: FileCatalog
) -> None:
    flipped_production(tmp_path, rows=200)
    base = train(snapshot(None), settings(tmp_path), catalog)
    real = catalog.get(NAMESPACE, MODEL, base.version)

    class Moved:  # the version the operator saw, but another digest in the catalog now
        version, digest = real.version, "sha256:" + "0" * 64

    spec = {"weight": 10, "holdoutSeconds": int(2 * DAY)}
    moved = train(snapshot(spec), settings(tmp_path, Moved), catalog)
    gate = moved.production.live_gate  # type: ignore[union-attr]
    assert gate is not None and not gate.passed
    assert f"production version {real.version} could not score the held-out rows" in gate.reason
    assert moved.gates_passed is False

    class Missing:
        version, digest = 99, None

    gone = train(snapshot(spec), settings(tmp_path, Missing), catalog)
    assert gone.production.live_gate is not None  # type: ignore[union-attr]
    assert "production version 99 could not" in gone.production.live_gate.reason  # type: ignore[union-attr]


def test_an_unreadable_store_is_transient_and_a_bad_one_is_bad_input(
    tmp_path: Path, catalog: FileCatalog
) -> None:
    from modelship.training.errors import Transient

    (tmp_path / "capture").write_text("not a directory")
    with pytest.raises(Transient, match="cannot read file://") as err:
        train(snapshot({}), settings(tmp_path), catalog)
    assert err.value.reason == "CaptureStoreUnavailable"
    source = ProductionSource(store="oci://registry-without-repository", now=NOW)
    bad = TrainerSettings(catalog_root=str(tmp_path / "catalog"), namespace=NAMESPACE,
                          model_name=MODEL, production=source)  # fmt: skip
    with pytest.raises(BadInput, match="capture store: segment store URI needs a host"):
        train(snapshot({}), bad, catalog)


def test_on_a_registry_catalog_the_default_store_is_the_models_capture_repository(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a registry as catalog and no store named, the trainer reads the repository the
    inference pods write by default (<prefix>/<namespace>/<model>-capture), as the evaluation
    Job does, and loads the production version from the registry, pinned by digest."""
    from modelship.catalog.oci import OciCatalog
    from modelship.catalog.segments_oci import RegistrySegmentStore
    from modelship.training import production_gate
    from support.fake_registry import FakeRegistry

    fake = FakeRegistry()
    catalog = OciCatalog(fake.client(), "models", "oci://registry.test/models")
    repository = f"models/{NAMESPACE}/{MODEL}-capture"
    flipped_production(tmp_path, store=RegistrySegmentStore(fake.client(), repository))
    opened: list[str] = []

    def open_store(uri: str) -> RegistrySegmentStore:
        opened.append(uri)
        return RegistrySegmentStore(fake.client(), uri.removeprefix("oci://registry.test/"))

    monkeypatch.setattr(production_gate, "open_segment_store", open_store)
    on_registry = {"catalog_root": "oci://registry.test/models"}
    base = train(snapshot(None), settings(tmp_path, **on_registry), catalog)
    champion = catalog.get(NAMESPACE, MODEL, base.version)
    source = ProductionSource(champion_version=champion.version,
                              champion_digest=champion.digest, now=NOW)  # fmt: skip
    registry_settings = settings(tmp_path, **on_registry).model_copy(update={"production": source})

    summary = train(snapshot({"weight": 10, "holdoutSeconds": int(2 * DAY)}), registry_settings,
                    catalog)  # fmt: skip

    assert opened == [f"oci://registry.test/{repository}"]
    used = summary.production
    assert used is not None and used.store == opened[0]
    assert used.live_gate is not None and used.live_gate.passed, used.live_gate
    assert used.live_gate.champion_version == base.version
    assert used.captures.count == 4 and used.rows + used.holdout_rows == 400
    assert catalog.get(NAMESPACE, MODEL, summary.version).production == used
