"""The `modelship` command (also installed as the kubectl plugin `kubectl-modelship`).

Each area of the project contributes its own subcommands through a `register(subparsers)`
function, so this package stays a thin dispatcher and importing it stays cheap. The user-facing
commands that talk to a cluster (`approve`, `status`) live here, beside the dispatcher.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Sequence
from typing import Any

# Modules that contribute subcommands, in the order `--help` lists them; each exposes
# `register(subparsers)`. The flag marks the development tools of a checkout (the local cluster
# and the demo): the runtime image does not carry them, so there the commands are simply absent.
SUBCOMMAND_MODULES: tuple[tuple[str, bool], ...] = (
    ("modelship.api.cli", False),
    ("modelship.catalog.cli", False),
    ("modelship.devcluster.cli", True),
    ("modelship.cli.approve", False),
    ("modelship.cli.rollout", False),
    ("modelship.cli.status", False),
    ("modelship.cli.wait", False),
    ("modelship.demo.cli", True),
)


def _register(name: str, dev_only: bool, subparsers: argparse._SubParsersAction[Any]) -> None:
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as exc:
        package = name.rsplit(".", 1)[0]
        if dev_only and exc.name in (package, name):
            return
        raise
    module.register(subparsers)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="modelship",
        description="Modelship: the MLOps loop as Kubernetes custom resources.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, dev_only in SUBCOMMAND_MODULES:
        _register(name, dev_only, subparsers)
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
