"""How a long build talks to the terminal, and the one error every build step raises.

Shared by the module build (`gobuild`, `gotool`, `goproxy`) and the resolver (`binaries`), which
imports the build: kept apart so neither imports the other for these.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

Progress = Callable[[str], None]


class BinariesError(RuntimeError):
    """The control-plane binaries cannot be found or built; the message says what is missing."""


def print_progress(message: str) -> None:
    print(f"[control-plane] {message}", file=sys.stderr, flush=True)
