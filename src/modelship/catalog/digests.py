"""Content digests: of one file, and of a whole version.

A version's digest is derived from the digests of its files (not from metadata.json, which also
holds the version number and timestamps), so the operator, approvals and serving can name exactly
the bytes that were tested, and anyone holding the digest can check a version independently.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

PREFIX = "sha256:"
_CHUNK = 1 << 20


def digest_bytes(data: bytes) -> str:
    return PREFIX + hashlib.sha256(data).hexdigest()


def digest_file(path: Path) -> str:
    """Stream the file through sha256 so large artifacts are not held in memory twice."""
    hasher = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            hasher.update(chunk)
    return PREFIX + hasher.hexdigest()


def version_digest(files: dict[str, str]) -> str:
    """sha256 of the canonical JSON (sorted keys, no spaces) of the file-name -> digest map."""
    canonical = json.dumps(files, sort_keys=True, separators=(",", ":"))
    return digest_bytes(canonical.encode("utf-8"))
