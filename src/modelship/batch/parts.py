"""Where a run's parts live and how they are named, written and verified: the unit of resume.

A part's name is derived from everything that determines its bytes (the input digest, the
version digest, the output options, the shard size and its index), so a retried pod, a new
scoring Job after an operator restart, or a run re-created with the same spec finds the parts
already written and redoes only the missing ones. Each shard writes its part and its errors
part first and its record last (each through a temporary name and a rename), so a record exists
only for complete parts, and it carries the part's digest, which assembly checks.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from modelship.contracts.batch import ShardError

PARTS_DIR = ".parts"


class RunOptions(BaseModel):
    """What decides a part's bytes besides the rows: changing any of it names new parts."""

    model_config = ConfigDict(frozen=True)

    input_digest: str
    model_digest: str
    id_column: str | None
    passthrough: tuple[str, ...]
    format: str
    include: tuple[str, ...]
    rows_per_shard: int

    def key(self) -> str:
        text = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()


class ShardRecord(BaseModel):
    """Written last by a shard: its part is complete and has this digest."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    shard: int
    rows: int
    part_digest: str
    error_rows: int = 0
    errors: list[ShardError] = Field(default_factory=list, description="The first few errors.")


def shard_bounds(shard: int, rows_per_shard: int, total_rows: int | None) -> tuple[int, int]:
    """Rows [start, stop) of a shard (total None: not known, the input's end bounds it)."""
    start = shard * rows_per_shard
    stop = start + rows_per_shard
    return start, stop if total_rows is None else min(stop, total_rows)


def shard_count(total_rows: int, rows_per_shard: int) -> int:
    """Shards needed for the rows; an empty input still has one (empty) shard."""
    return max(1, -(-total_rows // rows_per_shard))


def digest_bytes(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class PartPaths:
    part: Path
    errors: Path
    record: Path


def part_name(options: RunOptions, shard: int) -> str:
    """The shard's part name in any store: the same options and shard, the same name."""
    return hashlib.sha256(f"{options.key()}/{shard}".encode()).hexdigest()[:32]


def part_paths(output_dir: Path, options: RunOptions, shard: int) -> PartPaths:
    base = output_dir / PARTS_DIR / f"{shard:06d}-{part_name(options, shard)}"
    return PartPaths(Path(f"{base}.part"), Path(f"{base}.errors.jsonl"), Path(f"{base}.json"))


def write_atomically(path: Path, data: bytes) -> None:
    """Write under a temporary name, then rename: readers see all of it or nothing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def read_complete(paths: PartPaths) -> tuple[ShardRecord, bytes, bytes] | None:
    """The shard's record, part and errors when all exist and the part has its recorded
    digest; None when the shard must be (re)done."""
    try:
        record = ShardRecord.model_validate_json(paths.record.read_bytes())
        part = paths.part.read_bytes()
        errors = paths.errors.read_bytes()
    except (OSError, ValueError):
        return None
    if digest_bytes(part) != record.part_digest:
        return None
    return record, part, errors
