"""The `modelship` command (also installed as the kubectl plugin `kubectl-modelship`).

Each area of the project contributes its own subcommands through a `register(subparsers)`
function, so this module stays a thin dispatcher and importing it stays cheap.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Modules that contribute subcommands; each exposes `register(subparsers)`.
SUBCOMMAND_MODULES = (
    "modelship.api.cli",
    "modelship.catalog.cli",
    "modelship.devcluster.cli",
    "modelship.operator.cli",
    "modelship.operator.status_view",
    "modelship.demo.cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="modelship",
        description="Modelship: the MLOps loop as Kubernetes custom resources.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        return int(func(args))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
