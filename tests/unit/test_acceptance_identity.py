"""The acceptance Job asks a pod who it is again when one request does not get through.

One identity request timing out on a busy node failed a version whose pod then answered all 200
prediction requests (seen in a fresh-clone `make test`); a pod that never answers still fails.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from modelship.acceptance import __main__ as acceptance

URL = "http://10.0.0.9:8080/v2/models/iris/versions/1"


def client(failures: int) -> tuple[httpx.Client, list[int]]:
    calls: list[int] = []

    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) <= failures:
            raise httpx.ReadTimeout("timed out", request=request)
        return httpx.Response(200, json={"parameters": {"version": "1", "digest": "sha256:ab"}})

    return httpx.Client(transport=httpx.MockTransport(answer)), calls


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch: Any) -> None:
    monkeypatch.setattr(acceptance, "IDENTITY_RETRY_SECONDS", 0.0)


def test_a_pod_answering_on_a_later_attempt_is_identified() -> None:
    http, calls = client(failures=acceptance.IDENTITY_ATTEMPTS - 1)
    assert acceptance.identity(http, URL) == ("1", "sha256:ab")
    assert len(calls) == acceptance.IDENTITY_ATTEMPTS


def test_a_pod_that_never_answers_is_unreachable() -> None:
    http, calls = client(failures=acceptance.IDENTITY_ATTEMPTS)
    version, why = acceptance.identity(http, URL)
    assert version is None and why is not None
    assert why.startswith("unreachable: timed out") and f"({len(calls)} attempts)" in why
    assert len(calls) == acceptance.IDENTITY_ATTEMPTS


def test_a_pod_that_answers_is_asked_once() -> None:
    http, calls = client(failures=0)
    assert acceptance.identity(http, URL) == ("1", "sha256:ab")
    assert len(calls) == 1
