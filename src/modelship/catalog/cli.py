"""`modelship catalog ls|show|verify|prune|copy|predictions`: look into a catalog from a shell.

Every command works on both backends: `--root` is a path, a file:// URI or a registry
(`oci://host[:port]/prefix`). `copy` promotes a version to another namespace (or catalog) by
content: same files, same version digest, a new number in the destination. `predictions` lists
the batch prediction outputs written beside a model's versions ("everything version 7 predicted").

Tables for people, `--json` for scripts. Exit codes: 0 success, 1 a version failed verification or
the catalog could not be read, 2 a usage error (no root given, unknown version).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from modelship.catalog import (
    Catalog,
    CatalogError,
    IntegrityError,
    OciCatalog,
    VersionNotFound,
    open_catalog,
)
from modelship.catalog import _render as render

ROOT_ENV = "MODELSHIP_CATALOG_ROOT"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "catalog",
        help="inspect and maintain a model catalog (ls, show, verify, prune, copy, predictions)",
    )
    commands = parser.add_subparsers(dest="catalog_command", metavar="COMMAND", required=True)

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--root", help=f"catalog path, file:// or oci:// URI (default: ${ROOT_ENV})"
    )
    common.add_argument("--json", action="store_true", help="machine-readable output")

    ls = commands.add_parser(
        "ls", parents=[common], help="list models, or the versions of one model"
    )
    ls.add_argument("namespace", nargs="?")
    ls.add_argument("model", nargs="?")
    ls.set_defaults(func=_ls)

    show = commands.add_parser("show", parents=[common], help="show one version's metadata")
    _add_version_args(show, "version number or 'latest'")
    show.set_defaults(func=_show)

    verify = commands.add_parser(
        "verify", parents=[common], help="recompute every digest of one or all versions"
    )
    verify.add_argument("namespace")
    verify.add_argument("model")
    verify.add_argument("versions", nargs="*", type=int, metavar="VERSION", help="default: all")
    verify.set_defaults(func=_verify)

    prune = commands.add_parser(
        "prune", parents=[common], help="delete old versions (newest N and pinned ones stay)"
    )
    prune.add_argument("namespace")
    prune.add_argument("model")
    prune.add_argument("--keep", type=int, required=True, help="newest versions to keep")
    prune.add_argument("--pin", type=int, action="append", default=[], help="never delete")
    prune.add_argument("--dry-run", action="store_true", help="only say what would go")
    prune.set_defaults(func=_prune)

    copy = commands.add_parser(
        "copy", parents=[common], help="copy a version to another namespace or catalog by digest"
    )
    _add_version_args(copy, "version number to copy")
    copy.add_argument("--to-namespace", required=True, help="destination namespace")
    copy.add_argument("--to-model", help="destination model name (default: the same)")
    copy.add_argument("--to-root", help="destination catalog (default: --root)")
    copy.add_argument(
        "--digest", help="refuse unless the version digest is this one (what was approved)"
    )
    copy.add_argument("--pinned", help="the source's artifact URI (repo@sha256:...) to read")
    copy.set_defaults(func=_copy)

    outputs = commands.add_parser(
        "predictions", parents=[common], help="list batch prediction outputs of a model's versions"
    )
    outputs.add_argument("namespace")
    outputs.add_argument("model")
    outputs.add_argument("--version", type=int, help="only the outputs of this version")
    outputs.set_defaults(func=_predictions)


def _add_version_args(parser: argparse.ArgumentParser, version_help: str) -> None:
    parser.add_argument("namespace")
    parser.add_argument("model")
    parser.add_argument("version", help=version_help)


def _open(args: argparse.Namespace) -> Catalog | None:
    root = args.root or os.environ.get(ROOT_ENV)
    if not root:
        print(f"error: no catalog root: pass --root or set {ROOT_ENV}", file=sys.stderr)
        return None
    return open_catalog(root)


def _guarded(func: Any) -> Any:
    """Turn catalog errors into a one-line message and an exit code instead of a traceback."""

    def run(args: argparse.Namespace) -> int:
        catalog = _open(args)
        if catalog is None:
            return 2
        try:
            return int(func(catalog, args))
        except VersionNotFound as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        except (CatalogError, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1

    return run


@_guarded
def _ls(catalog: Catalog, args: argparse.Namespace) -> int:
    if args.model is None:
        rows = []
        for namespace, model in catalog.list_models(args.namespace):
            numbers = catalog.version_numbers(namespace, model)
            rows.append(
                {
                    "namespace": namespace,
                    "model": model,
                    "versions": len(numbers),
                    "latest": numbers[-1] if numbers else None,
                }
            )
        if args.json:
            return render.print_json(rows)
        render.print_table(
            ["NAMESPACE", "MODEL", "VERSIONS", "LATEST"],
            [[r["namespace"], r["model"], r["versions"], r["latest"] or "-"] for r in rows],
        )
        return 0
    versions = catalog.list_versions(args.namespace, args.model)
    if args.json:
        return render.print_json([render.dump(v) for v in versions])
    render.print_table(
        ["VERSION", "DIGEST", "ALGORITHM", "METRIC", "GATES", "TRAININGJOB", "CREATED"],
        [
            [
                v.version,
                v.digest.removeprefix("sha256:")[:12],
                v.algorithm.name,
                render.primary_metric(v),
                render.gates(v),
                v.training_job or "-",
                v.created_at,
            ]
            for v in versions
        ],
    )
    return 0


@_guarded
def _show(catalog: Catalog, args: argparse.Namespace) -> int:
    if args.version == "latest":
        metadata = catalog.latest(args.namespace, args.model)
        if metadata is None:
            print(f"error: {args.namespace}/{args.model} has no versions", file=sys.stderr)
            return 2
    else:
        metadata = catalog.get(args.namespace, args.model, _version_number(args.version))
    if args.json:
        return render.print_json(render.dump(metadata))
    location = catalog.version_uri(metadata.namespace, metadata.model, metadata.version)
    for label, value in render.version_fields(metadata, location):
        print(f"{label + ':':<13}{value}")
    return 0


@_guarded
def _verify(catalog: Catalog, args: argparse.Namespace) -> int:
    numbers = args.versions or catalog.version_numbers(args.namespace, args.model)
    results = []
    for number in numbers:
        try:
            digest: str | None = catalog.verify(args.namespace, args.model, number).digest
            results.append({"version": number, "ok": True, "digest": digest, "error": None})
        except CatalogError as exc:
            results.append({"version": number, "ok": False, "digest": None, "error": str(exc)})
    if args.json:
        render.print_json(results)
    else:
        render.print_table(
            ["VERSION", "RESULT", "DETAIL"],
            [
                [r["version"], "OK" if r["ok"] else "FAILED", r["digest"] or r["error"]]
                for r in results
            ],
        )
    return 0 if all(r["ok"] for r in results) else 1


@_guarded
def _prune(catalog: Catalog, args: argparse.Namespace) -> int:
    pinned = set(args.pin)
    if args.dry_run:
        numbers = catalog.version_numbers(args.namespace, args.model)
        kept = set(numbers[len(numbers) - args.keep :] if args.keep else []) | pinned
        removed = [n for n in numbers if n not in kept]
    else:
        removed = catalog.prune(args.namespace, args.model, args.keep, pinned)
    if args.json:
        return render.print_json({"removed": removed, "dryRun": args.dry_run})
    verb = "would remove" if args.dry_run else "removed"
    print(f"{verb}: {', '.join(map(str, removed)) or 'nothing'}")
    return 0


@_guarded
def _predictions(catalog: Catalog, args: argparse.Namespace) -> int:
    listed = catalog.prediction_outputs(args.namespace, args.model, args.version)
    if args.json:
        return render.print_json(
            [{"reference": x.reference, **x.manifest.model_dump(mode="json", by_alias=True)}
             for x in listed]
        )  # fmt: skip
    render.print_table(
        ["VERSION", "BATCHPREDICTION", "ROWS", "ERRORS", "APPROVED", "CREATED", "REFERENCE"],
        [
            [m.version, m.batch_prediction, m.rows, m.error_rows, "yes" if m.approved else
             "no (backtest)", m.created_at, x.reference]
            for x in listed
            for m in [x.manifest]
        ],
    )  # fmt: skip
    return 0


def _version_number(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"version must be a positive integer or 'latest', not {text!r}")
    return int(text)


@_guarded
def _copy(catalog: Catalog, args: argparse.Namespace) -> int:
    number = _version_number(args.version)
    target = open_catalog(args.to_root) if args.to_root else catalog
    model = args.to_model or args.model
    if (
        isinstance(catalog, OciCatalog)
        and isinstance(target, OciCatalog)
        and catalog.registry.host == target.registry.host
        and catalog.prefix == target.prefix
    ):
        # One registry: mount the blobs into the new repository, no bytes travel through us.
        source = catalog.verify(args.namespace, args.model, number, pinned=args.pinned)
        _check_digest(source.digest, args.digest)
        copied = target.copy_within(
            (args.namespace, args.model, number), args.to_namespace, model, pinned=args.pinned
        )
    else:
        verified = catalog.open_verified(
            args.namespace, args.model, number, args.digest, pinned=args.pinned
        )
        copied = target.import_version(args.to_namespace, model, verified)
    where = target.artifact_uri(copied.namespace, copied.model, copied.version)
    if args.json:
        return render.print_json({**render.dump(copied), "artifact": where})
    print(
        f"copied {args.namespace}/{args.model} version {number} to "
        f"{copied.namespace}/{copied.model} version {copied.version} ({copied.digest})"
    )
    print(f"artifact: {where}")
    return 0


def _check_digest(actual: str, expected: str | None) -> None:
    if expected is not None and actual != expected:
        raise IntegrityError(f"version digest is {actual}, expected {expected}")
