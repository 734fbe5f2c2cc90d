"""One training run: snapshot in, catalog version and summary out.

`train` is the whole job as a plain function (tests call it directly); the process concerns — exit
codes, the termination message, stdout hygiene — live in `main.py`.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from modelship.api.v1alpha1 import GateResult as SummaryGate
from modelship.api.v1alpha1 import TrainingSnapshot
from modelship.catalog import (
    AlgorithmInfo,
    Catalog,
    DatasetInfo,
    EvaluationInfo,
    GateResult,
    StagedVersion,
    TargetInfo,
)
from modelship.contracts.production_data import LIVE_GATE_PREFIX, ProductionUse
from modelship.contracts.training import TrainerEnv, TrainerSummary
from modelship.training import algorithms, evaluation, production_gate
from modelship.training.datasets import HttpLimits, load_table
from modelship.training.errors import BadInput
from modelship.training.inputs import Inputs, build_inputs
from modelship.training.production import Selection
from modelship.training.settings import TrainerSettings

log = logging.getLogger(__name__)


def load_snapshot(settings: TrainerSettings) -> TrainingSnapshot:
    if settings.snapshot:
        raw = settings.snapshot
    elif settings.snapshot_file is not None:
        try:
            raw = settings.snapshot_file.read_text(encoding="utf-8")
        except OSError as exc:
            raise BadInput(
                "InvalidConfiguration", f"cannot read snapshot file {settings.snapshot_file}: {exc}"
            ) from exc
    else:
        raise BadInput(
            "InvalidConfiguration",
            f"no training snapshot: set {TrainerEnv.env_name('snapshot')} or "
            f"{TrainerEnv.env_prefix}SNAPSHOT_FILE",
        )
    try:
        return TrainingSnapshot.model_validate(json.loads(raw))
    except json.JSONDecodeError as exc:
        raise BadInput("InvalidSnapshot", f"training snapshot is not JSON: {exc}") from exc
    except ValidationError as exc:
        raise BadInput("InvalidSnapshot", f"invalid training snapshot: {_describe(exc)}") from exc


@dataclass(frozen=True)
class Loaded:
    """The dataset as read and split: what a built-in or the user's code is fitted on, and what
    the version stores beside the model (features, acceptance rows, drift profile, plan)."""

    dataset: DatasetInfo
    inputs: Inputs

    @property
    def parts(self) -> evaluation.Split:
        return self.inputs.split


def require_model_name(settings: TrainerSettings) -> str:
    if not settings.model_name:
        variable = TrainerEnv.env_name("model_name")
        raise BadInput("InvalidConfiguration", f"{variable} is not set")
    return settings.model_name


def load_and_split(
    snapshot: TrainingSnapshot, settings: TrainerSettings, production: Selection | None = None
) -> Loaded:
    """Read the dataset, pick its columns and hold the evaluation rows out (seeded); typed
    features get their plan fitted on the training rows (inputs.py). `production`: labelled
    production rows to add to the training part (and the newest ones to convert for the live
    gate)."""
    limits = HttpLimits(settings.http_max_bytes, settings.http_timeout_seconds)
    table = load_table(snapshot.dataset.uri, limits)
    inputs = build_inputs(
        table, snapshot, settings.acceptance_rows, settings.profile_bins, production
    )
    log.info(
        "loaded %s: %d rows, %d features", snapshot.dataset.uri, table.rows, len(inputs.features)
    )
    dataset = DatasetInfo(uri=snapshot.dataset.uri, digest=table.digest, rows=table.rows)
    return Loaded(dataset, inputs)


def train(
    snapshot: TrainingSnapshot, settings: TrainerSettings, catalog: Catalog
) -> TrainerSummary:
    """A built-in algorithm's run (script mode is `training.script`, on the same two halves)."""
    require_model_name(settings)
    if snapshot.algorithm is None:
        raise BadInput(
            "InvalidSnapshot",
            "the snapshot has training.code, which runs in a script-mode pod "
            "(python -m modelship.training.script.prepare), not in the built-in trainer",
        )
    seed = snapshot.evaluation.seed
    # Build the estimator first: a bad param fails in milliseconds, before any download.
    built = algorithms.build_estimator(
        snapshot.algorithm.name, snapshot.algorithm.params, snapshot.task, seed
    )
    name = snapshot.algorithm.name
    wanted = snapshot.dataset.production
    if wanted is not None and wanted.weight != 1.0 and algorithms.weight_option(built) is None:
        raise BadInput(
            "InvalidConfiguration",
            f"dataset.production.weight {wanted.weight:g} needs an estimator that takes sample "
            f"weights, and {name} does not: set weight 1 or choose another algorithm",
        )
    started = time.monotonic()
    gathered = None
    if wanted is not None:
        gathered = production_gate.gather(
            wanted,
            settings.production,
            settings.catalog_root or "",
            settings.namespace,
            require_model_name(settings),
        )
    loaded = load_and_split(snapshot, settings, gathered.selection if gathered else None)
    parts, part = loaded.parts, loaded.inputs.production
    # Categories reach tree estimators as ordinal codes they split on like numbers. Not as
    # HistGradientBoosting's native categories: given a mask, it wraps its own OrdinalEncoder
    # and a FunctionTransformer(partial(check_array)) in the model, run on every predict and
    # outside the artifact allowlist.
    model = algorithms.fit(
        built, parts.x_train, parts.y_train, name, loaded.inputs.classes,
        sample_weight=part.weights if part is not None else None,
    )  # fmt: skip
    log.info("fitted %s in %.2fs", name, time.monotonic() - started)
    used = None
    if gathered is not None and part is not None:
        used = production_gate.judge(
            gathered, part, model, snapshot.task, catalog, settings.namespace,
            require_model_name(settings), snapshot.dataset.missing_vocabulary,
        )  # fmt: skip
        log.info("live gate: %s", used.live_gate.reason if used.live_gate else "none")
    algorithm = AlgorithmInfo(name=name, params=built.params)
    return publish_fitted(snapshot, settings, catalog, model, algorithm, loaded, production=used)


def publish_fitted(
    snapshot: TrainingSnapshot,
    settings: TrainerSettings,
    catalog: Catalog,
    estimator: Any,
    algorithm: AlgorithmInfo,
    loaded: Loaded,
    *,
    trusted_types: tuple[str, ...] = (),
    code_digest: str | None = None,
    production: ProductionUse | None = None,
) -> TrainerSummary:
    """Compute every metric on the held-out rows, check the gates, publish the version.

    `production`: the labelled production rows used and the live gate, which joins the gates
    (metric `live <primary metric>`), so a candidate that lost to production on the newest
    labelled rows is recorded as failing a gate and never deployed."""
    model_name = require_model_name(settings)
    parts, inputs, seed = loaded.parts, loaded.inputs, snapshot.evaluation.seed
    try:
        metrics = evaluation.compute_metrics(estimator, parts, snapshot.task)
    except (ValueError, TypeError) as exc:
        # Data and params were checked; what is left is a params/data mismatch scikit-learn only
        # detects at predict time (knn with more neighbours than rows): retrying cannot help.
        raise BadInput("EvaluationFailed", f"{algorithm.name}: {exc}") from exc
    gates = evaluation.evaluate_gates(snapshot.evaluation.gates, metrics)
    if production is not None and (live := production.live_gate) is not None:
        gates.append(
            GateResult(
                metric=LIVE_GATE_PREFIX + live.metric,
                value=live.candidate,
                bound=live.bound,
                passed=live.passed,
            )
        )
    log.info("evaluated %s: %s", algorithm.name, metrics)

    staged = StagedVersion(
        model=estimator,
        task=snapshot.task,
        algorithm=algorithm,
        dataset=loaded.dataset,
        features=inputs.features,
        target=TargetInfo(name=inputs.target, classes=inputs.classes),
        acceptance=inputs.acceptance,
        profile=inputs.profile,
        metrics=metrics,
        gates=gates,
        evaluation=EvaluationInfo(
            test_fraction=snapshot.evaluation.test_fraction,
            seed=seed,
            train_rows=len(parts.y_train),
            test_rows=len(parts.y_test),
        ),
        training_job=settings.training_job_name,
        trusted_types=trusted_types,
        feature_plan=inputs.plan,
        production=production,
    )
    published = catalog.publish(settings.namespace, model_name, staged)
    artifact_uri = catalog.artifact_uri(settings.namespace, model_name, published.version)
    return TrainerSummary(
        version=published.version,
        digest=published.digest,
        metrics=metrics,
        gates=[_outcome(gate) for gate in gates],
        gates_passed=published.gates_passed,
        artifact_uri=artifact_uri,
        dataset_digest=loaded.dataset.digest,
        code_digest=code_digest,
        production=production,
    )


def _outcome(gate: GateResult) -> SummaryGate:
    return SummaryGate(metric=gate.metric, value=gate.value, bound=gate.bound, passed=gate.passed)


def _describe(exc: ValidationError) -> str:
    """`dataset.uri: String should match pattern ...` — the field first, as users look for it."""
    parts = []
    for error in exc.errors()[:5]:
        where = ".".join(str(p) for p in error["loc"]) or "snapshot"
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)
