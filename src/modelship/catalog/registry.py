"""A small client of the OCI Distribution API: blobs, manifests, tags — and nothing trusted.

Why not `oras`: the catalog needs exactly seven calls, and needs to check every byte itself (a
manifest fetched by digest must hash to that digest, a blob to its descriptor) rather than trust a
library's file layout; oras-py is untyped and built on `requests`, while httpx is already a
dependency and mypy-checked. Every response that names content is verified here, so a registry
that serves other bytes than were asked for is an `IntegrityError`, never a silent success.

A registry that drops a connection or answers 502/503/504 (restarting, behind a busy proxy) is
asked again, a few times with backoff (`catalog.retries`), before the caller sees a
`StorageError`: every call here may be repeated (reads, content-addressed writes, deletes by
digest, starting an upload); a blob stream only until its first bytes reached the caller.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import httpx

from modelship.catalog.digests import PREFIX, digest_bytes
from modelship.catalog.errors import CatalogError, IntegrityError, StorageError
from modelship.catalog.registry_auth import Credentials, authorization
from modelship.catalog.retries import TRANSIENT_STATUS, TryAgain, retried

MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
_CHUNK = 1 << 20


class Registry:
    """One registry host; repositories are named per call."""

    def __init__(
        self,
        host: str,
        *,
        plain_http: bool = False,
        credentials: Credentials | None = None,
        timeout: float = 60.0,
        attempts: int = 3,
        backoff_seconds: float = 0.5,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.host = host
        scheme = "http" if plain_http else "https"
        self._client = httpx.Client(
            base_url=f"{scheme}://{host}", timeout=timeout, transport=transport
        )
        self._attempts = max(1, attempts)
        self._backoff = backoff_seconds
        self._credentials = credentials
        self._auth: dict[str, str] = {}  # scope (repository) -> Authorization header

    def close(self) -> None:
        self._client.close()

    # -- transport --------------------------------------------------------------------------

    def _request(self, method: str, url: str, repo: str = "", **kwargs: Any) -> httpx.Response:
        """One call; on a 401 answer the challenge once and retry."""
        headers = dict(kwargs.pop("headers", {}))
        for attempt in range(2):
            if repo in self._auth:
                headers["Authorization"] = self._auth[repo]
            response = self._send(method, url, headers=headers, **kwargs)
            challenge = response.headers.get("WWW-Authenticate", "")
            if response.status_code != 401 or attempt or not challenge:
                break
            header = authorization(self._client, challenge, self._credentials)
            if header is None:
                break
            self._auth[repo] = header
        if response.status_code in (401, 403):
            raise CatalogError(f"registry {self.host} denied {method} {url}: check credentials")
        if response.status_code >= 500:
            raise StorageError(f"registry {self.host}: HTTP {response.status_code} on {url}")
        return response

    def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """The request, asked again after a dropped connection or a 502/503/504."""

        def attempt(last: bool) -> Generator[httpx.Response, None, None]:
            response = self._client.request(method, url, **kwargs)
            if response.status_code in TRANSIENT_STATUS and not last:
                response.close()
                raise TryAgain
            yield response  # the last attempt's 5xx goes to the caller, who reports it

        (response,) = retried(
            attempt, f"registry {self.host} unreachable", self._attempts, self._pause
        )
        return response

    def _pause(self, attempt: int) -> None:
        time.sleep(self._backoff * 2 ** (attempt - 1))

    @staticmethod
    def _expect(response: httpx.Response, *codes: int) -> httpx.Response:
        if response.status_code not in codes:
            raise StorageError(
                f"registry answered HTTP {response.status_code} to {response.request.method} "
                f"{response.request.url.path}: {response.text[:200]}"
            )
        return response

    # -- blobs -------------------------------------------------------------------------------

    def has_blob(self, repo: str, digest: str) -> bool:
        return self._request("HEAD", f"/v2/{repo}/blobs/{digest}", repo).status_code == 200

    def push_blob(self, repo: str, data: bytes) -> str:
        """Upload `data` (monolithic) unless the repository has it; return its digest."""
        digest = digest_bytes(data)
        if not self.has_blob(repo, digest):
            location = self._start_upload(repo)
            # The upload URL carries the registry's own state in its query: append, never replace.
            separator = "&" if "?" in location else "?"
            self._expect(
                self._request(
                    "PUT",
                    f"{location}{separator}digest={digest}",
                    repo,
                    content=data,
                    headers={"Content-Type": "application/octet-stream"},
                ),
                201,
            )
        return digest

    def mount_blob(self, repo: str, digest: str, source_repo: str) -> None:
        """Make a blob of `source_repo` part of `repo` without moving its bytes when possible."""
        if self.has_blob(repo, digest):
            return
        response = self._request(
            "POST",
            f"/v2/{repo}/blobs/uploads/",
            repo,
            params={"mount": digest, "from": source_repo},
        )
        if response.status_code == 201:
            return
        # Not mountable (different storage, no access): copy through us, verifying on the way.
        self.push_blob(repo, self.fetch_blob(source_repo, digest))

    def _start_upload(self, repo: str) -> str:
        response = self._expect(self._request("POST", f"/v2/{repo}/blobs/uploads/", repo), 202)
        return response.headers["Location"]

    def fetch_blob(self, repo: str, digest: str) -> bytes:
        return b"".join(self._stream_blob(repo, digest))

    def check_blob(self, repo: str, digest: str) -> None:
        """Read a blob through, only to check it hashes to its digest."""
        for _ in self._stream_blob(repo, digest):
            pass

    def stream_blob(self, repo: str, digest: str) -> Iterator[bytes]:
        """A blob in chunks, checked against its digest once read through (IntegrityError)."""
        return self._stream_blob(repo, digest)

    def fetch_blob_to(self, repo: str, digest: str, path: Path) -> None:
        """Stream a blob into a new file, hashing as it goes; a mismatch leaves no file."""
        try:
            with path.open("xb") as handle:
                for chunk in self._stream_blob(repo, digest):
                    handle.write(chunk)
        except BaseException:
            path.unlink(missing_ok=True)
            raise

    def _stream_blob(self, repo: str, digest: str) -> Iterator[bytes]:
        """The blob's chunks, hashed on the way; asked again after a transient fault only while
        nothing has been handed to the caller yet (what was, cannot be taken back)."""
        hasher = hashlib.sha256()
        url = f"/v2/{repo}/blobs/{digest}"
        # A blob is read after its repository's manifest, whose request answered any auth
        # challenge: the header for this repository is known by now.
        headers = {"Authorization": self._auth[repo]} if repo in self._auth else {}

        def attempt(last: bool) -> Generator[bytes, None, None]:
            with self._client.stream("GET", url, headers=headers, follow_redirects=True) as resp:
                if resp.status_code in TRANSIENT_STATUS and not last:
                    raise TryAgain
                if resp.status_code == 404:
                    raise IntegrityError(f"{repo}: blob {digest} is missing from the registry")
                self._expect(resp, 200)
                yield from resp.iter_bytes(_CHUNK)

        for chunk in retried(
            attempt, f"registry {self.host}: reading {digest}", self._attempts, self._pause
        ):
            hasher.update(chunk)
            yield chunk
        if PREFIX + hasher.hexdigest() != digest:
            raise IntegrityError(f"{repo}: blob {digest} does not match its digest")

    # -- manifests and tags --------------------------------------------------------------------

    def put_manifest(self, repo: str, reference: str, manifest: dict[str, Any]) -> str:
        body = json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()
        digest = digest_bytes(body)
        response = self._request(
            "PUT",
            f"/v2/{repo}/manifests/{reference}",
            repo,
            content=body,
            headers={"Content-Type": MANIFEST_TYPE},
        )
        self._expect(response, 201)
        if response.headers.get("Docker-Content-Digest", digest) != digest:
            raise IntegrityError(f"{repo}: registry stored the manifest under another digest")
        return digest

    def get_manifest(self, repo: str, reference: str) -> tuple[dict[str, Any], str] | None:
        """The manifest and its digest (computed here, never taken from a header); None if absent.

        Asked by digest, bytes that hash to anything else are refused: that is what makes a
        digest reference immutable whatever the registry does.
        """
        found = self.get_manifest_bytes(repo, reference)
        if found is None:
            return None
        try:
            manifest = json.loads(found)
        except ValueError as exc:
            raise IntegrityError(f"{repo}:{reference}: manifest is not JSON") from exc
        if not isinstance(manifest, dict):
            raise IntegrityError(f"{repo}:{reference}: manifest is not a JSON object")
        return manifest, digest_bytes(found)

    def get_manifest_bytes(self, repo: str, reference: str) -> bytes | None:
        """The manifest exactly as stored (a descriptor of it needs its size), digest-checked
        when asked by digest; None if absent."""
        response = self._request(
            "GET", f"/v2/{repo}/manifests/{reference}", repo, headers={"Accept": MANIFEST_TYPE}
        )
        if response.status_code == 404:
            return None
        self._expect(response, 200)
        if reference.startswith(PREFIX) and digest_bytes(response.content) != reference:
            raise IntegrityError(f"{repo}@{reference}: the registry served a different manifest")
        return response.content

    def resolve(self, repo: str, tag: str) -> str | None:
        """The digest a tag points at now (for comparing, never for loading), or None."""
        found = self.get_manifest(repo, tag)
        return found[1] if found else None

    def delete_manifest(self, repo: str, digest: str) -> None:
        response = self._request("DELETE", f"/v2/{repo}/manifests/{digest}", repo)
        if response.status_code == 405:
            raise StorageError(f"registry {self.host} does not allow deletes (storage.delete)")
        self._expect(response, 202, 404)

    def tags(self, repo: str) -> list[str]:
        return self._paged(f"/v2/{repo}/tags/list", "tags", repo)

    def repositories(self) -> list[str]:
        return self._paged("/v2/_catalog", "repositories", "")

    def _paged(self, url: str, key: str, repo: str) -> list[str]:
        """Follow the `Link: <...>; rel="next"` pages of a listing."""
        found: list[str] = []
        next_url: str | None = url
        params: dict[str, Any] | None = {"n": 1000}
        while next_url:
            response = self._request("GET", next_url, repo, params=params)
            if response.status_code == 404:  # a repository nobody pushed to yet
                return found
            self._expect(response, 200)
            found.extend(response.json().get(key) or [])
            link = response.headers.get("Link", "")
            next_url = link[link.index("<") + 1 : link.index(">")] if "<" in link else None
            params = None
        return found
