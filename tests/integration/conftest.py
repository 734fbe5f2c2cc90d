"""Fixtures shared by the integration tests: the operator as a process (`kube` is in tests/)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from support.operator import OperatorProcess


@pytest.fixture(scope="module")
def operator(
    dev_cluster: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    """The operator as a real process (`python -m modelship.operator`), one per test module."""
    process = OperatorProcess(
        dev_cluster.kubeconfig,
        tmp_path_factory.mktemp("operator"),
        rollout_deadline_seconds="20",
    )
    process.start()
    yield process
    process.stop()
