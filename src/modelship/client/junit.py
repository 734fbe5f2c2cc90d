"""An acceptance report (or a wait's outcome) as JUnit XML, which every CI system displays.

The layout is the common subset CI tools read (Jenkins, GitLab, GitHub test reporters):
<testsuites><testsuite name tests failures><testcase classname name time><failure message>.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from modelship.api.v1alpha1 import AcceptanceReport
from modelship.client.waiting import State, Verdict


def junit_xml(target: str, goal: str, verdict: Verdict) -> ET.ElementTree[ET.Element]:
    """One suite for `target`: each acceptance check as a test case, or else the wait itself."""
    version = "" if verdict.version is None else f" version {verdict.version}"
    suite_name = f"modelship {target}{version}"
    root = ET.Element("testsuites", name="modelship")
    suite = ET.SubElement(root, "testsuite", name=suite_name)
    report = verdict.report
    cases = _checks(suite, target, report) if report is not None and report.checks else None
    if cases is None:
        case = ET.SubElement(suite, "testcase", classname=f"modelship.{target}", name=goal)
        cases = (1, 0)
        if verdict.state is not State.REACHED:
            cases = (1, 1)
            tag = "failure" if verdict.state is State.UNREACHABLE else "error"
            ET.SubElement(case, tag, message=verdict.message).text = verdict.message
    if report is not None and report.checked_at:
        suite.set("timestamp", report.checked_at)
    tests, failures = cases
    for element in (root, suite):
        element.set("tests", str(tests))
        element.set("failures", str(failures))
        element.set("errors", "0")
    return ET.ElementTree(root)


def _checks(suite: ET.Element, target: str, report: AcceptanceReport) -> tuple[int, int]:
    failures = 0
    for check in report.checks:
        case = ET.SubElement(
            suite, "testcase", classname=f"modelship.acceptance.{target}", name=check.name
        )
        detail = check.message or ""
        if check.value is not None:
            detail = f"value {check.value:g}" + (f", bound {check.bound}" if check.bound else "")
            detail += f"; {check.message}" if check.message else ""
        if not check.passed:
            failures += 1
            ET.SubElement(case, "failure", message=detail or "failed").text = detail
        else:
            ET.SubElement(case, "system-out").text = detail
    return len(report.checks), failures


def write_junit(path: Path, target: str, goal: str, verdict: Verdict) -> None:
    tree = junit_xml(target, goal, verdict)
    ET.indent(tree)
    tree.write(path, encoding="utf-8", xml_declaration=True)
