"""Reading the dev cluster's API audit log: who asked the API server for what.

Tests use it to show that a standby operator makes no write request, and the scale benchmark to
count the requests an idle operator makes; both need the server's own record, not the client's.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

READ_VERBS = frozenset({"get", "list", "watch"})


@dataclass(frozen=True)
class AuditRecord:
    """One finished request (stage ResponseComplete) as the API server logged it."""

    user: str
    user_agent: str
    verb: str
    resource: str
    subresource: str
    namespace: str
    name: str
    code: int
    at: str

    @property
    def is_write(self) -> bool:
        return self.verb not in READ_VERBS


def read_audit(path: Path, since: str = "") -> Iterator[AuditRecord]:
    """Completed requests logged at or after `since` (RFC 3339; '' = all), oldest first."""
    if not path.exists():
        return
    with path.open() as handle:
        for line in handle:
            try:
                event = json.loads(line)
            except ValueError:
                continue  # a line being written right now
            if event.get("stage") != "ResponseComplete":
                continue
            at = str(event.get("stageTimestamp") or event.get("requestReceivedTimestamp") or "")
            if since and at < since:
                continue
            ref = event.get("objectRef") or {}
            yield AuditRecord(
                user=str((event.get("user") or {}).get("username") or ""),
                user_agent=str(event.get("userAgent") or ""),
                verb=str(event.get("verb") or ""),
                resource=str(ref.get("resource") or ""),
                subresource=str(ref.get("subresource") or ""),
                namespace=str(ref.get("namespace") or ""),
                name=str(ref.get("name") or ""),
                code=int((event.get("responseStatus") or {}).get("code") or 0),
                at=at,
            )
