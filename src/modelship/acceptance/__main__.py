"""`python -m modelship.acceptance`: check a test stage and report through the termination message.

Exit 0 whenever a verdict was reached (pass or fail: the report says which); exit 1 when the checks
could not run at all (catalog unreadable, bad plan), with the reason in the same message.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from modelship.acceptance.checks import Observations, evaluate
from modelship.api.v1alpha1 import AcceptanceSpec
from modelship.catalog import CatalogError, open_catalog


def _report_path() -> Path:
    return Path(
        os.environ.get("MODELSHIP_ACCEPTANCE_TERMINATION_MESSAGE_PATH", "/dev/termination-log")
    )


def _emit(report: dict[str, Any]) -> None:
    line = json.dumps(report, separators=(",", ":"))
    print(line, flush=True)
    try:
        _report_path().write_text(line)
    except OSError as exc:
        print(f"cannot write termination message: {exc}", file=sys.stderr)


def probe(
    plan: dict[str, Any], rows: list[list[float]], targets: list[Any], client: httpx.Client
) -> Observations:
    """Ask every pod who it is, then spread the rows over the pods one request per row."""
    observed = Observations()
    model, version = plan["model"], plan["version"]
    for target in plan["targets"]:
        try:
            response = client.get(f"{target}/v2/models/{model}/versions/{version}")
            params = response.json().get("parameters", {}) if response.status_code == 200 else {}
            observed.identities[target] = (params.get("version"), params.get("digest"))
        except httpx.HTTPError as exc:
            observed.identities[target] = (None, f"unreachable: {exc}")
    for index, (row, expected) in enumerate(zip(rows, targets, strict=True)):
        target = plan["targets"][index % len(plan["targets"])]
        body = {
            "inputs": [{"name": "input", "shape": [1, len(row)], "datatype": "FP64", "data": row}]
        }
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
        plan = json.loads(os.environ["MODELSHIP_ACCEPTANCE_PLAN"])
        spec = AcceptanceSpec.model_validate(plan["acceptance"])
        version = open_catalog(plan["catalogRoot"]).open_verified(
            plan["namespace"], plan["model"], int(plan["version"]), plan["digest"]
        )
        held_out = version.acceptance()
    except (KeyError, ValueError, CatalogError) as exc:
        _emit({"error": f"{type(exc).__name__}: {exc}", "passed": False})
        return 1
    count = min(spec.samples, len(held_out.inputs))
    rows, targets = held_out.inputs[:count], held_out.targets[:count]
    # Connect straight to the pod addresses the operator listed; no proxies in between.
    with httpx.Client(timeout=10.0, trust_env=False) as client:
        for _ in range(2):  # warm-up: the first request of a fresh process pays for imports
            for target in plan["targets"]:
                with contextlib.suppress(httpx.HTTPError):
                    client.get(f"{target}/v2/health/ready")
        observed = probe(plan, rows, targets, client)
    checks = evaluate(spec, plan["task"], int(plan["version"]), plan["digest"], observed, count)
    _emit(
        {
            "checkedAt": datetime.now(UTC)
            .replace(microsecond=0)
            .isoformat()
            .replace("+00:00", "Z"),
            "samples": count,
            "passed": all(c.passed for c in checks),
            "checks": [c.to_wire() for c in checks],
        }
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
