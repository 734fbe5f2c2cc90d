"""An in-memory OCI Distribution API behind an httpx transport, for unit tests of registry code.

Only what `catalog.registry.Registry` calls: blob HEAD/GET/upload (monolithic), manifest
PUT/GET/DELETE by tag or digest, tag listing. The real client runs unchanged over it, so a test
sees the same requests and verification as against a registry; `blobs` can be changed to
simulate a registry serving other bytes.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid

import httpx

from modelship.catalog.registry import Registry

_PATH = re.compile(r"^/v2/(?P<repo>.+?)/(?P<kind>blobs|manifests|tags)/(?P<rest>.*)$")


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class FakeRegistry:
    def __init__(self) -> None:
        self.blobs: dict[tuple[str, str], bytes] = {}
        self.manifests: dict[tuple[str, str], bytes] = {}
        self.tags: dict[tuple[str, str], str] = {}
        self.requests: list[str] = []

    def client(self, host: str = "registry.test") -> Registry:
        registry = Registry(host)
        registry._client = httpx.Client(
            base_url=f"https://{host}", transport=httpx.MockTransport(self.handle)
        )
        return registry

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(f"{request.method} {request.url.path}")
        match = _PATH.match(request.url.path)
        if match is None:
            return httpx.Response(404)
        repo, kind, rest = match["repo"], match["kind"], match["rest"]
        if kind == "tags":
            names = sorted(tag for (r, tag) in self.tags if r == repo)
            return httpx.Response(200, json={"name": repo, "tags": names})
        if kind == "blobs":
            return self._blob(request, repo, rest)
        return self._manifest(request, repo, rest)

    def _blob(self, request: httpx.Request, repo: str, rest: str) -> httpx.Response:
        if rest == "uploads/" and request.method == "POST":
            return httpx.Response(
                202, headers={"Location": f"/v2/{repo}/blobs/uploads/{uuid.uuid4()}"}
            )
        if rest.startswith("uploads/") and request.method == "PUT":
            digest = request.url.params["digest"]
            if _digest(request.content) != digest:
                return httpx.Response(400, text="digest invalid")
            self.blobs[(repo, digest)] = request.content
            return httpx.Response(201)
        data = self.blobs.get((repo, rest))
        if data is None:
            return httpx.Response(404)
        return httpx.Response(200, content=b"" if request.method == "HEAD" else data)

    def _manifest(self, request: httpx.Request, repo: str, reference: str) -> httpx.Response:
        if request.method == "PUT":
            body = request.content
            manifest = json.loads(body)
            for layer in [manifest["config"], *manifest["layers"]]:
                if (repo, layer["digest"]) not in self.blobs:
                    return httpx.Response(400, text=f"blob unknown {layer['digest']}")
            digest = _digest(body)
            self.manifests[(repo, digest)] = body
            if not reference.startswith("sha256:"):
                self.tags[(repo, reference)] = digest
            return httpx.Response(201, headers={"Docker-Content-Digest": digest})
        digest = reference if reference.startswith("sha256:") else self.tags.get((repo, reference))
        if request.method == "DELETE":
            if digest is None or (repo, digest) not in self.manifests:
                return httpx.Response(404)
            del self.manifests[(repo, digest)]
            for key in [k for k, v in self.tags.items() if k[0] == repo and v == digest]:
                del self.tags[key]
            return httpx.Response(202)
        body = self.manifests.get((repo, digest or ""))
        if body is None:
            return httpx.Response(404)
        return httpx.Response(200, content=body, headers={"Docker-Content-Digest": digest or ""})
