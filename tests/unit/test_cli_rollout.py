"""`modelship promote|abort` name exactly the canary (and step) they act on."""

from __future__ import annotations

import pytest

from modelship.api.v1alpha1 import DeploymentStatus
from modelship.cli.rollout import annotation_for

D = "sha256:" + "2" * 64


def status(**canary: object) -> DeploymentStatus:
    return DeploymentStatus.model_validate(
        {"canary": {"version": 2, "digest": D, "step": 1, "weight": 20, **canary}}
    )


def test_promote_names_the_paused_step() -> None:
    paused = status(state="Waiting", waitingFor="paused at 20%: run `modelship promote`")
    assert annotation_for("promote", paused) == ("modelship.io/promote", "2/1")


def test_promote_refuses_a_canary_that_is_not_paused() -> None:
    with pytest.raises(ValueError, match="not paused for promote"):
        annotation_for("promote", status(state="Waiting", waitingFor="analysing 20% of traffic"))


def test_abort_names_the_canary_and_needs_one_in_progress() -> None:
    assert annotation_for("abort", status(state="Progressing")) == ("modelship.io/abort", "2")
    with pytest.raises(ValueError, match="no canary is in progress"):
        annotation_for("abort", status(state="Aborted"))
    with pytest.raises(ValueError, match="no canary is in progress"):
        annotation_for("abort", DeploymentStatus())
