"""Production drift: read every ready production pod's drift report and combine them.

Each inference pod computes PSI over its own recent traffic (serving/drift.py). The operator asks
each ready production pod of the served version and combines the answers weighted by the rows
each pod's figure is computed over, so a pod that saw ten rows cannot outvote one that saw ten
thousand. Combining PSI values (rather than bin counts, which the report does not carry) is exact
for the mean and a close, conservative-enough estimate per feature when pods see similar traffic.

How a pod is reached depends on where the operator runs (`drift_access`): pod IPs in-cluster and
on the local cluster (whose pods listen on host loopback addresses), the API server's pod proxy
from outside a real cluster, or the Service (one sampled pod per read) where pods are
unreachable and the proxy is not allowed. Reads are bounded by a short timeout, and a failed read
is recorded in status and retried only at the next interval: never a tight loop.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import kopf

from modelship.api.v1alpha1 import utcnow
from modelship.operator.kube import MODEL_DEPLOYMENTS, PODS, Kube, KubeError
from modelship.operator.naming import LABEL_VERSION
from modelship.operator.rollout import pod_ready
from modelship.operator.serving_builders import SERVING_PORT, stage_selector
from modelship.operator.settings import OperatorSettings
from modelship.operator.status import status_patch

Obj = dict[str, Any]
WORST_SHOWN = 3


class DriftReadError(RuntimeError):
    """A report could not be read or made no sense."""


@dataclass(frozen=True)
class PodReport:
    """One pod's drift report, reduced to what the combination needs."""

    source: str
    rows: int
    observed_rows: int
    features: dict[str, float | None]
    digest: str | None = None


def parse_report(raw: object, source: str) -> PodReport:
    """Check the shape of `GET /v2/models/{name}/drift` and keep what matters."""
    if not isinstance(raw, dict):
        raise DriftReadError(f"{source}: the drift report is not a JSON object")
    try:
        rows = int(raw["window_rows"])
        observed = int(raw.get("observed_rows", rows))
        features: dict[str, float | None] = {}
        for entry in raw["features"]:
            psi = entry.get("psi")
            features[str(entry["name"])] = None if psi is None else float(psi)
    except (KeyError, TypeError, ValueError) as exc:
        raise DriftReadError(f"{source}: malformed drift report ({exc!r})") from None
    if rows < 0 or not features:
        raise DriftReadError(f"{source}: malformed drift report (no features or negative rows)")
    digest = (raw.get("reference") or {}).get("digest")
    return PodReport(source, rows, observed, features, str(digest) if digest else None)


@dataclass
class Combined:
    overall: float | None
    maximum: float | None
    rows: int
    observed_rows: int
    features: list[tuple[str, float | None]] = field(default_factory=list)

    @property
    def worst(self) -> str | None:
        ranked = sorted(
            ((n, p) for n, p in self.features if p is not None), key=lambda f: f[1], reverse=True
        )
        return ", ".join(f"{n}={p:.3g}" for n, p in ranked[:WORST_SHOWN]) or None


def combine(reports: list[PodReport]) -> Combined:
    """Per-feature PSI weighted by each pod's rows; overall is the mean over features (pure)."""
    names: list[str] = []
    for report in reports:
        names += [n for n in report.features if n not in names]
    features: list[tuple[str, float | None]] = []
    for name in names:
        weighted = [
            (r.rows, r.features[name])
            for r in reports
            if r.rows > 0 and r.features.get(name) is not None
        ]
        total = sum(rows for rows, _ in weighted)
        value = (
            sum(rows * psi for rows, psi in weighted if psi is not None) / total if total else None
        )
        features.append((name, None if value is None else round(value, 4)))
    values = [psi for _, psi in features if psi is not None]
    return Combined(
        overall=round(sum(values) / len(values), 4) if values else None,
        maximum=max(values) if values else None,
        rows=sum(r.rows for r in reports),
        observed_rows=sum(r.observed_rows for r in reports),
        features=features,
    )


def drift_status(
    version: int, digest: str, reports: list[PodReport], errors: list[str], access: str
) -> Obj:
    """The Deployment's status.drift from what was read (pure apart from the timestamp)."""
    mismatched = [r.source for r in reports if r.digest and r.digest != digest]
    reports = [r for r in reports if r.source not in mismatched]
    errors = [*errors, *(f"{s}: serves another digest" for s in mismatched)]
    combined = combine(reports)
    status: Obj = {
        "version": version,
        "digest": digest,
        "rows": combined.rows,
        "observedRows": combined.observed_rows,
        "pods": len(reports),
        "features": [
            {"name": n, **({"psi": p} if p is not None else {})} for n, p in combined.features
        ],
        "access": access,
        "checkedAt": utcnow(),
    }
    for key, value in (
        ("overall", combined.overall),
        ("max", combined.maximum),
        ("worst", combined.worst),
    ):
        if value is not None:
            status[key] = value
    if errors:
        status["error"] = "; ".join(errors)[:1000]
    return status


class DriftReader:
    """Reads the drift reports of a Deployment's production pods; the one place with the I/O."""

    def __init__(self, kube: Kube, access: str, in_cluster: bool, timeout: float) -> None:
        self.kube, self.access, self.in_cluster, self.timeout = kube, access, in_cluster, timeout
        # Outside the cluster in `auto` mode: once pod addresses proved unreachable, use the proxy.
        self._pods_unreachable = False
        self._http = httpx.Client(timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def read(self, namespace: str, deployment: str, model: str, version: int, digest: str) -> Obj:
        path = f"/v2/models/{model}/drift"
        mode = self._mode()
        if mode == "service":
            url = f"http://{deployment}.{namespace}.svc:80{path}"
            try:
                report = parse_report(self._get(url), f"service {deployment}")
            except DriftReadError as exc:
                return drift_status(version, digest, [], [str(exc)], "service")
            return drift_status(version, digest, [report], [], "service (one pod sampled)")
        pods = [
            p
            for p in self.kube.list(PODS, namespace, stage_selector(deployment, "production"))
            if p["metadata"].get("labels", {}).get(LABEL_VERSION) == str(version) and pod_ready(p)
        ]
        reports, errors, used = [], [], set()
        for pod in pods:
            try:
                report, how = self._read_pod(namespace, pod, path, mode)
                reports.append(report)
                used.add(how)
            except DriftReadError as exc:
                errors.append(str(exc))
        if not pods:
            errors.append(f"no ready production pod serves version {version}")
        return drift_status(version, digest, reports, errors, "+".join(sorted(used)) or mode)

    def _mode(self) -> str:
        if self.access != "auto":
            return self.access
        return "pod" if self.in_cluster else "auto"

    def _read_pod(self, namespace: str, pod: Obj, path: str, mode: str) -> tuple[PodReport, str]:
        name, ip = pod["metadata"]["name"], (pod.get("status") or {}).get("podIP")
        if mode in ("pod", "auto") and not (mode == "auto" and self._pods_unreachable):
            if not ip:
                raise DriftReadError(f"{name}: no pod IP")
            try:
                return parse_report(self._get(f"http://{ip}:{SERVING_PORT}{path}"), name), "pod"
            except DriftReadError as exc:
                if mode == "pod" or "unreachable" not in str(exc):
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
        raise DriftReadError(f"{where}: unreachable ({exc})") from None
    except httpx.HTTPError as exc:
        raise DriftReadError(f"{where}: {exc}") from None
    if response.status_code != 200:
        raise DriftReadError(f"{where}: HTTP {response.status_code}")
    try:
        return response.json()
    except ValueError:
        raise DriftReadError(f"{where}: the answer is not JSON") from None


def in_production(status: Obj | None) -> bool:
    return bool(((status or {}).get("production") or {}).get("promotedAt"))


def drift_due(status: Obj, interval: float, now: datetime | None = None) -> bool:
    """Whether production drift should be read now: never read, stale, or another version."""
    production, drift = status.get("production") or {}, status.get("drift") or {}
    if not production.get("promotedAt"):
        return False
    if drift.get("version") != production.get("version") or not drift.get("checkedAt"):
        return True
    checked = datetime.fromisoformat(str(drift["checkedAt"]).replace("Z", "+00:00"))
    return ((now or datetime.now(UTC)) - checked).total_seconds() >= interval - 0.5


def record_drift(
    kube: Kube, reader: DriftReader, settings: OperatorSettings, body: Obj, logger: kopf.Logger
) -> None:
    """Read the production pods' drift reports and write the combination to status.drift."""
    old: Obj = body.get("status") or {}
    if not drift_due(old, settings.drift_interval_seconds):
        return
    production = old["production"]
    meta = body["metadata"]
    drift = reader.read(
        meta["namespace"],
        meta["name"],
        str(body["spec"]["modelRef"]["name"]),
        int(production["version"]),
        str(production["digest"]),
    )
    if drift.get("error"):
        logger.info("drift of %s: %s", meta["name"], drift["error"])
    new = {**old, "drift": drift}
    kube.patch(
        MODEL_DEPLOYMENTS,
        meta["namespace"],
        meta["name"],
        {"status": status_patch(old, new)},
        status=True,
    )
    body["status"] = new
