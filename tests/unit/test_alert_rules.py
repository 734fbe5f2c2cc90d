"""The alert rules: valid (`promtool check rules`), doing what they say on synthetic series
(`promtool test rules`), and the same in the plain rules file and the PrometheusRule."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "manifests" / "prometheus" / "rules" / "modelship.rules.yaml"
PROMETHEUS_RULE = ROOT / "manifests" / "prometheus" / "prometheusrule.yaml"
RULE_TESTS = Path(__file__).parent / "promtool" / "alert_rules_test.yaml"


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool")
    assert binary, "promtool is missing: Debian's `prometheus` package (make system-deps)"
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=120)


def test_the_rules_file_is_valid() -> None:
    result = promtool("check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 10 rules found" in result.stdout


def test_every_alert_fires_where_it_should_and_only_there() -> None:
    result = promtool("test", "rules", str(RULE_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr
    tested = {
        case["alertname"]
        for test in yaml.safe_load(RULE_TESTS.read_text())["tests"]
        for case in test.get("alert_rule_test", [])
        if case["exp_alerts"]
    }
    alerts = {
        rule["alert"]
        for group in yaml.safe_load(RULES.read_text())["groups"]
        for rule in group["rules"]
    }
    assert tested == alerts  # no alert goes untested


def test_the_prometheus_rule_carries_the_same_groups() -> None:
    rule = yaml.safe_load(PROMETHEUS_RULE.read_text())
    assert (rule["apiVersion"], rule["kind"]) == ("monitoring.coreos.com/v1", "PrometheusRule")
    assert rule["spec"] == yaml.safe_load(RULES.read_text())


def test_a_broken_rule_is_refused(tmp_path: Path) -> None:
    """The check above can fail: promtool refuses a rule whose expression does not parse."""
    broken = tmp_path / "broken.yaml"
    broken.write_text("groups:\n- name: x\n  rules:\n  - alert: Broken\n    expr: sum by (\n")
    assert promtool("check", "rules", str(broken)).returncode != 0
