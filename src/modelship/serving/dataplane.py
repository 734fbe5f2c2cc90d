"""The data plane: which model is served, whether it is ready, and inference with its bookkeeping.

It knows nothing about HTTP (endpoints translate requests to calls and errors to responses) and
nothing about how a model predicts (the runtime and executors do). What lives here is the
serving policy: name and version lookup, readiness and its reason, admission control, metrics
and drift accounting around every prediction.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from modelship import __version__
from modelship.contracts.features import Columns
from modelship.serving import codec, identity, scoring, typed_codec
from modelship.serving.capture import Capture
from modelship.serving.capture_records import Inputs, Served
from modelship.serving.errors import ModelNotFoundError, ModelNotReadyError, OverloadedError
from modelship.serving.features import Encoded, ServedFeatures
from modelship.serving.loader import LoadedVersion, LoadFailedError
from modelship.serving.metric_buffer import FLUSH_SECONDS
from modelship.serving.metrics import ServingMetrics
from modelship.serving.runtime import Prediction
from modelship.serving.served import ServedVersion, attach, drift_report
from modelship.serving.settings import ServingSettings
from modelship.serving.shared_drift import SharedDriftMonitor

log = logging.getLogger(__name__)

Loader = Callable[[ServingSettings], LoadedVersion]


@dataclass(frozen=True, slots=True)
class InferResult:
    """One answered v2 inference, before a protocol renders it."""

    prediction: Prediction
    outputs: tuple[str, ...]
    model_name: str
    model_version: str
    request_id: str | None
    identity: identity.Identity | None = None
    row_ids: tuple[str, ...] = ()
    captured: tuple[bool, ...] = ()


class DataPlane:
    """Serves one catalog version; every public method is what one route needs."""

    def __init__(
        self, settings: ServingSettings, metrics: ServingMetrics, capture: Capture | None = None
    ) -> None:
        self._settings = settings
        self._metrics = metrics
        self._capture = capture
        self._served: ServedVersion | None = None
        self._reason = "model is loading"
        self._in_flight = 0
        self._draining = False
        self._publisher: asyncio.Task[None] | None = None
        self._flusher: asyncio.Task[None] | None = None

    async def start(self, loader: Loader) -> None:
        """Load off the event loop; on failure stay live but not ready, and keep the reason."""
        if self._metrics.buffer is not None:  # a worker: metric updates are buffered
            self._flusher = asyncio.get_running_loop().create_task(_flush_often(self._metrics))
        try:
            loaded = await asyncio.to_thread(loader, self._settings)
        except LoadFailedError as error:
            self._reason = str(error)
            log.error("not ready: %s", self._reason)
            return
        except Exception as error:  # a loader bug must not take the live route down with it
            self._reason = f"loading failed: {error}"
            log.exception("not ready: %s", self._reason)
            return
        self._attach(loaded)

    def drain(self) -> None:
        """Shutdown has begun: report not ready from now on, but keep serving what arrives.

        Load balancers and probes that still route here see the 503 and move away while the
        requests already on their way are answered normally (see server.py).
        """
        self._draining = True
        self._metrics.ready.set(0)
        log.info("draining: readiness now reports not ready")

    async def stop(self) -> None:
        for task in (self._publisher, self._flusher):
            if task is not None:
                task.cancel()
        if self._served is not None and isinstance(self._served.drift, SharedDriftMonitor):
            self._served.drift.publish()
        if self._served is not None:
            await self._served.executor.close()
        self._metrics.flush()  # after the last prediction's bookkeeping: no count is lost

    # --- health and metadata -------------------------------------------------------------

    @property
    def ready(self) -> bool:
        return self._served is not None and not self._draining

    @property
    def max_body_bytes(self) -> int:
        return self._settings.limits.max_body_bytes

    @property
    def not_ready_reason(self) -> str:
        if self._draining:
            return "shutting down"
        return "" if self._served is not None else self._reason

    def server_metadata(self) -> dict[str, Any]:
        # `modelship_feedback`: POST /v2/models/{name}/feedback (feedback.py) is served.
        extensions = ["drift", "modelship_feedback"]
        return {"name": "modelship", "version": __version__, "extensions": extensions}

    def check_model(self, name: str, version: str | None) -> None:
        """404 unless `name`/`version` is what this process serves (ready or not)."""
        if name != self._settings.model_name:
            raise ModelNotFoundError(f"model '{name}' is not served here")
        if version is not None and version != str(self._settings.version):
            raise ModelNotFoundError(f"version '{version}' of model '{name}' is not served here")

    def classes(self, name: str) -> list[Any] | None:
        """The served classifier's class labels (None for a regressor); 503 until loaded."""
        classes = self._require(name, None).loaded.runtime.classes
        return None if classes is None else classes.tolist()

    def model_metadata(self, name: str, version: str | None) -> dict[str, Any]:
        return self._require(name, version).metadata

    # --- inference ---------------------------------------------------------------------

    async def infer(
        self, name: str, version: str | None, body: bytes, header_id: str | None = None
    ) -> dict[str, Any]:
        """A REST v2 infer request (JSON bytes) to its JSON response document."""
        return await self.infer_document(name, version, codec.parse_object(body), header_id)

    async def infer_document(
        self,
        name: str,
        version: str | None,
        payload: dict[str, Any],
        header_id: str | None = None,
    ) -> dict[str, Any]:
        """A REST v2 request already parsed (tensor data may be arrays) to its response
        document; the binary tensor extension decodes its raw inputs into `payload` first."""
        served = self._require(name, version)
        result = await self._infer(served, payload, header_id)
        document = codec.encode_v2(
            result.prediction,
            result.outputs,
            model_name=result.model_name,
            model_version=result.model_version,
            request_id=result.request_id,
        )
        if result.identity is not None:
            identity.add_outputs(document, result.identity, result.row_ids, result.captured)
        return document

    async def infer_tensors(
        self,
        name: str,
        version: str | None,
        payload: dict[str, Any],
        header_id: str | None = None,
    ) -> InferResult:
        """A v2 request already in the JSON document's shape (tensor data may be arrays), as
        the gRPC endpoints build it: the same validation and bookkeeping as REST."""
        return await self._infer(self._require(name, version), payload, header_id)

    async def _infer(
        self, served: ServedVersion, original: dict[str, Any], header_id: str | None
    ) -> InferResult:
        """Identify, decode, predict, capture: the one path every v2 request takes."""
        ident = identity.take(original, self._settings.id_input, header_id)
        payload = ident.payload
        decoded = scoring.decode_request(served.loaded, payload, self._settings.limits.max_rows)
        self._metrics.observe_unknown(decoded.unknown)
        prediction = await self._predict(
            served, decoded.matrix, codec.PREDICT_PROBA in decoded.outputs, decoded.drift_rows
        )
        inputs = self._captured_inputs(served, payload, decoded)
        return self._answer(served, ident, prediction, decoded.outputs, inputs)

    def _captured_inputs(
        self, served: ServedVersion, payload: dict[str, Any], decoded: scoring.DecodedRequest
    ) -> Inputs:
        """What capture records of the rows, built only when a row is captured: the typed
        columns as received (the fast path builds none, so they are decoded again then), or
        the numeric rows with the features' names."""
        features = served.loaded.features
        if features is None:
            names, rows = served.loaded.runtime.features, decoded.matrix
            return lambda: (names, rows)
        schema, classifier = features.schema, served.classifier
        max_rows = self._settings.limits.max_rows
        return lambda: typed_codec.decode_v2(payload, schema, classifier, max_rows).columns

    def _answer(
        self,
        served: ServedVersion,
        ident: identity.Identity,
        prediction: Prediction,
        outputs: tuple[str, ...],
        inputs: Inputs,
    ) -> InferResult:
        """The result with its row ids, after offering the rows to capture."""
        row_ids = ident.row_ids(len(prediction.labels))
        captured: tuple[bool, ...] = ()
        if self._capture is not None:
            captured = tuple(self._capture.offer(row_ids, inputs, prediction))
        elif ident.outputs:
            captured = (False,) * len(row_ids)
        return InferResult(
            prediction, outputs, self._settings.model_name, served.version,
            ident.request_id, ident, row_ids, captured,
        )  # fmt: skip

    async def predict_v1(self, name: str, body: bytes) -> dict[str, Any]:
        served = self._require(name, None)
        payload = codec.parse_object(body)
        max_rows = self._settings.limits.max_rows
        features = served.loaded.features
        if features is not None:
            columns = typed_codec.decode_v1(payload, features.schema, max_rows)
            encoded = self._encode(features, columns)
            prediction = await self._predict(served, encoded.matrix, False, encoded.drift_rows)
            return {"predictions": prediction.labels.tolist()}
        rows = codec.decode_v1(payload, served.loaded.runtime.features, max_rows)
        prediction = await self._predict(served, rows, False)
        return {"predictions": prediction.labels.tolist()}

    def _encode(self, features: ServedFeatures, columns: Columns) -> Encoded:
        """Typed columns to the estimator's matrix and the drift monitor's rows; unknown
        categories counted on the way."""
        encoded = features.encode(columns)
        self._metrics.observe_unknown(encoded.unknown)
        return encoded

    def drift(self, name: str, version: str | None) -> dict[str, Any]:
        """The drift report, in the shape the operator reads (`contracts.drift.DriftReport`)."""
        return drift_report(self._require(name, version), self._settings).model_dump(mode="json")

    async def _predict(
        self,
        served: ServedVersion,
        rows: np.ndarray[Any, Any],
        proba: bool,
        drift_rows: np.ndarray[Any, Any] | None = None,
    ) -> Any:
        """Predict `rows` (the estimator's matrix); drift counts `drift_rows` (the features as
        received, for typed features) or the rows themselves."""
        if self._in_flight >= self._settings.limits.max_concurrency:
            raise OverloadedError("too many requests in flight; retry later")
        self._in_flight += 1
        self._metrics.request_started()
        try:
            prediction = await served.executor.run(rows, proba)
        finally:
            self._in_flight -= 1
            self._metrics.request_finished()
        self._metrics.observe_predictions(len(rows), prediction.class_index, prediction.labels)
        served.drift.observe(rows if drift_rows is None else drift_rows)
        return prediction

    def _require(self, name: str, version: str | None) -> ServedVersion:
        self.check_model(name, version)
        if self._served is None:
            raise ModelNotReadyError(f"model '{name}' is not ready: {self._reason}")
        return self._served

    # --- wiring ------------------------------------------------------------------------

    def _attach(self, loaded: LoadedVersion) -> None:
        self._served, self._publisher = attach(loaded, self._settings, self._metrics)
        if self._capture is not None:
            metadata = loaded.metadata
            self._capture.bind(
                Served(metadata.model, metadata.version, metadata.digest, self._settings.stage)
            )
        log.info("ready: serving %s version %s", loaded.metadata.model, loaded.metadata.version)


async def _flush_often(metrics: ServingMetrics) -> None:
    """Buffered metric updates reach the shared files within FLUSH_SECONDS (metric_buffer.py)."""
    while True:
        await asyncio.sleep(FLUSH_SECONDS)
        metrics.flush()
