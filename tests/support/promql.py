"""Which metric names a dashboard or a rules file queries, and which a /metrics page exports.

Good enough for our own queries, not a PromQL parser: grouping clauses (`by (...)`), label
matchers (`{...}`) and strings are removed first, so label names such as `modelship_io_model`
are not taken for metrics; what remains and starts with `modelship_` is a metric name.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "manifests" / "grafana" / "modelship-dashboard.json"
RULES = ROOT / "manifests" / "prometheus" / "rules" / "modelship.rules.yaml"

_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_MATCHERS = re.compile(r"\{[^}]*\}")
_STRINGS = re.compile(r'"[^"]*"')
_NAMES = re.compile(r"\bmodelship_[a-zA-Z0-9_:]*")


def metric_names(expr: str) -> set[str]:
    bare = _STRINGS.sub("", _MATCHERS.sub("{}", _GROUPING.sub("", expr)))
    return set(_NAMES.findall(bare))


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def dashboard_queries() -> dict[str, list[str]]:
    """Panel title -> its PromQL expressions (rows have none)."""
    return {
        panel["title"]: [target["expr"] for target in panel.get("targets", [])]
        for panel in dashboard()["panels"]
        if panel["type"] != "row"
    }


def rule_queries() -> dict[str, str]:
    """Alert name -> its expression."""
    rules = yaml.safe_load(RULES.read_text())
    return {r["alert"]: r["expr"] for g in rules["groups"] for r in g["rules"]}


def exported_names(exposition: str) -> set[str]:
    """Every series name a /metrics page exports or declares (a labelled metric with no child
    yet still has its `# TYPE` line); a histogram declares its `_bucket`, `_count`, `_sum`."""
    names: set[str] = set()
    for line in exposition.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(maxsplit=3)
            names.add(name)
            if kind == "histogram":
                names.update(f"{name}{suffix}" for suffix in ("_bucket", "_count", "_sum"))
        elif line and not line.startswith("#"):
            names.add(re.split(r"[{ ]", line, maxsplit=1)[0])
    return names
