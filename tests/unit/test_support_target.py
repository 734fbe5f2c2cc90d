"""Which cluster and operator the live tests use, decided from the environment
(`make kind-e2e` hands its cluster over this way; support/target.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.target import Target, TargetError, target_from_env


@pytest.fixture
def kubeconfig(tmp_path: Path) -> Path:
    path = tmp_path / "kubeconfig"
    path.write_text("apiVersion: v1\nkind: Config\n")
    return path


def test_nothing_set_means_a_local_cluster_and_an_operator_the_tests_deploy() -> None:
    assert target_from_env({}) == Target(kubeconfig=None, operator_deployed=False)
    empty = {"MODELSHIP_TEST_KUBECONFIG": "", "MODELSHIP_TEST_OPERATOR": ""}
    assert target_from_env(empty) == Target()


def test_a_kubeconfig_names_the_cluster_to_use(kubeconfig: Path) -> None:
    target = target_from_env({"MODELSHIP_TEST_KUBECONFIG": str(kubeconfig)})
    assert target == Target(kubeconfig=kubeconfig, operator_deployed=False)


def test_in_cluster_says_the_operator_is_already_deployed_there(kubeconfig: Path) -> None:
    env = {"MODELSHIP_TEST_KUBECONFIG": str(kubeconfig), "MODELSHIP_TEST_OPERATOR": "in-cluster"}
    assert target_from_env(env) == Target(kubeconfig=kubeconfig, operator_deployed=True)


def test_a_relative_kubeconfig_is_made_absolute(
    kubeconfig: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(kubeconfig.parent)
    target = target_from_env({"MODELSHIP_TEST_KUBECONFIG": "kubeconfig"})
    assert target.kubeconfig == kubeconfig


@pytest.mark.parametrize(
    ("env", "words"),
    [
        ({"MODELSHIP_TEST_KUBECONFIG": "/nowhere/kubeconfig"}, "no such file"),
        ({"MODELSHIP_TEST_OPERATOR": "in-cluster"}, "needs MODELSHIP_TEST_KUBECONFIG"),
        ({"MODELSHIP_TEST_OPERATOR": "incluster"}, "the only value is 'in-cluster'"),
    ],
    ids=["missing-kubeconfig", "operator-without-cluster", "unknown-operator-mode"],
)
def test_what_cannot_be_honoured_is_refused_with_a_reason(env: dict[str, str], words: str) -> None:
    with pytest.raises(TargetError, match=words):
        target_from_env(env)
