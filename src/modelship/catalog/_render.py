"""Text and JSON rendering for `modelship catalog`: aligned tables and `show`'s labelled lines
for people, JSON for scripts -- kept apart from the commands, which decide what to show."""

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


def version_fields(metadata: VersionMetadata, location: str) -> list[tuple[str, Any]]:
    """`catalog show`'s lines, label and value: everything recorded about one version."""
    # Typed features show their type (the schema lineage records); numeric ones stay bare.
    features = ", ".join(
        f.name if f.type == "numeric" else f"{f.name} ({f.type})" for f in metadata.features
    )
    framework = metadata.framework
    return [
        ("Version", metadata.version),
        ("Digest", metadata.digest),
        ("Model", f"{metadata.namespace}/{metadata.model}"),
        ("Task", metadata.task),
        ("Algorithm", f"{metadata.algorithm.name} {json.dumps(metadata.algorithm.params)}"),
        (
            "Dataset",
            f"{metadata.dataset.uri} ({metadata.dataset.rows} rows, {metadata.dataset.digest})",
        ),
        (
            "Target",
            metadata.target.name
            + (
                f" classes={metadata.target.classes}" if metadata.target.classes is not None else ""
            ),
        ),
        ("Features", features),
        ("Metrics", metrics(metadata)),
        ("Gates", gates(metadata)),
        ("TrainingJob", metadata.training_job or "-"),
        ("Created", metadata.created_at),
        ("Libraries", ", ".join(f"{k} {v}" for k, v in metadata.libraries.model_dump().items())),
        *([("Framework", f"{framework.name} {framework.version}")] if framework else []),
        ("Location", location),
    ]


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
