"""A progress line for a wait: updated in place in a notebook, one line per change elsewhere.

No dependency: in IPython, `IPython.display` (present whenever a notebook runs) updates one output
in place; in a terminal or a log, a line is printed only when the message changes, with the time
spent so far, so CI logs stay short.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from modelship.client.waiting import Verdict


def _notebook_display() -> Any | None:
    """IPython's display handle factory when running under IPython, else None."""
    shell = sys.modules.get("IPython")
    if shell is None or shell.get_ipython() is None:
        return None
    from IPython.display import display  # type: ignore[import-not-found]

    return display


class Progress:
    """Show where a wait stands; call it with each verdict."""

    def __init__(self, what: str, stream: TextIO | None = None, enabled: bool = True) -> None:
        self.what, self.enabled = what, enabled
        self.stream = stream or sys.stderr
        self.started = time.monotonic()
        self._last = ""
        self._display = _notebook_display() if enabled else None
        self._handle: Any = None

    def __call__(self, verdict: Verdict) -> None:
        if not self.enabled or verdict.message == self._last:
            return
        self._last = verdict.message
        line = f"[{time.monotonic() - self.started:5.0f}s] {self.what}: {verdict.message}"
        if self._display is not None:
            if self._handle is None:
                self._handle = self._display(line, display_id=True)
            else:
                self._handle.update(line)
        else:
            print(line, file=self.stream, flush=True)
