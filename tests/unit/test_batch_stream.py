"""A shard reads its rows in one streamed pass: the trainer's CSV rules, bounded memory."""

from __future__ import annotations

import functools
import hashlib
import threading
import tracemalloc
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from modelship.batch import arrow
from modelship.batch.stream import read_window, scan
from modelship.training.datasets import HttpLimits
from modelship.training.errors import BadInput
from modelship.training.tables import parse_csv

LIMITS = HttpLimits(1 << 30, 60.0)
TRICKY = (
    "\ufeffid, note ,x\n"
    'a,"two\nlines",1\n'
    "\n"
    'b,"comma, inside",2\n'
    'c,"quote "" here",\n'
    "d,plain,4\n"
    "e,last,5"  # no newline at the end
).encode()


def test_a_window_is_the_trainers_rows_and_the_digest_is_the_files(tmp_path: Path) -> None:
    path = tmp_path / "tricky.csv"
    path.write_bytes(TRICKY)
    everything = parse_csv(TRICKY)
    digest = "sha256:" + hashlib.sha256(TRICKY).hexdigest()
    planned = scan(path.as_uri(), LIMITS)
    assert (planned.header, planned.total_rows, planned.digest) == (["id", "note", "x"], 5, digest)
    assert planned.rows == 0  # the planner keeps no row
    for start, stop in [(0, 2), (1, 3), (2, 5), (4, 9), (5, 9)]:
        window = read_window(path.as_uri(), LIMITS, start, stop)
        assert window.digest == digest and window.start == start
        for name in planned.header:
            assert window.columns[name].tolist() == everything[name][start:stop].tolist()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (b"", "dataset is empty"),
        (b"a,b\n", "header but no rows"),
        (b"a,a\n1,2\n", "repeats column(s) a"),
        (b"a,b\n1,2\n3\n", "line 3 has 1 fields, the header has 2"),
        (b"a,b\n1,\xff\n", "not valid CSV"),
    ],
)
def test_bad_input_is_named_as_the_trainer_names_it(
    tmp_path: Path, text: bytes, message: str
) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(text)
    with pytest.raises(BadInput, match=message.replace("(", r"\(").replace(")", r"\)")):
        scan(path.as_uri(), LIMITS)


def test_builtin_inputs_are_sliced() -> None:
    window = read_window("builtin:iris", LIMITS, 140, 200)
    assert window.rows == 10 and window.total_rows == 150 and "target" in window.header


def test_memory_is_the_shards_rows_not_the_input(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 300,000-row file (~10 MB): planning it peaks under 1.5 MB of Python allocations (the
    read buffers), reading a 2,000-row shard near its end under 2.5 MB (its rows besides), and
    the shard's pyarrow allocations (the block it parses, the rows kept) under 1 MB."""
    rows = 300_000
    path = tmp_path / "large.csv"
    ids = np.arange(rows)
    with path.open("w") as out:
        out.write("id,city,age,income,plan\n")
        for block in range(0, rows, 50_000):
            part = ids[block : block + 50_000]
            out.writelines(
                f"c{i},city-{i % 97},{20 + i % 60},{1000.5 + i},plan-{i % 3}\n" for i in part
            )
    size = path.stat().st_size
    assert size > 10_000_000

    plan_pool = pa.proxy_memory_pool(pa.default_memory_pool())
    shard_pool = pa.proxy_memory_pool(pa.default_memory_pool())
    tracemalloc.start()
    try:
        monkeypatch.setattr(arrow, "POOL", plan_pool)
        planned = scan(path.as_uri(), LIMITS)
        _, plan_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        monkeypatch.setattr(arrow, "POOL", shard_pool)
        window = read_window(path.as_uri(), LIMITS, 296_000, 298_000)
        _, shard_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert isinstance(window.columns, arrow.TextColumns)  # pyarrow's reader read it
    assert planned.total_rows == rows and window.digest == planned.digest
    assert window.columns["id"][0] == "c296000" and window.rows == 2_000
    print(f"input {size / 1e6:.1f} MB: plan peak {plan_peak / 1e6:.2f} MB, "
          f"2,000-row shard peak {shard_peak / 1e6:.2f} MB")  # fmt: skip
    print(f"pyarrow peak: plan {plan_pool.max_memory() / 1e6:.2f} MB, "
          f"shard {shard_pool.max_memory() / 1e6:.2f} MB")  # fmt: skip
    assert plan_peak < 1_500_000 and shard_peak < 2_500_000
    assert plan_pool.max_memory() == 0  # planning counts lines in Python; it keeps no cells
    assert 0 < shard_pool.max_memory() < 1_000_000
    assert max(plan_peak, shard_peak) * 4 < size


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    """TRICKY over HTTP from a local server (its own thread, stopped afterwards)."""
    (tmp_path / "tricky.csv").write_bytes(TRICKY)
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/tricky.csv"
    finally:
        server.shutdown()
        server.server_close()


def test_an_http_input_streams_under_its_byte_limit(served: str) -> None:
    window = read_window(served, LIMITS, 1, 3)
    assert window.columns["id"].tolist() == ["b", "c"]
    assert window.digest == "sha256:" + hashlib.sha256(TRICKY).hexdigest()
    with pytest.raises(BadInput) as refused:
        scan(served, HttpLimits(len(TRICKY) - 1, 10.0))
    assert refused.value.reason == "DatasetTooLarge"
