"""`POST /v2/models/{name}/feedback`: labels for earlier predictions, by prediction id.

Body: `{"labels": [{"id": "r42/0", "label": "versicolor"}, ...], "source": "crm"}`. Labels
become training data, so the route is closed unless the operator gave the pod a bearer token
(`contracts.capture.FEEDBACK_TOKEN_ENV`, from a Secret): no `Authorization: Bearer` header is a
401, a wrong token (or a pod with no token at all: fail closed) a 403. A body that is not the
shape above is a 400. Within a well-formed body every item is judged on its own and the answer
reports each refusal (index, id, reason) and counts by reason, so one bad row never costs the
others: a malformed id or label, a class the model does not know, or an unknown id — one that
can never join a captured prediction because its hash puts it outside the sample every replica
captures (`contracts.capture.sampled`). Accepted labels are written as one label segment before
the answer, so a 200 means durable; an unreachable store is a 503 and the caller retries.
Counted in `modelship_feedback_labels_total{outcome}`.
"""

from __future__ import annotations

import asyncio
import hmac
import itertools
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CollectorRegistry, Counter
from pydantic import SecretStr

from modelship.catalog.errors import CatalogError
from modelship.catalog.segments import SegmentStore, encode_segment, segment_name
from modelship.contracts.capture import MAX_ID_CHARS, LabelRecord, sampled
from modelship.serving import codec
from modelship.serving.dataplane import DataPlane
from modelship.serving.endpoints import JSON, read_body
from modelship.serving.errors import InvalidInputError, ModelshipServingError

MAX_LABELS: Final = 10_000
"""Labels in one request; more is a 400 (send several requests)."""
MAX_REPORTED: Final = 100
"""Refusals listed one by one in the answer (all are counted)."""
OUTCOMES: Final = ("accepted", "malformed_id", "malformed_label", "unknown_class", "unknown_id")


class UnauthorizedError(ModelshipServingError):
    """No bearer token: the client must authenticate."""

    status_code = 401


class ForbiddenError(ModelshipServingError):
    """A token that is not the one this model's feedback takes."""

    status_code = 403


class FeedbackUnavailableError(ModelshipServingError):
    """Capture is off (labels could never join a prediction) or the store is unreachable."""

    status_code = 503


@dataclass(slots=True)
class Judged:
    """A feedback body, judged item by item."""

    records: list[dict[str, Any]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))
    rejected: list[dict[str, Any]] = field(default_factory=list)

    def refuse(self, index: int, item_id: Any, outcome: str, reason: str) -> None:
        self.counts[outcome] += 1
        if len(self.rejected) < MAX_REPORTED:
            shown = item_id if isinstance(item_id, str) and len(item_id) <= MAX_ID_CHARS else None
            self.rejected.append({"index": index, "id": shown, "reason": reason})

    def report(self) -> dict[str, Any]:
        accepted = self.counts["accepted"]
        return {"accepted": accepted, "counts": self.counts, "rejected": self.rejected}


class Feedback:
    """The route's policy: who may label, which labels are kept, where they go."""

    def __init__(
        self,
        token: SecretStr | None,
        store: SegmentStore | None,
        sample_rate: float,
        registry: CollectorRegistry,
        *,
        writer: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._token = token.get_secret_value().encode() if token is not None else None
        self._store = store
        self._rate = sample_rate
        self._writer = writer
        self._clock = clock
        self._seq = itertools.count(1)  # writes run in worker threads: next() is atomic
        self._labels = Counter(
            "modelship_feedback_labels_total",
            "Labels received on the feedback route, by outcome.",
            ["outcome"],
            registry=registry,
        )
        self._by_outcome = {outcome: self._labels.labels(outcome) for outcome in OUTCOMES}

    def authorize(self, header: str | None) -> None:
        """401 without a bearer token, 403 with a wrong one or when none is configured."""
        scheme, _, presented = (header or "").partition(" ")
        if scheme.lower() != "bearer" or not presented.strip():
            raise UnauthorizedError("feedback needs 'Authorization: Bearer <token>'")
        if self._token is None:
            raise ForbiddenError("feedback is closed: this model has no feedback token")
        if not hmac.compare_digest(presented.strip().encode(), self._token):
            raise ForbiddenError("this token may not send feedback to this model")

    def judge(self, body: bytes, classes: Sequence[Any] | None) -> Judged:
        """Parse the body (400 if it is not the route's shape) and judge every item."""
        payload = codec.parse_object(body)
        items = payload.get("labels")
        if not isinstance(items, list) or not items:
            raise InvalidInputError("'labels' must be a non-empty list of {id, label} objects")
        if len(items) > MAX_LABELS:
            raise InvalidInputError(f"{len(items)} labels exceed {MAX_LABELS} per request")
        source = payload.get("source")
        if source is not None and (not isinstance(source, str) or not 0 < len(source) <= 64):
            raise InvalidInputError("'source' must be a string of 1 to 64 characters")
        known = None if classes is None else {_text(c): c for c in classes}
        judged = Judged()
        now = self._clock()
        for index, item in enumerate(items):
            item_id = item.get("id") if isinstance(item, dict) else None
            if not isinstance(item_id, str) or not 0 < len(item_id) <= MAX_ID_CHARS:
                judged.refuse(
                    index, item_id, "malformed_id",
                    f"'id' must be a string of 1 to {MAX_ID_CHARS} characters",
                )  # fmt: skip
                continue
            label, problem = _label(item.get("label"), known)
            if problem is not None:
                outcome = "unknown_class" if problem.startswith("unknown") else "malformed_label"
                judged.refuse(index, item_id, outcome, problem)
                continue
            if not sampled(item_id, self._rate):
                judged.refuse(
                    index, item_id, "unknown_id",
                    "unknown id: not a captured prediction (outside the capture sample)",
                )  # fmt: skip
                continue
            record = LabelRecord(id=item_id, ts=now, label=label, source=source)
            judged.records.append(record.model_dump(mode="json"))
            judged.counts["accepted"] += 1
        return judged

    def count(self, judged: Judged) -> None:
        """Count a judged body's outcomes, once its labels are stored (or there were none)."""
        for outcome, count in judged.counts.items():
            if count:
                self._by_outcome[outcome].inc(count)

    def write(self, records: list[dict[str, Any]]) -> None:
        """One label segment with every accepted label (nothing when none was)."""
        if not records:
            return
        if self._store is None:
            raise FeedbackUnavailableError("capture is off for this model; labels cannot join")
        name = segment_name(
            "labels", self._writer, next(self._seq), datetime.fromtimestamp(self._clock(), UTC)
        )
        try:
            self._store.write(
                name, encode_segment(records), {"io.modelship.rows": str(len(records))}
            )
        except CatalogError as error:
            raise FeedbackUnavailableError(f"label store unavailable, retry: {error}") from None


def _text(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _label(value: Any, known: dict[str, Any] | None) -> tuple[Any, str | None]:
    """(the label as stored, None) or (None, why it is refused)."""
    if known is None:  # a regressor: a finite number
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None, "'label' must be a number for this regression model"
        if not math.isfinite(value):
            return None, "'label' must be finite"
        return value, None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, dict | list) or value is None:
        return None, "'label' must be one of the model's classes"
    if _text(value) not in known:
        return None, f"unknown class {value!r}; the model's classes: {sorted(known)}"
    return known[_text(value)], None


def mount_feedback(router: APIRouter, plane: DataPlane, feedback: Feedback) -> None:
    """Add the feedback route to `router` (after endpoints.mount, which it does not change)."""

    async def model_feedback(request: Request) -> Response:
        name = request.path_params["name"]
        plane.check_model(name, None)  # 404 for another model before anything else
        feedback.authorize(request.headers.get("authorization"))
        body = await read_body(request, plane.max_body_bytes)
        judged = feedback.judge(body, plane.classes(name))
        await asyncio.to_thread(feedback.write, judged.records)
        feedback.count(judged)
        return JSON(judged.report())

    router.add_route(
        "/v2/models/{name}/feedback",
        model_feedback,
        methods=["POST"],
        name="model_feedback",
        include_in_schema=False,
    )
