"""The three steps of a run, each a pure-ish function of the settings and the filesystem.

`plan` reads the input once and reports rows, digest and columns (the operator computes the
shards from them and reads no rows itself). `shard` scores its rows with the pinned version
through online serving's decoding and writes its part unless a complete one exists. `assemble`
checks every part against its record, concatenates them in shard order (so the output is in
input order), applies `maxFailedRows`, and writes the output, the errors and a manifest naming
the version the predictions came from, to a directory or the catalog registry (targets.py).
"""

from __future__ import annotations

import gc
import logging

from modelship.api.v1alpha1 import utcnow
from modelship.batch import rows, stream
from modelship.batch.parts import RunOptions, ShardRecord, digest_bytes, shard_bounds
from modelship.batch.settings import BatchSettings
from modelship.batch.stream import Window
from modelship.batch.targets import Target, Written, open_target
from modelship.catalog.predictions import OutputFile, OutputInput, OutputManifest
from modelship.contracts.batch import MAX_REPORTED_ERRORS, BatchReport, ShardError
from modelship.serving.loader import LoadedVersion, LoadFailedError, load_version
from modelship.serving.settings import ServingSettings
from modelship.training.datasets import HttpLimits
from modelship.training.errors import BadInput

log = logging.getLogger(__name__)


def limits(settings: BatchSettings) -> HttpLimits:
    return HttpLimits(settings.http_max_bytes, settings.http_timeout_seconds)


def check_digest(settings: BatchSettings, window: Window) -> Window:
    """A pinned (or planned) digest that differs from what was read fails naming both."""
    if settings.input_digest and window.digest != settings.input_digest:
        raise BadInput(
            "InputDigestMismatch",
            f"input {settings.input_uri} has digest {window.digest}, "
            f"expected {settings.input_digest}",
        )
    return window


def plan(settings: BatchSettings) -> BatchReport:
    """One streamed pass over the input: its rows counted, its bytes hashed, no row kept."""
    window = check_digest(settings, stream.scan(settings.input_uri, limits(settings)))
    named = [settings.id_column] if settings.id_column else []
    if absent := [c for c in [*named, *settings.passthrough] if c not in window.header]:
        raise BadInput(
            "ColumnNotFound",
            f"input column {absent[0]!r} (idColumn/passthrough) is not in {settings.input_uri}; "
            f"columns: {', '.join(window.header)}",
        )
    return BatchReport(
        step="plan", rows=window.total_rows, input_digest=window.digest, columns=window.header
    )


def load(settings: BatchSettings) -> LoadedVersion:
    """The pinned version through serving's loader: digest-verified, skops allow-list."""
    serving = ServingSettings(
        model_name=settings.model_name,
        namespace=settings.namespace,
        version=settings.version,
        expected_digest=settings.digest,
        catalog_root=settings.catalog_root,
        artifact=settings.artifact,
    )
    try:
        return load_version(serving)
    except LoadFailedError as error:
        raise BadInput("VersionNotLoadable", str(error)) from error


def options(settings: BatchSettings, input_digest: str) -> RunOptions:
    return RunOptions(
        input_digest=input_digest,
        model_digest=settings.digest,
        id_column=settings.id_column,
        passthrough=tuple(settings.passthrough),
        format=settings.format,
        include=tuple(settings.include),
        rows_per_shard=settings.rows_per_shard,
    )


def target(settings: BatchSettings, input_digest: str) -> Target:
    return open_target(
        settings.output_dir, settings.catalog_root, options(settings, input_digest),
        batch=f"{settings.namespace}/{settings.name}", model=settings.model_name,
        version=settings.version, artifact=settings.artifact,
    )  # fmt: skip


def shard(settings: BatchSettings) -> BatchReport:
    index = settings.shard_index
    if index is None:
        raise BadInput("InvalidShard", "no shard index (JOB_COMPLETION_INDEX) is set")
    if settings.input_digest is None:
        raise BadInput("InvalidShard", "the planned input digest is not set")
    into = target(settings, settings.input_digest)
    if (done := into.complete(index)) is not None:
        log.info("shard %d: part exists (%d rows), nothing to do", index, done.rows)
        return _shard_report(done, reused=True)
    start, stop = shard_bounds(index, settings.rows_per_shard, None)
    window = stream.read_window(settings.input_uri, limits(settings), start, stop)
    check_digest(settings, window)
    loaded = load(settings)
    # The window's cells are many long-lived objects: kept out of the cyclic collector, which
    # would otherwise walk all of them again for every few thousand strings scoring creates.
    gc.freeze()
    record = score_shard(settings, window, loaded, index, into)
    return _shard_report(record, reused=False)


def score_shard(
    settings: BatchSettings, window: Window, loaded: LoadedVersion, index: int, into: Target
) -> ShardRecord:
    """Score the window's rows in chunks and write the shard's part, errors part and record.

    Positions inside the window are relative; ids and error rows are the input's own."""
    features = list(
        loaded.runtime.features if loaded.features is None else loaded.features.schema.names
    )
    if absent := [f for f in features if f not in window.header]:
        raise BadInput(
            "ColumnNotFound",
            f"feature {absent[0]!r} of version {settings.version} is not a column of "
            f"{settings.input_uri}",
        )
    layout = rows.layout_for(loaded, settings.passthrough, settings.include)
    count, start = window.rows, window.start
    names = (
        [str(start + i) for i in range(count)]
        if settings.id_column is None
        else rows.row_ids(window.columns, settings.id_column, 0, count)
    )
    parsing = rows.parsing_for(loaded)
    body, errors = bytearray(), []
    for chunk in range(0, count, settings.chunk_rows):
        end = min(chunk + settings.chunk_rows, count)
        scored = rows.score_rows(
            loaded, window.columns, features, chunk, end, bool(layout.classes), parsing
        )
        body += rows.render(
            layout, scored, names, window.columns, settings.version, settings.format
        )
        errors += rows.render_errors(scored.errors, names, offset=start)
    part = bytes(body)
    error_lines = "".join(e.model_dump_json(by_alias=True) + "\n" for e in errors)
    record = ShardRecord(
        shard=index,
        rows=count - len(errors),
        part_digest=digest_bytes(part),
        error_rows=len(errors),
        errors=errors[:MAX_REPORTED_ERRORS],
    )
    into.write(index, part, error_lines.encode("utf-8"), record)
    return record


def _shard_report(record: ShardRecord, *, reused: bool) -> BatchReport:
    return BatchReport(
        step="shard", shard=record.shard, rows=record.rows, reused=reused,
        error_rows=record.error_rows, first_errors=record.errors,
    )  # fmt: skip


def assemble(settings: BatchSettings) -> BatchReport:
    """Every part in shard order into the output; the shards to redo when parts are missing."""
    if settings.input_digest is None:
        raise BadInput("InvalidShard", "the planned input digest is not set")
    into = target(settings, settings.input_digest)
    if (written := into.finished()) is not None:
        return _assembled(written, [])
    found, missing = [], []
    for index in range(settings.shards):
        record = into.complete(index)
        if record is None:
            missing.append(index)
        else:
            found.append(record)
    if missing:
        return BatchReport(
            step="assemble", ok=False, reason="PartsMissing", missing_shards=missing,
            error=f"{len(missing)} part(s) missing or damaged: shards {missing[:20]}",
        )  # fmt: skip
    error_rows = sum(record.error_rows for record in found)
    first = [e for record in found for e in record.errors][:MAX_REPORTED_ERRORS]
    if error_rows > settings.max_failed_rows:
        return BatchReport(
            step="assemble", ok=False, reason="TooManyFailedRows", error_rows=error_rows,
            first_errors=first,
            error=_too_many(error_rows, settings.max_failed_rows, first),
        )  # fmt: skip
    document = OutputManifest(
        batch_prediction=f"{settings.namespace}/{settings.name}",
        model=settings.model_name,
        version=settings.version,
        model_digest=settings.digest,
        approved=settings.approved,
        input=OutputInput(uri=settings.input_uri, digest=settings.input_digest),
        format=settings.format,
        rows=sum(record.rows for record in found),
        error_rows=error_rows,
        output=OutputFile(file="", digest=""),  # the target fills it in as it writes
        parts=[record.part_digest for record in found],
        created_at=utcnow(),
    )
    written = into.finish(_header(settings), found, document)
    return _assembled(written, first)


def _assembled(written: Written, first: list[ShardError]) -> BatchReport:
    return BatchReport(
        step="assemble", rows=written.rows, error_rows=written.error_rows, first_errors=first,
        output_ref=written.ref, output_digest=written.digest, errors_ref=written.errors_ref,
    )  # fmt: skip


def _too_many(error_rows: int, limit: int, first: list[ShardError]) -> str:
    named = "; ".join(f"row {e.row} (id {e.id}): {e.reason}" for e in first)
    return f"{error_rows} row(s) could not be scored (maxFailedRows {limit}); first: {named}"


def _header(settings: BatchSettings) -> bytes:
    """The CSV header: its probability columns are the pinned version's classes."""
    if settings.format != "csv":
        return b""
    layout = rows.layout_for(load(settings), settings.passthrough, settings.include)
    return rows.header_line(layout, settings.format)


__all__ = ["ShardError", "assemble", "plan", "shard"]
