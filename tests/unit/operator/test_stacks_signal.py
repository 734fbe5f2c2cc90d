"""The operator writes every thread's stack to its log when sent its stacks signal, and goes on.

A stalled operator (a handler waiting on a lock, every thread waiting on the API server) was
only guessed at from what it no longer logged; the live tests send this signal on a timeout.
"""

from __future__ import annotations

import asyncio
import faulthandler
import os
from collections.abc import Iterator
from typing import Any

import kopf
import pytest

from modelship.operator import __main__ as entry


@pytest.fixture
def registered() -> Iterator[None]:
    yield
    faulthandler.unregister(entry.STACKS_SIGNAL)


def test_the_stacks_signal_writes_every_threads_stack_and_the_operator_goes_on(
    registered: None, monkeypatch: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    went_on: list[bool] = []

    async def operator(**_: Any) -> None:
        os.kill(os.getpid(), entry.STACKS_SIGNAL)
        await asyncio.sleep(0.05)
        went_on.append(True)

    monkeypatch.setattr(kopf, "operator", operator)
    monkeypatch.setattr(kopf, "configure", lambda **_: None)
    assert entry.main() == 0
    assert went_on == [True]
    stacks = capfd.readouterr().err
    assert "most recent call first" in stacks and "test_stacks_signal.py" in stacks
