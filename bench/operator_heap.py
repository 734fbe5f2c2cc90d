"""Where the operator's memory goes: the operator under tracemalloc, a heap report on SIGUSR1.

RSS alone says how much, not what holds it (issue 30: ~84 KB per idle Model + Deployment at
N = 1,000 would break 400 MB before 10,000 if it were per-object state). Run it against a
cluster holding the objects (e.g. one kept by `bench/operator_scale.py --keep DIR`), with the
environment `bench/operator_scale.py` gives its operator, wait until everything is observed,
then `kill -USR1 PID`: the report (top allocation sites by size, grouped by file and by
traceback) is written to `--out` and the operator keeps running. Tracing costs time; use it for
where memory goes, never for timings.

    KUBECONFIG=DIR/kubeconfig .venv/bin/python bench/operator_heap.py --out heap.txt [--frames 12]

`--no-trace` costs nothing until the signal: the report then says how the allocators hold the
RSS instead of which lines allocated it. Python objects by type (what the collector tracks:
containers, not strings), pymalloc's arenas against the blocks in use in them
(`sys._debugmallocstats`) and glibc's arenas against their chunks in use (`malloc_stats`). A
process whose blocks in use are far below its arenas is fragmented, not holding more;
`bench/operator_scale.py --heap` takes this report at rest and after its restart.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import os
import signal
import sys
import tracemalloc
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

TOP = 30
END = "end of the allocators' report"


def report(out: Path) -> None:
    gc.collect()
    snapshot = tracemalloc.take_snapshot().filter_traces(
        [tracemalloc.Filter(False, tracemalloc.__file__)]
    )
    traced, peak = tracemalloc.get_traced_memory()
    lines = [f"traced {traced / 2**20:.1f} MiB, peak {peak / 2**20:.1f} MiB", "", "by file:"]
    lines += [f"  {stat}" for stat in snapshot.statistics("filename")[:TOP]]
    lines += ["", "by traceback:"]
    for stat in snapshot.statistics("traceback")[:TOP]:
        lines.append(f"  {stat.size / 2**20:.2f} MiB in {stat.count} blocks")
        frames = stat.traceback.format(limit=8, most_recent_first=True)
        lines += [f"      {line}" for line in frames]
    out.write_text("\n".join(lines) + "\n")
    print(f"[heap] report written to {out}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def stderr_into(out: Path) -> Iterator[None]:
    """The C allocators print their statistics on file descriptor 2: append them to `out`."""
    sys.stderr.flush()
    saved = os.dup(2)
    with out.open("ab") as target:
        os.dup2(target.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def allocator_report(out: Path) -> None:
    gc.collect()
    status = Path("/proc/self/status").read_text().splitlines()
    lines = [line for line in status if line.startswith(("VmRSS", "VmHWM", "RssAnon"))]
    by_type = Counter(type(obj).__qualname__ for obj in gc.get_objects())
    lines += ["", f"objects the collector tracks: {sum(by_type.values())}"]
    lines += [f"  {count:>9} {name}" for name, count in by_type.most_common(TOP)]
    lines += ["", "pymalloc (sys._debugmallocstats):", ""]
    out.write_text("\n".join(lines) + "\n")
    with stderr_into(out):
        sys._debugmallocstats()
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL("libc.so.6")
            os.write(2, b"\nglibc (malloc_stats):\n\n")
            libc.fflush(None)
            libc.malloc_stats()
            libc.fflush(None)
    with out.open("a") as handle:
        handle.write(f"\n{END}\n")
    print(f"[heap] allocator report written to {out}", file=sys.stderr, flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("operator-heap.txt"))
    parser.add_argument("--frames", type=int, default=12)
    parser.add_argument(
        "--no-trace", action="store_true", help="no tracemalloc: the allocators' report only"
    )
    args = parser.parse_args()
    if not args.no_trace:
        tracemalloc.start(args.frames)

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        (allocator_report if args.no_trace else report)(args.out)

    signal.signal(signal.SIGUSR1, on_signal)
    from modelship.operator.__main__ import main as operator_main

    return operator_main()


if __name__ == "__main__":
    sys.exit(main())
