"""Helpers of the identity, capture and feedback tests (fixtures: tests/unit/monitoring)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

MakeClient = Callable[..., TestClient]


def infer_body(rows: list[list[float]], **extra: Any) -> dict[str, Any]:
    return {
        "inputs": [
            {"name": "input", "datatype": "FP64", "shape": [len(rows), len(rows[0])], "data": rows}
        ],
        **extra,
    }


def metric(client: TestClient, name: str, **labels: str) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(name) and all(f'{k}="{v}"' in line for k, v in labels.items()):
            head = line.split(" ")[0]
            if head == name or head.startswith(name + "{"):
                return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"metric {name} {labels} not exported")
