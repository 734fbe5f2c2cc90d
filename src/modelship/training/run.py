"""One training run: snapshot in, catalog version and summary out.

`train` is the whole job as a plain function (tests call it directly); the process concerns — exit
codes, the termination message, stdout hygiene — live in `main.py`.
"""

from __future__ import annotations

import json
import logging
import time

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
from modelship.contracts.training import TrainerEnv, TrainerSummary
from modelship.training import algorithms, evaluation
from modelship.training.datasets import HttpLimits, load_table
from modelship.training.errors import BadInput
from modelship.training.inputs import build_inputs
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


def train(
    snapshot: TrainingSnapshot, settings: TrainerSettings, catalog: Catalog
) -> TrainerSummary:
    if not settings.model_name:
        variable = TrainerEnv.env_name("model_name")
        raise BadInput("InvalidConfiguration", f"{variable} is not set")
    seed = snapshot.evaluation.seed
    # Build the estimator first: a bad param fails in milliseconds, before any download.
    built = algorithms.build_estimator(
        snapshot.algorithm.name, snapshot.algorithm.params, snapshot.task, seed
    )
    started = time.monotonic()
    limits = HttpLimits(settings.http_max_bytes, settings.http_timeout_seconds)
    table = load_table(snapshot.dataset.uri, limits)
    data = build_inputs(table, snapshot, settings.acceptance_rows, settings.profile_bins)
    log.info(
        "loaded %s: %d rows, %d features", snapshot.dataset.uri, table.rows, len(data.features)
    )

    # Categories reach tree estimators as ordinal codes they split on like numbers. Not as
    # HistGradientBoosting's native categories: given a mask, it wraps its own OrdinalEncoder
    # and a FunctionTransformer(partial(check_array)) in the model, run on every predict and
    # outside the artifact allowlist.
    parts = data.split
    algorithms.fit(built.estimator, parts.x_train, parts.y_train, snapshot.algorithm.name)
    try:
        metrics = evaluation.compute_metrics(built.estimator, parts, snapshot.task)
    except (ValueError, TypeError) as exc:
        # Data and params were checked; what is left is a params/data mismatch scikit-learn only
        # detects at predict time (knn with more neighbours than rows): retrying cannot help.
        raise BadInput("EvaluationFailed", f"{snapshot.algorithm.name}: {exc}") from exc
    gates = evaluation.evaluate_gates(snapshot.evaluation.gates, metrics)
    log.info("fitted %s in %.2fs: %s", snapshot.algorithm.name, time.monotonic() - started, metrics)

    staged = StagedVersion(
        model=built.estimator,
        task=snapshot.task,
        algorithm=AlgorithmInfo(name=snapshot.algorithm.name, params=built.params),
        dataset=DatasetInfo(uri=snapshot.dataset.uri, digest=table.digest, rows=table.rows),
        features=data.features,
        target=TargetInfo(name=data.target, classes=data.classes),
        acceptance=data.acceptance,
        profile=data.profile,
        metrics=metrics,
        gates=gates,
        evaluation=EvaluationInfo(
            test_fraction=snapshot.evaluation.test_fraction,
            seed=seed,
            train_rows=len(parts.y_train),
            test_rows=len(parts.y_test),
        ),
        training_job=settings.training_job_name,
        feature_plan=data.plan,
    )
    published = catalog.publish(settings.namespace, settings.model_name, staged)
    artifact_uri = catalog.artifact_uri(settings.namespace, settings.model_name, published.version)
    return TrainerSummary(
        version=published.version,
        digest=published.digest,
        metrics=metrics,
        gates=[_outcome(gate) for gate in gates],
        gates_passed=published.gates_passed,
        artifact_uri=artifact_uri,
        dataset_digest=table.digest,
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
