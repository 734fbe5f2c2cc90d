"""Where the operator's memory goes: the operator under tracemalloc, a heap report on SIGUSR1.

RSS alone says how much, not what holds it (issue 30: ~84 KB per idle Model + Deployment at
N = 1,000 would break 400 MB before 10,000 if it were per-object state). Run it against a
cluster holding the objects (e.g. one kept by `bench/operator_scale.py --keep DIR`), with the
environment `bench/operator_scale.py` gives its operator, wait until everything is observed,
then `kill -USR1 PID`: the report (top allocation sites by size, grouped by file and by
traceback) is written to `--out` and the operator keeps running. Tracing costs time; use it for
where memory goes, never for timings.

    KUBECONFIG=DIR/kubeconfig .venv/bin/python bench/operator_heap.py --out heap.txt [--frames 12]
"""

from __future__ import annotations

import argparse
import gc
import signal
import sys
import tracemalloc
from pathlib import Path
from types import FrameType

TOP = 30


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("operator-heap.txt"))
    parser.add_argument("--frames", type=int, default=12)
    args = parser.parse_args()
    tracemalloc.start(args.frames)

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        report(args.out)

    signal.signal(signal.SIGUSR1, on_signal)
    from modelship.operator.__main__ import main as operator_main

    return operator_main()


if __name__ == "__main__":
    sys.exit(main())
