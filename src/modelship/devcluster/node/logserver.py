"""The node's kubelet-style HTTPS endpoint, so `kubectl logs` works on the local cluster.

The API server reaches a kubelet at the Node's InternalIP and `daemonEndpoints.kubeletEndpoint`
port to read container logs. This serves just that route — `GET /containerLogs/<namespace>/
<pod>/<container>` with `previous`, `tailLines`, `limitBytes` and `follow` — over TLS, and only
to clients with a certificate from the cluster CA (the API server's kubelet-client identity).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from modelship.devcluster.layout import DevLayout
from modelship.devcluster.node.logfiles import find_log
from modelship.devcluster.pki import Pki

FOLLOW_POLL_SECONDS = 0.3


def server_context(pki: Pki) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(pki.ca_cert))
    context.load_cert_chain(pki.cert("kubelet"), pki.key("kubelet"))
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def tail(data: bytes, lines: int | None, limit: int | None) -> bytes:
    if lines is not None:
        data = b"".join(data.splitlines(keepends=True)[-lines:]) if lines > 0 else b""
    if limit is not None:
        data = data[:limit]
    return data


class LogServer:
    def __init__(self, layout: DevLayout, is_running: Callable[[str, str], bool]) -> None:
        self._layout = layout
        self._is_running = is_running  # (namespace, pod) -> whether the pod still runs here

    async def start(self, port: int) -> asyncio.Server:
        context = server_context(Pki(self._layout.pki))
        return await asyncio.start_server(self._handle, "127.0.0.1", port, ssl=context)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            request = (await reader.readline()).decode(errors="replace").split()
            while (await reader.readline()).strip():
                pass  # headers: nothing in them changes the answer
            if len(request) < 2 or request[0] != "GET":
                await _respond(writer, 405, b"only GET is supported\n")
                return
            await self._route(request[1], writer)
        writer.close()

    async def _route(self, target: str, writer: asyncio.StreamWriter) -> None:
        url = urlsplit(target)
        parts = [unquote(p) for p in url.path.strip("/").split("/")]
        if parts == ["healthz"]:
            await _respond(writer, 200, b"ok")
            return
        if len(parts) != 4 or parts[0] != "containerLogs":
            await _respond(writer, 404, b"the local node serves only container logs\n")
            return
        _, namespace, pod, container = parts
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        try:
            path = find_log(self._layout, namespace, pod, container,
                            previous=query.get("previous") == "true")  # fmt: skip
        except LookupError as error:
            await _respond(writer, 404, f"{error}\n".encode())
            return
        lines = int(query["tailLines"]) if "tailLines" in query else None
        limit = int(query["limitBytes"]) if "limitBytes" in query else None
        data = tail(_read(path), lines, limit)
        if query.get("follow") != "true":
            await _respond(writer, 200, data)
            return
        await _start_stream(writer, data)
        await self._follow(path, len(_read(path)), namespace, pod, writer)

    async def _follow(
        self, path: Path, offset: int, namespace: str, pod: str, writer: asyncio.StreamWriter
    ) -> None:
        while self._is_running(namespace, pod) and not writer.is_closing():
            await asyncio.sleep(FOLLOW_POLL_SECONDS)
            data = _read(path)[offset:]
            if data:
                offset += len(data)
                writer.write(data)
                await writer.drain()


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""


async def _respond(writer: asyncio.StreamWriter, status: int, body: bytes) -> None:
    reason = {200: "OK", 404: "Not Found", 405: "Method Not Allowed"}.get(status, "Error")
    head = (f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n")  # fmt: skip
    writer.write(head.encode() + body)
    await writer.drain()


async def _start_stream(writer: asyncio.StreamWriter, first: bytes) -> None:
    # No length: the body ends when the connection closes (HTTP/1.1 with Connection: close).
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n")
    writer.write(first)
    await writer.drain()
