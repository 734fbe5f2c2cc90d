"""Two workers behind one port (a real `python -m modelship.serving` with WORKERS=2): traffic is
spread over both, and whichever worker answers /metrics or /drift reports the pod's totals."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import httpx

from support.serving import ServerProcess, iris_server
from support.waiting import wait_for

REQUESTS, ROWS = 60, 3


def children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def shared_dir(worker: int) -> Path:
    environ = Path(f"/proc/{worker}/environ").read_bytes().split(b"\0")
    (entry,) = [e for e in environ if e.startswith(b"PROMETHEUS_MULTIPROC_DIR=")]
    return Path(entry.split(b"=", 1)[1].decode())


def scrape(server: ServerProcess) -> dict[str, float]:
    """A few figures from /metrics, over a fresh connection (so from either worker)."""
    text = httpx.get(f"http://{server.host}:{server.port}/metrics").text
    wanted = {
        "modelship_inference_rows_total": "rows",
        "modelship_drift_observed_rows": "drift_rows",
        "modelship_model_ready": "ready",
    }
    figures = {}
    for line in text.splitlines():
        head, _, value = line.rpartition(" ")
        if head in wanted:
            figures[wanted[head]] = float(value)
    infer = [
        float(line.rpartition(" ")[2])
        for line in text.splitlines()
        if line.startswith("modelship_http_requests_total{") and 'route="infer"' in line
    ]
    figures["infer_requests"] = sum(infer)
    return figures


def test_two_workers_share_the_port_and_report_the_pods_totals(tmp_path: Path) -> None:
    with iris_server(tmp_path, workers="2", drain_seconds="0.5") as server:
        workers = wait_for(
            lambda: (lambda found: found if len(found) == 2 else None)(
                children(server.process.pid)
            ),
            what="two worker processes",
        )
        directory = shared_dir(workers[0])
        wait_for(lambda: all(server.ready() for _ in range(6)), what="both workers ready")

        body = {"inputs": [{"name": "input", "datatype": "FP64", "shape": [ROWS, 4],
                            "data": server.x[:ROWS].tolist()}]}  # fmt: skip
        for _ in range(REQUESTS):  # each on a new connection: the kernel picks the worker
            url = f"http://{server.host}:{server.port}/v2/models/iris/infer"
            assert httpx.post(url, json=body).status_code == 200

        # Both workers took traffic: each has its own metric files.
        pids = {int(p.stem.rsplit("_", 1)[1]) for p in directory.glob("counter_*.db")}
        assert pids == set(workers)
        expected = {
            "rows": REQUESTS * ROWS,
            "drift_rows": REQUESTS * ROWS,
            "ready": 1.0,
            "infer_requests": REQUESTS,
        }
        # Each worker publishes its drift counts at least once a second, so within a second or so
        # every scrape, whichever worker answers it, sees the pod's totals.
        wait_for(
            lambda: all(scrape(server) == expected for _ in range(6)),
            timeout=10,
            what=f"six scrapes in a row with the totals {expected}",
        )
        drift = httpx.get(f"http://{server.host}:{server.port}/v2/models/iris/drift").json()
        assert drift["observed_rows"] == REQUESTS * ROWS

        server.process.terminate()
        assert exit_code(server, workers) == 0
        assert not directory.exists()


def exit_code(server: ServerProcess, workers: list[int], timeout: float = 30) -> int:
    """The supervisor's exit code; should it not exit in time, the workers' stacks (faulthandler
    dumps them on SIGABRT) and the log explain why."""
    try:
        return server.process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        alive = [pid for pid in workers if Path(f"/proc/{pid}").exists()]
        for pid in alive:
            os.kill(pid, signal.SIGABRT)
        time.sleep(2)
        raise AssertionError(
            f"no exit {timeout} s after SIGTERM; workers still alive: {alive}\n"
            + server.log.read_text()[-20_000:]
        ) from None
