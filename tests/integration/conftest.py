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
    """The operator as a real process (`python -m modelship.operator`), one per test module.

    Its rollout deadline is one a busy machine still meets: with a second live module beside
    it, production pods can take longer than 20 s to become ready, and a shorter deadline then
    rolls a healthy version back (the batch test lost its production that way). A module that
    tests the deadline itself brings its own, shorter one."""
    if target.operator_deployed:
        pytest.fail(
            f"these tests run the operator as a local process (short deadlines, killed and "
            f"restarted); with {OPERATOR_ENV}=in-cluster one already runs in the cluster, and two "
            "would fight over the same objects"
        )
    yield from running_operator(
        cluster_kubeconfig, tmp_path_factory, rollout_deadline_seconds="120"
    )
