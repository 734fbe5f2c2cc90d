"""Text and JSON rendering for `modelship catalog`: aligned tables for people, JSON for scripts."""

from __future__ import annotations

import json
from typing import Any

from modelship.catalog.models import VersionMetadata


def dump(metadata: VersionMetadata) -> dict[str, Any]:
    return metadata.model_dump(mode="json", by_alias=True)


def metrics(metadata: VersionMetadata) -> str:
    return " ".join(f"{k}={v:.4g}" for k, v in sorted(metadata.metrics.items())) or "-"


def primary_metric(metadata: VersionMetadata) -> str:
    """The one number an engineer scans a list for: accuracy or R²."""
    name = "accuracy" if metadata.task == "classification" else "r2"
    value = metadata.metrics.get(name)
    return f"{name}={value:.4g}" if value is not None else "-"


def gates(metadata: VersionMetadata) -> str:
    if not metadata.gates:
        return "-"
    passed = sum(gate.passed for gate in metadata.gates)
    return f"{passed}/{len(metadata.gates)} passed"


def print_json(value: Any) -> int:
    print(json.dumps(value, indent=2, sort_keys=True))
    return 0


def print_table(headers: list[str], rows: list[list[Any]]) -> None:
    cells = [headers, *[[str(cell) for cell in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for row in cells:
        print(
            "   ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
