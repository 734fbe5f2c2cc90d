"""The trainer's side of `spec.dataset.production`: read the rows, then judge the candidate.

`gather` reads the labelled production rows from the capture store the inference pods write
(the Model's store, else the default one beside the catalog: the trainer reaches it with the
catalog access it publishes with) and selects them (`production.select`). `judge` scores the
candidate and the production version on the held-out newest window and returns the lineage the
version records, live gate included.

The production version is the one the operator named when it created the attempt's Job
(`ProductionSource.champion_version`, pinned by digest); it is loaded from the catalog and
scores the raw held-out rows through its own feature plan, as its servers would, so a champion
trained on other features or another plan is still compared on the same rows. A champion that
cannot be loaded or cannot read the rows fails the gate (closed), naming why; it never fails the
training.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from modelship.api.v1alpha1 import PRIMARY_METRIC, FeatureSpec, ProductionDataSpec
from modelship.api.v1alpha1.base import rfc3339
from modelship.catalog import Catalog, CatalogError
from modelship.catalog.segments import default_store_uri, open_segment_store
from modelship.contracts.production_data import ProductionSource, ProductionUse
from modelship.training import preprocess
from modelship.training.errors import BadInput, Transient
from modelship.training.inputs import ProductionPart, lenient
from modelship.training.production import (
    LabelledRow,
    Reading,
    Selection,
    live_gate,
    read_labelled,
    rows_digest,
    select,
    to_columns,
)
from modelship.training.tables import rows_like

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Gathered:
    spec: ProductionDataSpec
    source: ProductionSource
    store: str
    since: float
    now: float
    reading: Reading
    selection: Selection


def gather(
    spec: ProductionDataSpec,
    source: ProductionSource | None,
    catalog_root: str,
    namespace: str,
    model: str,
) -> Gathered:
    """The labelled production rows of the window, selected; an unreachable store is transient
    (the next attempt may reach it), a store URI that cannot be one is bad input."""
    source = source or ProductionSource()
    now = source.now if source.now is not None else time.time()
    since = now - spec.window_seconds
    try:
        uri = source.store or default_store_uri(catalog_root, namespace, model)
        store = open_segment_store(uri)
    except CatalogError as exc:
        raise BadInput("InvalidConfiguration", f"capture store: {exc}") from exc
    try:
        reading = read_labelled(store, since, now)
    except CatalogError as exc:
        raise Transient("CaptureStoreUnavailable", f"cannot read {uri}: {exc}") from exc
    selection = select(reading.rows, spec)
    log.info(
        "production rows: %d labelled in the window, %d to train on, %d held out, %d capped",
        len(reading.rows), len(selection.train), len(selection.holdout), selection.capped,
    )  # fmt: skip
    return Gathered(spec, source, uri, since, now, reading, selection)


def judge(
    gathered: Gathered,
    part: ProductionPart,
    candidate: Any,
    task: str,
    catalog: Catalog,
    namespace: str,
    model: str,
    missing: list[str],
) -> ProductionUse:
    """Score both on the held-out rows; the lineage with the live gate."""
    metric = PRIMARY_METRIC[task]
    source, spec = gathered.source, gathered.spec
    refused = Counter(part.refused)
    if gathered.reading.counts.invalid:
        refused["invalid_record"] += gathered.reading.counts.invalid
    version = source.champion_version
    rows, candidate_x, y = part.holdout, part.x_holdout, part.y_holdout
    champion_score: float | None = None
    why_not = ""
    if version is not None and rows:
        try:
            champion, readable = _champion_predictions(
                catalog, namespace, model, version, source.champion_digest, rows, task, missing
            )
        except (CatalogError, BadInput, ValueError, TypeError) as exc:
            why_not = f"production version {version} could not score the held-out rows: {exc}"
            log.warning("live gate: %s", why_not)
            champion, readable = None, np.zeros(len(rows), dtype=bool)
        if (unreadable := int((~readable).sum())) and champion is not None:
            refused["unreadable_by_production"] += unreadable
        if champion is not None:
            candidate_x, y = candidate_x[readable], y[readable]
            champion_score = _score(task, y, champion)
            rows = [r for r, ok in zip(rows, readable.tolist(), strict=True) if ok]
    candidate_score = _score(task, y, candidate.predict(candidate_x)) if len(y) else None
    gate = live_gate(metric, candidate_score, champion_score, version, len(rows),
                     spec.min_holdout_rows)  # fmt: skip
    if why_not:
        gate = gate.model_copy(update={"passed": False, "reason": why_not, "bound": why_not})
    return ProductionUse(
        store=gathered.store,
        window_from=_time(gathered.since),
        window_to=_time(gathered.now),
        weight=spec.weight,
        rows=len(part.rows),
        holdout_rows=len(part.holdout),
        holdout_from=_time(gathered.selection.holdout_from)
        if gathered.selection.holdout_from is not None
        else None,
        capped_rows=gathered.selection.capped,
        refused=dict(sorted(refused.items())),
        rows_digest=rows_digest(part.rows, part.holdout),
        captures=gathered.reading.captures,
        labels=gathered.reading.labels,
        live_gate=gate,
    )


def _champion_predictions(
    catalog: Catalog,
    namespace: str,
    model: str,
    version: int,
    digest: str | None,
    rows: list[LabelledRow],
    task: str,
    missing: list[str],
) -> tuple[npt.NDArray[Any], npt.NDArray[np.bool_]]:
    """The production version's answers for the rows it can read, and which those are."""
    verified = catalog.open_verified(namespace, model, version, digest)
    estimator = verified.load_model()
    plan = verified.feature_plan()
    names = [f.name for f in verified.metadata.features]
    refused: Counter[str] = Counter()
    target = verified.metadata.target.name
    columns, kept = to_columns(
        rows, features=names, target=target, task=task, classes=None,
        missing_token=(missing[0] if missing else None) if plan is not None else None,
        refused=refused,
    )  # fmt: skip
    kept_ids = {r.id for r in kept}
    readable = np.array([r.id in kept_ids for r in rows], dtype=bool)
    if not kept:
        return np.array([]), readable
    if plan is None:
        x, _ = rows_like(columns, target, names, task)
    else:
        specs = [FeatureSpec(name=f.name, type=f.type) for f in verified.metadata.features]
        x = lenient(plan).compile()(preprocess.typed_columns(columns, specs, missing))
    return np.asarray(estimator.predict(x)), readable


def _score(task: str, y: npt.NDArray[Any], predicted: npt.NDArray[Any]) -> float | None:
    """The primary metric (accuracy, r2) of `predicted` against `y`; labels compare as text,
    as the live evaluation compares them."""
    if not len(y):
        return None
    if task == "classification":
        truth = [_text(v) for v in np.asarray(y).tolist()]
        answers = [_text(v) for v in np.asarray(predicted).tolist()]
        return float(np.mean([a == b for a, b in zip(truth, answers, strict=True)]))
    from sklearn.metrics import r2_score

    if len(y) < 2:
        return None
    value = float(r2_score(np.asarray(y, dtype=float), np.asarray(predicted, dtype=float)))
    return value if np.isfinite(value) else None


def _text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _time(moment: float) -> str:
    return rfc3339(datetime.fromtimestamp(moment, UTC))
