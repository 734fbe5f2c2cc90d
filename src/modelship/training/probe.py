"""`python -m modelship.training.probe`: hash a file:// dataset for the operator.

The trainer's digest of a CSV is the sha256 of its bytes (`datasets._csv_table`), so the probe
computes the same thing, streaming, and the operator compares it with what the newest version was
trained on. It always exits 0: an unreadable file is a result (reported as `error`), not a crash.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from urllib.parse import unquote, urlparse

from pydantic_settings import BaseSettings, SettingsConfigDict

from modelship.contracts.dataset import DatasetProbeEnv, DatasetProbeResult

CHUNK = 1024 * 1024


class ProbeSettings(BaseSettings, DatasetProbeEnv):
    model_config = SettingsConfigDict(env_prefix=DatasetProbeEnv.env_prefix, extra="ignore")


def probe(uri: str | None) -> DatasetProbeResult:
    parsed = urlparse(uri or "")
    if parsed.scheme != "file" or parsed.netloc not in ("", "localhost"):
        return DatasetProbeResult(error=f"not a local file:// URI: {uri!r}")
    path = Path(unquote(parsed.path))
    hasher = hashlib.sha256()
    try:
        with path.open("rb") as data:
            while chunk := data.read(CHUNK):
                hasher.update(chunk)
    except OSError as exc:
        return DatasetProbeResult(error=f"cannot read {path}: {exc.strerror or exc}")
    return DatasetProbeResult(digest="sha256:" + hasher.hexdigest())


def main() -> int:
    settings = ProbeSettings()
    result = probe(settings.uri)
    line = result.termination_line()
    print(line)
    try:
        Path(settings.termination_message_path).write_text(line + "\n")
    except OSError as exc:  # outside a pod: the printed line is the result
        print(f"cannot write the termination message: {exc}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
