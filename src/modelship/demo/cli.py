"""`modelship demo` and `modelship demo down`."""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def _default_dir() -> Path:
    return Path(os.environ.get("MODELSHIP_DEMO_DIR") or ".modelship/demo").absolute()


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    demo = subparsers.add_parser("demo", help="run the whole loop on a local cluster, narrated")
    demo.add_argument(
        "action",
        nargs="?",
        choices=("run", "down"),
        default="run",
        help="run the demo (default) or tear a kept demo down",
    )
    demo.add_argument("--keep", action="store_true", help="leave the cluster and operator running")
    demo.add_argument(
        "--dir",
        type=Path,
        default=None,
        help="demo cluster directory (default .modelship/demo or $MODELSHIP_DEMO_DIR)",
    )
    demo.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from modelship.demo.cluster import stop_demo
    from modelship.demo.run import run as run_demo

    directory = args.dir or _default_dir()
    if args.action == "down":
        stop_demo(directory)
        print(f"demo in {directory} stopped")
        return 0
    root = Path(__file__).resolve().parents[3]
    return run_demo(root, directory, keep=args.keep)
