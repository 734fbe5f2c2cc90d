"""Which cluster and which operator the integration and end-to-end tests run against.

By default the session starts its own local cluster and the tests deploy (or start) the operator
themselves. `make kind-e2e` instead hands the tests a cluster it created and an operator it
deployed there, through two environment variables; this module is the one place that reads them,
so a typo or a contradiction stops the session instead of silently testing the local cluster.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

KUBECONFIG_ENV = "MODELSHIP_TEST_KUBECONFIG"
OPERATOR_ENV = "MODELSHIP_TEST_OPERATOR"
IN_CLUSTER = "in-cluster"


class TargetError(ValueError):
    """The environment asks for something the tests cannot do; the message says what to set."""


@dataclass(frozen=True)
class Target:
    """`kubeconfig`: an existing cluster to use, or None to start a local one for the session.
    `operator_deployed`: the operator already runs in that cluster; tests neither deploy nor
    start one (a second operator would fight the first over the same objects)."""

    kubeconfig: Path | None = None
    operator_deployed: bool = False


def target_from_env(env: Mapping[str, str]) -> Target:
    """Decide from the environment (pass `os.environ`); unset or empty variables mean default."""
    raw_kubeconfig = env.get(KUBECONFIG_ENV, "")
    operator = env.get(OPERATOR_ENV, "")
    if operator not in ("", IN_CLUSTER):
        raise TargetError(f"{OPERATOR_ENV}={operator!r}: the only value is {IN_CLUSTER!r}")
    if not raw_kubeconfig:
        if operator:
            raise TargetError(
                f"{OPERATOR_ENV}={IN_CLUSTER} needs {KUBECONFIG_ENV}: the cluster the session "
                "starts has no operator deployed in it"
            )
        return Target()
    kubeconfig = Path(raw_kubeconfig).expanduser().absolute()
    if not kubeconfig.is_file():
        raise TargetError(f"{KUBECONFIG_ENV}={raw_kubeconfig}: no such file")
    return Target(kubeconfig=kubeconfig, operator_deployed=operator == IN_CLUSTER)
