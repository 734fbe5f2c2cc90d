"""The operator hands free memory back to the system (memory.py), measured in a fresh process."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from modelship.operator import memory

# In a clean interpreter: 256 MB in 32 KB strings (below malloc's mmap threshold, so they live in
# its heap), every eighth kept, the rest freed: the free pages sit between live chunks, where
# free() alone never returns them. The four threads hold their chunks at the same time (on a busy
# host they could otherwise run one after another, each reusing what the last one freed).
PROBE = """
import json, sys, threading
from modelship.operator.memory import limit_malloc_arenas, release_free_memory

def rss_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024

limit_malloc_arenas()
kept = []
together = threading.Barrier(4)
def burst():
    chunks = [bytes(32 * 1024 - 64) + bytes([i % 251]) for i in range(2048)]
    kept.extend(chunks[::8])
    together.wait()  # all four hold their chunks at once: none reuses another's freed pages
threads = [threading.Thread(target=burst) for _ in range(4)]
for t in threads: t.start()
for t in threads: t.join()
before = rss_mb()
returned = release_free_memory()
print(json.dumps({"before": before, "after": rss_mb(), "returned": returned, "kept": len(kept)}))
"""


def test_a_trim_returns_the_free_pages_a_burst_left_between_live_objects() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True)
    figures = json.loads(out.stdout)
    assert figures["kept"] == 1024
    assert figures["before"] > 200, figures  # the burst's free memory still counted
    assert figures["returned"] is True
    assert figures["after"] < figures["before"] - 150, figures  # most of it handed back


def test_nothing_happens_without_glibc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memory, "_glibc", lambda: None)
    assert memory.limit_malloc_arenas() is False
    assert memory.release_free_memory() is False
