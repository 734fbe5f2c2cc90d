"""The Python SDK on the local cluster: the README's examples, run as they are written.

They drive a Model to a version, retrain it with another hyperparameter and compare the two
versions, then test, approve and serve the second one and ask production for a prediction.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from modelship.operator.kube.client import Kube
from modelship.operator.kube.resources import MODEL_DEPLOYMENTS
from support.live import production_version, status_of
from support.operator import OperatorProcess

pytestmark = pytest.mark.integration
README = Path(__file__).resolve().parents[2] / "README.md"


def readme_examples() -> list[str]:
    """The python blocks that follow a `<!-- sdk-example -->` marker, in order."""
    blocks = re.findall(r"<!-- sdk-example -->\n```python\n(.*?)```", README.read_text(), re.S)
    assert len(blocks) == 2
    return blocks


def test_the_readme_examples_drive_and_compare_versions(
    operator: OperatorProcess,
    kube: Kube,
    namespace: str,
    cluster_kubeconfig: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(cluster_kubeconfig))
    scope: dict[str, Any] = {}
    for block in readme_examples():
        # The README's namespace is `ml`; each test gets a fresh one.
        exec(block.replace('namespace="ml"', f'namespace="{namespace}"'), scope)
    assert (scope["first"], scope["second"]) == (1, 2)
    printed = capsys.readouterr()
    assert "param:n_estimators" in printed.out and "metric:accuracy" in printed.out
    assert "identity" in printed.out  # the acceptance report's checks
    assert "Trained" in printed.err  # the progress display, in a terminal
    assert production_version(kube, namespace, "iris") == "2"
    assert status_of(kube, MODEL_DEPLOYMENTS, namespace, "iris")["production"]["version"] == 2
    mdep = kube.get(MODEL_DEPLOYMENTS, namespace, "iris")
    assert mdep is not None
    assert set(mdep["spec"]["approval"]) == {"version", "digest"}  # no self-declared approver
    frame = scope["ms"].versions("iris").to_dataframe()
    assert list(frame.index) == [2, 1] and "metric:accuracy" in frame.columns
    assert scope["comparison"].to_dataframe().loc["param:n_estimators"].tolist() == [20, 50]
    scope["ms"].close()
