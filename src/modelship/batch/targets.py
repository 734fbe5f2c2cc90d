"""Where a run's parts and output are written: a directory, or the catalog registry.

Both keep the same promises (parts.py): a part is found by a name derived from everything that
decides its bytes, it is complete once its record exists, and assembly checks every part's bytes
against its record while writing the output in shard order, streaming, so the output is never
held in memory whole. A directory (`spec.output.uri`, or the catalog volume) gets the
predictions file, the errors and `manifest.json`; the registry gets one OCI artifact beside the
version it came from (catalog/predictions_oci.py). A registry output is found again by its tag,
so an assemble step run twice pushes nothing the second time.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from modelship.batch.parts import (
    RunOptions,
    ShardRecord,
    part_name,
    part_paths,
    read_complete,
    write_atomically,
)
from modelship.catalog import OciCatalog, open_catalog
from modelship.catalog.errors import IntegrityError
from modelship.catalog.predictions import MANIFEST_FILE, OutputFile, OutputManifest
from modelship.catalog.predictions_oci import (
    RegistryPredictionStore,
    StoredPart,
    output_tag,
    part_tag,
)
from modelship.training.errors import BadInput

log = logging.getLogger(__name__)
OUTPUT_FILES = {"csv": "predictions.csv", "jsonl": "predictions.jsonl"}
ERRORS_FILE = "errors.jsonl"
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Written:
    ref: str
    digest: str
    """Digest of the whole predictions file."""
    errors_ref: str | None
    rows: int
    error_rows: int


class Target(Protocol):
    def complete(self, shard: int) -> ShardRecord | None:
        """The shard's record when its part is complete and intact; None: score it."""

    def write(self, shard: int, part: bytes, errors: bytes, record: ShardRecord) -> None:
        """The part and its errors, then the record (last: it marks the part complete)."""

    def finished(self) -> Written | None:
        """An output this very run already wrote (None: assemble it)."""

    def finish(
        self, header: bytes, records: list[ShardRecord], document: OutputManifest
    ) -> Written:
        """The output from `header` and the parts of `records`, in order, and its manifest."""


class DirectoryTarget:
    """Parts under `<dir>/.parts/`; the output files and manifest.json in `<dir>`."""

    def __init__(self, directory: Path, options: RunOptions) -> None:
        self.directory = directory
        self.options = options

    def complete(self, shard: int) -> ShardRecord | None:
        done = read_complete(part_paths(self.directory, self.options, shard))
        return None if done is None else done[0]

    def write(self, shard: int, part: bytes, errors: bytes, record: ShardRecord) -> None:
        paths = part_paths(self.directory, self.options, shard)
        write_atomically(paths.part, part)
        write_atomically(paths.errors, errors)
        write_atomically(paths.record, record.model_dump_json(by_alias=True).encode("utf-8"))

    def finished(self) -> Written | None:
        return None  # writing the files again is cheap and gives the same bytes

    def finish(
        self, header: bytes, records: list[ShardRecord], document: OutputManifest
    ) -> Written:
        target = self.directory / OUTPUT_FILES[self.options.format]
        hasher = hashlib.sha256(header)
        tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
        with open(tmp, "wb") as out:
            out.write(header)
            for record in records:
                paths = part_paths(self.directory, self.options, record.shard)
                part = hashlib.sha256()
                with open(paths.part, "rb") as handle:
                    while chunk := handle.read(_CHUNK):
                        part.update(chunk)
                        hasher.update(chunk)
                        out.write(chunk)
                if "sha256:" + part.hexdigest() != record.part_digest:
                    tmp.unlink()
                    raise IntegrityError(f"part of shard {record.shard} changed while assembling")
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, target)
        digest = "sha256:" + hasher.hexdigest()
        errors_ref = None
        if any(record.error_rows for record in records):
            errors_path = self.directory / ERRORS_FILE
            write_atomically(errors_path, b"".join(
                part_paths(self.directory, self.options, r.shard).errors.read_bytes()
                for r in records
            ))  # fmt: skip
            errors_ref = f"file://{errors_path}"
        document = document.model_copy(
            update={"output": OutputFile(file=target.name, digest=digest)}
        )
        write_atomically(self.directory / MANIFEST_FILE, document.to_bytes())
        return Written(f"file://{target}", digest, errors_ref, document.rows, document.error_rows)


class RegistryTarget:
    """Parts and the output in the model's repository of the catalog registry."""

    def __init__(
        self, store: RegistryPredictionStore, options: RunOptions, *, batch: str,
        version: int, artifact: str | None,
    ) -> None:  # fmt: skip
        self.store = store
        self.options = options
        self.version = version
        self.artifact = artifact
        run_key = hashlib.sha256(f"{batch}/{options.key()}".encode()).hexdigest()
        self.tag = output_tag(version, batch.rpartition("/")[2], run_key)
        self._found: dict[int, StoredPart] = {}

    def complete(self, shard: int) -> ShardRecord | None:
        stored = self.store.read_part(part_tag(shard, part_name(self.options, shard)))
        if stored is None:
            return None
        try:
            record = ShardRecord.model_validate_json(stored.record)
        except ValueError:
            return None
        if record.shard != shard or record.part_digest != stored.part["digest"]:
            return None
        self._found[shard] = stored
        return record

    def write(self, shard: int, part: bytes, errors: bytes, record: ShardRecord) -> None:
        self.store.write_part(
            part_tag(shard, part_name(self.options, shard)), shard, self.options.format,
            record.model_dump_json(by_alias=True).encode("utf-8"), part, errors,
        )  # fmt: skip

    def finished(self) -> Written | None:
        found = self.store.find_output(self.tag)
        if found is None:
            return None
        document, digest = found
        log.info("output %s exists already (%s)", self.tag, digest)
        return self._written(document, digest)

    def finish(
        self, header: bytes, records: list[ShardRecord], document: OutputManifest
    ) -> Written:
        hasher = hashlib.sha256(header)
        parts: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        for record in records:
            stored = self._found.get(record.shard)
            if stored is None:
                raise IntegrityError(f"part of shard {record.shard} was not found complete")
            for chunk in self.store.stream(str(stored.part["digest"])):  # verified at its end
                hasher.update(chunk)
            parts.append(stored.part)
            if stored.errors is not None:
                errors.append(stored.errors)
        file = OutputFile(
            file=OUTPUT_FILES[self.options.format], digest="sha256:" + hasher.hexdigest()
        )
        document = document.model_copy(update={"output": file})
        subject = self.store.version_subject(self.version, self.options.model_digest, self.artifact)
        digest = self.store.write_output(self.tag, document, header, parts, errors, subject)
        return self._written(document, digest)

    def _written(self, document: OutputManifest, digest: str) -> Written:
        ref = self.store.reference(digest)
        errors_ref = ref if document.error_rows else None  # its errors layers
        return Written(ref, document.output.digest, errors_ref, document.rows, document.error_rows)


def open_target(
    output_dir: str | None, catalog_root: str, options: RunOptions, *, batch: str,
    model: str, version: int, artifact: str | None,
) -> Target:  # fmt: skip
    """The run's directory, or (no directory) the catalog, which must then be a registry."""
    if output_dir is not None:
        return DirectoryTarget(Path(output_dir), options)
    catalog = open_catalog(catalog_root)
    if not isinstance(catalog, OciCatalog):
        raise BadInput(
            "OutputNotSupported",
            f"no output directory was given and the catalog {catalog_root} is not a registry",
        )
    namespace = batch.partition("/")[0]
    return RegistryTarget(
        catalog.predictions(namespace, model), options, batch=batch, version=version,
        artifact=artifact,
    )  # fmt: skip
