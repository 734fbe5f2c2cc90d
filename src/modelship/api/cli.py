"""`modelship crds`: write or check the generated CRDs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from modelship.api.crd import render_crds, write_crds


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("crds", help="write the CRDs generated from the API models")
    parser.add_argument("--output", type=Path, default=Path("crds"), help="directory to write")
    parser.add_argument(
        "--check", action="store_true", help="exit 1 when the directory differs from generation"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.check:
        stale = [
            name
            for name, text in render_crds().items()
            if not (args.output / name).is_file() or (args.output / name).read_text() != text
        ]
        if stale:
            print(
                f"out of date in {args.output}: {', '.join(stale)}; run `make manifests`",
                file=sys.stderr,
            )
            return 1
        print(f"{args.output} is up to date")
        return 0
    for path in write_crds(args.output):
        print(f"wrote {path}")
    return 0
