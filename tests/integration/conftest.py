"""Fixtures shared by the integration tests: the operator as a process (`kube` is in tests/)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from support.operator import OperatorProcess, running_operator
from support.target import OPERATOR_ENV, Target


@pytest.fixture(scope="module")
def operator(
    target: Target, cluster_kubeconfig: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    """The operator as a real process (`python -m modelship.operator`), one per test module."""
    if target.operator_deployed:
        pytest.fail(
            f"these tests run the operator as a local process (short deadlines, killed and "
            f"restarted); with {OPERATOR_ENV}=in-cluster one already runs in the cluster, and two "
            "would fight over the same objects"
        )
    yield from running_operator(cluster_kubeconfig, tmp_path_factory, rollout_deadline_seconds="20")
