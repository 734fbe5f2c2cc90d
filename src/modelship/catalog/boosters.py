"""XGBoost and LightGBM models, kept in their libraries' own formats: data, never code.

A gradient-boosted model is a list of trees, and both libraries write it as data: XGBoost as
UBJSON (`model.ubj`: binary JSON, which keeps categorical splits, unlike the deprecated binary
format), LightGBM as its model text (`model.txt`). Neither is pickled, so loading runs no code
of the artifact; the bytes are still parsed by C++, so they are parsed only after the catalog
has checked their digest, and only in pods without credentials. LightGBM 4.7's parser aborts or
segfaults the whole process on a damaged model text (a truncated file: `terminate called`;
trailing zero bytes: SIGSEGV; see also lightgbm-org/LightGBM#7357), and XGBoost 3.2's UBJSON
reader can segfault on a damaged document too (seen here on bytes cut in half), so a model this
process did not write itself is parsed first in a child process (`_probe`): a damaged one then
fails the load with a reason instead of killing the server.

`BoosterModel` is what a version of such a model loads as: the library's `Booster` with the
scikit-learn face the trainer's evaluation and the server's runtime call (`predict`,
`predict_proba`, `classes_`, `n_features_in_`). It predicts straight from a numpy matrix
(XGBoost's `inplace_predict`, LightGBM's `Booster.predict`): no DataFrame and no DMatrix per
call. The trainer fits the libraries' own scikit-learn estimators on class *codes* (0..k-1) and
hands the fitted booster to `from_estimator`, which loads it back from the very bytes that will
be published, so what is evaluated is what is served. The class labels are plain data in the
version's metadata (`target.classes`), and so is the library's version (`framework`): a server
refuses an artifact written by a newer library than its own, which may use features it cannot
read.
"""

from __future__ import annotations

import importlib.metadata
import json
import re
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from modelship.catalog.errors import CatalogError, IncompatibleArtifactError

Framework = Literal["xgboost", "lightgbm"]
XGBOOST_FILE = "model.ubj"
LIGHTGBM_FILE = "model.txt"
FILES: dict[str, str] = {"xgboost": XGBOOST_FILE, "lightgbm": LIGHTGBM_FILE}
# The distribution that provides each module: the CPU-only build of XGBoost is `xgboost-cpu`.
_DISTRIBUTIONS: dict[str, tuple[str, ...]] = {
    "xgboost": ("xgboost-cpu", "xgboost"),
    "lightgbm": ("lightgbm",),
}
Label = int | float | str
# Each parses a model from stdin and exits 0; a parser crash shows as a signal or exit code.
_READ = "sys.stdin.buffer.read()"
_PROBES = {
    "lightgbm": f"import sys, lightgbm; lightgbm.Booster(model_str={_READ}.decode())",
    "xgboost": f"import sys, xgboost; xgboost.Booster().load_model(bytearray({_READ}))",
}
_FILES = {"lightgbm": "model.txt", "xgboost": "model.ubj"}
PROBE_TIMEOUT_SECONDS = 120


def installed_version(framework: str) -> str:
    """The version of the library installed here, from its distribution's metadata."""
    for distribution in _DISTRIBUTIONS.get(framework, ()):
        try:
            return importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            continue
    raise IncompatibleArtifactError(f"{framework} is not installed here")


def release(version: str) -> tuple[int, ...]:
    """The numeric release of a version string, three parts ("3.2rc1" -> (3, 2, 0)); () if none."""
    match = re.match(r"^v?(\d+(?:\.\d+)*)", version.strip())
    if not match:
        return ()
    parts = tuple(int(part) for part in match.group(1).split("."))
    return (*parts, 0, 0)[: max(3, len(parts))]


def check_readable(framework: str, written_by: str) -> None:
    """Refuse an artifact of an unknown library, or written by a newer one than installed."""
    if framework not in FILES:
        raise IncompatibleArtifactError(
            f"the artifact is a {framework!r} model; this Modelship reads {', '.join(FILES)}"
        )
    here = installed_version(framework)
    written, mine = release(written_by), release(here)
    if not written:
        raise IncompatibleArtifactError(
            f"the artifact records an unreadable {framework} version {written_by!r}"
        )
    if written > mine:
        raise IncompatibleArtifactError(
            f"the artifact was written by {framework} {written_by}, newer than the {here} this "
            f"server has; serve it with an image that has {framework} {written_by} or later"
        )


@dataclass(eq=False)
class BoosterModel:
    """A loaded booster behind the scikit-learn calls Modelship makes; regressors predict values."""

    framework: Framework
    version: str
    """The library version that wrote `raw` (recorded in the version's metadata)."""
    raw: bytes
    """The artifact exactly as published (UBJSON or model text)."""
    booster: Any
    n_features_in_: int

    @property
    def file(self) -> str:
        return FILES[self.framework]

    def outputs(self, x: NDArray[np.float64]) -> NDArray[Any]:
        """The booster's raw prediction: values, P(class 1) for binary, (n, k) for multiclass."""
        if self.framework == "xgboost":
            # Thread-safe, no DMatrix; NaN is the missing value, as in training.
            return np.asarray(self.booster.inplace_predict(x, validate_features=False))
        return np.asarray(self.booster.predict(x, num_threads=1))

    def predict(self, x: NDArray[np.float64]) -> NDArray[Any]:
        return self.outputs(x).astype(np.float64, copy=False)

    def set_threads(self, threads: int) -> None:
        """Prediction threads (the trainer uses its cores; a server worker one)."""
        if self.framework == "xgboost":
            self.booster.set_param({"nthread": threads})


@dataclass(eq=False)
class BoosterClassifier(BoosterModel):
    """A classifier: the booster predicts class codes 0..k-1, `classes_` maps them to labels."""

    classes_: NDArray[Any]

    def predict_proba(self, x: NDArray[np.float64]) -> NDArray[np.float64]:
        """(n, k) probabilities, computed as the libraries' own `predict_proba` computes them."""
        out = self.outputs(x)
        if out.ndim == 1:  # binary: the probability of the second class, in the output's dtype
            out = np.vstack((1 - out, out)).T
        return out.astype(np.float64, copy=False)

    def predict(self, x: NDArray[np.float64]) -> NDArray[Any]:
        labels: NDArray[Any] = self.classes_[self.predict_proba(x).argmax(axis=1)]
        return labels


def from_estimator(
    framework: Framework, estimator: Any, classes: Sequence[Label] | None
) -> BoosterModel:
    """The fitted scikit-learn estimator of either library as its artifact, loaded back."""
    if framework == "xgboost":
        raw = bytes(estimator.get_booster().save_raw(raw_format="ubj"))
    else:
        raw = estimator.booster_.model_to_string().encode("utf-8")
    version = installed_version(framework)
    # Bytes this process has just written: no need to parse them in a child first.
    return load(framework, version, raw, classes, estimator.n_features_in_, isolate=False)


def load(
    framework: str,
    written_by: str,
    raw: bytes,
    classes: Sequence[Label] | None,
    features: int,
    *,
    isolate: bool = True,
) -> BoosterModel:
    """Parse verified bytes; refuse a newer library, another format, or a mismatched shape.

    `isolate` parses the bytes in a child process first (see the module's doc).
    """
    check_readable(framework, written_by)
    if framework == "xgboost":
        if isolate:
            _probe("xgboost", raw)
        booster, width, outputs = _xgboost(raw)
    else:
        if isolate:
            _probe("lightgbm", raw)
        booster, width, outputs = _lightgbm(raw)
    if width != features:
        raise CatalogError(f"the {framework} model has {width} features, the version {features}")
    name: Framework = "xgboost" if framework == "xgboost" else "lightgbm"
    if classes is None:
        if outputs != 1:
            raise CatalogError(f"the {framework} model has {outputs} outputs, not a regressor's 1")
        model = BoosterModel(name, written_by, raw, booster, width)
    else:
        expected = 1 if len(classes) == 2 else len(classes)
        if outputs != expected:
            raise CatalogError(
                f"the {framework} model has {outputs} outputs for {len(classes)} classes"
            )
        model = BoosterClassifier(name, written_by, raw, booster, width, np.asarray(classes))
    model.set_threads(1)
    return model


def _xgboost(raw: bytes) -> tuple[Any, int, int]:
    """A Booster from UBJSON bytes (a UBJSON document is an object: it starts with `{`)."""
    import xgboost

    if not raw.startswith(b"{"):
        raise CatalogError("model.ubj is not an XGBoost UBJSON document")
    booster = xgboost.Booster()
    try:
        booster.load_model(bytearray(raw))
        config = json.loads(booster.save_config())
    except (xgboost.core.XGBoostError, ValueError) as exc:
        raise CatalogError(f"model.ubj is not a readable XGBoost model: {exc}") from exc
    learner = config["learner"]
    objective = learner["objective"]["name"]
    classes = int(learner["learner_model_param"].get("num_class", "0"))
    if objective.startswith("multi:") and objective != "multi:softprob":
        # softmax predicts labels, not probabilities: nothing to rank or calibrate against.
        raise CatalogError(f"XGBoost objective {objective} is not served; use multi:softprob")
    return booster, int(booster.num_features()), max(classes, 1)


def _lightgbm(raw: bytes) -> tuple[Any, int, int]:
    """A Booster from LightGBM model text (it starts with the line `tree`)."""
    import lightgbm

    if not raw.startswith(b"tree"):
        raise CatalogError("model.txt is not a LightGBM model text")
    try:
        booster = lightgbm.Booster(model_str=raw.decode("utf-8"))
    except (lightgbm.basic.LightGBMError, UnicodeDecodeError, ValueError) as exc:
        raise CatalogError(f"model.txt is not a readable LightGBM model: {exc}") from exc
    return booster, int(booster.num_feature()), int(booster.num_model_per_iteration())


def _probe(framework: Literal["xgboost", "lightgbm"], raw: bytes) -> None:
    """Parse the model in a child process; refuse it if the parser fails or crashes."""
    name = _FILES[framework]
    if framework == "lightgbm":
        if not raw.startswith(b"tree"):
            raise CatalogError("model.txt is not a LightGBM model text")
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CatalogError(f"model.txt is not UTF-8 text: {exc}") from exc
    elif not raw.startswith(b"{"):
        raise CatalogError("model.ubj is not an XGBoost UBJSON document")
    try:
        done = subprocess.run(
            [sys.executable, "-c", _PROBES[framework]],
            input=raw,
            capture_output=True,
            timeout=PROBE_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise CatalogError(
            f"{framework} did not parse {name} within {PROBE_TIMEOUT_SECONDS}s"
        ) from exc
    if done.returncode != 0:
        how = f"signal {-done.returncode}" if done.returncode < 0 else f"exit {done.returncode}"
        stderr = done.stderr.decode("utf-8", "replace")
        said = [line for line in stderr.splitlines() if line.strip()]
        detail = said[-1][:300] if said else "no message"
        raise CatalogError(f"{name} is not a readable {framework} model ({how}): {detail}")
