"""Asking a registry again: the one retry loop of the catalog's registry client.

A registry that drops a connection or answers 502/503/504 (restarting, behind a busy proxy) is
asked again a few times with backoff: a failed training attempt or evaluation costs far more
than a second request. Requests and blob streams retry by the same rule, with one difference
that the loop enforces for both: an attempt may be made again only while nothing of it has
reached the caller (bytes handed on cannot be taken back).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Generator, Iterator
from typing import TypeVar

import httpx

from modelship.catalog.errors import StorageError

TRANSIENT_STATUS = frozenset({502, 503, 504})
T = TypeVar("T")


class TryAgain(Exception):  # noqa: N818 - an instruction to the retry loop, not an error
    """An attempt's answer was transient (502/503/504): ask again."""


def retried(
    attempt: Callable[[bool], Generator[T, None, None]],
    fault: str,
    attempts: int,
    pause: Callable[[int], None],
) -> Iterator[T]:
    """What `attempt(last)` yields, the attempt made again (up to `attempts` times, `pause(n)`
    after the n-th) after a dropped connection or a transient answer -- the attempt raises
    `TryAgain`, never on the `last` one -- while nothing of it has reached the caller yet.
    Any other HTTP fault, or a connection dropped too late, is a `StorageError` "`fault`: ..."."""
    for number in range(1, attempts + 1):
        last = number == attempts
        delivered = False
        try:
            with contextlib.closing(attempt(last)) as items:
                for item in items:
                    delivered = True
                    yield item
            return
        except TryAgain:
            pass
        except httpx.TransportError as exc:
            if delivered or last:
                raise StorageError(f"{fault}: {exc}") from exc
        except httpx.HTTPError as exc:  # not a transport fault (e.g. too many redirects)
            raise StorageError(f"{fault}: {exc}") from exc
        pause(number)
