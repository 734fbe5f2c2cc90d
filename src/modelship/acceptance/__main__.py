"""`python -m modelship.acceptance`: check a test stage and report through the termination message.

Exit 0 whenever a verdict was reached (pass or fail: the report says which); exit 1 when the checks
could not run at all (catalog unreadable, bad plan), with the reason in the same message.
"""

from __future__ import annotations

import contextlib
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from pydantic import ValidationError

from modelship.acceptance.checks import Observations, evaluate
from modelship.acceptance.settings import AcceptanceSettings
from modelship.api.v1alpha1 import utcnow
from modelship.catalog import FEATURES_FILE, CatalogError, FeatureInfo, open_catalog
from modelship.contracts.acceptance import (
    DEFAULT_TERMINATION_MESSAGE_PATH,
    AcceptanceJobReport,
    AcceptancePlan,
)


def _emit(report: AcceptanceJobReport, path: str) -> None:
    line = report.to_message()
    print(line, flush=True)
    try:
        Path(path).write_text(line)
    except OSError as exc:
        print(f"cannot write termination message: {exc}", file=sys.stderr)


def request_body(row: list[float | str | None], typed: list[FeatureInfo] | None) -> Any:
    """One row as a v2 request: the [1, k] FP64 tensor of an untyped model, or for typed
    features one tensor per feature (numbers FP64, categories BYTES, null when missing), the
    way MLServer's pandas codec sends a table."""
    if typed is None:
        return {
            "inputs": [{"name": "input", "shape": [1, len(row)], "datatype": "FP64", "data": row}]
        }
    return {
        "inputs": [
            {
                "name": feature.name,
                "shape": [1],
                "datatype": "BYTES" if feature.type == "categorical" else "FP64",
                "data": [value],
            }
            for feature, value in zip(typed, row, strict=True)
        ],
        "parameters": {"content_type": "pd"},
    }


# A pod that does not answer its identity is failed: asked this many times first, since one
# request timing out on a busy node (while its 200 prediction requests then all pass) is not a
# pod serving the wrong version.
IDENTITY_ATTEMPTS = 3
IDENTITY_RETRY_SECONDS = 1.0


def identity(client: httpx.Client, url: str) -> tuple[str | None, str | None]:
    """(version, digest) the pod says it serves; (None, why) when it never answered."""
    for attempt in range(1, IDENTITY_ATTEMPTS + 1):
        try:
            response = client.get(url)
            break
        except httpx.TransportError as exc:
            if attempt == IDENTITY_ATTEMPTS:
                return None, f"unreachable: {exc} ({attempt} attempts)"
            time.sleep(IDENTITY_RETRY_SECONDS * attempt)
    params = response.json().get("parameters", {}) if response.status_code == 200 else {}
    return params.get("version"), params.get("digest")


def probe(
    plan: AcceptancePlan,
    rows: list[list[float | str | None]],
    targets: list[Any],
    client: httpx.Client,
    typed: list[FeatureInfo] | None = None,
) -> Observations:
    """Ask every pod who it is, then spread the rows over the pods one request per row."""
    observed = Observations()
    model, version = plan.model, plan.version
    for target in plan.targets:
        observed.identities[target] = identity(
            client, f"{target}/v2/models/{model}/versions/{version}"
        )
    for index, (row, expected) in enumerate(zip(rows, targets, strict=True)):
        target = plan.targets[index % len(plan.targets)]
        body = request_body(row, typed)
        started = time.perf_counter()
        try:
            response = client.post(
                f"{target}/v2/models/{model}/versions/{version}/infer", json=body
            )
        except httpx.HTTPError as exc:
            observed.errors.append(f"{target}: {exc}")
            continue
        observed.latencies_ms.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            observed.errors.append(f"{target}: HTTP {response.status_code} {response.text[:200]}")
            continue
        outputs = {o["name"]: o["data"] for o in response.json().get("outputs", [])}
        observed.predictions.append(outputs.get("predict", [None])[0])
        observed.targets.append(expected)
    return observed


def main() -> int:
    try:
        settings = AcceptanceSettings()  # fields come from the environment
    except ValidationError as exc:
        _emit(
            AcceptanceJobReport(passed=False, error=f"bad plan: {exc}"),
            DEFAULT_TERMINATION_MESSAGE_PATH,
        )
        return 1
    plan, report_path = settings.plan, settings.termination_message_path
    try:
        version = open_catalog(plan.catalog_root).open_verified(
            plan.namespace, plan.model, plan.version, plan.digest, pinned=plan.artifact
        )
        held_out = version.acceptance()
        # Typed features: the rows are typed too, in the acceptance set's feature order.
        by_name = {feature.name: feature for feature in version.metadata.features}
        typed = (
            [by_name[name] for name in held_out.features]
            if FEATURES_FILE in version.metadata.files
            else None
        )
    except (KeyError, ValueError, CatalogError) as exc:
        _emit(AcceptanceJobReport(passed=False, error=f"{type(exc).__name__}: {exc}"), report_path)
        return 1
    spec = plan.acceptance
    count = min(spec.samples, len(held_out.inputs))
    rows, targets = held_out.inputs[:count], held_out.targets[:count]
    # Connect straight to the pod addresses the operator listed; no proxies in between.
    with httpx.Client(timeout=10.0, trust_env=False) as client:
        for _ in range(2):  # warm-up: the first request of a fresh process pays for imports
            for target in plan.targets:
                with contextlib.suppress(httpx.HTTPError):
                    client.get(f"{target}/v2/health/ready")
        observed = probe(plan, rows, targets, client, typed)
    checks = evaluate(spec, plan.task, plan.version, plan.digest, observed, count)
    _emit(
        AcceptanceJobReport(
            checked_at=utcnow(),
            samples=count,
            passed=all(c.passed for c in checks),
            checks=checks,
        ),
        report_path,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
