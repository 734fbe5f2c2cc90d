"""Learn whether a Model's dataset changed without reading it: HTTP validators only.

The operator never reads model data (DESIGN.md), but a HEAD request's ETag or Last-Modified is
metadata, and it is enough to notice that an http(s) dataset was replaced. A file:// dataset lives
on a volume the operator does not mount: a probe Job in the Model's namespace hashes it
(`dataset_jobs`). Builtin datasets never change.
"""

from __future__ import annotations

import threading
import time

import httpx

from modelship.operator.model.dataset_jobs import FileDatasetJobs


class DatasetProbe:
    """HEAD each http(s) dataset at most once per interval; answers (validator, error) or None."""

    def __init__(
        self,
        interval_seconds: float,
        files: FileDatasetJobs | None = None,
        timeout_seconds: float = 10.0,
    ) -> None:
        self.interval = interval_seconds
        self.files = files
        self._checked: dict[tuple[str, ...], float] = {}
        self._lock = threading.Lock()
        self._http = httpx.Client(timeout=timeout_seconds, follow_redirects=True)

    def close(self) -> None:
        self._http.close()

    def check(self, owner: tuple[str, ...], uri: str) -> tuple[str | None, str | None] | None:
        """None when it is not time to look again; else (validator, error)."""
        if uri.startswith("builtin:"):
            return uri, None  # constant: a builtin dataset is part of the image and never changes
        due = self._due((*owner, uri))
        if uri.startswith("file://"):
            if self.files is None:
                return None, "file:// datasets are checked by a probe Job, which needs a client"
            # Read on every look (a probe finishes between two), started only when due.
            return self.files.check(owner[0], owner[1], uri, due, int(time.time()))
        return head_validator(self._http, uri) if due else None

    def _due(self, key: tuple[str, ...]) -> bool:
        with self._lock:
            now = time.monotonic()
            if now - self._checked.get(key, -self.interval) < self.interval:
                return False
            self._checked[key] = now
            return True


def head_validator(http: httpx.Client, uri: str) -> tuple[str | None, str | None]:
    try:
        response = http.head(uri)
    except httpx.HTTPError as exc:
        return None, f"HEAD {uri} failed: {exc}"
    if response.status_code >= 400:
        return None, f"HEAD {uri}: HTTP {response.status_code} (dataset missing or unreadable)"
    etag, modified = response.headers.get("etag"), response.headers.get("last-modified")
    if etag:
        return f"etag:{etag}", None
    if modified:
        return f"last-modified:{modified}", None
    return None, f"{uri} sends neither ETag nor Last-Modified, so changes cannot be seen"
