"""XGBoost and LightGBM: trained by the trainer's path, published in their own formats, served.

Both libraries on both tasks, with missing cells: the served predictions equal the library's own
estimator called in-process on the same rows; the artifact is UBJSON or model text (never skops or
pickle) and the version records the library's version; a newer library's artifact, corrupted
bytes and unknown params are refused with reasons that name them; the trainer's path costs little
more than the library's own fit.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from modelship.catalog import (
    CatalogError,
    FileCatalog,
    IncompatibleArtifactError,
    IntegrityError,
    VerifiedVersion,
    artifacts,
    boosters,
)
from modelship.catalog.models import FrameworkInfo, TargetInfo
from modelship.serving.runtime import build_runtime
from modelship.training import algorithms
from modelship.training.algorithms import build_estimator, usable_cpus
from modelship.training.errors import BadInput
from support.factories import staged_version

FRAMEWORKS = ["xgboost", "lightgbm"]
FILES = {"xgboost": "model.ubj", "lightgbm": "model.txt"}
NAMES = [f"f{i}" for i in range(6)]
SMALL = {"n_estimators": 25}


def table(rows: int = 400, seed: int = 0) -> np.ndarray:
    """Six numeric features, a tenth of the cells missing (NaN)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, len(NAMES)))
    x[rng.random(x.shape) < 0.1] = np.nan
    return x


def target(x: np.ndarray, kind: str) -> np.ndarray:
    score = np.nan_to_num(x[:, 0]) + 0.5 * np.nan_to_num(x[:, 1]) - np.isnan(x[:, 2])
    if kind == "binary":
        return np.where(score > 0, "churned", "stayed")
    if kind == "multiclass":
        return np.array([3, 7, 11])[np.digitize(score, [-0.5, 0.5])]
    return 3.0 * score + np.nan_to_num(x[:, 3])


CASES = [
    (framework, kind) for framework in FRAMEWORKS for kind in ("binary", "multiclass", "regression")
]


def trained(framework: str, kind: str, x: np.ndarray, params: dict[str, Any] | None = None) -> Any:
    """What the trainer does: build by name and task, fit on codes, load back from the artifact."""
    task: Any = "regression" if kind == "regression" else "classification"
    y = target(x, kind)
    classes = None if task == "regression" else np.unique(y).tolist()
    built = build_estimator(framework, {**SMALL, **(params or {})}, task, seed=3)
    model = algorithms.fit(built, x, y, framework, classes)
    return built, model, classes


def library_labels(built: Any, x: np.ndarray, classes: list[Any]) -> np.ndarray:
    """The library's own estimator predicts codes (it was fitted on them); map them to labels."""
    return np.asarray(classes)[built.estimator.predict(x).astype(int)]


@pytest.mark.parametrize(("framework", "kind"), CASES)
def test_served_predictions_equal_the_library_in_process(
    framework: str, kind: str, tmp_path: Path
) -> None:
    x = table()
    built, model, classes = trained(framework, kind, x)
    task = "regression" if classes is None else "classification"
    catalog = FileCatalog(tmp_path / "catalog")
    metadata = catalog.publish(
        "ns",
        "m",
        staged_version(
            model,
            task=task,
            names=NAMES,
            target=TargetInfo(name="y", classes=classes),
        ),
    )

    assert set(metadata.files) == {FILES[framework], "acceptance.json", "profile.json"}
    assert metadata.framework == FrameworkInfo(
        name=framework, version=boosters.installed_version(framework)
    )
    version = catalog.open_verified("ns", "m", 1, metadata.digest)
    loaded = version.load_model()
    rows = table(200, seed=1)  # unseen rows, NaN cells included
    runtime = build_runtime(loaded, NAMES, task, rows[:20])
    served = runtime.predict(rows, proba=True)

    assert runtime.engine == framework
    if classes is None:
        assert np.array_equal(served.labels, built.estimator.predict(rows).astype(np.float64))
        assert np.array_equal(loaded.predict(rows), model.predict(rows))
    else:
        # The very same numbers as the library's own predict_proba, and its labels.
        assert np.array_equal(served.proba, built.estimator.predict_proba(rows))
        assert served.labels.tolist() == library_labels(built, rows, classes).tolist()
        assert list(loaded.classes_) == classes
        assert served.class_index is not None
        assert (runtime.classes[served.class_index] == served.labels).all()


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_the_artifact_is_the_library_s_own_data_format(framework: str) -> None:
    _, model, _ = trained(framework, "multiclass", table())

    name, data = artifacts.serialize(model)

    assert name == FILES[framework]
    if framework == "xgboost":
        assert data.startswith(b"{") and b"learner" in data  # UBJSON: a typed object
    else:
        assert data.decode("utf-8").startswith("tree\nversion=")
    assert b"sklearn" not in data and b"\x80\x04" not in data[:2]  # neither skops nor pickle


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_a_newer_library_s_artifact_is_refused_before_it_is_parsed(
    framework: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, model, classes = trained(framework, "binary", table())
    catalog = FileCatalog(tmp_path / "catalog")
    published = catalog.publish(
        "ns", "m", staged_version(model, task="classification", names=NAMES,
                                  target=TargetInfo(name="y", classes=classes)),
    )  # fmt: skip
    version = catalog.open_verified("ns", "m", 1)
    mine = boosters.installed_version(framework)
    newer = f"{boosters.release(mine)[0] + 1}.0.0"
    from_the_future = VerifiedVersion(
        published.model_copy(update={"framework": FrameworkInfo(name=framework, version=newer)}),
        version.path,
    )
    parsed: list[str] = []
    monkeypatch.setattr(boosters, f"_{framework}", lambda raw: parsed.append("parsed"))

    with pytest.raises(IncompatibleArtifactError) as refused:
        from_the_future.load_model()

    assert f"written by {framework} {newer}, newer than the {mine} this server has" in str(
        refused.value
    )
    assert "version 1 of ns/m" in str(refused.value)
    assert parsed == []


def test_versions_compare_by_release_and_unknown_libraries_are_refused() -> None:
    assert boosters.release("3.2.0") == (3, 2, 0)
    assert boosters.release("3.10.1rc1") == (3, 10, 1)
    assert boosters.release("3.10") > boosters.release("3.9.9")
    assert boosters.release("4.7") == boosters.release("4.7.0") < boosters.release("4.7.0.1")
    mine = boosters.installed_version("lightgbm")
    boosters.check_readable("lightgbm", mine)  # the same version: readable
    boosters.check_readable("lightgbm", "4.0.0")  # an older one too
    with pytest.raises(IncompatibleArtifactError, match="'catboost' model"):
        boosters.check_readable("catboost", "1.0")
    with pytest.raises(IncompatibleArtifactError, match="unreadable lightgbm version"):
        boosters.check_readable("lightgbm", "latest")


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_corrupted_bytes_are_refused_by_digest_and_by_the_parser(
    framework: str, tmp_path: Path
) -> None:
    _, model, classes = trained(framework, "multiclass", table())
    catalog = FileCatalog(tmp_path / "catalog")
    catalog.publish(
        "ns", "m", staged_version(model, task="classification", names=NAMES,
                                  target=TargetInfo(name="y", classes=classes)),
    )  # fmt: skip
    version = catalog.open_verified("ns", "m", 1)
    path = version.path / FILES[framework]
    path.chmod(0o644)
    data = path.read_bytes()
    path.write_bytes(data[:-40] + bytes(40))

    with pytest.raises(IntegrityError, match="does not match its published digest"):
        version.load_model()

    # Bytes that passed a digest but are not a model (a writer's bug, not an attack on the
    # digest): the parser's refusal is a CatalogError, never a crash.
    version_of = boosters.installed_version(framework)
    for bad in (data[: len(data) // 2], b"garbage", b"{" + bytes(100), b"tree\n" + bytes(50)):
        with pytest.raises(CatalogError):
            boosters.load(framework, version_of, bad, classes, len(NAMES))


def test_a_model_that_does_not_fit_its_metadata_is_refused() -> None:
    _, model, classes = trained("xgboost", "multiclass", table())
    mine = boosters.installed_version("xgboost")
    with pytest.raises(CatalogError, match="has 6 features, the version 5"):
        boosters.load("xgboost", mine, model.raw, classes, 5)
    with pytest.raises(CatalogError, match="3 outputs for 2 classes"):
        boosters.load("xgboost", mine, model.raw, classes[:2], 6)
    with pytest.raises(CatalogError, match="not a regressor"):
        boosters.load("xgboost", mine, model.raw, None, 6)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_params_are_checked_and_the_seed_and_threads_injected(framework: str) -> None:
    with pytest.raises(BadInput, match=r"unknown parameter.*'n_trees'") as unknown:
        build_estimator(framework, {"n_trees": 5}, "classification", seed=0)
    assert unknown.value.reason == "InvalidParameter"
    assert "n_estimators" in str(unknown.value)  # the accepted ones are listed

    built = build_estimator(framework, {"max_depth": 3}, "regression", seed=11)

    assert built.params == {"max_depth": 3, "random_state": 11, "n_jobs": usable_cpus()}
    assert built.estimator.get_params()["random_state"] == 11
    own = build_estimator(framework, {"n_jobs": 1, "random_state": 5}, "regression", seed=11)
    assert own.params == {"n_jobs": 1, "random_state": 5}


def test_params_a_served_model_could_not_honour_are_refused_with_the_reason() -> None:
    with pytest.raises(BadInput, match="'missing': NaN is the missing value"):
        build_estimator("xgboost", {"missing": 0}, "classification", seed=0)
    with pytest.raises(BadInput, match="'callbacks': callbacks are code"):
        build_estimator("xgboost", {"callbacks": ["x"]}, "classification", seed=0)
    # softmax predicts labels, not probabilities: refused when fitted (before anything is
    # published), as bad input naming the objective.
    with pytest.raises(BadInput, match="multi:softmax is not served") as softmax:
        trained("xgboost", "multiclass", table(), {"objective": "multi:softmax"})
    assert softmax.value.reason == "FitFailed"
    with pytest.raises(BadInput, match="could not be fitted") as bad:
        trained("lightgbm", "binary", table(), {"num_leaves": -3})
    assert bad.value.reason == "FitFailed"


def test_the_cgroup_quota_caps_the_threads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cpu_max = tmp_path / "cpu.max"
    monkeypatch.setattr(algorithms, "CGROUP_CPU_MAX", cpu_max)
    monkeypatch.setattr(algorithms.os, "sched_getaffinity", lambda pid: set(range(16)))
    cpu_max.write_text("150000 100000\n")  # a 1.5-CPU limit
    assert usable_cpus() == 2
    cpu_max.write_text("max 100000\n")
    assert usable_cpus() == 16
    cpu_max.unlink()
    assert usable_cpus() == 16


@pytest.mark.parametrize(
    ("framework", "dataset", "task", "file"),
    [
        ("xgboost", "builtin:breast_cancer", "classification", "model.ubj"),
        ("lightgbm", "builtin:diabetes", "regression", "model.txt"),
    ],
)
def test_the_trainer_publishes_a_version_serving_loads(
    framework: str, dataset: str, task: str, file: str, tmp_path: Path
) -> None:
    from modelship.training.main import main

    snapshot = tmp_path / "snapshot.json"
    snapshot.write_text(
        json.dumps(
            {
                "task": task,
                "dataset": {"uri": dataset},
                "algorithm": {"name": framework, "params": {"n_estimators": 30}},
                "evaluation": {"gates": [{"metric": "r2" if task == "regression" else "roc_auc",
                                          "min": 0.3}]},
            }
        )
    )  # fmt: skip
    termination = tmp_path / "termination"
    code = main(
        ["--snapshot-file", str(snapshot), "--catalog-root", str(tmp_path / "catalog"),
         "--model-name", "m", "--termination-message-path", str(termination)]
    )  # fmt: skip

    summary = json.loads(termination.read_text())
    assert code == 0, summary
    assert summary["gatesPassed"] is True
    assert summary["artifactUri"].endswith(f"/default/m/1/{file}")
    catalog = FileCatalog(tmp_path / "catalog")
    version = catalog.open_verified("default", "m", 1, summary["digest"])
    assert version.metadata.framework is not None
    assert version.metadata.framework.name == framework
    acceptance = version.acceptance()
    model = version.load_model()
    rows = np.asarray(acceptance.inputs)
    if task == "classification":
        accuracy = float(np.mean(model.predict(rows) == np.asarray(acceptance.targets)))
        assert accuracy == pytest.approx(summary["metrics"]["accuracy"])
    else:
        assert np.isfinite(model.predict(rows)).all()


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_the_trainer_s_path_costs_little_more_than_the_library_s_fit(framework: str) -> None:
    """Building by name, fitting on codes and loading back from the artifact, against the
    library's estimator fitted directly on the same rows (best of three, interleaved)."""
    import lightgbm
    import xgboost

    x = table(4000)
    y = target(x, "binary")
    classes = np.unique(y).tolist()
    codes = np.searchsorted(np.asarray(classes), y)
    library = {"xgboost": xgboost.XGBClassifier, "lightgbm": lightgbm.LGBMClassifier}[framework]
    extra = {"verbose": -1} if framework == "lightgbm" else {}
    params = {"n_estimators": 60, "n_jobs": 1}
    ours, theirs = float("inf"), float("inf")
    for _ in range(3):
        started = time.perf_counter()
        direct = library(**params, random_state=0, **extra).fit(x, codes)
        theirs = min(theirs, time.perf_counter() - started)
        started = time.perf_counter()
        built = build_estimator(framework, {**params, "random_state": 0}, "classification", 0)
        model = algorithms.fit(built, x, y, framework, classes)
        ours = min(ours, time.perf_counter() - started)

    assert np.array_equal(model.predict_proba(x), direct.predict_proba(x))  # the same model
    assert ours <= theirs * 1.5 + 0.02, (ours, theirs)


def test_the_trainer_lets_idle_openmp_threads_sleep_unless_told_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from modelship.training.main import quiet_openmp_waits

    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    quiet_openmp_waits()
    assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE"
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    quiet_openmp_waits()
    assert os.environ["OMP_WAIT_POLICY"] == "ACTIVE"


def test_catalog_show_names_the_framework(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from modelship.cli import main

    _, model, classes = trained("lightgbm", "binary", table())
    FileCatalog(tmp_path / "catalog").publish(
        "ns", "m", staged_version(model, task="classification", names=NAMES,
                                  target=TargetInfo(name="y", classes=classes)),
    )  # fmt: skip

    root = str(tmp_path / "catalog")
    assert main(["catalog", "show", "ns", "m", "1", "--root", root]) == 0

    out = capsys.readouterr().out
    assert f"Framework:   lightgbm {boosters.installed_version('lightgbm')}" in out
    assert "Target:      y classes=['churned', 'stayed']" in out


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_category_codes_split_as_categories_and_serve_from_numpy(framework: str) -> None:
    """Columns of category codes (as a fitted preprocessing plan hands them over, NaN missing)
    get the libraries' native categorical splits, kept in the artifact and served from numpy."""
    import lightgbm
    import xgboost

    rng = np.random.default_rng(5)
    x = np.column_stack([rng.normal(size=800), rng.integers(0, 6, size=800).astype(float)])
    x[rng.random(800) < 0.1, 1] = np.nan
    # Codes 1 and 4 (not adjacent: an ordinal split cannot isolate them in one cut) matter.
    y = np.where(np.isin(x[:, 1], [1, 4]) | (x[:, 0] > 1.5), "yes", "no")
    built = build_estimator(framework, {"n_estimators": 5, "max_depth": 2}, "classification", 0)

    model = algorithms.fit(built, x, y, framework, ["no", "yes"], categorical=[1])

    codes = (y == "yes").astype(int)
    if framework == "xgboost":
        direct = xgboost.XGBClassifier(
            n_estimators=5, max_depth=2, random_state=0, n_jobs=usable_cpus(),
            feature_types=["q", "c"], enable_categorical=True,
        ).fit(x, codes)  # fmt: skip
        assert model.booster.feature_types == ["q", "c"]
    else:
        direct = lightgbm.LGBMClassifier(
            n_estimators=5, max_depth=2, random_state=0, n_jobs=usable_cpus(), verbose=-1
        ).fit(x, codes, categorical_feature=[1])
        assert b"cat_boundaries" in model.raw
    rows = np.column_stack([np.zeros(7), [0, 1, 2, 3, 4, 5, np.nan]])
    runtime = build_runtime(
        boosters.load(framework, model.version, model.raw, ["no", "yes"], 2), ["a", "b"],
        "classification", rows,
    )  # fmt: skip
    served = runtime.predict(rows, proba=True)

    assert np.array_equal(served.proba, direct.predict_proba(rows))
    assert served.labels.tolist() == ["no", "yes", "no", "no", "yes", "no", "no"]


@pytest.mark.parametrize(("framework", "start"), [("xgboost", b"{"), ("lightgbm", b"tree\n")])
def test_a_parser_that_crashes_fails_the_load_not_the_process(
    framework: str, start: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both libraries' parsers can kill their process on damaged bytes (XGBoost 3.2 segfaulted
    here on a UBJSON document cut in half): bytes from a catalog are parsed in a child first."""
    crash = "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"
    monkeypatch.setitem(boosters._PROBES, framework, crash)
    version_of = boosters.installed_version(framework)
    with pytest.raises(CatalogError, match=r"not a readable .* model \(signal 11\)"):
        boosters.load(framework, version_of, start + bytes(64), None, 3)
