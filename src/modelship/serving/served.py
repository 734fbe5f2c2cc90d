"""The version a data plane serves, wired up once it is loaded: its executor, its drift monitor,
its metadata document, and the drift report read from it.

Kept apart from the data plane's request path: this runs once per process (at load), that runs
per request.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelship.contracts.drift import DriftReference, DriftReport, FeaturePsi
from modelship.serving.batching import Executor, make_executor
from modelship.serving.documents import info_labels, metadata_document, value_buckets
from modelship.serving.drift import DriftMonitor
from modelship.serving.loader import LoadedVersion
from modelship.serving.metrics import ServingMetrics
from modelship.serving.settings import ServingSettings
from modelship.serving.shared_drift import SharedDriftMonitor


@dataclass(frozen=True, slots=True)
class ServedVersion:
    loaded: LoadedVersion
    version: str
    classifier: bool
    executor: Executor
    drift: DriftMonitor
    metadata: dict[str, Any]


def attach(
    loaded: LoadedVersion, settings: ServingSettings, metrics: ServingMetrics
) -> tuple[ServedVersion, asyncio.Task[None] | None]:
    """The served version, and (for a worker) the task publishing its drift counts to the
    other workers; call on the event loop."""
    runtime = loaded.runtime
    drift: DriftMonitor
    publisher: asyncio.Task[None] | None = None
    if settings.worker_dir is not None:
        shared = SharedDriftMonitor(
            loaded.profile, window_rows=settings.drift.window_rows,
            epsilon=settings.drift.epsilon, directory=Path(settings.worker_dir),
        )  # fmt: skip
        publisher = asyncio.get_running_loop().create_task(_publish_every_second(shared))
        drift = shared
    else:
        drift = DriftMonitor(
            loaded.profile, window_rows=settings.drift.window_rows,
            epsilon=settings.drift.epsilon,
        )  # fmt: skip
    executor = make_executor(
        runtime,
        settings.batching.mode,
        settings.batching.inline_below_ms / 1000,
        settings.batching.max_batch_rows,
        metrics.observe_batch,
    )
    metrics.model_loaded(
        info_labels(loaded, settings),
        None if runtime.classes is None else runtime.classes.tolist(),
        value_buckets(loaded.check_predictions) if runtime.classes is None else (),
        drift,
    )
    served = ServedVersion(
        loaded=loaded,
        version=str(loaded.metadata.version),
        classifier=runtime.classes is not None,
        executor=executor,
        drift=drift,
        metadata=metadata_document(loaded, settings),
    )
    return served, publisher


async def _publish_every_second(drift: SharedDriftMonitor) -> None:
    """The other workers see this one's quiet trickle of traffic within a second, too."""
    while True:
        await asyncio.sleep(1.0)
        drift.publish()


def drift_report(served: ServedVersion, settings: ServingSettings) -> DriftReport:
    """What `GET /v2/models/{name}/drift` answers (the operator's drift reader parses it)."""
    report = served.drift.report()
    metadata = served.loaded.metadata
    return DriftReport(
        model_name=metadata.model,
        model_version=served.version,
        reference=DriftReference(version=metadata.version, digest=metadata.digest),
        epsilon=settings.drift.epsilon,
        window_rows=report.window_rows,
        observed_rows=report.observed_rows,
        psi=report.overall,
        max_psi=report.maximum,
        features=[
            FeaturePsi(name=n, psi=psi, missing_rate=report.missing.get(n))
            for n, psi in report.features.items()
        ],
    )
