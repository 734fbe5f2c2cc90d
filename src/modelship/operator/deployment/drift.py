"""Production drift: read every ready production pod's drift report and record the combination.

Each inference pod computes PSI over its own recent traffic (serving/drift.py). The operator asks
each ready production pod of the served version, and `drift_reports` (pure) checks each answer
and combines them into the Deployment's status.drift; this module is the reading and the writing.

How a pod is reached depends on where the operator runs (`drift_access`): pod IPs in-cluster and
on the local cluster (whose pods listen on host loopback addresses), the API server's pod proxy
from outside a real cluster, or the Service (one sampled pod per read) where pods are
unreachable and the proxy is not allowed. Reads are bounded by a short timeout, and a failed read
is recorded in status and retried only at the next interval: never a tight loop.

A read at rest costs the API server nothing, or one request, the status write. A reading that
finds the figures status.drift records is written only once that record is
`drift_unchanged_write_seconds` old (a heartbeat: idle production makes no write every interval);
the clock then plans the next read from the pass itself (`unchanged`). The production pods are
listed once and the listing kept (`DriftReader`) until the stage's apps Deployment moves (its
event: `forget`), a pod on it cannot be read, or it is `POD_LISTING_MAX_AGE_SECONDS` old; the
Deployment is the one its watch last delivered (kept on the clock), written with its
resourceVersion, so a write over a newer object fails and is made again on a fresh read.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import kopf

from modelship.api.v1alpha1 import DeploymentStatus, DriftStatus, utcnow
from modelship.api.v1alpha1.base import parse_rfc3339
from modelship.operator.deployment.builders.stages import SERVING_PORT, stage_selector
from modelship.operator.deployment.drift_reports import (
    DriftReadError,
    PodReport,
    drift_status,
    parse_report,
)
from modelship.operator.deployment.rollout import PodState
from modelship.operator.kube.client import Kube, KubeError
from modelship.operator.kube.perform import write_status_over
from modelship.operator.kube.resources import MODEL_DEPLOYMENTS, PODS
from modelship.operator.settings import OperatorSettings

Obj = dict[str, Any]
# A listing older than this is made again even when nothing said it moved: a safety net for an
# event the watch missed, at one request per production Deployment every five minutes.
POD_LISTING_MAX_AGE_SECONDS = 300.0
# How often a drift write over a newer Deployment is made again on a fresh read.
WRITE_ATTEMPTS = 3


class PodUnreachableError(DriftReadError):
    """No connection to the pod's address at all (outside the cluster: use the proxy instead)."""


@dataclass(frozen=True)
class _Listing:
    version: int
    listed_at: float
    pods: tuple[PodState, ...]


class DriftReader:
    """Reads the drift reports of a Deployment's production pods; the one place with the I/O."""

    def __init__(
        self,
        kube: Kube,
        access: str,
        in_cluster: bool,
        timeout: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.kube, self.access, self.in_cluster, self.timeout = kube, access, in_cluster, timeout
        # Outside the cluster in `auto` mode: once pod addresses proved unreachable, use the proxy.
        self._pods_unreachable = False
        self._http = httpx.Client(timeout=timeout)
        self._clock = clock
        self._listings: dict[tuple[str, str], _Listing] = {}
        self._lock = threading.Lock()

    def forget(self, namespace: str, deployment: str) -> None:
        """The stage's pods may have changed (its apps Deployment moved): list them again."""
        with self._lock:
            self._listings.pop((namespace, deployment), None)

    def listings(self) -> int:
        with self._lock:
            return len(self._listings)

    def close(self) -> None:
        self._http.close()

    def read(
        self, namespace: str, deployment: str, model: str, version: int, digest: str
    ) -> DriftStatus:
        path = f"/v2/models/{model}/drift"
        mode = self._mode()
        if mode == "service":
            url = f"http://{deployment}.{namespace}.svc:80{path}"
            try:
                report = parse_report(self._get(url), f"service {deployment}")
            except DriftReadError as exc:
                return drift_status(version, digest, [], [str(exc)], "service", utcnow())
            return drift_status(
                version, digest, [report], [], "service (one pod sampled)", utcnow()
            )
        pods, kept = self._production_pods(namespace, deployment, version)
        reports, errors, used = self._read_pods(namespace, pods, path, mode)
        if kept and errors:  # perhaps only the kept listing is out of date: list and read again
            self.forget(namespace, deployment)
            pods, _ = self._production_pods(namespace, deployment, version)
            reports, errors, used = self._read_pods(namespace, pods, path, mode)
        if errors:
            self.forget(namespace, deployment)
        if not pods:
            errors.append(f"no ready production pod serves version {version}")
        access = "+".join(sorted(used)) or mode
        return drift_status(version, digest, reports, errors, access, utcnow())

    def _production_pods(
        self, namespace: str, deployment: str, version: int
    ) -> tuple[tuple[PodState, ...], bool]:
        """The ready production pods of `version`, and whether they come from a kept listing."""
        key, now = (namespace, deployment), self._clock()
        with self._lock:
            listing = self._listings.get(key)
        if (
            listing is not None
            and listing.version == version
            and now - listing.listed_at < POD_LISTING_MAX_AGE_SECONDS
        ):
            return listing.pods, True
        pods = tuple(
            pod
            for pod in map(
                PodState.of,
                self.kube.list(PODS, namespace, stage_selector(deployment, "production")),
            )
            if pod.version == str(version) and pod.ready
        )
        with self._lock:
            if pods:
                self._listings[key] = _Listing(version, now, pods)
            else:
                self._listings.pop(key, None)
        return pods, False

    def _read_pods(
        self, namespace: str, pods: tuple[PodState, ...], path: str, mode: str
    ) -> tuple[list[PodReport], list[str], set[str]]:
        reports, errors, used = [], [], set()
        for pod in pods:
            try:
                report, how = self._read_pod(namespace, pod, path, mode)
                reports.append(report)
                used.add(how)
            except DriftReadError as exc:
                errors.append(str(exc))
        return reports, errors, used

    def _mode(self) -> str:
        if self.access != "auto":
            return self.access
        return "pod" if self.in_cluster else "auto"

    def _read_pod(
        self, namespace: str, pod: PodState, path: str, mode: str
    ) -> tuple[PodReport, str]:
        name, ip = pod.name, pod.ip
        if mode in ("pod", "auto") and not (mode == "auto" and self._pods_unreachable):
            if not ip:
                raise DriftReadError(f"{name}: no pod IP")
            try:
                return parse_report(self._get(f"http://{ip}:{SERVING_PORT}{path}"), name), "pod"
            except PodUnreachableError:
                if mode == "pod":
                    raise
                self._pods_unreachable = True
        return parse_report(self._proxy(namespace, name, path), name), "proxy"

    def _get(self, url: str) -> object:
        return _json(lambda: self._http.get(url), url)

    def _proxy(self, namespace: str, pod: str, path: str) -> object:
        try:
            return self.kube.proxy_get(namespace, pod, SERVING_PORT, path)
        except KubeError as exc:
            raise DriftReadError(f"{pod}: via the API server proxy: {exc}") from None


def _json(call: Callable[[], httpx.Response], where: str) -> object:
    try:
        response = call()
    except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
        raise PodUnreachableError(f"{where}: unreachable ({exc})") from None
    except httpx.HTTPError as exc:
        raise DriftReadError(f"{where}: {exc}") from None
    if response.status_code != 200:
        raise DriftReadError(f"{where}: HTTP {response.status_code}")
    try:
        return response.json()
    except ValueError:
        raise DriftReadError(f"{where}: the answer is not JSON") from None


def typed_status(status: Mapping[str, Any] | None) -> DeploymentStatus:
    """A Deployment's status as Kopf hands it to filters and handlers, typed."""
    return DeploymentStatus.model_validate(dict(status or {}))


def in_production(status: DeploymentStatus) -> bool:
    return status.production is not None and bool(status.production.promoted_at)


def drift_due(status: DeploymentStatus, interval: float, now: datetime | None = None) -> bool:
    """Whether production drift should be read now: never read, stale, or another version."""
    until = drift_seconds_until(status, interval, now)
    return until is not None and until == 0.0


def measures_production(status: DeploymentStatus) -> bool:
    """Whether status.drift is a reading of the version production serves now."""
    production, drift = status.production, status.drift
    return bool(
        production is not None
        and production.promoted_at
        and drift is not None
        and drift.version == production.version
        and drift.checked_at
    )


def drift_seconds_until(
    status: DeploymentStatus, interval: float, now: datetime | None = None
) -> float | None:
    """How long until drift is due again (0: now); None while nothing serves production."""
    production, drift = status.production, status.drift
    if production is None or not production.promoted_at:
        return None
    if drift is None or not drift.checked_at or not measures_production(status):
        return 0.0
    checked = parse_rfc3339(drift.checked_at)
    elapsed = ((now or datetime.now(UTC)) - checked).total_seconds()
    return max(0.0, interval - 0.5 - elapsed)


@dataclass(frozen=True)
class RecordedDrift:
    drift: DriftStatus
    body: Obj  # the Deployment as the write left it: what the clock keeps until the next event
    written: bool = True  # False: the reading matched status.drift, which was left as it was


def same_figures(recorded: DriftStatus | None, read: DriftStatus) -> bool:
    """Whether a reading says what status.drift records, but for when it was read."""
    if recorded is None:
        return False
    return recorded.model_copy(update={"checked_at": None}) == read.model_copy(
        update={"checked_at": None}
    )


def rewrite_due(recorded: DriftStatus, every: float, now: datetime | None = None) -> bool:
    """Whether an unchanged record is old enough to be written again (its heartbeat)."""
    if not recorded.checked_at:
        return True
    age = ((now or datetime.now(UTC)) - parse_rfc3339(recorded.checked_at)).total_seconds()
    return age >= every


def record_drift(
    kube: Kube, reader: DriftReader, settings: OperatorSettings, body: Obj, logger: kopf.Logger
) -> RecordedDrift | None:
    """Read the production pods' drift reports and write the combination to status.drift.

    `body` may be the one the watch last delivered: should the Deployment have moved since, it
    is read again, and what was read is written if the same version still serves. Returns what
    was recorded, None when no read was due or nothing could be written.
    """
    old = typed_status(body.get("status"))
    if not drift_due(old, settings.drift_interval_seconds):
        return None
    production = old.production
    assert production is not None and production.version is not None  # drift_due checked
    meta = body["metadata"]
    namespace, name = meta["namespace"], meta["name"]
    drift = reader.read(
        namespace,
        name,
        str(body["spec"]["modelRef"]["name"]),
        production.version,
        str(production.digest),
    )
    if drift.error:
        logger.info("drift of %s: %s", name, drift.error)
    recorded = old.drift
    if (
        recorded is not None
        and same_figures(recorded, drift)
        and not rewrite_due(recorded, settings.drift_unchanged_write_seconds)
    ):
        return RecordedDrift(recorded, body, written=False)
    for _ in range(WRITE_ATTEMPTS):
        # The Deployment's one status rendering, shared with its reconcile (deployment.apply).
        written = write_status_over(
            kube, MODEL_DEPLOYMENTS, body, old, old.model_copy(update={"drift": drift})
        )
        if written is not None:
            return RecordedDrift(drift, written)
        fresh = kube.get(MODEL_DEPLOYMENTS, namespace, name)
        if fresh is None or fresh["metadata"].get("deletionTimestamp"):
            return None
        body, old = fresh, typed_status(fresh.get("status"))
        if old.production != production:  # promoted or withdrawn meanwhile: read it next time
            return None
    logger.warning("drift of %s not recorded: the Deployment kept moving", name)
    return None
