"""The registry client asks again after a dropped connection or a 502/503/504, a few times, and
never after an answer that means something (404, 400, 500)."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from modelship.catalog.digests import digest_bytes
from modelship.catalog.errors import StorageError
from modelship.catalog.registry import Registry

BLOB = b"a blob's bytes"
DIGEST = digest_bytes(BLOB)


def flaky(failures: list[Callable[[httpx.Request], httpx.Response]]) -> httpx.MockTransport:
    """Answers with each of `failures` in turn, then as a registry holding BLOB would."""
    calls = iter(failures)

    def handle(request: httpx.Request) -> httpx.Response:
        failure = next(calls, None)
        if failure is not None:
            return failure(request)
        if request.url.path.endswith(f"/blobs/{DIGEST}"):
            return httpx.Response(200, content=BLOB)
        return httpx.Response(404)

    return httpx.MockTransport(handle)


def dropped(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


def unavailable(request: httpx.Request) -> httpx.Response:
    return httpx.Response(503)


def registry(transport: httpx.MockTransport, attempts: int = 3) -> Registry:
    return Registry("registry.test", transport=transport, attempts=attempts, backoff_seconds=0)


def test_a_dropped_connection_and_a_503_are_asked_again() -> None:
    client = registry(flaky([dropped, unavailable]))
    assert client.has_blob("ml/iris", DIGEST)
    client = registry(flaky([unavailable, dropped]))
    assert client.fetch_blob("ml/iris", DIGEST) == BLOB


def test_a_registry_that_stays_down_is_a_storage_error_after_the_last_attempt() -> None:
    asked: list[int] = []

    def count(request: httpx.Request) -> httpx.Response:
        asked.append(1)
        raise httpx.ConnectError("connection refused", request=request)

    client = registry(httpx.MockTransport(count), attempts=3)
    with pytest.raises(StorageError, match="unreachable"):
        client.has_blob("ml/iris", DIGEST)
    assert len(asked) == 3
    asked.clear()
    with pytest.raises(StorageError, match="reading"):
        client.fetch_blob("ml/iris", DIGEST)
    assert len(asked) == 3


def test_answers_that_mean_something_are_not_asked_again() -> None:
    asked: list[int] = []

    def server_error(request: httpx.Request) -> httpx.Response:
        asked.append(1)
        return httpx.Response(500)

    client = registry(httpx.MockTransport(server_error))
    with pytest.raises(StorageError, match="HTTP 500"):
        client.has_blob("ml/iris", DIGEST)
    assert len(asked) == 1
    assert registry(flaky([])).get_manifest("ml/iris", "v1") is None  # a 404, once


def test_a_blob_cut_off_after_its_first_bytes_is_not_silently_resumed() -> None:
    """What was handed to the caller cannot be taken back: a fault mid-stream is an error."""

    class CutOff(httpx.SyncByteStream):
        def __iter__(self):  # type: ignore[no-untyped-def]
            yield BLOB[:4]
            raise httpx.ReadError("connection reset")

    transport = httpx.MockTransport(lambda request: httpx.Response(200, stream=CutOff()))
    with pytest.raises(StorageError, match="reading"):
        registry(transport).fetch_blob("ml/iris", DIGEST)
