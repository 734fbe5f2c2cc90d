"""Capture and label segments: how they are encoded, named, and kept in a directory.

A segment is an immutable batch of records (`contracts.capture`), gzip-compressed JSON lines.
Inference pods write capture segments and the feedback route writes label segments; the
evaluation job lists and reads both. Nothing is ever appended to or rewritten: every writer
creates new, uniquely named segments, so replicas and workers need no lock between them, and a
reader never sees half a segment (a file appears by rename; a registry tag points at a complete
manifest).

The name carries the time the segment was written (`<kind>-<UTC time>-<writer>-<seq>`), so
retention and a reader's time window need no metadata call per segment; it is also a valid OCI
tag, which is how the registry store (segments_oci.py) names them.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import re
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlparse

import pydantic_core

from modelship.catalog._fs import fsync_dir, write_durably
from modelship.catalog.base import check_name
from modelship.catalog.errors import CatalogError, StorageError
from modelship.contracts.capture import SEGMENT_SUFFIX, SegmentKind, volume_store_path

_TIME_FORMAT = "%Y%m%dT%H%M%S%fZ"
_NAME = re.compile(
    r"^(?P<kind>captures|labels)-(?P<time>\d{8}T\d{12}Z)-(?P<writer>[a-z0-9-]{1,63})-(?P<seq>\d+)$"
)
# gzip level 6 (the default) costs ~3x the CPU of level 1 for ~10 % smaller JSON; the writer is
# off the request path but shares the pod's CPU with it.
_GZIP_LEVEL = 1


@dataclass(frozen=True, slots=True, order=True)
class SegmentName:
    """A segment's identity; ordered by time, then writer and sequence."""

    written: datetime
    writer: str
    seq: int
    kind: SegmentKind

    @property
    def text(self) -> str:
        return f"{self.kind}-{self.written.strftime(_TIME_FORMAT)}-{self.writer}-{self.seq}"

    @classmethod
    def parse(cls, text: str) -> SegmentName | None:
        """The name of a segment, or None for anything else found beside segments."""
        match = _NAME.match(text)
        if match is None:
            return None
        written = datetime.strptime(match["time"], _TIME_FORMAT).replace(tzinfo=UTC)
        kind: SegmentKind = "captures" if match["kind"] == "captures" else "labels"
        return cls(written, match["writer"], int(match["seq"]), kind)


def writer_id(hint: str | None = None) -> str:
    """A writer name unique among concurrent writers: the pod name (lowercased and trimmed to
    the name pattern) plus the process id and a random suffix, since workers share the pod."""
    base = re.sub(r"[^a-z0-9-]+", "-", (hint or "writer").lower()).strip("-")[:40] or "writer"
    return f"{base}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def encode_segment(records: Iterable[dict[str, Any]]) -> bytes:
    """Records as gzip JSON lines (pydantic-core renders numpy-free dicts fast)."""
    lines = b"".join(pydantic_core.to_json(record) + b"\n" for record in records)
    return gzip.compress(lines, compresslevel=_GZIP_LEVEL, mtime=0)


def decode_segment(data: bytes) -> list[dict[str, Any]]:
    """A segment's records; a damaged segment is a `StorageError` naming the line."""
    try:
        text = gzip.decompress(data)
    except (OSError, EOFError) as error:
        raise StorageError(f"segment is not gzip data: {error}") from None
    records: list[dict[str, Any]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = pydantic_core.from_json(line)
        except ValueError as error:
            raise StorageError(f"segment line {number} is not JSON: {error}") from None
        if not isinstance(record, dict):
            raise StorageError(f"segment line {number} is not a JSON object")
        records.append(record)
    return records


class SegmentStore(Protocol):
    """Where one model's segments live. Implementations raise `StorageError` when unreachable."""

    def write(self, name: SegmentName, data: bytes, annotations: dict[str, str]) -> None: ...

    def names(self, kind: SegmentKind) -> list[SegmentName]: ...

    def read(self, name: SegmentName) -> bytes: ...

    def delete(self, name: SegmentName) -> None: ...


def segments(store: SegmentStore, kind: SegmentKind, since: datetime | None = None) -> Iterator[
    tuple[SegmentName, list[dict[str, Any]]]
]:  # fmt: skip
    """Every segment of `kind` written at or after `since`, oldest first, decoded."""
    for name in sorted(store.names(kind)):
        if since is None or name.written >= since:
            yield name, decode_segment(store.read(name))


def prune(store: SegmentStore, kind: SegmentKind, before: datetime) -> int:
    """Delete segments of `kind` written before `before` (retention); returns how many."""
    removed = 0
    for name in store.names(kind):
        if name.written < before:
            store.delete(name)
            removed += 1
    return removed


class DirectorySegmentStore:
    """Segments as files under `<root>/<kind>/` (a volume: the catalog's, or one of its own)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def write(self, name: SegmentName, data: bytes, annotations: dict[str, str]) -> None:
        # Annotations are for the registry's manifest; here the records carry the same facts.
        directory = self.root / name.kind
        try:
            directory.mkdir(parents=True, exist_ok=True)
            final = directory / f"{name.text}{SEGMENT_SUFFIX}"
            tmp = directory / f".{name.text}.tmp"
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            write_durably(tmp, data)
            os.replace(tmp, final)
            fsync_dir(directory)
        except OSError as error:
            raise StorageError(
                f"cannot write segment {name.text} under {self.root}: {error}"
            ) from error

    def names(self, kind: SegmentKind) -> list[SegmentName]:
        directory = self.root / kind
        try:
            entries = [p.name for p in directory.iterdir()]
        except FileNotFoundError:
            return []
        except OSError as error:
            raise StorageError(f"cannot list segments under {directory}: {error}") from None
        found: list[SegmentName] = []
        for entry in entries:
            if entry.endswith(SEGMENT_SUFFIX):
                name = SegmentName.parse(entry.removesuffix(SEGMENT_SUFFIX))
                if name is not None and name.kind == kind:
                    found.append(name)
        return found

    def read(self, name: SegmentName) -> bytes:
        path = self.root / name.kind / f"{name.text}{SEGMENT_SUFFIX}"
        try:
            return path.read_bytes()
        except OSError as error:
            raise StorageError(f"cannot read segment {path}: {error}") from None

    def delete(self, name: SegmentName) -> None:
        path = self.root / name.kind / f"{name.text}{SEGMENT_SUFFIX}"
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def default_store_uri(catalog_root: str, namespace: str, model: str) -> str:
    """Where segments go when the Model names no store: beside the catalog. In a registry, a
    repository of its own per model (`<prefix>/<namespace>/<model>-capture`), so push rights on
    it can be granted without rights on the versions; on a volume, a dot-directory of the model
    (dot-entries are never versions)."""
    check_name("namespace", namespace)
    check_name("model", model)
    parsed = urlparse(catalog_root)
    if parsed.scheme == "oci":
        path = "/".join(p for p in (parsed.path.strip("/"), namespace, f"{model}-capture") if p)
        query = f"?{parsed.query}" if parsed.query else ""
        return f"oci://{parsed.netloc}/{path}{query}"
    base = Path(unquote(parsed.path)) if parsed.scheme == "file" else Path(catalog_root).absolute()
    return (base / volume_store_path(namespace, model)).as_uri()


def open_segment_store(uri: str, *, docker_config: str | None = None) -> SegmentStore:
    """The store at `file:///dir` or `oci://host/repository[?plain-http=true]`."""
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        if parsed.netloc not in ("", "localhost") or not parsed.path:
            raise CatalogError(f"segment store URI must be a local absolute path: {uri}")
        return DirectorySegmentStore(Path(unquote(parsed.path)))
    if parsed.scheme == "oci":
        from modelship.catalog.segments_oci import open_registry_store  # a cycle at import time

        return open_registry_store(uri, docker_config)
    raise CatalogError(f"unsupported segment store URI {uri!r}; use file:///dir or oci://host/repo")


def segment_name(kind: SegmentKind, writer: str, seq: int, now: datetime) -> SegmentName:
    return SegmentName(now.astimezone(UTC), writer, seq, kind)
