"""Unit tests of the operator: no cluster, no Kopf, one package per controller (as in src/).

What is faked, for every test below this directory:
- the API server, by the one in-memory client `support.fake_kube.FakeKube` (a `Kube` whose verbs
  work on a dict and record every call), where a test needs reads or writes at all;
- Kopf's Event posting, by the `posted` fixture, which captures what `kube.events` would post.
Decisions and builders are pure and get no fake: their tests pass typed observations in.
"""

from __future__ import annotations

import pytest

from modelship.operator.kube import events


@pytest.fixture
def posted(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """The Events a test's reconciles post, as (reason, message), in order."""
    seen: list[tuple[str, str]] = []
    monkeypatch.setattr(
        events, "normal", lambda body, reason, message: seen.append((reason, message))
    )
    monkeypatch.setattr(
        events, "warning", lambda body, reason, message: seen.append((reason, message))
    )
    return seen
