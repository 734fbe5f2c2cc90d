"""Script mode end to end without a cluster: prepare, the user's code, publish, each as the
process its container runs (`main`), on a temporary work directory and a file-backed catalog.

The user's code runs for real in a child process; every bad variant must end with exit 2 (never
retried) and a reason that names what happened.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from modelship.api.v1alpha1 import Model
from modelship.catalog import FileCatalog, UntrustedArtifactError
from modelship.catalog.digests import digest_bytes
from modelship.contracts.training_code import (
    CODE,
    CODE_FILE,
    OUTPUT,
    TRAIN,
    CodeRunnerEnv,
    read_training_data,
)
from modelship.serving.loader import LoadFailedError, load_version
from modelship.serving.settings import ServingSettings
from modelship.training.script import prepare, publish, runner

PIPELINE = """
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


def train(data, params):
    if data.X.shape[0] != params["expect_rows"] or data.X.shape[0] != len(data.y):
        raise AssertionError(f"got {data.X.shape[0]} rows")
    assert data.task == "classification" and len(data.feature_names) == data.X.shape[1]
    import os
    leaked = [k for k in os.environ if k.startswith("MODELSHIP_") or k == "DOCKER_CONFIG"]
    if leaked:
        raise AssertionError(f"leaked {leaked}")
    model = make_pipeline(StandardScaler(), LogisticRegression(C=params["C"], max_iter=500))
    return model.fit(data.X, data.y)
"""

RAISES = """
def train(data, params):
    raise ValueError("column 'petal' has no variance")
"""

NOT_AN_ESTIMATOR = """
def train(data, params):
    return {"weights": [1, 2, 3]}
"""

UNTRUSTED = """
import operator
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer


def train(data, params):
    model = make_pipeline(FunctionTransformer(operator.abs), LogisticRegression(max_iter=500))
    return model.fit(data.X, data.y)
"""

SLEEPS = """
import subprocess, sys, time


def train(data, params):
    helper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    with open(params["pid_file"], "w") as handle:
        handle.write(str(helper.pid))
    time.sleep(120)
"""

SAMPLE = Path(__file__).parents[2] / "manifests" / "samples" / "script-mode"
IRIS_TRAIN_ROWS = 112  # 150 rows, testFraction 0.25


@dataclass
class Step:
    code: int
    message: dict[str, Any] | None


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("MODELSHIP_TRAINING_", "MODELSHIP_CODE_")):
            monkeypatch.delenv(name)


@dataclass
class Pod:
    """One script-mode pod on a temporary directory: run its three containers in order."""

    root: Path
    monkeypatch: pytest.MonkeyPatch

    @property
    def catalog(self) -> FileCatalog:
        return FileCatalog(self.root / "catalog")

    def trainer_env(self, snapshot: dict[str, Any], allowed: list[str]) -> None:
        env = {
            "SNAPSHOT": json.dumps(snapshot),
            "CATALOG_ROOT": str(self.root / "catalog"),
            "NAMESPACE": "team-a",
            "MODEL_NAME": "churn",
            "TRAINING_JOB_NAME": "churn-1",
            "WORK_ROOT": str(self.root / "work"),
            "CODE_SOURCE_DIR": str(self.root / "configmap"),
            "ALLOWED_TYPES": json.dumps(allowed),
            "TERMINATION_MESSAGE_PATH": str(self.root / "termination-log"),
        }
        for name, value in env.items():
            self.monkeypatch.setenv(f"MODELSHIP_TRAINING_{name}", value)

    def step(self, main: Any) -> Step:
        log = self.root / "termination-log"
        log.unlink(missing_ok=True)
        code = main()
        message = json.loads(log.read_text()) if log.exists() else None
        return Step(code, message)

    def run_code(self, code: dict[str, Any]) -> Step:
        work = self.root / "work"
        env = CodeRunnerEnv(
            entrypoint=code.get("entrypoint", "train"),
            params=code.get("params", {}),
            timeout_seconds=code.get("timeoutSeconds", 600),
            train_dir=str(work / TRAIN),
            code_file=str(work / CODE / CODE_FILE),
            output_dir=str(work / OUTPUT),
            termination_message_path=str(self.root / "termination-log"),
        )
        with self.monkeypatch.context() as mp:
            for entry in env.to_env():
                mp.setenv(entry["name"], entry["value"])
            # What the pod's other containers hold must not reach the code (it checks).
            mp.setenv("DOCKER_CONFIG", "/var/run/modelship/registry")
            return self.step(runner.main)

    def run(
        self,
        source: str | None,
        code: dict[str, Any],
        allowed: list[str] | None = None,
        spec: dict[str, Any] | None = None,
    ) -> list[Step]:
        """prepare, code, publish; stops after the first step that fails."""
        if source is not None:
            (self.root / "configmap").mkdir(exist_ok=True)
            (self.root / "configmap" / CODE_FILE).write_text(source)
        code = {"configMap": {"name": "churn-train", "key": "train.py"}, **code}
        self.trainer_env(spec or snapshot(code), allowed or [])
        steps = [self.step(lambda: prepare.main([]))]
        if steps[-1].code == 0:
            steps.append(self.run_code(code))
        if steps[-1].code == 0:
            steps.append(self.step(lambda: publish.main([])))
        return steps


def snapshot(code: dict[str, Any]) -> dict[str, Any]:
    return {
        "task": "classification",
        "dataset": {"uri": "builtin:iris"},
        "evaluation": {
            "testFraction": 0.25,
            "seed": 7,
            "gates": [{"metric": "accuracy", "min": 0.8}],
        },
        "training": {"code": code},
    }


@pytest.fixture
def pod(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Pod]:
    yield Pod(tmp_path, monkeypatch)


def test_a_pipeline_from_a_configmap_trains_and_publishes_with_its_digest(pod: Pod) -> None:
    params = {"C": 1.0, "expect_rows": IRIS_TRAIN_ROWS}
    steps = pod.run(PIPELINE, {"params": params})
    assert [s.code for s in steps] == [0, 0, 0], steps
    summary = steps[-1].message
    assert summary is not None
    digest = digest_bytes(PIPELINE.encode())
    assert summary["codeDigest"] == digest
    assert summary["gatesPassed"] is True and summary["metrics"]["accuracy"] >= 0.8
    # The code saw the training rows only; the held-out ones stayed with Modelship.
    data = read_training_data(pod.root / "work" / TRAIN)
    assert data.X.shape == (IRIS_TRAIN_ROWS, 4) and data.seed == 7
    metadata = pod.catalog.verify("team-a", "churn", 1)
    assert metadata.algorithm.name == "code"
    assert metadata.algorithm.params["codeDigest"] == digest
    assert metadata.algorithm.params["source"] == "configmap:churn-train/train.py"
    assert metadata.algorithm.params["estimator"] == "sklearn.pipeline.Pipeline"
    assert metadata.evaluation is not None and metadata.evaluation.test_rows == 38
    model = pod.catalog.open_verified("team-a", "churn", 1).load_model()
    assert type(model).__name__ == "Pipeline"


def test_code_that_raises_fails_once_naming_the_exception(pod: Pod) -> None:
    steps = pod.run(RAISES, {})
    assert [s.code for s in steps] == [0, 2]
    report = steps[-1].message
    assert report is not None and report["reason"] == "CodeRaised"
    assert "ValueError: column 'petal' has no variance" in report["error"]
    assert "line 3 of the training code" in report["error"]
    assert pod.catalog.version_numbers("team-a", "churn") == []


def test_a_missing_entrypoint_is_named(pod: Pod) -> None:
    steps = pod.run(RAISES, {"entrypoint": "fit_model"})
    assert steps[-1].code == 2 and steps[-1].message is not None
    assert steps[-1].message["reason"] == "EntrypointNotFound"
    assert "'fit_model'" in steps[-1].message["error"]


def test_a_non_estimator_is_refused_naming_its_type(pod: Pod) -> None:
    steps = pod.run(NOT_AN_ESTIMATOR, {})
    assert [s.code for s in steps] == [0, 2]
    report = steps[-1].message
    assert report is not None and report["reason"] == "NotAnEstimator"
    assert "builtins.dict" in report["error"]


def test_an_untrusted_type_is_refused_naming_it(pod: Pod) -> None:
    steps = pod.run(UNTRUSTED, {})
    assert [s.code for s in steps] == [0, 0, 2]
    report = steps[-1].message
    assert report is not None and report["reason"] == "UntrustedType"
    assert "_operator.abs" in report["error"]
    assert pod.catalog.version_numbers("team-a", "churn") == []


def test_a_requested_type_outside_the_admin_list_is_refused_before_anything_runs(
    pod: Pod,
) -> None:
    steps = pod.run(UNTRUSTED, {"trustedTypes": ["_operator.abs"]}, allowed=["numpy.clip"])
    assert [s.code for s in steps] == [2]
    report = steps[-1].message
    assert report is not None and report["reason"] == "TrustedTypeNotAllowed"
    assert "_operator.abs" in report["error"]
    assert not (pod.root / "work" / TRAIN).exists()


def test_a_requested_type_the_admin_allows_is_published_and_loads_only_with_it(
    pod: Pod,
) -> None:
    steps = pod.run(UNTRUSTED, {"trustedTypes": ["_operator.abs"]}, allowed=["_operator.abs"])
    assert [s.code for s in steps] == [0, 0, 0], steps
    version = pod.catalog.open_verified("team-a", "churn", 1)
    assert type(version.load_model(trusted=("_operator.abs",))).__name__ == "Pipeline"
    with pytest.raises(UntrustedArtifactError, match=r"_operator\.abs"):
        version.load_model()  # a reader not told by its own settings refuses it


def test_code_past_its_timeout_is_killed_with_everything_it_started(pod: Pod) -> None:
    pid_file = pod.root / "helper.pid"
    started = time.monotonic()
    steps = pod.run(SLEEPS, {"timeoutSeconds": 3, "params": {"pid_file": str(pid_file)}})
    assert time.monotonic() - started < 60
    assert [s.code for s in steps] == [0, 2]
    report = steps[-1].message
    assert report is not None and report["reason"] == "CodeTimeout"
    assert "timeoutSeconds (3s)" in report["error"]
    assert not running(int(pid_file.read_text()))


def running(pid: int) -> bool:
    """Alive and not a zombie waiting to be reaped (its parent was killed before it)."""
    for _ in range(50):
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return False
        if state == "Z":
            return False
        time.sleep(0.1)
    return True


def test_a_missing_configmap_or_key_fails_prepare_naming_both(pod: Pod) -> None:
    steps = pod.run(None, {})
    assert [s.code for s in steps] == [2]
    report = steps[-1].message
    assert report is not None and report["reason"] == "CodeNotFound"
    assert "'churn-train'" in report["error"] and "'train.py'" in report["error"]


def test_output_the_code_left_is_checked_again_at_publish(pod: Pod) -> None:
    """The code container is untrusted as a whole: bytes it leaves are not loaded blindly."""
    steps = pod.run(PIPELINE, {"params": {"C": 1.0, "expect_rows": IRIS_TRAIN_ROWS}})
    assert [s.code for s in steps] == [0, 0, 0]
    (pod.root / "work" / OUTPUT / "model.skops").write_bytes(b"PK\x03\x04 not skops")
    again = pod.step(lambda: publish.main([]))
    assert again.code == 2 and again.message is not None
    assert again.message["reason"] == "InvalidModelOutput"


def test_serving_loads_an_admin_allowed_type_only_when_its_own_settings_list_it(
    pod: Pod,
) -> None:
    steps = pod.run(UNTRUSTED, {"trustedTypes": ["_operator.abs"]}, allowed=["_operator.abs"])
    assert [s.code for s in steps] == [0, 0, 0]
    summary = steps[-1].message
    assert summary is not None
    base = {
        "model_name": "churn",
        "namespace": "team-a",
        "version": 1,
        "expected_digest": summary["digest"],
        "catalog_root": str(pod.root / "catalog"),
    }
    loaded = load_version(ServingSettings(**base, trusted_types=["_operator.abs"]))
    assert loaded.metadata.algorithm.name == "code"
    with pytest.raises(LoadFailedError, match=r"_operator\.abs"):
        load_version(ServingSettings(**base))


def test_the_script_mode_sample_trains_and_passes_its_gates(pod: Pod) -> None:
    configmap = yaml.safe_load((SAMPLE / "configmap-train.yaml").read_text())
    model = Model.model_validate(yaml.safe_load((SAMPLE / "model-cancer.yaml").read_text()))
    code = model.spec.training.code
    assert code is not None and code.config_map is not None
    assert code.config_map.name == configmap["metadata"]["name"]
    snapshot = model.spec.snapshot().to_wire()
    steps = pod.run(configmap["data"][code.config_map.key], code.to_wire(), spec=snapshot)
    assert [s.code for s in steps] == [0, 0, 0], steps
    summary = steps[-1].message
    assert summary is not None and summary["gatesPassed"] is True
    assert summary["codeDigest"] == digest_bytes(configmap["data"]["train.py"].encode())
